//! [`Secret`]: a password or session token held in memory. It is never shown: its `Debug`
//! form hides the text, so a secret cannot slip into a log line or a panic message, and no
//! `Display` exists. Clients keep secrets in memory only, never in a file.

use std::fmt;

/// A password or a session token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is the empty string (a prompt answered with an empty line).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

impl Drop for Secret {
    /// Overwrites the text before its memory is freed, so that it does not linger there for
    /// long. Best effort: copies made on the way (a frame's JSON, an input buffer) are not
    /// reached.
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_hides_the_text() {
        let s = Secret::new("hunter22");
        assert_eq!(format!("{s:?}"), "Secret(hidden)");
        assert!(!format!("{:?}", Some(s.clone())).contains("hunter22"));
        assert_eq!(s.expose(), "hunter22");
        assert!(!s.is_empty());
        assert!(Secret::from(String::new()).is_empty());
    }
}
