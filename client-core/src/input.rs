//! What a line typed into a client means: `@name text` is a private message, `/command` a command, anything
//! else a message to everyone. Commands are case-insensitive and the seed's spellings work.
//!
//! A password is never part of a typed line (the line is shown on the screen and kept in the
//! input history): `/register`, `/password` and `/unregister` take no argument, and the client
//! then asks for each password on a line of its own that is not shown (see `chat::Chat::asking`).

use shared::frame::features::Granted;
use shared::frame::{Ban, Kick, Mute, Search};
use shared::validate::{parse_duration, validate_reason, validate_room, validate_username};

/// A command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Show the commands.
    Help,
    /// Leave.
    Quit,
    /// Show this user's name.
    Name,
    /// Block a name.
    Block(String),
    /// Unblock a name.
    Unblock(String),
    /// Show whom this user blocks.
    Blocked,
    /// Show who is online.
    Users,
    /// Show everyone ever seen.
    AllUsers,
    /// Register the current name (the password is asked for, twice, without echo).
    Register,
    /// Change the password (the old and the new one are asked for without echo).
    ChangePassword,
    /// Remove the account (its password is asked for without echo).
    Unregister,
    /// Show the account's sessions.
    Sessions,
    /// Revoke the session with this id.
    Revoke(String),
    /// Revoke every session of the account ("log out everywhere").
    Logout,
    /// Disconnect a user (operators).
    Kick(Kick),
    /// Ban a name, an address, or both (operators).
    Ban(Ban),
    /// Lift the bans of a name or an address (operators).
    Unban(String),
    /// Refuse a user's messages for a while (operators).
    Mute(Mute),
    /// Lift a mute (operators).
    Unmute(String),
    /// Show the bans and mutes in force (operators).
    Bans,
    /// Join a room (creating it if new), and write to it from now on.
    Join(String),
    /// Leave a room (the current one when none is named).
    Part(Option<String>),
    /// List every room.
    Rooms,
    /// Write to this room from now on (`None`: everyone, the main room).
    Room(Option<String>),
    /// Set a room's topic (operators): the room and the text (empty clears it).
    Topic(String, String),
    /// Let a name into an invite-only room (the current one when none is named).
    Invite(String, Option<String>),
    /// Replace the text of your last message.
    Edit(String),
    /// Delete your last message, or the message with this id (operators: anyone's public one).
    Delete(Option<i64>),
    /// Search the history you may see.
    Search(Search),
    /// The next (older) page of the last search.
    More,
    /// Send the file at this path, to a name or a room (`None`: where the user writes).
    SendFile(String, Option<String>),
    /// Save the received file numbered N (as its message shows) into a directory (`None`:
    /// the current one).
    GetFile(usize, Option<String>),
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Send `text` to `dest` (`ALL` or a username).
    Say {
        /// `ALL` or a username.
        dest: String,
        /// The message.
        text: String,
    },
    /// Run a command.
    Command(Command),
    /// Nothing to do (an empty line).
    Nothing,
    /// Not understood; the text says how to do it right.
    Invalid(String),
}

/// The help text every server gets, one line per command.
pub const HELP: &[&str] = &[
    "text                send to everyone",
    "@name text          send privately to name",
    "//text              send a line that starts with /",
    "/help               this list",
    "/name               your username",
    "/users              who is online (/DisplayUsers)",
    "/quit               leave (Ctrl-C too)",
];

/// Help for the extension `block`.
pub const HELP_BLOCK: &[&str] = &[
    "/block name         stop messages between you and name, both ways",
    "/unblock name       undo /block for name",
    "/blocked            whom you block",
];

/// Help for the extension `users`.
pub const HELP_USERS: &[&str] = &["/allusers           everyone ever seen (/DisplayAllUsers)"];

