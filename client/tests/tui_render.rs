//! The TUI drawn into ratatui's TestBackend: what a person would see on the screen.

use chatterbox_client::engine::FromEngine;
use chatterbox_client::tui::app::App;
use chatterbox_client::tui::view::{self, PRIVATE, user_color};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Modifier;
use shared::{Frame, Message};
use test_support::{accepted_login, now};

fn app() -> App {
    let mut app = App::new("localhost:9443");
    app.on_engine(FromEngine::LoggedIn {
        name: "ann".into(),
        reply: Box::new(Frame {
            blocked: Some(vec!["eve".into()]),
            ..accepted_login(
                &["ann", "bob", "cat"],
                vec![
                    Message::new("bob", "ALL", now(), "hello everyone"),
                    Message::new("bob", "ann", now(), "a secret"),
                ],
            )
        }),
    });
    app
}

fn render(app: &mut App, w: u16, h: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|f| view::draw(f, app)).expect("draw");
    terminal.backend().buffer().clone()
}

fn rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_owned()).collect())
        .collect()
}

/// The position of the first occurrence of `text` on the screen.
fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    rows(buf).iter().enumerate().find_map(|(y, row)| {
        row.find(text).map(|byte| (row[..byte].chars().count() as u16, y as u16))
    })
}

#[test]
fn the_conversation_users_input_and_status_are_shown() {
    let mut app = app();
    let buf = render(&mut app, 100, 20);
    let screen = rows(&buf).join("\n");
    assert!(screen.contains("Welcome! You are ann."), "{screen}");
    assert!(screen.contains("bob: hello everyone"), "{screen}");
    assert!(screen.contains("bob → you (private): a secret"), "{screen}");
    assert!(screen.contains("Online (3)"), "{screen}");
    assert!(screen.contains("ann (you)"), "{screen}");
    assert!(screen.contains("Blocked"), "{screen}");
    assert!(screen.contains("logged in as ann"), "{screen}");
    // local-time stamps: HH:MM:SS before the message
    let row = rows(&buf).into_iter().find(|r| r.contains("hello everyone")).expect("row");
    let stamp = chrono::Local::now().format("%H:").to_string();
    assert!(row.contains(&stamp), "{row}");
}

#[test]
fn names_have_their_colour_and_own_and_private_messages_stand_out() {
    let mut app = app();
    for c in "my words".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let buf = render(&mut app, 100, 20);
    let (x, y) = find(&buf, "bob: hello").expect("bob's line");
    assert_eq!(buf[(x, y)].fg, user_color("bob"));
    assert!(!buf[(x, y)].modifier.contains(Modifier::REVERSED));
    let (x, y) = find(&buf, "ann: my words").expect("own line");
    assert_eq!(buf[(x, y)].fg, user_color("ann"));
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED), "own name is set apart");
    let (x, y) = find(&buf, "a secret").expect("private line");
    assert_eq!(buf[(x, y)].fg, PRIVATE);
    assert!(buf[(x, y)].modifier.contains(Modifier::ITALIC));
}

#[test]
fn page_up_scrolls_back_and_new_messages_are_counted() {
    let mut app = app();
    for i in 0..60 {
        app.on_engine(FromEngine::Frame(Box::new(Frame::messages(vec![Message::new(
            "cat",
            "ALL",
            now(),
            format!("line {i:02}"),
        )]))));
    }
    let buf = render(&mut app, 100, 20);
    let screen = rows(&buf).join("\n");
    assert!(screen.contains("line 59") && !screen.contains("line 40"), "{screen}");
    app.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE));
    app.on_engine(FromEngine::Frame(Box::new(Frame::messages(vec![Message::new(
        "cat",
        "ALL",
        now(),
        "while away",
    )]))));
    let buf = render(&mut app, 100, 20);
    let screen = rows(&buf).join("\n");
    assert!(!screen.contains("line 59") && screen.contains("line 45"), "{screen}");
    assert!(screen.contains("1 new below"), "{screen}");
    app.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    let screen = rows(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("while away"), "{screen}");
}

