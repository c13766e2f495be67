//! Drawing the screen: the conversation (local-time stamps, a colour per user, own and private
//! messages set apart), who is online, the input line and a status line. Narrow terminals drop
//! the user pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

use super::app::{App, Mode};
use crate::fmt;
use client_core::chat::Entry;

/// Below this width the user pane is left out, so the conversation keeps its room.
pub const USER_PANE_MIN_WIDTH: u16 = 60;
/// Width of the user pane.
pub const USER_PANE_WIDTH: u16 = 22;

const PALETTE: [Color; 8] = [
    Color::LightBlue,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightCyan,
    Color::LightRed,
    Color::Blue,
    Color::Green,
    Color::Yellow,
];

/// The colour of a user's name: the same on every screen and every run.
pub fn user_color(name: &str) -> Color {
    PALETTE[client_core::fmt::colour_index(name, PALETTE.len())]
}

/// Style of private messages.
pub const PRIVATE: Color = Color::Magenta;

fn entry_spans(e: &Entry, me: Option<&str>) -> Vec<Span<'static>> {
    let dim = Style::new().fg(Color::DarkGray);
    match e {
        Entry::Message { time, src, dest, text, own, private, edited, .. } => {
            let mut nick = Style::new().fg(user_color(src)).add_modifier(Modifier::BOLD);
            if *own {
                nick = nick.add_modifier(Modifier::REVERSED);
            }
            let mut spans = vec![Span::styled(format!("{} ", fmt::clock(*time)), dim)];
            if *private {
                spans.push(Span::styled(src.clone(), nick));
                let to = if Some(dest.as_str()) == me { "you".to_owned() } else { dest.clone() };
                spans.push(Span::styled(format!(" → {to} (private): "), Style::new().fg(PRIVATE)));
                spans.push(Span::styled(
                    text.clone(),
                    Style::new().fg(PRIVATE).add_modifier(Modifier::ITALIC),
                ));
            } else {
                if dest.starts_with('#') {
                    spans.push(Span::styled(format!("{dest} "), Style::new().fg(Color::Blue)));
                }
                spans.push(Span::styled(src.clone(), nick));
                spans.push(Span::raw(": "));
                let body = if *own { Style::new().fg(Color::Gray) } else { Style::new() };
                spans.push(Span::styled(text.clone(), body));
            }
            if *edited {
                spans.push(Span::styled(" (edited)", dim));
            }
            spans
        }
        Entry::Changed { .. } | Entry::Found { .. } => {
            vec![Span::styled(fmt::line(e), Style::new().fg(Color::Cyan))]
        }
        Entry::Result { hit, .. } => {
            let style = if *hit { Style::new() } else { dim };
            vec![Span::styled(fmt::line(e), style)]
        }
        Entry::Joined(n) => vec![
            Span::styled("→ ", Style::new().fg(Color::Green)),
            Span::styled(n.clone(), Style::new().fg(user_color(n))),
            Span::styled(" joined", dim),
        ],
        Entry::Left(n) => vec![
            Span::styled("← ", Style::new().fg(Color::Yellow)),
            Span::styled(n.clone(), Style::new().fg(user_color(n))),
            Span::styled(" left", dim),
        ],
        Entry::Info(t) => vec![Span::styled(format!("-- {t}"), Style::new().fg(Color::Cyan))],
        Entry::Error(t) => {
            vec![Span::styled(
                format!("! {t}"),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            )]
        }
        Entry::List { .. } | Entry::File { .. } => {
            vec![Span::styled(fmt::line(e), Style::new().fg(Color::Cyan))]
        }
    }
}

/// Splits styled text into lines of at most `width` columns (at character boundaries; a
/// control character shows as `�` so that it can never move the cursor).
pub fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut lines = vec![Vec::new()];
    let mut used = 0;
    for span in spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let c = if c.is_control() { '\u{fffd}' } else { c };
            let w = c.width().unwrap_or(0);
            if used + w > width {
                let full = std::mem::take(&mut piece);
                if let Some(line) = lines.last_mut() {
                    line.push(Span::styled(full, span.style));
                }
                lines.push(Vec::new());
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if let Some(line) = lines.last_mut() {
            line.push(Span::styled(piece, span.style));
        }
    }
    lines.into_iter().map(Line::from).collect()
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    let [body, input, status] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(3), Constraint::Length(1)])
            .areas(frame.area());
    let (messages, users) = if body.width >= USER_PANE_MIN_WIDTH {
        let [m, u] = Layout::horizontal([Constraint::Min(20), Constraint::Length(USER_PANE_WIDTH)])
            .areas(body);
        (m, Some(u))
    } else {
        (body, None)
    };
    draw_messages(frame, app, messages);
    if let Some(users) = users {
        draw_users(frame, app, users);
    }
    draw_input(frame, app, input);
    draw_status(frame, app, status);
}

