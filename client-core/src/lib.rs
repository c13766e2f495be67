//! What the Chatterbox clients share above the wire: the terminal client and the browser
//! client both build on this crate, so a rule of what a user sees is written once.
//!
//! It holds plain data and pure functions only: no tokio, no screen, no clock. It builds for
//! wasm32 (the browser client) as it does natively, and all of it is tested natively.
//!
//! # Layout
//!
//! - [`chat`]: the client's view of the chat: the entries each frame adds to the conversation,
//!   who is online, whom this user blocks, what the server granted, and what a typed line asks
//!   for (a frame to send, entries to show). Also [`chat::login_frame`], the one login frame
//!   of every client.
//! - [`input`]: what a typed line means (`@name text`, `/commands` and the seed's spellings of
//!   them), and the help text.
//! - [`prompt`]: the password prompts of `/register`, `/password` and `/unregister`: what
//!   is asked next, and the request once every answer is in.
//! - [`rotation`]: which of several servers (a cluster's nodes) to try next after a failed
//!   attempt or a lost connection, and when a full round calls for the backoff's wait.
//! - [`secret`]: a password or session token in memory, never shown (`Debug` hides it).
//! - [`fmt`]: the text of a message's time (from a broken-down local time each client reads
//!   from its own clock), of a titled list of names, of sessions and bans, and a name's colour.
//!
//! The protocol itself (frames, limits, validation, the codec) is the `shared` crate.

pub mod chat;
pub mod fmt;
pub mod input;
pub mod prompt;
pub mod rotation;
pub mod secret;
