//! Golden tests: the exact bytes of every frame kind, in both directions, and what decoding
//! makes of well-formed, ill-typed and unknown input.

use shared::json::encode_str_into;
use shared::{DecodeError, Frame, Message, decode, encode, encode_message};

fn text(frame: &Frame) -> String {
    String::from_utf8(encode(frame)).expect("encoder writes ASCII")
}

fn roundtrip(json: &str, want: &Frame) {
    assert_eq!(&decode(json.as_bytes()).expect(json), want, "decoding {json}");
    assert_eq!(text(want), json, "encoding {want:?}");
}

#[test]
fn client_login() {
    roundtrip(
        r#"{"USERNAME":"user1"}"#,
        &Frame { username: Some("user1".into()), ..Frame::default() },
    );
}

#[test]
fn client_login_with_features() {
    roundtrip(
        r#"{"USERNAME":"bob","FEATURES":["block","users"]}"#,
        &Frame {
            username: Some("bob".into()),
            features: Some(vec!["block".into(), "users".into()]),
            ..Frame::default()
        },
    );
}

#[test]
fn client_messages() {
    roundtrip(
        r#"{"MESSAGES":[["user1","ALL",1700000000,"hello"],["user1","user2",1700000001,"psst"]]}"#,
        &Frame::messages(vec![
            Message::new("user1", "ALL", 1_700_000_000, "hello"),
            Message::new("user1", "user2", 1_700_000_001, "psst"),
        ]),
    );
}

#[test]
fn server_login_refused() {
    roundtrip(
        r#"{"USERNAME_ACCEPTED":false,"INFO":"The provided username is already in use."}"#,
        &Frame {
            username_accepted: Some(false),
            info: Some("The provided username is already in use.".into()),
            ..Frame::default()
        },
    );
}

#[test]
fn server_login_accepted() {
    roundtrip(
        r#"{"USERNAME_ACCEPTED":true,"INFO":"Welcome!","USER_LIST":["user1","user2"],"MESSAGES":[["user2","ALL",5,"hi"]]}"#,
        &Frame {
            username_accepted: Some(true),
            info: Some("Welcome!".into()),
            user_list: Some(vec!["user1".into(), "user2".into()]),
            messages: Some(vec![Message::new("user2", "ALL", 5, "hi")]),
            ..Frame::default()
        },
    );
}

#[test]
fn server_login_accepted_with_features() {
    roundtrip(
        r#"{"USERNAME_ACCEPTED":true,"INFO":"Welcome!","FEATURES":[],"USER_LIST":["a"],"MESSAGES":[]}"#,
        &Frame {
            username_accepted: Some(true),
            info: Some("Welcome!".into()),
            features: Some(vec![]),
            user_list: Some(vec!["a".into()]),
            messages: Some(vec![]),
            ..Frame::default()
        },
    );
}