fn draw_messages(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
    let block = Block::bordered().title(" Chatterbox ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    app.page = height.max(1);
    let me = app.chat.me.clone();
    // Only the entries that can reach the screen are wrapped: walk back from the newest.
    let need = height + app.scroll;
    let mut lines: Vec<Line<'static>> = Vec::new();
    for e in app.log.iter().rev() {
        let mut wrapped = wrap(entry_spans(e, me.as_deref()), inner.width as usize);
        wrapped.reverse();
        lines.extend(wrapped);
        if lines.len() >= need {
            break;
        }
    }
    let max_scroll = lines.len().saturating_sub(height);
    app.scroll = app.scroll.min(max_scroll);
    let visible: Vec<Line<'static>> = lines
        .into_iter()
        .skip(app.scroll)
        .take(height)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    frame.render_widget(Paragraph::new(visible), inner);
}

fn draw_users(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let me = app.chat.me.as_deref();
    let mut lines: Vec<Line<'static>> = app
        .chat
        .online
        .iter()
        .map(|n| {
            let mut style = Style::new().fg(user_color(n));
            let mut label = n.clone();
            if Some(n.as_str()) == me {
                style = style.add_modifier(Modifier::BOLD);
                label.push_str(" (you)");
            }
            if app.chat.blocked.contains(n) {
                style = Style::new().fg(Color::DarkGray).add_modifier(Modifier::CROSSED_OUT);
                label.push_str(" ✗");
            }
            Line::from(Span::styled(label, style))
        })
        .collect();
    if !app.chat.blocked.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Blocked", Style::new().add_modifier(Modifier::UNDERLINED)));
        for n in &app.chat.blocked {
            lines.push(Line::styled(n.clone(), Style::new().fg(Color::DarkGray)));
        }
    }
    let title = format!(" Online ({}) ", app.chat.online.len());
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(title)), area);
}

/// Shown for each character of a password being typed.
pub const MASK: char = '•';

fn draw_input(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let title = match &app.mode {
        Mode::Waiting => " Connecting… ".to_owned(),
        Mode::Login => " Username (Enter to log in) ".to_owned(),
        Mode::LoginPassword(name) => {
            format!(" Password for {name} (not shown) · Enter logs in · Esc: another name ")
        }
        Mode::Chat => " Message · Enter sends · @name private · /help ".to_owned(),
        Mode::Secret => {
            let label = app.chat.asking().map_or("Password", |a| a.label());
            format!(" {label} (not shown) · Enter · Esc cancels ")
        }
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let text = app.editor.text();
    // A password is drawn as one mask character per character typed.
    let chars: Vec<char> = if app.mode.is_secret() {
        vec![MASK; text.chars().count()]
    } else {
        text.chars().collect()
    };
    let cursor = app.editor.cursor();
    // Scroll the line horizontally so the cursor stays visible.
    let width = inner.width.max(1) as usize;
    let cols = |cs: &[char]| cs.iter().map(|c| c.width().unwrap_or(0)).sum::<usize>();
    let mut start = 0;
    while cols(&chars[start..cursor]) >= width {
        start += 1;
    }
    let shown: String = chars[start..].iter().collect();
    frame.render_widget(Paragraph::new(shown), inner);
    if app.mode != Mode::Waiting {
        let x = inner.x + cols(&chars[start..cursor]) as u16;
        frame.set_cursor_position(Position::new(x, inner.y));
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let left = match (&app.hint, app.chat.room_bar()) {
        (Some(h), _) => h.clone(),
        (None, Some(rooms)) => format!("{} · {rooms}", app.status),
        (None, None) => app.status.clone(),
    };
    let right = if app.scroll > 0 {
        format!("↑ scrolled · {} new below · PgDn ", app.unseen)
    } else if app.chat.rooms.is_empty() {
        "PgUp/PgDn scroll · Tab completes · Ctrl-C quits ".to_owned()
    } else {
        "Ctrl-N/P rooms · PgUp/PgDn scroll · Ctrl-C quits ".to_owned()
    };
    let [l, r] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(right.chars().count() as u16)])
            .areas(area);
    let style =
        Style::new().fg(Color::Black).bg(if app.connected { Color::Green } else { Color::Yellow });
    frame.render_widget(Paragraph::new(format!(" {left}")).style(style), l);
    frame.render_widget(Paragraph::new(right).style(style), r);
}
