//! Liberal decoding for clients: what other servers of this protocol send, read the way they
//! meant it where the meaning is unambiguous.
//!
//! [`decode_lenient`] first tries the strict decoder; only if that fails does it rewrite the
//! JSON: key names in another letter case (`"Info"` for `INFO`), booleans written as strings or
//! 0/1 (`"true"`), a single name where a list is expected, list entries that are objects with a
//! name (`{"name": "ann"}`), message entries as objects with the four fields or with a numeric
//! string or a float as TIMESTAMP. Anything still not a protocol object is an error, for the
//! client to show as such.

use serde_json::{Map, Value};

use crate::frame::keys;
use crate::{DecodeError, Frame, decode};

const KNOWN: &[&str] = &[
    keys::USERNAME,
    keys::USERNAME_ACCEPTED,
    keys::INFO,
    keys::FEATURES,
    keys::USER_LIST,
    keys::USERS_JOINED,
    keys::USERS_LEFT,
    keys::MESSAGES,
    keys::ERROR,
    keys::BLOCK,
    keys::UNBLOCK,
    keys::LIST_BLOCKED,
    keys::BLOCKED,
    keys::LIST_ALL_USERS,
    keys::ALL_USERS,
    keys::PASSWORD,
    keys::TOKEN,
    keys::REGISTER,
    keys::CHANGE_PASSWORD,
    keys::UNREGISTER,
    keys::LIST_SESSIONS,
    keys::REVOKE_SESSION,
    keys::LOGOUT,
    keys::REGISTERED,
    keys::SESSIONS,
    keys::DISCONNECTED,
    keys::OPERATOR,
    keys::KICK,
    keys::BAN,
    keys::UNBAN,
    keys::MUTE,
    keys::UNMUTE,
    keys::LIST_BANS,
    keys::BANS,
];

const BOOLS: &[&str] = &[
    keys::USERNAME_ACCEPTED,
    keys::LIST_BLOCKED,
    keys::LIST_ALL_USERS,
    keys::LIST_SESSIONS,
    keys::REGISTERED,
    keys::OPERATOR,
    keys::LIST_BANS,
];

const NAME_LISTS: &[&str] = &[
    keys::FEATURES,
    keys::USER_LIST,
    keys::USERS_JOINED,
    keys::USERS_LEFT,
    keys::BLOCKED,
    keys::ALL_USERS,
];

/// Field names that hold a user's name inside a list entry given as an object.
const NAME_FIELDS: &[&str] = &["name", "username", "user", "nick"];

/// Decodes a frame strictly if possible (and no key is unknown), otherwise after the
/// rewrites described above.
pub fn decode_lenient(bytes: &[u8]) -> Result<Frame, DecodeError> {
    // A strict decode with unknown keys may be a known key in another letter case.
    let strict = match decode(bytes) {
        Ok(f) if f.unknown.is_empty() => return Ok(f),
        Ok(f) => Ok(f),
        Err(e) => Err(e),
    };
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
        return strict;
    };
    let mut out = Map::new();
    for (key, value) in map {
        let key =
            KNOWN.iter().find(|k| k.eq_ignore_ascii_case(&key)).map_or(key, |k| (*k).to_owned());
        let value = if BOOLS.contains(&key.as_str()) {
            as_bool(value)
        } else if NAME_LISTS.contains(&key.as_str()) {
            as_name_list(value)
        } else if key == keys::MESSAGES {
            as_messages(value)
        } else {
            value
        };
        out.insert(key, value);
    }
    match serde_json::to_vec(&Value::Object(out)).map(|json| decode(&json)) {
        Ok(Ok(f)) => Ok(f),
        _ => strict,
    }
}

fn as_bool(v: Value) -> Value {
    match &v {
        Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        Value::Number(n) if n.as_u64() == Some(1) => Value::Bool(true),
        Value::Number(n) if n.as_u64() == Some(0) => Value::Bool(false),
        _ => v,
    }
}