/// Help for the extension `account`.
pub const HELP_ACCOUNT: &[&str] = &[
    "/register           make your name yours: asks for a password, twice",
    "/password           change your password: asks for the old one and the new one",
    "/unregister         remove your account: asks for its password",
    "/sessions           your account's sessions (logins that come back without a password)",
    "/revoke ID          end the session ID (from /sessions)",
    "/logout             end every session of your account, on every device",
    "  Passwords are asked for on a line of their own and never shown; an empty line (or Esc)",
    "  cancels. To log in to a registered name, start chatterbox with --password.",
];

/// Help for the extension `rooms`.
pub const HELP_ROOMS: &[&str] = &[
    "/join #room         join a room (a new name creates it) and write to it",
    "/room [#room]       write to a room you are in; /room alone: to everyone (TUI: Ctrl-N/P)",
    "/part [#room]       leave a room (the one you write to)",
    "/rooms              every room, with its members and topic; yours with unread counts",
    "/invite name [#room] let name into an invite-only room",
    "/topic #room text   set a room's topic (operators)",
];

/// Help for the extension `edit`.
pub const HELP_EDIT: &[&str] = &[
    "/edit text          replace the text of your last message (within an hour)",
    "/delete [ID]        delete your last message (or message ID: search results show it)",
];

/// Help for the extension `search`.
pub const HELP_SEARCH: &[&str] = &[
    "/search words       find messages with every word (\"a phrase\" in quotes), newest first",
    "  filters: from:name  in:#room (in:everyone: the main room)  after:2026-01-31  before:…",
    "/more               the next, older results of the last search",
];

/// Help for the extension `files`.
pub const HELP_FILES: &[&str] = &[
    "/send PATH [@name|#room] send a file (to where you write, unless named); it resumes by itself",
    "/get N [DIR]        save the file numbered N (its message shows N) into DIR (default: here)",
];

/// Help for the extension `moderation`, shown to operators only.
pub const HELP_MODERATION: &[&str] = &[
    "/kick name [reason]              disconnect name",
    "/ban name time [reason]          ban name for a time: 30m, 12h, 7d, 2w or forever",
    "/ban-address name time [reason]  ban name and the address it uses",
    "/ban-ip address time [reason]    ban an address or a block (203.0.113.0/24)",
    "/unban name|address              lift the bans of a name or an address",
    "/mute name time [reason]         refuse name's messages for a time",
    "/unmute name                     lift name's mute",
    "/bans                            the bans and mutes in force",
];

/// The help text for a login granted `granted`: only the commands the server offers, and the
/// moderation commands only to an operator.
pub fn help(granted: Granted, operator: bool) -> Vec<&'static str> {
    let mut lines = HELP.to_vec();
    let sections = [
        (granted.block, HELP_BLOCK),
        (granted.users, HELP_USERS),
        (granted.account, HELP_ACCOUNT),
        (granted.rooms, HELP_ROOMS),
        (granted.edit, HELP_EDIT),
        (granted.search, HELP_SEARCH),
        (granted.files, HELP_FILES),
        (granted.moderation && operator, HELP_MODERATION),
    ];
    for (shown, section) in sections {
        if shown {
            // Before /quit, which stays last.
            let at = lines.len() - 1;
            lines.splice(at..at, section.iter().copied());
        }
    }
    lines
}

/// Commands that take a username, for completion.
pub const NAME_COMMANDS: &[&str] =
    &["/block", "/unblock", "/kick", "/ban", "/ban-address", "/unban", "/mute", "/unmute"];

/// `/send PATH [@name|#room]`: a path (spaces allowed) and, last, where to.
fn send_file(args: &str) -> Input {
    const USAGE: &str = "Usage: /send PATH [@name|#room]";
    let args = args.trim();
    let (path, to) = match args.rsplit_once(char::is_whitespace) {
        Some((path, last)) if last.starts_with(['@', '#']) => (path.trim(), Some(last)),
        _ => (args, None),
    };
    if path.is_empty() || path.starts_with(['@', '#']) {
        return Input::Invalid(USAGE.into());
    }
    let to = match to {
        None => None,
        Some(room) if room.starts_with('#') => match validate_room(room) {
            Ok(room) => Some(room),
            Err(e) => return Input::Invalid(format!("{USAGE} ({e})")),
        },
        Some(at) => {
            let name = &at[1..];
            match validate_username(name) {
                Ok(()) => Some(name.to_owned()),
                Err(e) => return Input::Invalid(format!("{USAGE} ({e})")),
            }
        }
    };
    Input::Command(Command::SendFile(path.to_owned(), to))
}

