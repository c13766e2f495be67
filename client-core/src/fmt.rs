//! The text every client shows the same way: a message's time and a titled list of names. Each
//! front end dresses the text its own way (terminal styles, HTML elements); the words and
//! numbers come from here.

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
