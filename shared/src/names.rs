//! When two usernames are the same name: compared without letter case and by their
//! confusable skeleton (Unicode TR39), so `Bob`, `bob` and `bоb` (with a Cyrillic `о`) are
//! one name for uniqueness, reservation, accounts, blocks and private-message addressing,
//! while each is still shown as its owner wrote it. Names that mix scripts in a way no one
//! writes (Latin with Cyrillic, say) are refused outright.
//!
//! Behind the feature `names` (the confusables table is large, and only the server decides).

use unicode_security::{RestrictionLevel, RestrictionLevelDetection, skeleton};

/// The key under which a name is unique: lower case, then its TR39 skeleton, then lower case
/// again (the skeleton maps some characters to capitals, such as the digit `0` to `O`).
///
/// Two names with the same key are one name. The key is never shown.
pub fn name_key(name: &str) -> String {
    let lower = name.to_lowercase();
    let skel: String = skeleton(&lower).collect();
    skel.to_lowercase()
}

/// Why a name's letters are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "The username mixes letters of different scripts (such as Latin and Cyrillic), which would \
     let it pass for another name; write it in one script."
)]
pub struct MixedScript;

/// Refuses a name whose letters are not plausibly of one script: TR39's "highly restrictive"
/// level, which allows one script, or Latin with Han and Japanese kana, with Han and Bopomofo,
/// or with Han and Hangul. Only letters are looked at: digits, punctuation and emoji belong to
/// every script.
pub fn check_scripts(name: &str) -> Result<(), MixedScript> {
    let letters: String = name.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.as_str().detect_restriction_level() <= RestrictionLevel::HighlyRestrictive {
        Ok(())
    } else {
        Err(MixedScript)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_confusables_make_one_name() {
        let bob = name_key("bob");
        for same in ["Bob", "BOB", "b\u{43e}b", "B\u{41e}B", "b0b"] {
            assert_eq!(name_key(same), bob, "{same:?}");
        }
        for other in ["bobby", "rob", "b_b"] {
            assert_ne!(name_key(other), bob, "{other:?}");
        }
        assert_eq!(name_key("Élodie"), name_key("élodie"));
        assert_eq!(name_key("李雷"), name_key("李雷"));
    }

    #[test]
    fn one_script_names_pass_and_mixed_ones_do_not() {
        for ok in ["bob", "Bob_2", "élodie", "李雷", "иван", "山田たろう", "ann🙂", "x-1", "ΑΘΗΝΑ"]
        {
            assert_eq!(check_scripts(ok), Ok(()), "{ok:?}");
        }
        for bad in ["b\u{43e}b", "p\u{430}ypal", "αpple", "иvan"] {
            assert_eq!(check_scripts(bad), Err(MixedScript), "{bad:?}");
        }
    }
}
