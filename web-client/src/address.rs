//! The page's address names the room shown (`#rust`; no fragment for the main room, see
//! [`crate::state::room_hash`]): the page sets it as the user moves between rooms, and reads it
//! at start and whenever it changes (the user edits it, or goes back or forward), so that a
//! reload or a link opens that room.

use js_sys::wasm_bindgen::JsValue;

/// The fragment of the page's address (`#rust`), empty if it has none.
pub fn hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// Gives the page's address the fragment `hash` (empty: none) as a new entry of the browser's
/// history, so that Back returns to the room shown before; nothing if it has it already. (A
/// history entry of the page's own makes no `hashchange`: the page is not told of its own
/// move.)
pub fn set_hash(hash: &str) {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    if location.hash().ok().as_deref() == Some(hash) {
        return;
    }
    let path = location.pathname().unwrap_or_default();
    let search = location.search().unwrap_or_default();
    if let Ok(history) = window.history() {
        let _ =
            history.push_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{search}{hash}")));
    }
}