#[test]
fn a_narrow_terminal_drops_the_user_pane_and_wraps_long_lines() {
    let mut app = app();
    app.on_engine(FromEngine::Frame(Box::new(Frame::messages(vec![Message::new(
        "cat",
        "ALL",
        now(),
        "x".repeat(100),
    )]))));
    let buf = render(&mut app, 40, 16);
    let screen = rows(&buf).join("\n");
    assert!(!screen.contains("Online ("), "{screen}");
    let xs = rows(&buf).iter().filter(|r| r.contains("xxxxxxxxxx")).count();
    assert!(xs >= 3, "100 x's wrap over several rows:\n{screen}");
    // and redrawn wider, the pane is back
    assert!(rows(&render(&mut app, 100, 16)).join("\n").contains("Online (3)"));
}

#[test]
fn control_characters_from_others_cannot_reach_the_terminal() {
    let mut app = app();
    app.on_engine(FromEngine::Frame(Box::new(Frame::messages(vec![Message::new(
        "cat",
        "ALL",
        now(),
        "evil\u{1b}[2Jtext",
    )]))));
    let screen = rows(&render(&mut app, 100, 20)).join("\n");
    assert!(!screen.contains('\u{1b}'));
    assert!(screen.contains("evil\u{fffd}[2Jtext"), "{screen}");
}

#[test]
fn the_login_screen_asks_for_a_username() {
    let mut app = App::new("localhost:9443");
    app.on_engine(FromEngine::AskName {
        refused: Some("The provided username is already in use.".into()),
    });
    let screen = rows(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("Username (Enter to log in)"), "{screen}");
    assert!(
        screen.contains("Username refused: The provided username is already in use."),
        "{screen}"
    );
}

#[test]
fn a_password_is_masked_on_the_screen() {
    let mut app = App::new("localhost:9443");
    app.on_engine(FromEngine::AskPassword { name: "ann".into(), refused: None });
    for c in "hunter22".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let screen = rows(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("Password for ann (not shown)"), "{screen}");
    assert!(screen.contains(&view::MASK.to_string().repeat(8)), "{screen}");
    assert!(!screen.contains("hunter22"), "{screen}");
    // and so is a password of /register, under its own question
    let mut app = self::app();
    for c in "/register".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    for c in "hunter22".chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let screen = rows(&render(&mut app, 100, 20)).join("\n");
    assert!(screen.contains("Password (not shown)"), "{screen}");
    assert!(!screen.contains("hunter22"), "{screen}");
}

#[test]
fn the_status_line_shows_the_rooms_and_ctrl_n_moves_between_them() {
    let mut app = App::new("localhost:9443");
    let room = |name: &str| shared::frame::RoomInfo { name: name.into(), ..Default::default() };
    app.on_engine(FromEngine::LoggedIn {
        name: "ann".into(),
        reply: Box::new(Frame {
            features: Some(vec!["rooms".into()]),
            my_rooms: Some(vec![room("#go"), room("#rust")]),
            ..accepted_login(&["ann", "bob"], vec![])
        }),
    });
    app.on_engine(FromEngine::Frame(Box::new(Frame::messages(vec![
        Message::new("bob", "#rust", now(), "in the rust room"),
        Message::new("bob", "#rust", now(), "again"),
    ]))));
    let status = |app: &mut App| rows(&render(app, 120, 12)).last().cloned().unwrap_or_default();
    let line = status(&mut app);
    assert!(line.contains("*everyone #go #rust(2)"), "{line}");
    assert!(line.contains("Ctrl-N/P rooms"), "{line}");
    let screen = rows(&render(&mut app, 120, 12)).join("\n");
    assert!(screen.contains("#rust bob: in the rust room"), "{screen}");
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    app.on_key(ctrl('p'));
    let line = status(&mut app);
    assert!(line.contains("everyone #go *#rust"), "read once current: {line}");
    app.on_key(ctrl('n'));
    app.on_key(ctrl('n'));
    assert!(status(&mut app).contains("*#go"), "around to #go");
}
