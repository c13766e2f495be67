//! The Chatterbox terminal client.
//!
//! # Layout
//!
//! - [`args`]: the command line (the seed's `-ca FILE` spelling included) and its list of
//!   servers (`host1:6667,host2,[::1]:9443`).
//! - [`net`]: name resolution (every address in turn), TLS with the system roots plus `--ca`,
//!   and failures explained with their fix.
//! - [`engine`]: the connection's life: connect (to the next server of the list after a lost
//!   connection), log in, pass frames both ways, reconnect with backoff and log in again under
//!   the same name. It knows nothing of screens.
//! - `client_core` (the crate shared with the browser client): the chat as plain data, what a
//!   typed line means, the login frame, and the text of times and lists.
//! - [`editor`]: the input line: editing, history and Tab completion of names.
//! - [`fmt`]: local-time timestamps (the local clock read for `client_core::fmt`) and the
//!   one-line form of an entry.
//! - [`transfer`]: files sent and saved (`/send`, `/get`), carried out by the engine.
//! - [`plain`]: the line mode for pipes and scripts.
//! - [`tui`]: the ratatui full-screen mode.

pub mod args;
pub mod editor;
pub mod engine;
pub mod fmt;
pub mod net;
pub mod plain;
pub mod transfer;
pub mod tui;

/// Seconds since the epoch now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
