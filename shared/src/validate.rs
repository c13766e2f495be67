//! Validation of what a person chooses: usernames and message content.
//!
//! The errors' `Display` texts are written for people: the server sends them as the `INFO` of a
//! refused login or as an `ERROR`, and clients show them unchanged.

use crate::BROADCAST;
use crate::limits::{
    MAX_CONTENT_BYTES, MAX_PASSWORD_BYTES, MAX_REASON_CHARS, MAX_ROOM_CHARS, MAX_SANCTION_SECS,
    MAX_TOPIC_CHARS, MAX_USERNAME_CHARS, MIN_PASSWORD_CHARS,
};

/// Why a username is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// The name is the empty string.
    #[error("The username is empty.")]
    Empty,
    /// The name holds white space (it would break `@name` addressing).
    #[error("A username cannot contain spaces or other white space.")]
    Whitespace,
    /// The name holds a control character.
    #[error("A username cannot contain control characters.")]
    Control,
    /// The name is longer than [`MAX_USERNAME_CHARS`].
    #[error("The username is longer than {max} characters.", max = MAX_USERNAME_CHARS)]
    TooLong,
    /// The name is `ALL` in any letter case, which addresses everybody.
    #[error("\"ALL\" is reserved for messages to everyone.")]
    Reserved,
    /// The name begins with `#`, which names a room.
    #[error("A username cannot begin with \"#\": that names a room.")]
    RoomPrefix,
}

/// Checks a username: 1 to [`MAX_USERNAME_CHARS`] characters, no white space, no control
/// characters, and not `ALL` in any letter case (`ALL` is the broadcast DEST; `all` or `All`
/// would read the same to people).
pub fn validate_username(name: &str) -> Result<(), UsernameError> {
    if name.is_empty() {
        return Err(UsernameError::Empty);
    }
    // A blank name is refused as white space: it has nothing else.
    if name.chars().any(char::is_whitespace) {
        return Err(UsernameError::Whitespace);
    }
    if name.chars().any(char::is_control) {
        return Err(UsernameError::Control);
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(UsernameError::TooLong);
    }
    if name.eq_ignore_ascii_case(BROADCAST) {
        return Err(UsernameError::Reserved);
    }
    if name.starts_with(ROOM_PREFIX) {
        return Err(UsernameError::RoomPrefix);
    }
    Ok(())
}

/// What begins every room's name (extension `rooms`), and no username.
pub const ROOM_PREFIX: char = '#';

/// Why a room name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The name does not begin with `#`.
    #[error("A room's name begins with \"#\", as in #general.")]
    NoPrefix,
    /// Nothing follows the `#`.
    #[error("The room's name is empty after its \"#\".")]
    Empty,
    /// Longer than [`MAX_ROOM_CHARS`] after the `#`.
    #[error("A room's name is at most {max} characters after its \"#\".", max = MAX_ROOM_CHARS)]
    TooLong,
    /// A character other than a letter a–z, a digit, `-` or `_`.
    #[error("A room's name holds only letters a-z, digits, \"-\" and \"_\" after its \"#\".")]
    Character,
}

/// Checks a room name and returns it as rooms are known: `#` and 1 to [`MAX_ROOM_CHARS`]
/// letters a–z, digits, `-` or `_`, in lower case (`#Rust` is `#rust`). One alphabet keeps
/// look-alike rooms from existing side by side, and the names safe in URLs.
pub fn validate_room(name: &str) -> Result<String, RoomError> {
    let rest = name.strip_prefix(ROOM_PREFIX).ok_or(RoomError::NoPrefix)?;
    if rest.is_empty() {
        return Err(RoomError::Empty);
    }
    if rest.chars().count() > MAX_ROOM_CHARS {
        return Err(RoomError::TooLong);
    }
    if !rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(RoomError::Character);
    }
    Ok(name.to_ascii_lowercase())
}

/// Checks a room topic: at most [`MAX_TOPIC_CHARS`] characters, no control characters.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    if topic.chars().count() > MAX_TOPIC_CHARS {
        return Err(format!("A topic is at most {MAX_TOPIC_CHARS} characters."));
    }
    if topic.chars().any(char::is_control) {
        return Err("A topic cannot contain control characters or line breaks.".to_owned());
    }
    Ok(())
}

/// Why a message CONTENT is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The content is longer than [`MAX_CONTENT_BYTES`].
    #[error("The message is {len} bytes long; the limit is {max} bytes.", max = MAX_CONTENT_BYTES)]
    TooLong {
        /// The content's length in UTF-8 bytes.
        len: usize,
    },
}

/// Checks a message CONTENT. Any text up to [`MAX_CONTENT_BYTES`] is accepted, control
/// characters included: content is shown as text, never interpreted.
pub fn validate_content(content: &str) -> Result<(), ContentError> {
    if content.len() > MAX_CONTENT_BYTES {
        return Err(ContentError::TooLong { len: content.len() });
    }
    Ok(())
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("A password needs at least {min} characters.", min = MIN_PASSWORD_CHARS)]
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    #[error("A password can be at most {max} bytes long.", max = MAX_PASSWORD_BYTES)]
    TooLong,
}

/// Checks a new password: [`MIN_PASSWORD_CHARS`] characters to [`MAX_PASSWORD_BYTES`] bytes,
/// anything else goes (spaces and any script included: passphrases are welcome).
pub fn validate_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// Why a ban or mute duration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number followed by a unit, nor `forever`.
    #[error(
        "\"{0}\" is not a duration: write a number and a unit (m, h, d or w; 30m, 12h, 7d, 2w) or \"forever\"."
    )]
    Invalid(String),
    /// Zero, or longer than [`MAX_SANCTION_SECS`].
    #[error("A duration must be more than zero and at most ten years; longer is \"forever\".")]
    OutOfRange,
}