#[test]
fn server_presence_and_error() {
    roundtrip(
        r#"{"USERS_JOINED":["ann","bob"]}"#,
        &Frame { users_joined: Some(vec!["ann".into(), "bob".into()]), ..Frame::default() },
    );
    roundtrip(
        r#"{"USERS_LEFT":["ann"]}"#,
        &Frame { users_left: Some(vec!["ann".into()]), ..Frame::default() },
    );
    roundtrip(r#"{"ERROR":"details"}"#, &Frame::error("details"));
}

#[test]
fn piggy_backed_keys_all_decode() {
    let f = decode(br#"{"USERS_LEFT":["x"],"USERS_JOINED":["y"],"MESSAGES":[["y","ALL",1,"z"]]}"#)
        .expect("valid");
    assert_eq!(f.users_left, Some(vec!["x".to_owned()]));
    assert_eq!(f.users_joined, Some(vec!["y".to_owned()]));
    assert_eq!(f.messages.map(|m| m.len()), Some(1));
}

#[test]
fn message_entry_alone() {
    let m = Message::new("a", "ALL", -1, "x");
    assert_eq!(encode_message(&m), br#"["a","ALL",-1,"x"]"#);
}

#[test]
fn non_ascii_is_escaped_and_decodes_back() {
    let content = "héllo 😀 \u{2028} שלום \"q\" \\ \n\t\u{1}";
    let f = Frame::messages(vec![Message::new("é", "ALL", 1, content)]);
    let bytes = encode(&f);
    assert!(bytes.is_ascii(), "{}", String::from_utf8_lossy(&bytes));
    let s = String::from_utf8(bytes.clone()).expect("ascii");
    assert!(s.contains(r"h\u00e9llo \ud83d\ude00 \u2028"), "{s}");
    assert!(s.contains(r#"\"q\" \\ \n\t\u0001"#), "{s}");
    assert_eq!(decode(&bytes).expect("decodes"), f);
    // and raw UTF-8 input decodes to the same frame
    let raw = format!(r#"{{"MESSAGES":[["é","ALL",1,{}]]}}"#, serde_json::json!(content));
    assert_eq!(decode(raw.as_bytes()).expect("raw utf-8"), f);
    let mut lit = Vec::new();
    encode_str_into("ü", &mut lit);
    assert_eq!(lit, br#""\u00fc""#);
}

fn shape_error(json: &str) -> String {
    match decode(json.as_bytes()) {
        Err(DecodeError::Shape(s)) => s,
        other => panic!("{json}: expected a shape error, got {other:?}"),
    }
}

#[test]
fn wrong_types_are_shape_errors_naming_the_key() {
    assert!(shape_error(r#"[1,2,3]"#).contains("expected a JSON object"));
    assert!(shape_error(r#""hello""#).contains("expected a JSON object"));
    assert!(shape_error(r#"42"#).contains("expected a JSON object"));
    assert!(shape_error(r#"{"MESSAGES":"hi"}"#).starts_with("MESSAGES:"));
    assert!(shape_error(r#"{"MESSAGES":{"a":1}}"#).starts_with("MESSAGES:"));
    assert!(shape_error(r#"{"USERNAME":5}"#).starts_with("USERNAME:"));
    assert!(shape_error(r#"{"USERNAME":["x"]}"#).starts_with("USERNAME:"));
    assert!(shape_error(r#"{"USERNAME_ACCEPTED":"true"}"#).starts_with("USERNAME_ACCEPTED:"));
    let e = shape_error(r#"{"MESSAGES":[["a","ALL",1]]}"#);
    assert!(e.contains("invalid length 3") && e.contains("[SRC, DEST, TIMESTAMP, CONTENT]"), "{e}");
    let e = shape_error(r#"{"MESSAGES":[["a","ALL",1,"x","extra"]]}"#);
    assert!(e.contains("ID"), "a fifth element is an integer id: {e}");
    let e = shape_error(r#"{"MESSAGES":[["a","ALL",1,"x",7,8]]}"#);
    assert!(e.contains("CHANGE") && e.contains("one of EDIT, DELETE"), "a sixth is a change: {e}");
    let e = shape_error(r#"{"MESSAGES":[["a","ALL",1,"x",7,{"EDIT":1},8]]}"#);
    assert!(e.contains("more than 6 elements"), "{e}");
    let e = shape_error(r#"{"MESSAGES":[["a","ALL","1","x"]]}"#);
    assert!(e.contains("TIMESTAMP"), "{e}");
    let e = shape_error(r#"{"MESSAGES":[["a","ALL",1.5,"x"]]}"#);
    assert!(e.contains("TIMESTAMP"), "{e}");
    let e = shape_error(r#"{"MESSAGES":[["a","ALL",1,12345]]}"#);
    assert!(e.contains("CONTENT"), "{e}");
    let e = shape_error(r#"{"MESSAGES":[{"SRC":"a"}]}"#);
    assert!(e.contains("MESSAGES"), "{e}");
    let e = shape_error(r#"{"USERNAME":"a","USERNAME":"b"}"#);
    assert!(e.contains("appears twice"), "{e}");
    assert!(!e.contains(" at line 1 column"), "no position inside the text: {e}");
}

#[test]
fn syntax_errors_are_reported_as_such() {
    for bad in [&br#"{"MESSAGES": [["broken"#[..], b"", b"\xff\xfe", b"{\"USERNAME\":\"\xff\"}"] {
        assert!(matches!(decode(bad), Err(DecodeError::Syntax(_))), "{bad:?}");
    }
}

#[test]
fn deep_nesting_neither_overflows_the_stack_nor_passes_unnoticed() {
    let open = "[".repeat(100_000);
    let close = "]".repeat(100_000);
    // under a known key: refused at the first level that has the wrong type
    let deep = format!("{{\"MESSAGES\":{open}{close}}}");
    assert!(matches!(decode(deep.as_bytes()), Err(DecodeError::Shape(_))));
    // under an unknown key: skipped without recursion, and the key is reported
    let deep = format!("{{\"X\":{open}{close}}}");
    assert_eq!(decode(deep.as_bytes()).expect("skipped").unknown, vec!["X"]);
    // unbalanced: a syntax error
    let deep = format!("{{\"X\":{open}}}");
    assert!(matches!(decode(deep.as_bytes()), Err(DecodeError::Syntax(_))));
    let top = format!("{open}{close}");
    assert!(decode(top.as_bytes()).is_err());
}

#[test]
fn unknown_keys_are_named_and_known_keys_still_decode() {
    let f = decode(br#"{"HELLO":1,"USERNAME":"ann","Extra":{"a":[1]},"HELLO2":null}"#)
        .expect("unknown keys are not an error by themselves");
    assert_eq!(f.username.as_deref(), Some("ann"));
    assert_eq!(f.unknown, vec!["HELLO", "Extra", "HELLO2"]);
    assert!(text(&f).find("HELLO").is_none(), "unknown keys are never re-encoded");
    let empty = decode(b"{}").expect("empty object");
    assert_eq!(empty, Frame::default());
}

#[test]
fn server_only_keys_are_listed() {
    let f = decode(br#"{"USER_LIST":[],"ERROR":"x","USERNAME":"a"}"#).expect("valid");
    assert_eq!(f.server_only_keys(), vec!["USER_LIST", "ERROR"]);
}

#[test]
fn extension_frames() {
    roundtrip(r#"{"BLOCK":"bob"}"#, &Frame { block: Some("bob".into()), ..Frame::default() });
    roundtrip(r#"{"UNBLOCK":"bob"}"#, &Frame { unblock: Some("bob".into()), ..Frame::default() });
    roundtrip(r#"{"LIST_BLOCKED":true}"#, &Frame { list_blocked: Some(true), ..Frame::default() });
    roundtrip(
        r#"{"BLOCKED":["bob","cat"]}"#,
        &Frame { blocked: Some(vec!["bob".into(), "cat".into()]), ..Frame::default() },
    );
    roundtrip(
        r#"{"LIST_ALL_USERS":true}"#,
        &Frame { list_all_users: Some(true), ..Frame::default() },
    );
    roundtrip(
        r#"{"ALL_USERS":["ann"]}"#,
        &Frame { all_users: Some(vec!["ann".into()]), ..Frame::default() },
    );
    assert!(shape_error(r#"{"BLOCK":["bob"]}"#).starts_with("BLOCK:"));
    let f = decode(br#"{"BLOCKED":[],"ALL_USERS":[]}"#).expect("valid");
    assert_eq!(f.server_only_keys(), vec!["BLOCKED", "ALL_USERS"]);
}
