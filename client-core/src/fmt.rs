//! The text every client shows the same way: a message's time, a titled list of names, and the
//! lines of the account's sessions and of the bans in force. Each front end dresses the text
//! its own way (terminal styles, HTML elements); the words and numbers come from here.

use shared::frame::{BanInfo, SessionInfo};

/// A moment in the viewer's local time, broken down. Each client reads it from its own clock
/// (chrono in the terminal, the browser's `Date`), so this crate needs no time-zone data and
/// builds for wasm32 as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The year, e.g. 2026.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 60 (a leap second).
    pub second: u32,
}

/// Shown for a timestamp that has no local time (out of the clock's range).
pub const NO_TIME: &str = "??:??:??";

/// The time of a message: `HH:MM:SS`, with the date in front (`YYYY-MM-DD HH:MM:SS`) when it
/// is not on `now`'s day.
pub fn clock(t: LocalTime, now: LocalTime) -> String {
    let time = format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
    if (t.year, t.month, t.day) == (now.year, now.month, now.day) {
        time
    } else {
        format!("{:04}-{:02}-{:02} {time}", t.year, t.month, t.day)
    }
}

/// A titled list of names with their count: `online (2): ann, bob`, or `blocked (0): (none)`.
pub fn list(title: &str, names: &[String]) -> String {
    let shown = if names.is_empty() { "(none)".to_owned() } else { names.join(", ") };
    format!("{title} ({}): {shown}", names.len())
}

/// A moment in UTC to the minute, `2026-03-02 10:00 UTC`: for the times of sessions and bans,
/// which this crate shows without a clock or time-zone data of its own.
pub fn utc(ts: i64) -> String {
    const DAY: i64 = 86_400;
    let (days, secs) = (ts.div_euclid(DAY), ts.rem_euclid(DAY));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// `YYYY-MM-DD` as Unix seconds at that day's start, UTC; `None` if it is not a date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    // Howard Hinnant's `days_from_civil`, the inverse of `civil_from_days`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // A day past the month's end (31 April) is refused, not carried over.
    (civil_from_days(days) == (year, month, day)).then_some(days * 86_400)
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact for every `i64` day a timestamp can give).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Counted from 0000-03-01, in eras of 400 years (146,097 days), March first in each year
    // so that the leap day falls last.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The lines of a `SESSIONS` answer: a title, then one line per session token.
pub fn sessions(list: &[SessionInfo]) -> Vec<String> {
    let mut out = vec![if list.is_empty() {
        "sessions (0): (none); every login now needs the password".to_owned()
    } else {
        format!("sessions ({}), newest first; /revoke ID ends one:", list.len())
    }];
    for s in list {
        let this = if s.current { " (this connection)" } else { "" };
        out.push(format!(
            "  {}{this}: since {}, last login {}, expires {}",
            s.id,
            utc(s.created),
            utc(s.last_used),
            utc(s.expires)
        ));
    }
    out
}

/// The lines of a `BANS` answer: a title, then one line per ban or mute.
pub fn bans(list: &[BanInfo]) -> Vec<String> {
    let mut out = vec![if list.is_empty() {
        "bans and mutes (0): (none)".to_owned()
    } else {
        format!("bans and mutes ({}):", list.len())
    }];
    for b in list {
        let whom = match (&b.name, &b.address) {
            (Some(n), Some(a)) => format!("{n} and {a}"),
            (Some(n), None) => n.clone(),
            (None, Some(a)) => a.clone(),
            (None, None) => "?".to_owned(),
        };
        let until = match b.until {
            Some(t) => format!("until {}", utc(t)),
            None => "for ever".to_owned(),
        };
        let why = b.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
        out.push(format!("  {} {whom} {until}, by {} on {}{why}", b.kind, b.by, utc(b.at)));
    }
    out
}

