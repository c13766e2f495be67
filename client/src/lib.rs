//! The Chatterbox terminal client.
//!
//! # Layout
//!
//! - [`args`]: the command line (the seed's `-ca FILE` spelling included).
//! - [`net`]: name resolution (every address in turn), TLS with the system roots plus `--ca`,
//!   and failures explained with their fix.
//! - [`engine`]: the connection's life: connect, log in, pass frames both ways, reconnect with
//!   backoff and log in again under the same name. It knows nothing of screens.
//! - [`chat`]: what the user sees, as plain data: who is online, who is blocked, and the
//!   entries each frame adds. Shared by both front ends and tested without a terminal.
//! - [`input`]: what a typed line means (`@name text`, `/commands` and their aliases).
//! - [`editor`]: the input line: editing, history and Tab completion of names.
//! - [`fmt`]: local-time timestamps and the one-line form of an entry.
//! - [`plain`]: the line mode for pipes and scripts.
//! - [`tui`]: the ratatui full-screen mode.

pub mod args;
pub mod chat;
pub mod editor;
pub mod engine;
pub mod fmt;
pub mod input;
pub mod net;
pub mod plain;
pub mod tui;
