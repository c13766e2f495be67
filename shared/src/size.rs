//! Sizes as people read them, as a file's message states them (extension `files`): the
//! server writes "ann shared holiday.jpg (2.1 MB)" and both clients show sizes the same way.

/// `bytes` in powers of 1000 with one decimal: "512 bytes", "1 byte", "2.1 MB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} byte{}", if bytes == 1 { "" } else { "s" });
    }
    #[allow(clippy::cast_precision_loss, reason = "one decimal is shown")]
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    // 999.95 and up would print as "1000.0": the next unit instead.
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1000), "1.0 kB");
        assert_eq!(human_size(2_100_000), "2.1 MB");
        assert_eq!(human_size(999_999), "1.0 MB");
        assert_eq!(human_size(104_857_600), "104.9 MB");
    }
}
