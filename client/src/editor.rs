//! The input line: editing at a cursor, a history of sent lines (Up/Down), and Tab completion
//! of names after `@` and after the commands that take a name (`/block`, `/kick`, …).

use client_core::input::NAME_COMMANDS;

/// Lines kept in the input history.
pub const HISTORY: usize = 500;

/// The line being typed.
#[derive(Debug, Clone, Default)]
pub struct Editor {
    chars: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing the history (None: editing a new line).
    browsing: Option<usize>,
    /// The new line put aside while browsing.
    draft: Vec<char>,
}

impl Editor {
    /// The text.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The cursor, in characters from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Types a character.
    pub fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    /// Deletes before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
    }

    /// Deletes at the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }

    /// Moves left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Moves right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }

    /// To the start.
    pub fn home(&mut self) {
        self.cursor = 0;
    }

    /// To the end.
    pub fn end(&mut self) {
        self.cursor = self.chars.len();
    }

    /// Clears the line.
    pub fn clear(&mut self) {
        self.chars.clear();
        self.cursor = 0;
        self.browsing = None;
    }

    /// Takes the line for sending and remembers it in the history.
    pub fn submit(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        self.clear();
        text
    }

    /// Takes the line without remembering it (a username, say).
    pub fn take(&mut self) -> String {
        let text = self.text();
        self.clear();
        text
    }

    fn set(&mut self, chars: Vec<char>) {
        self.cursor = chars.len();
        self.chars = chars;
    }

    /// The previous line of the history.
    pub fn up(&mut self) {
        let at = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.chars.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.browsing = Some(at);
        self.set(self.history[at].chars().collect());
    }

    /// The next line of the history, and after the last one the line put aside.
    pub fn down(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                self.set(self.history[i + 1].chars().collect());
            }
            Some(_) => {
                self.browsing = None;
                let draft = std::mem::take(&mut self.draft);
                self.set(draft);
            }
        }
    }

    /// Completes the name before the cursor from `names`: after `@` at the start of the line,
    /// or as the first argument of a command that takes a name (`NAME_COMMANDS`). A single
    /// match is completed with a space after it; several are completed to their common prefix
    /// and returned.
    pub fn complete(&mut self, names: &[String]) -> Vec<String> {
        let before: String = self.chars[..self.cursor].iter().collect();
        let (start, prefix) = if let Some(p) = before.strip_prefix('@') {
            if p.contains(char::is_whitespace) {
                return Vec::new();
            }
            (1, p.to_owned())
        } else {
            let mut words = before.split(' ');
            let verb = words.next().unwrap_or_default().to_ascii_lowercase();
            match (words.next(), words.next()) {
                (Some(arg), None) if NAME_COMMANDS.contains(&verb.as_str()) => {
                    (before.chars().count() - arg.chars().count(), arg.to_owned())
                }
                _ => return Vec::new(),
            }
        };
        let matches: Vec<String> =
            names.iter().filter(|n| n.starts_with(&prefix)).cloned().collect();
        let replacement = match matches.as_slice() {
            [] => return Vec::new(),
            [one] => format!("{one} "),
            many => common_prefix(many),
        };
        let after: Vec<char> = self.chars[self.cursor..].to_vec();
        let mut chars: Vec<char> = self.chars[..start].to_vec();
        chars.extend(replacement.chars());
        let cursor = chars.len();
        chars.extend(after);
        self.chars = chars;
        self.cursor = cursor;
        if matches.len() > 1 { matches } else { Vec::new() }
    }
}

fn common_prefix(names: &[String]) -> String {
    let first = &names[0];
    let mut len = first.chars().count();
    for n in &names[1..] {
        len = len.min(first.chars().zip(n.chars()).take_while(|(a, b)| a == b).count());
    }
    first.chars().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(text: &str) -> Editor {
        let mut e = Editor::default();
        text.chars().for_each(|c| e.insert(c));
        e
    }

    #[test]
    fn editing_at_the_cursor() {
        let mut e = typed("helo");
        e.left();
        e.insert('l');
        assert_eq!(e.text(), "hello");
        e.home();
        e.delete();
        e.end();
        e.backspace();
        assert_eq!(e.text(), "ell");
        assert_eq!(e.cursor(), 3);
        e.insert('é');
        assert_eq!(e.text(), "ellé");
    }

    #[test]
    fn history_walks_back_and_returns_to_the_draft() {
        let mut e = typed("one");
        e.submit();
        "two".chars().for_each(|c| e.insert(c));
        e.submit();
        "dra".chars().for_each(|c| e.insert(c));
        e.up();
        assert_eq!(e.text(), "two");
        e.up();
        assert_eq!(e.text(), "one");
        e.up();
        assert_eq!(e.text(), "one");
        e.down();
        assert_eq!(e.text(), "two");
        e.down();
        assert_eq!(e.text(), "dra");
    }

    #[test]
    fn tab_completes_names_after_at_and_block() {
        let names: Vec<String> = ["bob", "bobby", "cat"].iter().map(|s| (*s).to_owned()).collect();
        let mut e = typed("@c");
        assert!(e.complete(&names).is_empty());
        assert_eq!(e.text(), "@cat ");
        let mut e = typed("@b");
        assert_eq!(e.complete(&names), ["bob", "bobby"]);
        assert_eq!(e.text(), "@bob");
        let mut e = typed("/block ca");
        e.complete(&names);
        assert_eq!(e.text(), "/block cat ");
        let mut e = typed("/UnBlock b");
        e.complete(&names);
        assert_eq!(e.text(), "/UnBlock bob");
        let mut e = typed("/kick ca");
        e.complete(&names);
        assert_eq!(e.text(), "/kick cat ");
        let mut e = typed("/ban-address ca");
        e.complete(&names);
        assert_eq!(e.text(), "/ban-address cat ");
        let mut e = typed("hello b");
        e.complete(&names);
        assert_eq!(e.text(), "hello b", "no completion in ordinary text");
    }
}
