//! The Chatterbox wire protocol, spelled once.
//!
//! Every Chatterbox program (the server, the terminal client, the browser client, the benchmark
//! tool) speaks the protocol through this crate, so the rules of `PROTOCOL.md` live in one place.
//!
//! # Layout
//!
//! - [`limits`]: every size limit of the protocol, each with the reason for its number.
//! - [`frame`]: [`Frame`], the one JSON object a frame carries (every key, both directions), and
//!   [`Message`], the `[SRC, DEST, TIMESTAMP, CONTENT]` entry. Decoding is strict about types and
//!   reports unknown keys by name instead of dropping them. [`frame::features`] names the
//!   extensions once, with [`frame::features::Granted`], the set a login was granted.
//! - [`rules`]: what a server accepts from a sender and where each message goes, as pure
//!   functions (the server applies them; the fuzz targets exercise them).
//! - [`validate`]: usernames and message content, with refusal reasons fit to show a person.
//! - `names` (feature `names`): when two usernames are the same name (letter case and
//!   confusable skeletons) and which mixes of scripts are refused.
//! - [`lenient`]: liberal decoding for clients (other servers' spelling variations).
//! - [`json`]: encoding (non-ASCII escaped as `\uXXXX`, for older clients that decode ASCII) and
//!   decoding with typed errors.
//! - `codec` (feature `codec`): the length-prefixed framing for tokio transports, built on
//!   tokio-util's `LengthDelimitedCodec` (u32 big-endian, the length checked before any
//!   allocation). Without the feature the crate has no tokio dependency and builds for wasm32.
//!   Its `JsonCodec` (decoded frames in, frames out) serves tests and benchmarks only, behind
//!   the further feature `json-codec`, so that no production build carries it.
//!
//! What a client makes of the frames (the chat it shows, what a typed line means) is not
//! protocol; it lives in the client-core crate, shared by the terminal and browser clients.

pub mod frame;
pub mod json;
pub mod lenient;
pub mod limits;
#[cfg(feature = "names")]
pub mod names;
pub mod rules;
pub mod size;
pub mod validate;

#[cfg(feature = "codec")]
pub mod codec;
#[cfg(feature = "codec")]
pub mod compress;

pub use frame::{Frame, Message};
pub use json::{DecodeError, decode, encode, encode_message};

/// The DEST of a public broadcast. It can never be a username.
pub const BROADCAST: &str = "ALL";