/// Which of `colours` colours a name gets: the same on every screen, in every client and every
/// run (FNV-1a over the name's bytes, unlike the std hasher stable across platforms).
/// `colours` must not be 0.
pub fn colour_index(name: &str, colours: usize) -> usize {
    let hash =
        name.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    // A u32 fits a usize on every target this builds for (32 and 64 bits).
    hash as usize % colours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> LocalTime {
        LocalTime { year, month, day, hour, minute, second }
    }

    #[test]
    fn today_shows_the_time_and_an_older_day_its_date() {
        let now = at(2026, 3, 2, 10, 0, 0);
        assert_eq!(clock(at(2026, 3, 2, 9, 5, 7), now), "09:05:07");
        assert_eq!(clock(at(2026, 3, 1, 23, 59, 58), now), "2026-03-01 23:59:58");
        assert_eq!(clock(at(2025, 3, 2, 10, 0, 0), now), "2025-03-02 10:00:00");
    }

    #[test]
    fn lists_show_their_count_and_say_when_empty() {
        assert_eq!(list("online", &["ann".into(), "bob".into()]), "online (2): ann, bob");
        assert_eq!(list("blocked", &[]), "blocked (0): (none)");
    }

    #[test]
    fn dates_read_as_the_start_of_their_day_in_utc() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_date("2026-03-02").map(utc), Some("2026-03-02 00:00 UTC".into()));
        for bad in ["2026-02-30", "2026-13-01", "26-1", "yesterday", "2026-04-31"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn utc_times_to_the_minute() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_772_445_659), "2026-03-02 10:00 UTC");
        assert_eq!(utc(951_825_600), "2000-02-29 12:00 UTC", "a leap day");
        assert_eq!(utc(-1), "1969-12-31 23:59 UTC");
        assert_eq!(utc(253_402_300_799), "9999-12-31 23:59 UTC");
    }

    #[test]
    fn sessions_and_bans_read_as_lines() {
        let s = |id: &str, current| SessionInfo {
            id: id.into(),
            created: 0,
            last_used: 60,
            expires: 86_400,
            current,
        };
        assert_eq!(
            sessions(&[s("a1", true), s("b2", false)]),
            [
                "sessions (2), newest first; /revoke ID ends one:",
                "  a1 (this connection): since 1970-01-01 00:00 UTC, last login 1970-01-01 00:01 UTC, expires 1970-01-02 00:00 UTC",
                "  b2: since 1970-01-01 00:00 UTC, last login 1970-01-01 00:01 UTC, expires 1970-01-02 00:00 UTC",
            ]
        );
        assert!(sessions(&[])[0].contains("(none)"));
        let ban = BanInfo {
            kind: "ban".into(),
            name: Some("bob".into()),
            address: Some("203.0.113.7".into()),
            by: "op".into(),
            at: 0,
            until: None,
            reason: Some("spam".into()),
        };
        let mute = BanInfo {
            kind: "mute".into(),
            address: None,
            until: Some(3600),
            reason: None,
            ..ban.clone()
        };
        assert_eq!(
            bans(&[ban, mute]),
            [
                "bans and mutes (2):",
                "  ban bob and 203.0.113.7 for ever, by op on 1970-01-01 00:00 UTC: spam",
                "  mute bob until 1970-01-01 01:00 UTC, by op on 1970-01-01 00:00 UTC",
            ]
        );
        assert_eq!(bans(&[]), ["bans and mutes (0): (none)"]);
    }

    #[test]
    fn a_name_keeps_its_colour() {
        // FNV-1a: the empty name hashes to the offset basis 0x811c9dc5, "a" to 0xe40c292c.
        assert_eq!(colour_index("", 8), 0x811c_9dc5 % 8);
        assert_eq!(colour_index("a", 8), 0xe40c_292c % 8);
        assert_eq!(colour_index("a", 5), 0xe40c_292c % 5);
        let spread: std::collections::BTreeSet<usize> =
            ["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"]
                .iter()
                .map(|n| colour_index(n, 8))
                .collect();
        assert!(spread.len() > 1, "names get different colours");
    }
}
