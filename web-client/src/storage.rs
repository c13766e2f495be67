//! The name and session token kept in the browser's local storage, so that a reload logs
//! straight back in. Never a password. Storage that is unavailable (a private window that
//! refuses it) only means logging in by hand.

/// The key of the kept name.
const NAME: &str = "chatterbox.name";
/// The key of the kept session token.
const TOKEN: &str = "chatterbox.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The kept name and token, if both are there.
pub fn load() -> Option<(String, String)> {
    let s = storage()?;
    let name = s.get_item(NAME).ok().flatten()?;
    let token = s.get_item(TOKEN).ok().flatten()?;
    (!name.is_empty() && !token.is_empty()).then_some((name, token))
}

/// Keeps `kept` (a name and its token), or forgets both.
pub fn save(kept: Option<&(String, String)>) {
    let Some(s) = storage() else { return };
    match kept {
        Some((name, token)) => {
            let _ = s.set_item(NAME, name);
            let _ = s.set_item(TOKEN, token);
        }
        None => {
            let _ = s.remove_item(TOKEN);
        }
    }
}
