//! What a line typed into a client means: `@name text` is a private message, `/command` a command, anything
//! else a message to everyone. Commands are case-insensitive and the seed's spellings work.

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

/// The help text, one line per command.
pub const HELP: &[&str] = &[
    "text                send to everyone",
    "@name text          send privately to name",
    "//text              send a line that starts with /",
    "/help               this list",
    "/name               your username",
    "/users              who is online (/DisplayUsers)",
    "/allusers           everyone ever seen (/DisplayAllUsers)",
    "/block name         stop messages between you and name, both ways",
    "/unblock name       undo /block for name",
    "/blocked            whom you block",
    "/quit               leave (Ctrl-C too)",
];

/// Commands that take a username, for completion.
pub const NAME_COMMANDS: &[&str] = &["/block", "/unblock"];

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
    let mut words = rest.split_whitespace();
    let verb = words.next().unwrap_or_default().to_ascii_lowercase();
    let arg = words.next().map(str::to_owned);
    let extra = words.next().is_some();
    let needs_name = |make: fn(String) -> Command, usage: &str| match (&arg, extra) {
        (Some(a), false) => Input::Command(make(a.clone())),
        _ => Input::Invalid(format!("Usage: {usage} name")),
    };
    match verb.as_str() {
        "help" | "h" | "?" => Input::Command(Command::Help),
        "quit" | "exit" | "q" => Input::Command(Command::Quit),
        "name" | "whoami" => Input::Command(Command::Name),
        "users" | "displayusers" | "who" => Input::Command(Command::Users),
        "allusers" | "displayallusers" => Input::Command(Command::AllUsers),
        "blocked" => Input::Command(Command::Blocked),
        "block" => needs_name(Command::Block, "/block"),
        "unblock" => needs_name(Command::Unblock, "/unblock"),
        "" => Input::Invalid("Type /help for the commands.".into()),
        other => Input::Invalid(format!("Unknown command /{other}; type /help for the list.")),
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
}
