//! JSON encoding and decoding of frames.
//!
//! Encoding escapes every non-ASCII character as `\uXXXX` (a surrogate pair above U+FFFF):
//! older clients of this protocol decode frames as ASCII, and every JSON parser reads the
//! escapes back to the same text. Decoding accepts raw UTF-8 and escapes alike.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

use crate::frame::{Frame, Message, strip_position};

/// A serde_json formatter that writes compact JSON with only ASCII bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsciiFormatter;

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii() {
                i += 1;
                continue;
            }
            writer.write_all(&bytes[start..i])?;
            // `i` is at the first byte of a multi-byte character, since `fragment` is a str.
            let ch = fragment[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                let u = *unit as usize;
                writer.write_all(&[
                    b'\\',
                    b'u',
                    HEX[u >> 12],
                    HEX[(u >> 8) & 0xf],
                    HEX[(u >> 4) & 0xf],
                    HEX[u & 0xf],
                ])?;
            }
            i += ch.len_utf8();
            start = i;
        }
        writer.write_all(&bytes[start..])
    }
}

fn encode_value_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let mut ser = Serializer::with_formatter(out, AsciiFormatter);
    // Serialising these types into memory cannot fail: every map key is a string and writes
    // to a Vec never fail.
    if value.serialize(&mut ser).is_err() {
        unreachable!("serialising a protocol value into memory failed");
    }
}

/// Appends the ASCII JSON of a frame to `out`.
pub fn encode_into(frame: &Frame, out: &mut Vec<u8>) {
    encode_value_into(frame, out);
}

/// The ASCII JSON of a frame.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(frame, &mut out);
    out
}

/// Appends the ASCII JSON of one message entry (`[SRC,DEST,TIMESTAMP,CONTENT]`) to `out`.
/// Servers encode each entry once and splice it into every frame that carries it.
pub fn encode_message_into(message: &Message, out: &mut Vec<u8>) {
    encode_value_into(message, out);
}

/// The ASCII JSON of one message entry.
pub fn encode_message(message: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + message.content.len());
    encode_message_into(message, &mut out);
    out
}

/// Appends a JSON string literal (quotes and escapes included, ASCII only) to `out`.
pub fn encode_str_into(text: &str, out: &mut Vec<u8>) {
    encode_value_into(text, out);
}

/// Why a frame's bytes are not a protocol object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not UTF-8 JSON (or are nested too deep to parse safely).
    #[error("The frame is not valid JSON: {0}.")]
    Syntax(String),
    /// The bytes are JSON of the wrong shape: not an object, or a key holding the wrong type.
    #[error("The frame has the wrong shape: {0}.")]
    Shape(String),
}

fn describe(e: &serde_json::Error) -> String {
    format!("{} (column {})", strip_position(&e.to_string()), e.column())
}

/// Decodes one frame's JSON. A document nested deeper than serde_json's limit of 128 levels is
/// refused (or, under a key the protocol does not know, skipped without recursion), so no
/// input can exhaust the stack.
pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // A shape error inside a message can be caused by the document ending early; tell
        // the two apart by asking whether the bytes are JSON at all (only on this error path).
        if let Err(utf8) = std::str::from_utf8(bytes) {
            return DecodeError::Syntax(format!("not UTF-8 at byte {}", utf8.valid_up_to()));
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(syntax) => DecodeError::Syntax(describe(&syntax)),
            Ok(_) => DecodeError::Shape(describe(&e)),
        }
    })
}