/// Reads a ban or mute duration: a positive whole number followed by `m` (minutes), `h`
/// (hours), `d` (days) or `w` (weeks), or `forever` (also `permanent`). Returns the seconds,
/// or `None` for ever.
pub fn parse_duration(text: &str) -> Result<Option<u64>, DurationError> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("forever") || t.eq_ignore_ascii_case("permanent") {
        return Ok(None);
    }
    let invalid = || DurationError::Invalid(text.chars().take(40).collect());
    let unit = t.chars().last().ok_or_else(invalid)?;
    let per: u64 = match unit.to_ascii_lowercase() {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(invalid()),
    };
    let digits = &t[..t.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: u64 = digits.parse().map_err(|_| DurationError::OutOfRange)?;
    match n.checked_mul(per) {
        Some(secs) if secs > 0 && secs <= MAX_SANCTION_SECS => Ok(Some(secs)),
        _ => Err(DurationError::OutOfRange),
    }
}

/// Checks an operator's reason: at most [`MAX_REASON_CHARS`] characters, no control
/// characters (it is shown to everyone, on one line).
pub fn validate_reason(reason: &str) -> Result<(), String> {
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(format!("A reason can be at most {MAX_REASON_CHARS} characters long."));
    }
    if reason.chars().any(char::is_control) {
        return Err("A reason cannot contain control characters.".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_a_hash_and_a_short_lowercase_label() {
        assert_eq!(validate_room("#rust"), Ok("#rust".to_owned()));
        assert_eq!(validate_room("#Off-Topic_2"), Ok("#off-topic_2".to_owned()));
        let longest = format!("#{}", "a".repeat(MAX_ROOM_CHARS));
        assert_eq!(validate_room(&longest), Ok(longest.clone()));
        assert_eq!(validate_room(&format!("{longest}a")), Err(RoomError::TooLong));
        assert_eq!(validate_room("rust"), Err(RoomError::NoPrefix));
        assert_eq!(validate_room("#"), Err(RoomError::Empty));
        for bad in ["#a b", "#caf\u{e9}", "#r\u{43e}ot", "#a/b", "#a.b", "##a", "#a\n"] {
            assert_eq!(validate_room(bad), Err(RoomError::Character), "{bad:?}");
        }
        assert!(validate_topic("Rust, in Rust: https://example.org").is_ok());
        assert!(validate_topic(&"t".repeat(MAX_TOPIC_CHARS + 1)).is_err());
        assert!(validate_topic("two\nlines").is_err());
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for name in ["ann", "Bob_2", "élodie", "李雷", "a", &"x".repeat(MAX_USERNAME_CHARS)] {
            assert_eq!(validate_username(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let cases = [
            ("", UsernameError::Empty),
            ("   ", UsernameError::Whitespace),
            ("ann smith", UsernameError::Whitespace),
            ("a\nb", UsernameError::Whitespace),
            ("a\u{1}b", UsernameError::Control),
            ("a\u{7f}", UsernameError::Control),
            ("ALL", UsernameError::Reserved),
            ("all", UsernameError::Reserved),
            ("All", UsernameError::Reserved),
            ("#rust", UsernameError::RoomPrefix),
            ("#", UsernameError::RoomPrefix),
        ];
        for (name, want) in cases {
            assert_eq!(validate_username(name), Err(want), "{name:?}");
        }
        let long = "x".repeat(MAX_USERNAME_CHARS + 1);
        assert_eq!(validate_username(&long), Err(UsernameError::TooLong));
        // characters, not bytes, are counted
        assert_eq!(validate_username(&"é".repeat(MAX_USERNAME_CHARS)), Ok(()));
    }

    #[test]
    fn content_limit_is_in_bytes() {
        assert_eq!(validate_content(&"a".repeat(MAX_CONTENT_BYTES)), Ok(()));
        assert_eq!(
            validate_content(&"a".repeat(MAX_CONTENT_BYTES + 1)),
            Err(ContentError::TooLong { len: MAX_CONTENT_BYTES + 1 })
        );
        assert_eq!(validate_content(""), Ok(()));
        assert_eq!(validate_content("tabs\tand\u{1b}escapes"), Ok(()));
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert_eq!(validate_password("short"), Err(PasswordError::TooShort));
        assert_eq!(validate_password("correct horse"), Ok(()));
        assert_eq!(validate_password("éééééééé"), Ok(()), "characters, not bytes, count");
        assert_eq!(validate_password(&"x".repeat(MAX_PASSWORD_BYTES)), Ok(()));
        assert_eq!(
            validate_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Some(1800)));
        assert_eq!(parse_duration("2H"), Ok(Some(7200)));
        assert_eq!(parse_duration(" 7d "), Ok(Some(7 * 86_400)));
        assert_eq!(parse_duration("1w"), Ok(Some(7 * 86_400)));
        assert_eq!(parse_duration("forever"), Ok(None));
        assert_eq!(parse_duration("Permanent"), Ok(None));
        for bad in ["", "m", "10", "ten minutes", "-5m", "1.5h", "5y", "1h30m", "5é"] {
            assert!(matches!(parse_duration(bad), Err(DurationError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(parse_duration("0m"), Err(DurationError::OutOfRange));
        assert_eq!(parse_duration("99999w"), Err(DurationError::OutOfRange));
        assert_eq!(parse_duration("99999999999999999999m"), Err(DurationError::OutOfRange));
    }

    #[test]
    fn reasons() {
        assert!(validate_reason("spam").is_ok());
        assert!(validate_reason("a\nb").is_err());
        assert!(validate_reason(&"x".repeat(MAX_REASON_CHARS + 1)).is_err());
    }
}
