//! The TUI's state and what keys and engine events do to it. No drawing here (see `view`),
//! and no terminal: tests drive it with key events and inspect it.

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use shared::Frame;

use crate::editor::Editor;
use crate::engine::{FromEngine, Status, ToEngine};
use client_core::chat::{Chat, Entry};
use client_core::input;
use client_core::secret::Secret;

/// Entries kept for scrolling back; older ones are dropped.
pub const SCROLLBACK: usize = 5000;

/// What the input line is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Waiting for the connection (nothing to type yet).
    Waiting,
    /// Asking for a username.
    Login,
    /// Asking for the password of this registered name, to log in (not shown).
    LoginPassword(String),
    /// Chatting.
    Chat,
    /// Asking for a password for `/register`, `/password` or `/unregister` (not shown; what
    /// is asked is `chat.asking()`).
    Secret,
}

impl Mode {
    /// Whether the input line holds a password: shown masked, kept out of the history, never
    /// completed.
    pub fn is_secret(&self) -> bool {
        matches!(self, Mode::LoginPassword(_) | Mode::Secret)
    }
}

/// What the run loop must do after an event.
#[derive(Debug)]
pub enum Action {
    /// Pass this to the engine.
    Engine(ToEngine),
    /// Leave.
    Quit,
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    /// The conversation's state.
    pub chat: Chat,
    /// The conversation, oldest first.
    pub log: VecDeque<Entry>,
    /// The input line.
    pub editor: Editor,
    /// What the input line is for.
    pub mode: Mode,
    /// The connection, in words.
    pub status: String,
    /// Logged in and able to send.
    pub connected: bool,
    /// Lines scrolled up from the newest (0: following the conversation).
    pub scroll: usize,
    /// Entries that arrived while scrolled up.
    pub unseen: usize,
    /// Names offered by the last Tab, shown until the next key.
    pub hint: Option<String>,
    /// The message area's height at the last draw (for PageUp/PageDown).
    pub page: usize,
    /// Set when the engine gave up; the loop shows it after restoring the terminal.
    pub fatal: Option<String>,
    /// The server (`host:port`) of the current connection, for the status line: with
    /// several servers, which one the user is on.
    pub server: Option<String>,
}

impl App {
    /// A fresh screen for `server`.
    pub fn new(server: &str) -> Self {
        let mut chat = Chat::default();
        // The input line is masked while a password is asked for.
        chat.hidden_input = true;
        App {
            chat,
            log: VecDeque::new(),
            editor: Editor::default(),
            mode: Mode::Waiting,
            status: format!("connecting to {server}…"),
            connected: false,
            scroll: 0,
            unseen: 0,
            hint: None,
            page: 10,
            fatal: None,
            server: None,
        }
    }