/// `/get N [DIR]`.
fn get_file(args: &str) -> Input {
    const USAGE: &str = "Usage: /get N [DIR] (N: the number a file's message shows)";
    let mut parts = args.trim().splitn(2, char::is_whitespace);
    match parts.next().map(|n| n.trim_start_matches('#').parse::<usize>()) {
        Some(Ok(n)) if n > 0 => {
            let dir = parts.next().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
            Input::Command(Command::GetFile(n, dir))
        }
        _ => Input::Invalid(USAGE.into()),
    }
}

/// Parses one typed line.
pub fn parse(line: &str) -> Input {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Input::Nothing;
    }
    if let Some(rest) = line.strip_prefix("//") {
        return Input::Say { dest: shared::BROADCAST.into(), text: format!("/{rest}") };
    }
    if let Some(rest) = line.strip_prefix('/') {
        return command(rest);
    }
    if let Some(rest) = line.strip_prefix('@') {
        let (name, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if name.is_empty() {
            return Input::Invalid("Write @name text to send a private message.".into());
        }
        if text.trim().is_empty() {
            return Input::Invalid(format!("Write something after @{name}."));
        }
        return Input::Say { dest: name.into(), text: text.into() };
    }
    Input::Say { dest: shared::BROADCAST.into(), text: line.into() }
}

