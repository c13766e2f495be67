//! The Chatterbox browser client: Leptos, client-side rendered, over the server's WebSocket
//! gateway, speaking the same frames as every other client through the `shared` crate.
//!
//! # Layout
//!
//! - [`state`]: the page's state and what every event does to it, plain Rust with unit tests:
//!   the conversations (the main room's and each room's), the login, the account.
//! - [`outbox`]: the bounded queue from the page to the connection.
//! - [`backoff`]: how long to wait before reconnecting.
//! - [`gateways`]: the WebSocket gateways (the page's own, or a cluster's nodes listed in
//!   `?ws=`), which one to open next, and when a full round of failures calls for a wait.
//! - [`palette`]: nickname colours (the colours are in `style.css`, checked for contrast).
//! - `conn` (wasm32): the WebSocket, with reconnects and backoff.
//! - `address` (wasm32): the page's address, which names the room shown (`#rust`).
//! - `storage` (wasm32): the name and session token kept for a reload.
//! - `components` (wasm32): the views, which only read the state and report what the user did.

pub mod backoff;
pub mod gateways;
pub mod outbox;
pub mod palette;
pub mod state;

#[cfg(target_arch = "wasm32")]
pub mod address;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod conn;
#[cfg(target_arch = "wasm32")]
pub mod storage;

/// Mounts the app on the page's body.
#[cfg(target_arch = "wasm32")]
pub fn mount() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(components::App);
}
