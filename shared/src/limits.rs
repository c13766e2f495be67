//! Protocol limits. Each number is chosen for a reason given beside it; servers and clients of
//! this crate enforce the same values, so what one side may send the other side accepts.

/// Largest frame (JSON bytes after the 4-byte prefix) a client may send to the server.
///
/// One frame carries a login or a batch of messages. The largest content is
/// [`MAX_CONTENT_BYTES`]; written with every character `\uXXXX`-escaped (up to 12 bytes for a
/// 4-byte character) it stays under 200 KiB, so 1 MiB holds a message in any encoding plus a
/// batch of ordinary ones, while a hostile peer can make the server buffer at most 1 MiB.
pub const MAX_CLIENT_FRAME_LEN: usize = 1 << 20;

/// Largest frame the server sends, and so the largest a client must be ready to read.
///
/// The login reply carries the join history (up to the server's history limit); it is trimmed
/// (oldest entries first) to fit. 16 MiB keeps a join of 1,000 long messages whole while a
/// client never has to hold more than this per frame.
pub const MAX_SERVER_FRAME_LEN: usize = 16 << 20;

/// Largest message CONTENT, in UTF-8 bytes.
///
/// 64 KiB is far more than any chat line (a page of text, a pasted log excerpt) and small
/// enough that the history and the outboxes built of such messages stay small.
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// Longest username, in characters (Unicode scalar values).
///
/// Long enough for real names and handles, short enough to fit a user-list column.
pub const MAX_USERNAME_CHARS: usize = 32;

/// Longest room name, in characters after its `#`.
///
/// Room names are short labels (`#rust`, `#off-topic`) typed by hand and shown in a side
/// list; 32 matches the longest username.
pub const MAX_ROOM_CHARS: usize = 32;

/// Most rooms one user may be a member of at once (extension `rooms`).
///
/// Every login replays each room's history and every member's node keeps the membership in
/// memory; 64 is more than anyone follows, and bounds what one account costs.
pub const MAX_ROOMS_PER_USER: usize = 64;

/// Most rooms a server keeps (extension `rooms`): `LIST_ROOMS` answers with all of them, and
/// every node holds them in memory. A community with more has outgrown one list anyway.
pub const MAX_ROOMS: usize = 10_000;

/// Longest room topic, in characters.
///
/// A line shown at the top of the room: a sentence or two with a link.
pub const MAX_TOPIC_CHARS: usize = 300;

/// Most feature names a client may ask for at login; there are only a handful of extensions.
pub const MAX_FEATURES: usize = 32;

/// How far (seconds) a client's TIMESTAMP may be from the server's clock and still be kept.
///
/// Clients stamp their own messages; a stamp further off than this (a wrong clock, or an attempt
/// to back-date a message) is replaced by the server's time. Five minutes covers ordinary clock
/// drift.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Shortest password an account may have, in characters.
///
/// Eight is the floor NIST SP 800-63B sets for chosen passwords; with argon2id and the
/// per-account backoff, guessing even a short one online is impractical, and longer ones are
/// welcome (up to [`MAX_PASSWORD_BYTES`]).
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Longest password, in UTF-8 bytes.
///
/// Enough for any passphrase or password-manager output; bounded because the server hashes
/// whatever it is given, and a megabyte "password" would only be a way to spend its CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Longest session token a client may present, in bytes. The server's tokens are 43
/// characters (256 random bits, base64url); anything far longer is not one of them.
pub const MAX_TOKEN_BYTES: usize = 128;

/// Longest reason an operator may give for a kick, ban or mute, in characters: a sentence
/// shown to everyone, not a letter.
pub const MAX_REASON_CHARS: usize = 300;

/// Longest ban or mute, in seconds (ten years); anything longer is written `forever`.
pub const MAX_SANCTION_SECS: u64 = 10 * 365 * 24 * 3600;

/// How long after sending a message its author may edit it (extension `edit`): an hour fixes
/// typos and second thoughts (Zulip allows ten minutes by default, Telegram two days), while a
/// conversation's old record stays what people answered to. Deleting one's own message has no
/// window: anyone may take back what they wrote.
pub const EDIT_WINDOW_SECS: i64 = 3600;

/// Most characters of a search query (extension `search`): a few phrases; longer queries only
/// cost the index more.
pub const MAX_QUERY_CHARS: usize = 200;

/// Most words and phrases of a search query: each is one term the index intersects.
pub const MAX_QUERY_TERMS: usize = 8;

/// Results per page of a search (the next page is asked for with `OLDER_THAN`): a screenful,
/// each with its context, in one small frame.
pub const SEARCH_PAGE: usize = 20;

/// Bytes of a file per `CHUNK` and `FILE_DATA` (extension `files`): base64 makes them 256 KiB
/// of JSON, a quarter of the 1 MiB a client's frame may hold, so a piece never nears a frame
/// limit, and one piece is all a connection holds of a transfer at a time.
pub const FILE_CHUNK: usize = 192 * 1024;
