//! Local-time timestamps and the one-line form of an entry (plain mode, and the text the TUI
//! styles). The words and numbers are `client_core::fmt`'s, shared with the browser client;
//! this module reads the local clock for them.

use chrono::{DateTime, Datelike, Local, TimeZone, Timelike};
use client_core::chat::Entry;
use client_core::fmt::{self as text, LocalTime, NO_TIME};

/// `HH:MM:SS` in local time, with the date in front when it is not today.
pub fn clock(ts: i64) -> String {
    let Some(t) = Local.timestamp_opt(ts, 0).single() else { return NO_TIME.into() };
    text::clock(local(t), local(Local::now()))
}

/// A local time broken down for `client_core::fmt::clock`.
fn local(t: DateTime<Local>) -> LocalTime {
    LocalTime {
        year: t.year(),
        month: t.month(),
        day: t.day(),
        hour: t.hour(),
        minute: t.minute(),
        second: t.second(),
    }
}

/// The sender part of a message line: `<ann>` for everyone, `<ann -> bob>` privately,
/// `#rust <ann>` in a room.
pub fn who(src: &str, dest: &str, private: bool) -> String {
    if private {
        format!("<{src} -> {dest}>")
    } else if dest.starts_with('#') {
        format!("{dest} <{src}>")
    } else {
        format!("<{src}>")
    }
}

/// An entry as one line of text.
pub fn line(entry: &Entry) -> String {
    match entry {
        Entry::Message { time, src, dest, text, private, edited, .. } => {
            let edited = if *edited { " (edited)" } else { "" };
            format!("[{}] {} {text}{edited}", clock(*time), who(src, dest, *private))
        }
        Entry::Changed { text: Some(text), by, time, .. } => {
            format!("[{}] -- {by} edited a message: {text}", clock(*time))
        }
        Entry::Changed { text: None, by, time, .. } => {
            format!("[{}] -- {by} deleted a message", clock(*time))
        }
        Entry::Found { text } => format!("-- {text}"),
        Entry::Result { time, src, dest, text, id, hit } => {
            let private = !dest.starts_with('#') && dest != shared::BROADCAST;
            let line = format!("[{}] {} {text}", clock(*time), who(src, dest, private));
            match (hit, id) {
                (true, Some(id)) => format!("  > {line}  (id {id})"),
                (true, None) => format!("  > {line}"),
                (false, _) => format!("    {line}"),
            }
        }
        Entry::Joined(n) => format!("-- {n} joined"),
        Entry::Left(n) => format!("-- {n} left"),
        Entry::Info(t) => format!("-- {t}"),
        Entry::Error(t) => format!("!! {t}"),
        Entry::List { title, names } => format!("-- {}", text::list(title, names)),
        Entry::File { n, file, own: false, .. } => format!(
            "-- file {n}: {} ({}, {}); /get {n} saves it",
            file.name,
            shared::size::human_size(file.size),
            file.kind
        ),
        Entry::File { n, file, own: true, .. } => {
            format!("-- file {n}: {} ({}), sent", file.name, shared::size::human_size(file.size))
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
            id: None,
            edited: false,
        };
        let l = line(&m);
        assert!(l.ends_with("] <ann -> bob> hi") && l.starts_with('['), "{l}");
        assert_eq!(l.len(), "[00:00:00] <ann -> bob> hi".len(), "{l}");
        let in_room = Entry::Message {
            time: chrono::Utc::now().timestamp(),
            src: "ann".into(),
            dest: "#rust".into(),
            text: "hi".into(),
            own: false,
            private: false,
            id: Some(4),
            edited: true,
        };
        assert!(line(&in_room).ends_with("] #rust <ann> hi (edited)"), "{}", line(&in_room));
        let result = Entry::Result {
            time: 0,
            src: "ann".into(),
            dest: "ALL".into(),
            text: "found".into(),
            id: Some(7),
            hit: true,
        };
        assert!(line(&result).ends_with("] <ann> found  (id 7)"), "{}", line(&result));
        let deleted = Entry::Changed { id: Some(7), text: None, by: "op".into(), time: 0 };
        assert!(line(&deleted).ends_with("] -- op deleted a message"), "{}", line(&deleted));
        assert_eq!(line(&Entry::Joined("cat".into())), "-- cat joined");
        assert_eq!(line(&Entry::Error("x".into())), "!! x");
        assert_eq!(
            line(&Entry::List { title: "online".into(), names: vec!["a".into(), "b".into()] }),
            "-- online (2): a, b"
        );
    }

    #[test]
    fn the_local_clock_is_read_field_by_field() {
        let t = Local.with_ymd_and_hms(2026, 3, 1, 23, 59, 58).single().expect("time");
        let want = LocalTime { year: 2026, month: 3, day: 1, hour: 23, minute: 59, second: 58 };
        assert_eq!(local(t), want);
        assert_eq!(clock(t.timestamp()), text::clock(want, local(Local::now())));
    }
}
