//! Local-time timestamps and the one-line form of an entry (plain mode, and the text the TUI
//! styles).

use chrono::{DateTime, Local, TimeZone};
use client_core::chat::Entry;

/// `HH:MM:SS` in local time, with the date in front when it is not today.
pub fn clock(ts: i64) -> String {
    let Some(t) = Local.timestamp_opt(ts, 0).single() else { return "??:??:??".into() };
    clock_at(t, Local::now())
}

fn clock_at(t: DateTime<Local>, now: DateTime<Local>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// The sender part of a message line: `<ann>` for everyone, `<ann -> bob>` privately.
pub fn who(src: &str, dest: &str, private: bool) -> String {
    if private { format!("<{src} -> {dest}>") } else { format!("<{src}>") }
}

/// An entry as one line of text.
pub fn line(entry: &Entry) -> String {
    match entry {
        Entry::Message { time, src, dest, text, private, .. } => {
            format!("[{}] {} {text}", clock(*time), who(src, dest, *private))
        }
        Entry::Joined(n) => format!("-- {n} joined"),
        Entry::Left(n) => format!("-- {n} left"),
        Entry::Info(t) => format!("-- {t}"),
        Entry::Error(t) => format!("!! {t}"),
        Entry::List { title, names } => {
            let list = if names.is_empty() { "(none)".to_owned() } else { names.join(", ") };
            format!("-- {title} ({}): {list}", names.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let m = Entry::Message {
            time: chrono::Utc::now().timestamp(),
            src: "ann".into(),
            dest: "bob".into(),
            text: "hi".into(),
            own: true,
            private: true,
        };
        let l = line(&m);
        assert!(l.ends_with("] <ann -> bob> hi") && l.starts_with('['), "{l}");
        assert_eq!(l.len(), "[00:00:00] <ann -> bob> hi".len(), "{l}");
        assert_eq!(line(&Entry::Joined("cat".into())), "-- cat joined");
        assert_eq!(line(&Entry::Error("x".into())), "!! x");
        assert_eq!(
            line(&Entry::List { title: "online".into(), names: vec!["a".into(), "b".into()] }),
            "-- online (2): a, b"
        );
    }

    #[test]
    fn an_older_day_shows_its_date() {
        let now = Local.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).single().expect("time");
        let then = Local.with_ymd_and_hms(2026, 3, 1, 23, 59, 58).single().expect("time");
        assert_eq!(clock_at(then, now), "2026-03-01 23:59:58");
        assert_eq!(clock_at(now, now), "10:00:00");
    }
}