    /// Adds entries to the conversation. An edit or delete of a message still in the
    /// scrollback changes that line in place instead.
    pub fn push(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            if let Entry::Changed { id: Some(id), text, .. } = &e
                && let Some(Entry::Message { text: shown, edited, .. }) = self
                    .log
                    .iter_mut()
                    .rev()
                    .find(|m| matches!(m, Entry::Message { id: Some(i), .. } if i == id))
            {
                match text {
                    Some(new) => {
                        shown.clone_from(new);
                        *edited = true;
                    }
                    None => {
                        *shown = client_core::chat::DELETED.to_owned();
                        *edited = false;
                    }
                }
                continue;
            }
            if self.log.len() == SCROLLBACK {
                self.log.pop_front();
            }
            self.log.push_back(e);
            if self.scroll > 0 {
                self.unseen += 1;
            }
        }
    }

    /// Takes in an event from the engine.
    pub fn on_engine(&mut self, ev: FromEngine) -> Option<Action> {
        match ev {
            FromEngine::Status(s) => {
                self.connected = false;
                match s {
                    Status::Connecting(server) => self.status = format!("connecting to {server}…"),
                    Status::Connected { server, addr } => {
                        self.status = format!("connected to {server} ({})", addr.ip());
                        self.server = Some(server);
                    }
                    Status::Unreachable { why, next } => {
                        self.status = format!("connecting to {next}…");
                        self.push([Entry::Error(format!("{why}; trying {next}."))]);
                    }
                    Status::Lost { why, retry } => {
                        self.status = format!("reconnecting in {:.1} s", retry.as_secs_f32());
                        self.push([Entry::Error(format!("Connection lost: {why}."))]);
                    }
                }
            }
            FromEngine::AskName { refused } => {
                if let Some(info) = refused {
                    self.push([Entry::Error(format!("Username refused: {info}"))]);
                }
                self.mode = Mode::Login;
                self.editor.clear();
            }
            FromEngine::AskPassword { name, refused } => {
                if let Some(info) = refused {
                    self.push([Entry::Error(format!("Login refused: {info}"))]);
                }
                self.mode = Mode::LoginPassword(name);
                self.editor.clear();
            }
            FromEngine::Note(text) | FromEngine::Done(text) => self.push([Entry::Info(text)]),
            FromEngine::LoggedIn { name, reply } => {
                self.connected = true;
                self.mode = self.chat_mode();
                self.status = match &self.server {
                    Some(server) => format!("logged in as {name} on {server}"),
                    None => format!("logged in as {name}"),
                };
                let entries = self.chat.logged_in(&name, *reply);
                self.push(entries);
            }
            FromEngine::Frame(f) => {
                let entries = self.chat.apply(*f);
                self.push(entries);
            }
            FromEngine::Bad(e) => {
                self.push([Entry::Error(format!("Unreadable frame from the server: {e}"))])
            }
            FromEngine::Fatal(e) => {
                self.fatal = Some(e);
                return Some(Action::Quit);
            }
        }
        None
    }

    /// Takes in a key.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        self.hint = None;
        let secret = self.mode.is_secret();
        match key.code {
            // No history and no completion while a password is typed.
            KeyCode::Up | KeyCode::Down | KeyCode::Tab if secret => {}
            KeyCode::Esc => self.escape(),
            KeyCode::Char('c') if ctrl => return Some(Action::Quit),
            KeyCode::Char('d') if ctrl && self.editor.text().is_empty() => {
                return Some(Action::Quit);
            }
            KeyCode::Char('u') if ctrl => self.editor.clear(),
            KeyCode::Char('n' | 'p') if ctrl && !secret => {
                let note = self.chat.cycle_room(key.code == KeyCode::Char('n'));
                self.push(note);
            }
            KeyCode::Char(c) if !ctrl => self.editor.insert(c),
            KeyCode::Backspace => self.editor.backspace(),
            KeyCode::Delete => self.editor.delete(),
            KeyCode::Left => self.editor.left(),
            KeyCode::Right => self.editor.right(),
            KeyCode::Home => self.editor.home(),
            KeyCode::End => self.editor.end(),
            KeyCode::Up => self.editor.up(),
            KeyCode::Down => self.editor.down(),
            KeyCode::PageUp => self.scroll += self.page.saturating_sub(1).max(1),
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(self.page.saturating_sub(1).max(1));
                if self.scroll == 0 {
                    self.unseen = 0;
                }
            }
            KeyCode::Tab => {
                let offered = self.editor.complete(&self.chat.known_names());
                if !offered.is_empty() {
                    self.hint = Some(offered.join("  "));
                }
            }
            KeyCode::Enter => return self.enter(),
            _ => {}
        }
        None
    }

    /// The mode for chatting: a password prompt under way keeps the line masked.
    fn chat_mode(&self) -> Mode {
        if self.chat.asking().is_some() { Mode::Secret } else { Mode::Chat }
    }

    /// Esc: gives up a password prompt.
    fn escape(&mut self) {
        match self.mode {
            Mode::Secret => {
                self.editor.clear();
                let entries = self.chat.cancel_prompt();
                self.push(entries);
                self.mode = Mode::Chat;
            }
            Mode::LoginPassword(_) => {
                self.editor.clear();
                self.push([Entry::Info("Type another name to log in without a password.".into())]);
                self.mode = Mode::Login;
            }
            _ => {}
        }
    }

    fn enter(&mut self) -> Option<Action> {
        match self.mode {
            Mode::Waiting => None,
            Mode::LoginPassword(_) => {
                let password = Secret::new(self.editor.take());
                if password.is_empty() {
                    return None;
                }
                self.mode = Mode::Waiting;
                Some(Action::Engine(ToEngine::Password(password)))
            }
            Mode::Secret => {
                let out = self.chat.answer(Secret::new(self.editor.take()), self.connected);
                self.push(out.show);
                self.mode = self.chat_mode();
                out.send.map(|f: Frame| Action::Engine(ToEngine::Send(Box::new(f))))
            }
            Mode::Login => {
                let name = self.editor.take().trim().to_owned();
                if name.is_empty() {
                    return None;
                }
                self.mode = Mode::Waiting;
                Some(Action::Engine(ToEngine::Name(name)))
            }
            Mode::Chat => {
                let line = self.editor.submit();
                let out = self.chat.handle(input::parse(&line), self.connected, crate::now());
                // Sending something returns to the newest messages.
                if out.send.as_ref().is_some_and(|f| f.messages.is_some()) {
                    self.scroll = 0;
                    self.unseen = 0;
                }
                self.push(out.show);
                if out.quit {
                    return Some(Action::Quit);
                }
                self.mode = self.chat_mode();
                if let Some(transfer) = out.transfer {
                    return Some(Action::Engine(ToEngine::Transfer(transfer)));
                }
                out.send.map(|f: Frame| Action::Engine(ToEngine::Send(Box::new(f))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Message;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn typed(app: &mut App, text: &str) -> Option<Action> {
        for c in text.chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        app.on_key(key(KeyCode::Enter))
    }

    fn logged_in(app: &mut App) {
        app.on_engine(FromEngine::LoggedIn {
            name: "ann".into(),
            reply: Box::new(test_support::accepted_login(&["ann", "bob"], vec![])),
        });
    }

    #[test]
    fn the_login_name_goes_to_the_engine_and_chat_lines_become_frames() {
        let mut app = App::new("localhost");
        app.on_engine(FromEngine::AskName { refused: Some("taken".into()) });
        assert_eq!(app.mode, Mode::Login);
        assert!(matches!(app.log.back(), Some(Entry::Error(t)) if t.contains("taken")));
        match typed(&mut app, "ann") {
            Some(Action::Engine(ToEngine::Name(n))) => assert_eq!(n, "ann"),
            other => panic!("{other:?}"),
        }
        logged_in(&mut app);
        assert_eq!(app.mode, Mode::Chat);
        match typed(&mut app, "@bob hi") {
            Some(Action::Engine(ToEngine::Send(f))) => {
                assert_eq!(
                    f.messages.expect("m")[0],
                    Message { timestamp: f_ts(&app), ..Message::new("ann", "bob", 0, "hi") }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(typed(&mut app, "/quit"), Some(Action::Quit)));
        assert!(matches!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        ));
    }

    #[test]
    fn the_status_line_says_which_server_it_is_on() {
        let mut app = App::new("a:1, b:2");
        assert_eq!(app.status, "connecting to a:1, b:2…");
        app.on_engine(FromEngine::Status(Status::Connecting("a:1".into())));
        assert_eq!(app.status, "connecting to a:1…");
        let why = "cannot connect to a port 1: refused (is the server running there?)";
        app.on_engine(FromEngine::Status(Status::Unreachable {
            why: why.into(),
            next: "b:2".into(),
        }));
        assert_eq!(app.status, "connecting to b:2…");
        assert!(matches!(app.log.back(), Some(Entry::Error(t)) if t.ends_with("; trying b:2.")));
        let addr = "127.0.0.2:2".parse().expect("addr");
        app.on_engine(FromEngine::Status(Status::Connected { server: "b:2".into(), addr }));
        assert_eq!(app.status, "connected to b:2 (127.0.0.2)");
        logged_in(&mut app);
        assert_eq!(app.status, "logged in as ann on b:2");
    }

    fn f_ts(app: &App) -> i64 {
        match app.log.back() {
            Some(Entry::Message { time, .. }) => *time,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scrolling_counts_what_arrives_below() {
        let mut app = App::new("x");
        logged_in(&mut app);
        app.page = 5;
        app.on_key(key(KeyCode::PageUp));
        assert_eq!(app.scroll, 4);
        app.on_engine(FromEngine::Frame(Box::new(Frame::messages(vec![Message::new(
            "bob", "ALL", 1, "x",
        )]))));
        assert_eq!(app.unseen, 1);
        app.on_key(key(KeyCode::PageDown));
        assert_eq!((app.scroll, app.unseen), (0, 0));
    }

    #[test]
    fn tab_offers_names() {
        let mut app = App::new("x");
        logged_in(&mut app);
        app.on_engine(FromEngine::Frame(Box::new(Frame {
            users_joined: Some(vec!["bobby".into()]),
            ..Frame::default()
        })));
        for c in "@bo".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        app.on_key(key(KeyCode::Tab));
        assert_eq!(app.editor.text(), "@bob");
        assert_eq!(app.hint.as_deref(), Some("bob  bobby"));
    }

    fn sent(action: Option<Action>) -> Box<Frame> {
        match action {
            Some(Action::Engine(ToEngine::Send(f))) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_login_password_is_asked_for_masked_and_goes_to_the_engine_only() {
        let mut app = App::new("localhost");
        app.on_engine(FromEngine::AskPassword { name: "ann".into(), refused: None });
        assert_eq!(app.mode, Mode::LoginPassword("ann".into()));
        assert!(app.mode.is_secret());
        match typed(&mut app, "correct horse") {
            Some(Action::Engine(ToEngine::Password(p))) => assert_eq!(p.expose(), "correct horse"),
            other => panic!("{other:?}"),
        }
        assert_eq!(app.mode, Mode::Waiting);
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.editor.text(), "", "the password is not in the history");
        // refused: said so, asked again; Esc goes back to the name
        app.on_engine(FromEngine::AskPassword {
            name: "ann".into(),
            refused: Some("Wrong.".into()),
        });
        assert!(matches!(app.log.back(), Some(Entry::Error(t)) if t.contains("Wrong.")));
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Login);
        match typed(&mut app, "ann2") {
            Some(Action::Engine(ToEngine::Name(n))) => assert_eq!(n, "ann2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn register_masks_the_line_and_sends_the_password_after_asking_twice() {
        let mut app = App::new("x");
        app.on_engine(FromEngine::LoggedIn {
            name: "ann".into(),
            reply: Box::new(Frame {
                registered: Some(false),
                ..test_support::accepted_login(&["ann"], vec![])
            }),
        });
        assert!(typed(&mut app, "/register").is_none());
        assert_eq!(app.mode, Mode::Secret);
        assert!(typed(&mut app, "correct horse").is_none());
        assert_eq!(app.mode, Mode::Secret);
        app.on_key(key(KeyCode::Tab));
        let f = sent(typed(&mut app, "correct horse"));
        assert_eq!(f.register.as_deref(), Some("correct horse"));
        assert_eq!(app.mode, Mode::Chat);
        // neither the log nor the history holds the password
        assert!(!app.log.iter().any(|e| format!("{e:?}").contains("correct horse")));
        app.on_key(key(KeyCode::Up));
        assert_eq!(app.editor.text(), "/register");
        app.editor.clear();
        // Esc cancels a prompt
        typed(&mut app, "/register");
        assert_eq!(app.mode, Mode::Secret);
        app.on_key(key(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Chat);
        assert!(matches!(app.log.back(), Some(Entry::Info(t)) if t.contains("Cancelled")));
    }

    #[test]
    fn the_engines_notes_are_shown() {
        let mut app = App::new("x");
        app.on_engine(FromEngine::Note("The session could not be resumed: expired".into()));
        assert!(matches!(app.log.back(), Some(Entry::Info(t)) if t.contains("expired")));
    }
}