fn entry_name(v: Value) -> Value {
    match v {
        Value::Object(map) => map
            .into_iter()
            .find(|(k, v)| NAME_FIELDS.iter().any(|n| n.eq_ignore_ascii_case(k)) && v.is_string())
            .map_or(Value::Null, |(_, v)| v),
        other => other,
    }
}

fn as_name_list(v: Value) -> Value {
    match v {
        Value::String(_) => Value::Array(vec![v]),
        Value::Array(items) => Value::Array(items.into_iter().map(entry_name).collect()),
        other => other,
    }
}

fn as_timestamp(v: Value) -> Value {
    match &v {
        Value::String(s) => s.trim().parse::<i64>().map_or(v, Value::from),
        Value::Number(n) if n.is_f64() => {
            n.as_f64().filter(|f| f.is_finite()).map_or(v, |f| Value::from(f as i64))
        }
        _ => v,
    }
}

fn as_message(v: Value) -> Value {
    match v {
        Value::Array(mut parts) if parts.len() == 4 => {
            let ts = std::mem::take(&mut parts[2]);
            parts[2] = as_timestamp(ts);
            Value::Array(parts)
        }
        Value::Object(map) => {
            let field = |names: &[&str]| {
                map.iter()
                    .find(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
                    .map_or(Value::Null, |(_, v)| v.clone())
            };
            Value::Array(vec![
                field(&["SRC", "from", "sender"]),
                field(&["DEST", "to", "recipient"]),
                as_timestamp(field(&["TIMESTAMP", "ts", "time"])),
                field(&["CONTENT", "text", "body"]),
            ])
        }
        other => other,
    }
}

fn as_messages(v: Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(as_message).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    fn lenient(json: &str) -> Frame {
        decode_lenient(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn strict_frames_pass_unchanged() {
        let f = lenient(r#"{"USERNAME_ACCEPTED":true,"INFO":"hi","USER_LIST":["a"]}"#);
        assert_eq!(f.username_accepted, Some(true));
    }

    #[test]
    fn unambiguous_variations_are_understood() {
        let f = lenient(
            r#"{"Username_Accepted":"true","Info":"Welcome","user_list":[{"name":"ann"},"bob"],
                "Messages":[["ann","ALL","1700000000","hi"],
                            {"src":"bob","dest":"ann","timestamp":1700000001.7,"content":"yo"}],
                "USERS_JOINED":"cat"}"#,
        );
        assert_eq!(f.username_accepted, Some(true));
        assert_eq!(f.info.as_deref(), Some("Welcome"));
        assert_eq!(f.user_list, Some(vec!["ann".to_owned(), "bob".to_owned()]));
        assert_eq!(f.users_joined, Some(vec!["cat".to_owned()]));
        assert_eq!(
            f.messages,
            Some(vec![
                Message::new("ann", "ALL", 1_700_000_000, "hi"),
                Message::new("bob", "ann", 1_700_000_001, "yo"),
            ])
        );
        assert_eq!(lenient(r#"{"USERNAME_ACCEPTED":0}"#).username_accepted, Some(false));
        // keys in another case alone decode strictly as unknown keys; they are still read
        let f = lenient(r#"{"Username_Accepted":true,"Info":"x"}"#);
        assert_eq!((f.username_accepted, f.info.as_deref()), (Some(true), Some("x")));
        assert!(f.unknown.is_empty());
        // truly unknown keys stay unknown
        assert_eq!(lenient(r#"{"COLOUR":"red","INFO":"x"}"#).unknown, ["COLOUR"]);
    }

    #[test]
    fn what_stays_ambiguous_is_an_error() {
        for bad in [
            r#"{"USERNAME_ACCEPTED":"maybe"}"#,
            r#"{"USER_LIST":[{"id":5}]}"#,
            r#"{"MESSAGES":[["a","ALL","soon","x"]]}"#,
            r#"[1,2]"#,
            "not json",
        ] {
            assert!(decode_lenient(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