fn command(rest: &str) -> Input {
    let (verb, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let verb = verb.to_ascii_lowercase();
    let mut words = args.split_whitespace();
    let arg = words.next().map(str::to_owned);
    let extra = words.next().is_some();
    let one = |make: fn(String) -> Command, usage: &str| match (&arg, extra) {
        (Some(a), false) => Input::Command(make(a.clone())),
        _ => Input::Invalid(format!("Usage: {usage}")),
    };
    let none = |cmd: Command, usage: &str| {
        if arg.is_none() {
            Input::Command(cmd)
        } else {
            Input::Invalid(format!("Usage: {usage} (it takes nothing after it)"))
        }
    };
    match verb.as_str() {
        "help" | "h" | "?" => Input::Command(Command::Help),
        "quit" | "exit" | "q" => Input::Command(Command::Quit),
        "name" | "whoami" => Input::Command(Command::Name),
        "users" | "displayusers" | "who" => Input::Command(Command::Users),
        "allusers" | "displayallusers" => Input::Command(Command::AllUsers),
        "blocked" => Input::Command(Command::Blocked),
        "block" => one(Command::Block, "/block name"),
        "unblock" => one(Command::Unblock, "/unblock name"),
        "register" => none(
            Command::Register,
            "/register; the password is asked for next, on a line that is not shown",
        ),
        "password" | "passwd" => none(
            Command::ChangePassword,
            "/password; the passwords are asked for next, on lines that are not shown",
        ),
        "unregister" => none(
            Command::Unregister,
            "/unregister; the password is asked for next, on a line that is not shown",
        ),
        "sessions" => none(Command::Sessions, "/sessions"),
        "revoke" => one(Command::Revoke, "/revoke ID (the IDs are listed by /sessions)"),
        "logout" => none(Command::Logout, "/logout"),
        "kick" => kick(args),
        "ban" => ban(args, BanKind::Name),
        "ban-address" | "banaddress" => ban(args, BanKind::NameAndAddress),
        "ban-ip" | "banip" => ban(args, BanKind::Address),
        "unban" => one(Command::Unban, "/unban name|address"),
        "mute" => mute(args),
        "unmute" => one(Command::Unmute, "/unmute name"),
        "bans" => none(Command::Bans, "/bans"),
        "join" => match validate_room(arg.as_deref().unwrap_or_default()) {
            Ok(room) if !extra => Input::Command(Command::Join(room)),
            Ok(_) => Input::Invalid("Usage: /join #room".into()),
            Err(e) => Input::Invalid(format!("Usage: /join #room ({e})")),
        },
        "part" | "leave" => optional_room(arg, extra, Command::Part, "/part [#room]"),
        "room" | "go" => optional_room(arg, extra, Command::Room, "/room [#room]"),
        "rooms" => none(Command::Rooms, "/rooms"),
        "topic" => {
            let (words, rest) = words_then_rest(args, 1);
            match words[..] {
                [room] => match validate_room(room) {
                    Ok(room) => Input::Command(Command::Topic(room, rest.unwrap_or("").to_owned())),
                    Err(e) => Input::Invalid(format!("Usage: /topic #room text ({e})")),
                },
                _ => Input::Invalid("Usage: /topic #room text".into()),
            }
        }
        "invite" => {
            let mut words = args.split_whitespace();
            let (name, room, more) = (words.next(), words.next(), words.next());
            match (name, room.map(validate_room), more) {
                (Some(name), None, None) => Input::Command(Command::Invite(name.into(), None)),
                (Some(name), Some(Ok(room)), None) => {
                    Input::Command(Command::Invite(name.into(), Some(room)))
                }
                _ => Input::Invalid("Usage: /invite name [#room]".into()),
            }
        }
        "edit" => match args.trim() {
            "" => Input::Invalid("Usage: /edit new text (replaces your last message)".into()),
            text => Input::Command(Command::Edit(text.to_owned())),
        },
        "delete" | "del" => match (&arg, extra) {
            (None, _) => Input::Command(Command::Delete(None)),
            (Some(id), false) => match id.trim_start_matches('#').parse() {
                Ok(id) => Input::Command(Command::Delete(Some(id))),
                Err(_) => Input::Invalid("Usage: /delete [ID] (an ID is a number)".into()),
            },
            _ => Input::Invalid("Usage: /delete [ID]".into()),
        },
        "search" | "find" => search(args),
        "more" => none(Command::More, "/more"),
        "send" | "upload" => send_file(args),
        "get" | "download" | "save" => get_file(args),
        "" => Input::Invalid("Type /help for the commands.".into()),
        other => Input::Invalid(format!("Unknown command /{other}; type /help for the list.")),
    }
}

/// `/search`: the filters `from:name`, `in:#room` (or `in:everyone`), `after:DATE` and
/// `before:DATE` (`YYYY-MM-DD`, UTC) wherever they are, and the rest as the query.
fn search(args: &str) -> Input {
    let usage =
        "Usage: /search words [from:name] [in:#room] [after:YYYY-MM-DD] [before:YYYY-MM-DD]";
    let mut search = Search::default();
    let mut words = Vec::new();
    for word in args.split(' ') {
        let filter = word.split_once(':').filter(|(k, v)| {
            !v.is_empty()
                && matches!(k.to_ascii_lowercase().as_str(), "from" | "in" | "after" | "before")
        });
        let Some((key, value)) = filter else {
            words.push(word);
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "from" => match validate_username(value) {
                Ok(()) => search.from = Some(value.to_owned()),
                Err(e) => return Input::Invalid(format!("from:{value}: {e}")),
            },
            "in" if value.eq_ignore_ascii_case("everyone") || value == shared::BROADCAST => {
                search.room = Some(shared::BROADCAST.to_owned());
            }
            "in" => match validate_room(value) {
                Ok(room) => search.room = Some(room),
                Err(e) => return Input::Invalid(format!("in:{value}: {e}")),
            },
            key => match crate::fmt::parse_date(value) {
                Some(t) if key == "after" => search.after = Some(t),
                Some(t) => search.before = Some(t),
                None => return Input::Invalid(format!("{key}:{value}: a date is YYYY-MM-DD")),
            },
        }
    }
    search.query = words.join(" ").trim().to_owned();
    if search.query.is_empty() {
        return Input::Invalid(usage.into());
    }
    Input::Command(Command::Search(search))
}

/// A command that takes a room or nothing.
fn optional_room(
    arg: Option<String>,
    extra: bool,
    make: fn(Option<String>) -> Command,
    usage: &str,
) -> Input {
    match (arg.as_deref().map(validate_room), extra) {
        (None, _) => Input::Command(make(None)),
        (Some(Ok(room)), false) => Input::Command(make(Some(room))),
        (Some(Err(e)), _) => Input::Invalid(format!("Usage: {usage} ({e})")),
        (Some(Ok(_)), true) => Input::Invalid(format!("Usage: {usage}")),
    }
}

/// The first `n` words of `text` and what follows them (trimmed; `None` when empty): the
/// reason after a command's fixed words keeps its own spacing.
fn words_then_rest(text: &str, n: usize) -> (Vec<&str>, Option<&str>) {
    let mut words = Vec::with_capacity(n);
    let mut rest = text.trim_start();
    while words.len() < n && !rest.is_empty() {
        let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        words.push(word);
        rest = after.trim_start();
    }
    let rest = rest.trim_end();
    (words, (!rest.is_empty()).then_some(rest))
}

/// A reason, checked as the server will: `Err` holds the text to show.
fn reason(text: Option<&str>) -> Result<Option<String>, String> {
    match text {
        None => Ok(None),
        Some(r) => validate_reason(r).map(|()| Some(r.to_owned())),
    }
}

/// A name, a duration and a reason, checked: `Err` holds the text to show.
fn name_duration_reason(
    args: &str,
    usage: &str,
) -> Result<(String, String, Option<String>), String> {
    let (words, rest) = words_then_rest(args, 2);
    let [name, duration] = words[..] else { return Err(format!("Usage: {usage}")) };
    validate_username(name).map_err(|e| e.to_string())?;
    parse_duration(duration).map_err(|e| e.to_string())?;
    Ok((name.to_owned(), duration.to_owned(), reason(rest)?))
}

fn kick(args: &str) -> Input {
    let (words, rest) = words_then_rest(args, 1);
    let [name] = words[..] else { return Input::Invalid("Usage: /kick name [reason]".into()) };
    if let Err(e) = validate_username(name) {
        return Input::Invalid(e.to_string());
    }
    match reason(rest) {
        Ok(reason) => Input::Command(Command::Kick(Kick { name: name.to_owned(), reason })),
        Err(e) => Input::Invalid(e),
    }
}

fn mute(args: &str) -> Input {
    match name_duration_reason(args, "/mute name time [reason] (time: 30m, 12h, 7d, 2w or forever)")
    {
        Ok((name, duration, reason)) => {
            Input::Command(Command::Mute(Mute { name, duration, reason }))
        }
        Err(e) => Input::Invalid(e),
    }
}

/// What a `/ban` spelling bans.
#[derive(Debug, Clone, Copy)]
enum BanKind {
    /// `/ban`: the name.
    Name,
    /// `/ban-address`: the name and the address it is connected from (or last held it from).
    NameAndAddress,
    /// `/ban-ip`: an address or a CIDR block, no name.
    Address,
}

fn ban(args: &str, kind: BanKind) -> Input {
    let usage = match kind {
        BanKind::Name => "/ban name time [reason] (time: 30m, 12h, 7d, 2w or forever)",
        BanKind::NameAndAddress => {
            "/ban-address name time [reason] (time: 30m, 12h, 7d, 2w or forever)"
        }
        BanKind::Address => {
            "/ban-ip address time [reason] (an IP address or a block such as 203.0.113.0/24)"
        }
    };
    if let BanKind::Address = kind {
        let (words, rest) = words_then_rest(args, 2);
        let [address, duration] = words[..] else {
            return Input::Invalid(format!("Usage: {usage}"));
        };
        if !is_address(address) {
            return Input::Invalid(format!(
                "{address} is not an IP address or a block such as 203.0.113.0/24."
            ));
        }
        if let Err(e) = parse_duration(duration) {
            return Input::Invalid(e.to_string());
        }
        return match reason(rest) {
            Ok(reason) => Input::Command(Command::Ban(Ban {
                address: Some(address.to_owned()),
                duration: duration.to_owned(),
                reason,
                ..Ban::default()
            })),
            Err(e) => Input::Invalid(e),
        };
    }
    match name_duration_reason(args, usage) {
        Ok((name, duration, reason)) => Input::Command(Command::Ban(Ban {
            name: Some(name),
            with_address: matches!(kind, BanKind::NameAndAddress).then_some(true),
            duration,
            reason,
            ..Ban::default()
        })),
        Err(e) => Input::Invalid(e),
    }
}

/// Whether `text` is an IP address, or a CIDR block (`address/prefix`, the prefix no longer
/// than the address).
fn is_address(text: &str) -> bool {
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text, None),
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else { return false };
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => true,
        Some(p) => {
            p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u8>().is_ok_and(|p| p <= bits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(dest: &str, text: &str) -> Input {
        Input::Say { dest: dest.into(), text: text.into() }
    }

    #[test]
    fn messages() {
        assert_eq!(parse("hello all"), say("ALL", "hello all"));
        assert_eq!(parse("@bob psst, hi"), say("bob", "psst, hi"));
        assert_eq!(parse("//shrug"), say("ALL", "/shrug"));
        assert_eq!(parse("  "), Input::Nothing);
        assert!(matches!(parse("@bob"), Input::Invalid(t) if t.contains("after @bob")));
        assert!(matches!(parse("@ hi"), Input::Invalid(_)));
    }

    #[test]
    fn files_are_sent_to_where_asked_and_got_by_number() {
        let send = |p: &str, to: Option<&str>| {
            Input::Command(Command::SendFile(p.into(), to.map(str::to_owned)))
        };
        assert_eq!(parse("/send a.txt"), send("a.txt", None));
        assert_eq!(parse("/send my notes.pdf @bob"), send("my notes.pdf", Some("bob")));
        assert_eq!(parse("/UPLOAD /tmp/x.png #Team"), send("/tmp/x.png", Some("#team")));
        assert!(matches!(parse("/send"), Input::Invalid(t) if t.contains("Usage: /send PATH")));
        assert!(matches!(parse("/send @bob"), Input::Invalid(_)));
        assert!(matches!(parse("/send a.txt @"), Input::Invalid(_)));
        assert_eq!(parse("/get 3"), Input::Command(Command::GetFile(3, None)));
        assert_eq!(
            parse("/download #2 ~/Downloads/my files"),
            Input::Command(Command::GetFile(2, Some("~/Downloads/my files".into())))
        );
        for bad in ["/get", "/get 0", "/get x"] {
            assert!(
                matches!(parse(bad), Input::Invalid(t) if t.contains("Usage: /get N")),
                "{bad}"
            );
        }
    }

    #[test]
    fn commands_any_case_with_the_seed_aliases() {
        use Command::*;
        for (line, want) in [
            ("/help", Help),
            ("/HELP", Help),
            ("/Quit", Quit),
            ("/name", Name),
            ("/Name", Name),
            ("/users", Users),
            ("/DisplayUsers", Users),
            ("/allusers", AllUsers),
            ("/DisplayAllUsers", AllUsers),
            ("/Blocked", Blocked),
            ("/Block bob", Block("bob".into())),
            ("/UnBlock bob", Unblock("bob".into())),
        ] {
            assert_eq!(parse(line), Input::Command(want), "{line}");
        }
        assert!(matches!(parse("/block"), Input::Invalid(t) if t.contains("Usage: /block")));
        assert!(matches!(parse("/block a b"), Input::Invalid(_)));
        assert!(matches!(parse("/frobnicate"), Input::Invalid(t) if t.contains("/help")));
    }

    fn invalid(line: &str) -> String {
        match parse(line) {
            Input::Invalid(t) => t,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn account_commands_take_no_password_on_the_line() {
        use Command::*;
        for (line, want) in [
            ("/register", Register),
            ("/Register", Register),
            ("/password", ChangePassword),
            ("/passwd", ChangePassword),
            ("/unregister", Unregister),
            ("/sessions", Sessions),
            ("/revoke abc123", Revoke("abc123".into())),
            ("/LOGOUT", Logout),
        ] {
            assert_eq!(parse(line), Input::Command(want), "{line}");
        }
        // a password typed after the command is refused, not sent (it is on the screen)
        for line in ["/register hunter22", "/password old new", "/unregister hunter22"] {
            let t = invalid(line);
            assert!(t.contains("asked for next") && !t.contains("hunter22"), "{line}: {t}");
        }
        assert!(invalid("/revoke").contains("Usage: /revoke ID"));
        assert!(invalid("/revoke a b").contains("Usage: /revoke ID"));
        assert!(invalid("/logout now").contains("Usage: /logout"));
    }

    #[test]
    fn moderation_commands_build_the_wire_requests() {
        use Command::*;
        let kick = |name: &str, reason: Option<&str>| {
            Kick(shared::frame::Kick { name: name.into(), reason: reason.map(Into::into) })
        };
        assert_eq!(parse("/kick bob"), Input::Command(kick("bob", None)));
        assert_eq!(
            parse("/KICK bob  stop  shouting "),
            Input::Command(kick("bob", Some("stop  shouting")))
        );
        assert_eq!(
            parse("/ban bob 7d spam, again"),
            Input::Command(Ban(shared::frame::Ban {
                name: Some("bob".into()),
                duration: "7d".into(),
                reason: Some("spam, again".into()),
                ..shared::frame::Ban::default()
            }))
        );
        assert_eq!(
            parse("/ban-address bob forever"),
            Input::Command(Ban(shared::frame::Ban {
                name: Some("bob".into()),
                with_address: Some(true),
                duration: "forever".into(),
                ..shared::frame::Ban::default()
            }))
        );
        for address in ["203.0.113.7", "203.0.113.0/24", "2001:db8::/32", "::1"] {
            assert_eq!(
                parse(&format!("/ban-ip {address} 12h")),
                Input::Command(Ban(shared::frame::Ban {
                    address: Some(address.into()),
                    duration: "12h".into(),
                    ..shared::frame::Ban::default()
                })),
                "{address}"
            );
        }
        assert_eq!(
            parse("/mute bob 30m calm down"),
            Input::Command(Mute(shared::frame::Mute {
                name: "bob".into(),
                duration: "30m".into(),
                reason: Some("calm down".into()),
            }))
        );
        assert_eq!(parse("/unban 203.0.113.0/24"), Input::Command(Unban("203.0.113.0/24".into())));
        assert_eq!(parse("/unban bob"), Input::Command(Unban("bob".into())));
        assert_eq!(parse("/unmute bob"), Input::Command(Unmute("bob".into())));
        assert_eq!(parse("/bans"), Input::Command(Bans));
    }

    #[test]
    fn bad_moderation_lines_say_what_is_wrong() {
        // durations are checked before anything is sent, with parse_duration's words
        for line in ["/ban bob 5y", "/ban bob soon", "/mute bob 1h30m", "/ban-ip 10.0.0.1 -5m"] {
            assert!(invalid(line).contains("is not a duration"), "{line}");
        }
        for line in ["/ban bob 0m", "/mute bob 99999w"] {
            assert!(invalid(line).contains("at most ten years"), "{line}");
        }
        assert!(invalid("/ban bob").contains("Usage: /ban name time"));
        assert!(invalid("/ban").contains("Usage: /ban name time"));
        assert!(invalid("/ban-address bob").contains("Usage: /ban-address"));
        assert!(invalid("/mute").contains("Usage: /mute name time"));
        assert!(invalid("/kick").contains("Usage: /kick name"));
        assert!(invalid("/unban").contains("Usage: /unban"));
        assert!(invalid("/unmute a b").contains("Usage: /unmute"));
        assert!(invalid("/ban ALL 1h").contains("reserved"));
        assert!(invalid("/kick all").contains("reserved"));
        for address in ["bob", "10.0.0.256", "10.0.0.0/33", "::/129", "10.0.0.0/x", "10.0.0.0/"] {
            assert!(
                invalid(&format!("/ban-ip {address} 1h")).contains("not an IP address"),
                "{address}"
            );
        }
        let long = "x".repeat(shared::limits::MAX_REASON_CHARS + 1);
        assert!(invalid(&format!("/kick bob {long}")).contains("at most"));
        assert!(invalid(&format!("/ban bob 1h {long}")).contains("at most"));
    }

    #[test]
    fn room_commands_take_room_names_as_the_server_does() {
        use Command::*;
        let cmd = |line: &str| match parse(line) {
            Input::Command(c) => c,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(cmd("/join #Rust"), Join("#rust".into()));
        assert_eq!(cmd("/part"), Part(None));
        assert_eq!(cmd("/part #a"), Part(Some("#a".into())));
        assert_eq!(cmd("/room"), Room(None));
        assert_eq!(cmd("/go #b"), Room(Some("#b".into())));
        assert_eq!(cmd("/rooms"), Rooms);
        assert_eq!(cmd("/topic #a  Rust,  in Rust "), Topic("#a".into(), "Rust,  in Rust".into()));
        assert_eq!(cmd("/topic #a"), Topic("#a".into(), String::new()));
        assert_eq!(cmd("/invite bob"), Invite("bob".into(), None));
        assert_eq!(cmd("/invite bob #a"), Invite("bob".into(), Some("#a".into())));
        for bad in ["/join", "/join rust", "/join #a #b", "/part x", "/topic rust", "/invite"] {
            assert!(matches!(parse(bad), Input::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn help_lists_only_what_was_granted() {
        let none = help(Granted::default(), false);
        assert_eq!(none, HELP);
        assert_eq!(none.last(), HELP.last(), "/quit stays last");
        let has = |lines: &[&str], cmd: &str| lines.iter().any(|l| l.starts_with(cmd));
        let all = Granted {
            block: true,
            users: true,
            account: true,
            moderation: true,
            ..Granted::default()
        };
        let user = help(all, false);
        for cmd in ["/block", "/allusers", "/register", "/password", "/sessions", "/logout"] {
            assert!(has(&user, cmd), "{cmd}");
        }
        assert!(!has(&user, "/kick") && !has(&user, "/bans"), "moderation is for operators");
        let op = help(all, true);
        for cmd in ["/kick", "/ban ", "/ban-address", "/ban-ip", "/unban", "/mute", "/unmute"] {
            assert!(has(&op, cmd), "{cmd}");
        }
        assert_eq!(
            op.len(),
            HELP.len()
                + HELP_BLOCK.len()
                + HELP_USERS.len()
                + HELP_ACCOUNT.len()
                + HELP_MODERATION.len()
        );
        assert!(op.last().is_some_and(|l| l.starts_with("/quit")));
        // operator without the extension granted, or account without block: each on its own
        let account = help(Granted { account: true, ..Granted::default() }, true);
        assert!(has(&account, "/register") && !has(&account, "/block") && !has(&account, "/kick"));
        let moderation = help(Granted { moderation: true, ..Granted::default() }, true);
        assert!(has(&moderation, "/kick") && !has(&moderation, "/register"));
    }
}
