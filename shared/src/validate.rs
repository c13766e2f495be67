//! Validation of what a person chooses: usernames and message content.
//!
//! The errors' `Display` texts are written for people: the server sends them as the `INFO` of a
//! refused login or as an `ERROR`, and clients show them unchanged.

use crate::BROADCAST;
use crate::limits::{MAX_CONTENT_BYTES, MAX_USERNAME_CHARS};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
