//! Nickname colours: a name gets the same one everywhere. The colours themselves are in
//! `style.css` (`--nick0`…, light and dark), where this module's tests check their contrast.

/// Colours in the palette, classes `c0`… in `style.css`: enough that names next to each
/// other rarely share one, few enough that each stays readable in both schemes.
pub const NICK_COLOURS: usize = 8;

/// The CSS class of `name`'s colour, the same for a name everywhere.
pub fn nick_class(name: &str) -> String {
    format!("c{}", client_core::fmt::colour_index(name, NICK_COLOURS))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STYLE: &str = include_str!("../style.css");
    /// WCAG 2 level AA for normal text.
    const AA: f64 = 4.5;

    /// The custom properties (`--name: #rrggbb`) of the first `:root` block after `from`.
    fn root_colours(from: usize) -> Vec<(String, [u8; 3])> {
        let start = from + STYLE[from..].find(":root {").expect(":root block");
        let end = start + STYLE[start..].find('}').expect("end of the block");
        STYLE[start + ":root {".len()..end]
            .split(';')
            .filter_map(|decl| {
                let decl = decl.rsplit("*/").next()?;
                let (name, value) = decl.split_once(':')?;
                let name = name.trim();
                let hex = value.trim().strip_prefix('#').filter(|h| h.len() == 6)?;
                let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
                name.starts_with("--").then_some(())?;
                Some((name.to_owned(), [byte(0)?, byte(2)?, byte(4)?]))
            })
            .collect()
    }

    fn colour(scheme: &[(String, [u8; 3])], name: &str) -> [u8; 3] {
        scheme.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} is set")).1
    }

    /// WCAG 2 relative luminance.
    fn luminance(rgb: [u8; 3]) -> f64 {
        let [r, g, b] = rgb.map(|c| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    /// WCAG 2 contrast ratio, from 1 to 21.
    fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn the_contrast_formula_matches_the_wcag_examples() {
        assert!((contrast([0, 0, 0], [255, 255, 255]) - 21.0).abs() < 1e-9);
        assert!((contrast([0x77, 0x77, 0x77], [255, 255, 255]) - 4.48).abs() < 0.01);
        assert_eq!(contrast([9, 9, 9], [9, 9, 9]), 1.0);
    }

    /// The colour pairs the page draws text in besides the nicknames: (text, background).
    const PAIRS: &[(&str, &str)] = &[
        ("--fg", "--bg"),
        ("--fg", "--own"),
        ("--muted", "--bg"),
        ("--accent", "--bg"),
        ("--private", "--own"),
        ("--private", "--bg"),
        ("--error", "--bg"),
        ("--ok", "--bg"),
        ("--warn", "--bg"),
        ("--on-fill", "--accent"),
        ("--on-fill", "--private"),
    ];

    fn check(scheme: &str, colours: &[(String, [u8; 3])], text: &str, background: &str) {
        let ratio = contrast(colour(colours, text), colour(colours, background));
        assert!(
            ratio >= AA,
            "{scheme} scheme: {text} on {background} is {ratio:.2}:1, under {AA}:1"
        );
    }

    #[test]
    fn every_nickname_colour_and_text_colour_is_readable_in_both_schemes() {
        let light = root_colours(0);
        let dark_media = STYLE.find("@media (prefers-color-scheme: dark)").expect("a dark scheme");
        let dark = root_colours(dark_media);
        for (scheme, colours) in [("light", &light), ("dark", &dark)] {
            for background in ["--bg", "--own"] {
                for i in 0..NICK_COLOURS {
                    check(scheme, colours, &format!("--nick{i}"), background);
                }
            }
            for (text, background) in PAIRS {
                check(scheme, colours, text, background);
            }
            let nicks = colours.iter().filter(|(n, _)| n.starts_with("--nick")).count();
            assert_eq!(nicks, NICK_COLOURS, "{scheme} scheme: one colour per class");
        }
        for i in 0..NICK_COLOURS {
            assert!(STYLE.contains(&format!(".c{i} {{ color: var(--nick{i}); }}")), "class c{i}");
        }
    }

    #[test]
    fn a_name_has_one_colour_of_the_palette() {
        assert_eq!(nick_class("ann"), nick_class("ann"));
        let classes: std::collections::BTreeSet<String> =
            (0..200).map(|i| nick_class(&format!("user{i}"))).collect();
        assert_eq!(classes.len(), NICK_COLOURS, "{classes:?}");
    }
}
