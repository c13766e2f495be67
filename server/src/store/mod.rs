//! Persistence: message history, users ever seen, blocks, and the registry's accounts, session
//! tokens, reservations, bans, mutes and audit log, in one of two backends:
//!
//! - [`sqlite`] (the default): one file in the data directory, one writer thread.
//! - [`postgres`] (cluster mode): a PostgreSQL database shared by every node, one writer task
//!   per node with a pool of connections.
//!
//! Both present the same interface, so that the hub and the sessions do not know which is in
//! use: the hub queues [`Op`]s on the writer's bounded queue; the writer commits them in
//! batches (group commit) and publishes the highest message id now durable on a `watch`
//! channel; the hub delivers a message only once its id is published, so a message somebody
//! has seen is always stored. Sessions read the join history through the [`Reader`].

use std::path::Path;

use prometheus_client::metrics::histogram::Histogram;
use shared::Message;
use shared::frame::{Change, Hit};
use tokio::sync::{mpsc, watch};

use crate::search::Scope;
use tokio_util::sync::CancellationToken;

use crate::registry::{self, RegistryOp};

pub mod postgres;
pub mod sqlite;

pub use sqlite::{DB_FILE, SCHEMA_VERSION};

/// The most missed messages a resumed login counts (each part of the history counts up to
/// this many): past it, the count only says "at least this many", and counting stops, so
/// that a client away for months does not make its login scan the whole history.
pub const MAX_MISSED: u64 = 10_000;

/// How often a writer retries a failed commit before it gives up and stops the server.
const COMMIT_ATTEMPTS: u32 = 3;

/// Most names `ALL_USERS` lists: the most recently seen ones. Keeps the answer far below the
/// frame limit however many people have ever visited.
pub const MAX_ALL_USERS: usize = 10_000;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("PostgreSQL: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The PostgreSQL address is not one.
    #[error("the database address is not a PostgreSQL URL: {0}")]
    Url(String),
    /// The data directory could not be created.
    #[error("{path}: {source}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("starting the store's writer thread: {0}")]
    Spawn(std::io::Error),
    /// The database was written by a newer version of Chatterbox.
    #[error("the database has schema version {0}, newer than this server's")]
    TooNew(i64),
    /// The writer has stopped.
    #[error("the store's writer has stopped")]
    Closed,
    /// A blocking read task failed.
    #[error("history read failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// One write for the writer.
#[derive(Debug)]
pub enum Op {
    /// Append a message under the id the hub assigned (ids give the server's order).
    Message {
        /// The message's id, increasing in the hub's order.
        id: i64,
        /// The message as it is delivered.
        message: Message,
    },
    /// The name with key `blocker_key` blocks the name `blocked_name` (key `blocked_key`).
    Block {
        /// Who blocks (its key).
        blocker_key: String,
        /// Whom (its key).
        blocked_key: String,
        /// Whom, as the blocker wrote it.
        blocked_name: String,
    },
    /// `blocker_key` no longer blocks `blocked_key`.
    Unblock {
        /// Who blocked (its key).
        blocker_key: String,
        /// Whom (its key).
        blocked_key: String,
    },
    /// A change to accounts, tokens, reservations, bans or the audit log.
    Registry(RegistryOp),
    /// A change to the rooms or their members.
    Room(crate::rooms::RoomOp),
    /// A user logged in at `at` (Unix seconds).
    UserSeen {
        /// The username.
        name: String,
        /// When.
        at: i64,
    },
}

/// The sending side of the writer's queue, and the writer to wait for at shutdown.
#[derive(Debug)]
pub struct Writer {
    /// Bounded queue to the writer.
    pub ops: mpsc::Sender<Op>,
    /// The highest message id committed so far.
    pub committed: watch::Receiver<i64>,
    /// The writer; it ends once every sender of `ops` is gone and all is committed.
    pub finished: Finished,
}

/// The writer's end, to wait for.
#[derive(Debug)]
pub enum Finished {
    /// SQLite's writer thread.
    Thread(std::thread::JoinHandle<()>),
    /// PostgreSQL's writer task.
    Task(tokio::task::JoinHandle<()>),
}

impl Finished {
    /// Waits until the writer has committed everything and ended; `false` if it panicked.
    pub async fn wait(self) -> bool {
        match self {
            Finished::Thread(thread) => {
                tokio::task::spawn_blocking(move || thread.join().is_ok()).await.unwrap_or(false)
            }
            Finished::Task(task) => task.await.is_ok(),
        }
    }
}

/// Read access to history, shared by all sessions.
#[derive(Debug, Clone)]
pub enum Reader {
    /// Read-only SQLite connections on the blocking pool.
    Sqlite(sqlite::Reader),
    /// A pool of PostgreSQL connections.
    Postgres(postgres::Reader),
}

impl Reader {
    /// The join history of `user`: messages with id up to `upto`, at most `limit`, oldest
    /// first: broadcasts, the messages of `rooms` (the user's), and the private messages to or
    /// from `user` with ids above `since` (where the user's claim to the name began), without
    /// any message from or to a name whose key is in `hidden`.
    pub async fn history(
        &self,
        user: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
        since: i64,
        rooms: &[String],
    ) -> Result<Vec<Message>, StoreError> {
        self.history_after(user, upto, limit, hidden, since, rooms, 0).await
    }

    /// [`Reader::history`] with only the ids above `after`: a resumed login's, which reads
    /// just what it missed.
    #[allow(clippy::too_many_arguments, reason = "the history's parts and its bounds")]
    pub async fn history_after(
        &self,
        user: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
        since: i64,
        rooms: &[String],
        after: i64,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self {
            Reader::Sqlite(r) => r.history(user, upto, limit, hidden, since, rooms, after).await,
            Reader::Postgres(r) => r.history(user, upto, limit, hidden, since, rooms, after).await,
        }
    }

    /// How many of the messages [`Reader::history`] would give `user` have ids above `after`
    /// and below `before` (the ones a resumed login's history leaves out), counting at most
    /// [`MAX_MISSED`] (more than that is reported as that).
    #[allow(clippy::too_many_arguments, reason = "the history's parts and its bounds")]
    pub async fn count_between(
        &self,
        user: &str,
        after: i64,
        before: i64,
        hidden: &[String],
        since: i64,
        rooms: &[String],
    ) -> Result<u64, StoreError> {
        if before <= after + 1 {
            return Ok(0);
        }
        match self {
            Reader::Sqlite(r) => r.count_between(user, after, before, hidden, since, rooms).await,
            Reader::Postgres(r) => r.count_between(user, after, before, hidden, since, rooms).await,
        }
    }

    /// The history of `room` alone, as [`Reader::history`] gives it (for a `JOIN`).
    pub async fn room_history(
        &self,
        room: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        match self {
            Reader::Sqlite(r) => r.room_history(room, upto, limit, hidden).await,
            Reader::Postgres(r) => r.room_history(room, upto, limit, hidden).await,
        }
    }

    /// The stored message `id` (an edit or delete row too), with its id and change.
    pub async fn message(&self, id: i64) -> Result<Option<Message>, StoreError> {
        match self {
            Reader::Sqlite(r) => r.message(id).await,
            Reader::Postgres(r) => r.message(id).await,
        }
    }

    /// Full-text search (extension `search`): the newest `limit` messages holding every one
    /// of `terms` that `scope` may see and its filters keep, newest first, each with its
    /// context (the visible message just before and just after it in its conversation).
    /// Deleted messages and edit rows are never found; an edited one is found by its new text.
    pub async fn search(
        &self,
        terms: &[String],
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        if limit == 0 || terms.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Reader::Sqlite(r) => r.search(terms, scope, limit).await,
            Reader::Postgres(r) => r.search(terms, scope, limit).await,
        }
    }

    /// The bytes of the files the name with key `key` has sent and not deleted (its use of
    /// the quota; a file sent twice counts twice).
    pub async fn file_usage(&self, key: &str) -> Result<u64, StoreError> {
        match self {
            Reader::Sqlite(r) => r.file_usage(key.to_owned()).await,
            Reader::Postgres(r) => r.file_usage(key.to_owned()).await,
        }
    }

    /// Every user ever seen (the [`MAX_ALL_USERS`] most recently seen), sorted by name.
    pub async fn all_users(&self) -> Result<Vec<String>, StoreError> {
        match self {
            Reader::Sqlite(r) => r.all_users().await,
            Reader::Postgres(r) => r.all_users().await,
        }
    }
}

/// What the server needs to know from the database at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The highest message id stored (0 for none): new ids continue after it.
    pub last_id: i64,
    /// Every block, as (blocker key, blocked key, blocked name). The hub keeps them in
    /// memory; there are few.
    pub blocks: Vec<(String, String, String)>,
    /// Accounts, tokens, reservations and sanctions.
    pub registry: registry::Loaded,
    /// Every room with its members (at most [`shared::limits::MAX_ROOMS`]).
    pub rooms: Vec<crate::rooms::StoredRoom>,
}

/// Where the data lives.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// The SQLite file in this data directory (and the files under it).
    Sqlite(&'a Path),
    /// The PostgreSQL database at this URL (`postgres://user@host:port/db`), and the
    /// directory of the files every node shares (none: deleted files' bytes stay).
    Postgres(&'a str, Option<&'a Path>),
}

/// Opens (creating or migrating) the store and starts its writer.
///
/// `fatal` is cancelled if the writer cannot commit: a server that cannot keep history must
/// not go on pretending to.
/// Each batch's commit time is observed in `commit_seconds`.
pub async fn open(
    backend: Backend<'_>,
    fatal: CancellationToken,
    commit_seconds: Histogram,
) -> Result<(Writer, Reader, Loaded), StoreError> {
    match backend {
        Backend::Sqlite(dir) => sqlite::open_measured(dir, fatal, commit_seconds),
        Backend::Postgres(url, files) => {
            let files = match files {
                Some(root) => Some(
                    crate::files::FileStore::open_root(root)
                        .map_err(|source| StoreError::Dir { path: root.to_owned(), source })?,
                ),
                None => None,
            };
            postgres::open(url, files, fatal, commit_seconds).await
        }
    }
}

/// A stored message's change from its columns: an edit row (`op` 1) or delete row (`op` 2)
/// of `target`, or a message edited or deleted at the time given.
fn change_of(
    edited: Option<i64>,
    deleted: Option<i64>,
    target: Option<i64>,
    op: Option<i64>,
) -> Option<Change> {
    match (op, target, deleted, edited) {
        (Some(1), Some(t), _, _) => Some(Change::Edit(t)),
        (Some(2), Some(t), _, _) => Some(Change::Delete(t)),
        (_, _, Some(at), _) => Some(Change::Deleted(at)),
        (_, _, None, Some(at)) => Some(Change::Edited(at)),
        _ => None,
    }
}

/// How a message's file is kept: the JSON of its `FILE` (what clients are shown) and its
/// SHA-256 (what the bytes are stored under).
fn stored_file(file: Option<&shared::frame::FileRef>) -> (Option<String>, Option<String>) {
    match file {
        Some(f) => (serde_json::to_string(f).ok(), Some(f.sha256.clone())),
        None => (None, None),
    }
}

/// A stored message's file from its `file` column.
fn file_of(json: Option<&str>) -> Option<shared::frame::FileRef> {
    json.and_then(|j| match serde_json::from_str(j) {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!(error = %e, "a stored file description cannot be read");
            None
        }
    })
}

/// A conversation's place, as the search's context reads it.
enum Place<'a> {
    /// The main room.
    All,
    /// A room.
    Room(&'a str),
    /// The private messages between two names.
    Private(&'a str, &'a str),
}

impl<'a> Place<'a> {
    /// The place of `m`, found by a search in `scope` (a room only if one of the user's: a
    /// private message to a name like a room, from before rooms, is private).
    fn of(m: &'a Message, scope: &Scope) -> Self {
        if m.dest == shared::BROADCAST {
            Place::All
        } else if let Some(room) = crate::rooms::room_of(&m.dest)
            && scope.rooms.iter().any(|r| r == room)
        {
            Place::Room(room)
        } else {
            Place::Private(&m.src, &m.dest)
        }
    }
}

/// Publishes `id` as committed if it is newer than what was.
fn publish(committed: &watch::Sender<i64>, id: i64) {
    committed.send_if_modified(|c| {
        let newer = id > *c;
        if newer {
            *c = id;
        }
        newer
    });
}

#[cfg(test)]
mod tests {
    //! What both backends must do alike, run against each: SQLite in a temporary directory,
    //! PostgreSQL in a database of the test's own.

    use super::*;
    use shared::names::name_key;

    /// Where one test's data lives.
    enum Place {
        Sqlite(tempfile::TempDir),
        Postgres(test_support::TestDb),
    }

    impl Place {
        async fn both() -> [Place; 2] {
            [
                Place::Sqlite(tempfile::tempdir().expect("tempdir")),
                Place::Postgres(test_support::TestDb::new().await),
            ]
        }

        fn backend(&self) -> Backend<'_> {
            match self {
                Place::Sqlite(dir) => Backend::Sqlite(dir.path()),
                Place::Postgres(db) => Backend::Postgres(&db.url, None),
            }
        }

        fn name(&self) -> &'static str {
            match self {
                Place::Sqlite(_) => "sqlite",
                Place::Postgres(_) => "postgres",
            }
        }

        async fn open(&self) -> (Writer, Reader, Loaded) {
            let seconds = crate::metrics::commit_histogram();
            open(self.backend(), CancellationToken::new(), seconds).await.expect("open")
        }

        /// Opens the store and writes `messages` (src, dest), the i-th with id and content i.
        async fn with(&self, messages: &[(&str, &str)]) -> (Writer, Reader) {
            let (writer, reader, loaded) = self.open().await;
            assert_eq!(loaded.last_id, 0);
            for (i, (src, dest)) in messages.iter().enumerate() {
                let id = i as i64 + 1;
                let message = Message::new(*src, *dest, 0, format!("{id}"));
                writer.ops.send(Op::Message { id, message }).await.expect("queued");
            }
            let mut committed = writer.committed.clone();
            let n = messages.len() as i64;
            committed.wait_for(|c| *c >= n).await.expect("committed");
            (writer, reader)
        }
    }

    /// Closes the writer once everything is committed.
    async fn close(writer: Writer) {
        drop(writer.ops);
        assert!(writer.finished.wait().await, "the writer ends");
    }

    fn ids(h: &[Message]) -> Vec<String> {
        h.iter().map(|m| m.content.clone()).collect()
    }

    async fn history(
        reader: &Reader,
        user: &str,
        upto: i64,
        limit: usize,
        hidden: &[&str],
    ) -> Vec<String> {
        let hidden: Vec<String> = hidden.iter().map(|h| name_key(h)).collect();
        ids(&reader.history(user, upto, limit, &hidden, 0, &[]).await.expect("read"))
    }

    /// A stored row: `(id, src, dest, ts, content, change)`.
    type Row<'a> = (i64, &'a str, &'a str, i64, &'a str, Option<Change>);

    /// Writes `rows` and waits for the commit.
    async fn write(writer: &Writer, rows: &[Row<'_>]) {
        for (id, src, dest, ts, content, change) in rows {
            let message = Message { change: *change, ..Message::new(*src, *dest, *ts, *content) };
            writer.ops.send(Op::Message { id: *id, message }).await.expect("queued");
        }
        let last = rows.iter().map(|r| r.0).max().unwrap_or(0);
        writer.committed.clone().wait_for(|c| *c >= last).await.expect("committed");
    }

    #[tokio::test]
    async fn search_finds_only_what_the_user_may_see_and_follows_edits_and_deletes() {
        use crate::search::terms;
        for place in Place::both().await {
            let at = place.name();
            let (writer, reader, _) = place.open().await;
            write(
                &writer,
                &[
                    (1, "ann", "ALL", 10, "apple pie recipe", None),
                    (2, "ann", "bob", 20, "apple secret", None),
                    (3, "cy", "#r", 30, "apple in the room", None),
                    (4, "cy", "bob", 40, "Apple from cy", None),
                    (5, "bob", "ALL", 50, "banana split", None),
                    (6, "ann", "ALL", 60, "green apple", None),
                    (7, "ann", "ALL", 100, "green pear", Some(Change::Edit(6))),
                    (8, "ann", "ALL", 110, "", Some(Change::Delete(1))),
                    (9, "dan", "ALL", 90, "apple dan", None),
                    (10, "bob", "ann", 95, "a reply", None),
                ],
            )
            .await;
            let scope = |user: &str, rooms: &[&str], hidden: &[&str]| Scope {
                user: user.to_owned(),
                rooms: rooms.iter().map(|r| (*r).to_owned()).collect(),
                hidden: hidden.iter().map(|h| (*h).to_owned()).collect(),
                ..Scope::default()
            };
            let find = async |query: &str, scope: &Scope| -> Vec<i64> {
                let hits = reader.search(&terms(query).expect("terms"), scope, 20).await;
                hits.expect("search").iter().filter_map(|h| h.message.id).collect()
            };
            let ann = scope("ann", &["#r"], &["dan"]);
            assert_eq!(find("apple", &ann).await, [3, 2], "{at}: 1 deleted, 6 edited, 9 hidden");
            assert_eq!(find("PEAR", &ann).await, [6], "{at}: found by its new text");
            let cy = scope("cy", &[], &[]);
            assert_eq!(find("apple", &cy).await, [9, 4], "{at}: not a room cy left");
            let bob = scope("bob", &[], &[]);
            assert_eq!(find("apple", &bob).await, [9, 4, 2], "{at}");
            assert_eq!(find("\"apple secret\"", &bob).await, [2], "{at}: a phrase");
            assert!(find("\"secret apple\"", &bob).await.is_empty(), "{at}: in order");
            assert_eq!(find("apple cy", &bob).await, [4], "{at}: every word");
            let filtered = |f: fn(&mut Scope)| {
                let mut s = bob.clone();
                f(&mut s);
                s
            };
            assert_eq!(find("apple", &filtered(|s| s.place = Some("ALL".into()))).await, [9]);
            assert_eq!(find("apple", &filtered(|s| s.from_key = Some("cy".into()))).await, [4]);
            assert_eq!(find("apple", &filtered(|s| s.older_than = Some(9))).await, [4, 2]);
            assert_eq!(find("apple", &filtered(|s| s.after = Some(45))).await, [9]);
            assert_eq!(find("apple", &filtered(|s| s.before = Some(45))).await, [4, 2]);
            assert_eq!(find("apple", &ann).await.len(), 2, "{at}");
            let r = scope("ann", &["#r"], &[]);
            let in_room = Scope { place: Some("#r".into()), ..r };
            assert_eq!(find("apple", &in_room).await, [3], "{at}");

            // Context: the visible neighbours in the same conversation.
            let hits = reader.search(&terms("banana").unwrap(), &bob, 20).await.expect("search");
            let context: Vec<Option<i64>> = hits[0].context.iter().map(|m| m.id).collect();
            assert_eq!(context, [Some(6)], "{at}: 1 is deleted, 7 and 8 are changes");
            assert_eq!(hits[0].context[0].content, "green pear", "{at}");
            let hits = reader.search(&terms("secret").unwrap(), &bob, 20).await.expect("search");
            let context: Vec<Option<i64>> = hits[0].context.iter().map(|m| m.id).collect();
            assert_eq!(context, [Some(10)], "{at}: the private conversation's next message");

            // What is stored: the result on the message, the change as a row of its own.
            let get = async |id| reader.message(id).await.expect("read").expect("stored");
            assert_eq!(get(1).await.content, "", "{at}: a deleted text is gone");
            assert_eq!(get(1).await.change, Some(Change::Deleted(110)), "{at}");
            assert_eq!(get(6).await.change, Some(Change::Edited(100)), "{at}");
            assert_eq!(get(7).await.change, Some(Change::Edit(6)), "{at}");
            assert!(reader.message(99).await.expect("read").is_none(), "{at}");

            // Deleting an edited message takes the text of its edits too.
            write(
                &writer,
                &[
                    (11, "ann", "bob", 120, "apple secret v2", Some(Change::Edit(2))),
                    (12, "ann", "bob", 130, "", Some(Change::Delete(2))),
                    // A second delete, or an edit after it, changes nothing.
                    (13, "ann", "bob", 140, "back", Some(Change::Edit(2))),
                ],
            )
            .await;
            assert_eq!(get(11).await.content, "", "{at}");
            assert_eq!(
                (get(2).await.content, get(2).await.change),
                (String::new(), Some(Change::Deleted(130)))
            );
            assert!(find("secret", &bob).await.is_empty(), "{at}");
            assert!(find("back", &bob).await.is_empty(), "{at}");
            // The same rows again (another node, a retry) change nothing.
            let pear = (7, "ann", "ALL", 100, "green pear", Some(Change::Edit(6)));
            write(&writer, &[pear]).await;
            let kiwi = (14, "ann", "ALL", 150, "green kiwi", Some(Change::Edit(6)));
            write(&writer, &[kiwi, pear, (15, "bob", "ALL", 160, "probe", None)]).await;
            assert_eq!(get(6).await.content, "green kiwi", "{at}: the newest edit holds");
            assert_eq!(find("kiwi", &bob).await, [6], "{at}: found by the newest text");
            assert_eq!(find("green", &bob).await, [6], "{at}: a word the edit kept");
            assert!(find("pear", &bob).await.is_empty(), "{at}: not by an older one");
            close(writer).await;
        }
    }

    #[tokio::test]
    async fn a_resumed_history_reads_only_what_came_after() {
        for place in Place::both().await {
            let at = place.name();
            let (_w, reader) = place
                .with(&[
                    ("a", "ALL"), // 1
                    ("a", "b"),   // 2: to b
                    ("c", "#r"),  // 3
                    ("b", "a"),   // 4: from b
                    ("c", "ALL"), // 5
                    ("c", "#r"),  // 6
                ])
                .await;
            let rooms = ["#r".to_owned()];
            let after = async |after, limit| {
                let got = reader.history_after("b", i64::MAX, limit, &[], 0, &rooms, after);
                ids(&got.await.expect("read"))
            };
            assert_eq!(after(0, 100).await, ["1", "2", "3", "4", "5", "6"], "{at}");
            assert_eq!(after(2, 100).await, ["3", "4", "5", "6"], "{at}");
            assert_eq!(after(2, 2).await, ["5", "6"], "{at}: the newest of what came after");
            assert!(after(6, 100).await.is_empty(), "{at}");
        }
    }

    #[tokio::test]
    async fn missed_messages_are_counted_as_the_history_would_show_them() {
        for place in Place::both().await {
            let at = place.name();
            let (_w, reader) = place
                .with(&[
                    ("a", "ALL"), // 1
                    ("a", "b"),   // 2: to b
                    ("b", "a"),   // 3: from b
                    ("a", "c"),   // 4: not b's
                    ("c", "ALL"), // 5
                    ("c", "#r"),  // 6: a room
                    ("c", "ALL"), // 7
                ])
                .await;
            let count = async |after, before, hidden: &[&str], since, rooms: &[&str]| {
                let hidden: Vec<String> = hidden.iter().map(|h| name_key(h)).collect();
                let rooms: Vec<String> = rooms.iter().map(|r| (*r).to_owned()).collect();
                reader
                    .count_between("b", after, before, &hidden, since, &rooms)
                    .await
                    .expect("count")
            };
            assert_eq!(count(1, 7, &[], 0, &[]).await, 3, "{at}: 2, 3, 5");
            assert_eq!(count(1, 7, &[], 0, &["#r"]).await, 4, "{at}: and the room's 6");
            assert_eq!(count(1, 7, &["a"], 0, &[]).await, 1, "{at}: a's hidden both ways");
            assert_eq!(count(1, 7, &[], 2, &[]).await, 2, "{at}: private only after the claim");
            assert_eq!(count(0, 8, &[], 0, &["#r"]).await, 6, "{at}: all but 4");
            assert_eq!(count(5, 6, &[], 0, &[]).await, 0, "{at}: nothing between");
        }
    }

    #[tokio::test]
    async fn a_rooms_messages_are_read_only_for_its_members_and_rooms_are_kept() {
        use crate::rooms::RoomOp;
        for place in Place::both().await {
            let at = place.name();
            let (writer, reader) = place
                .with(&[
                    ("a", "#rust"), // 1: to the room
                    ("a", "ALL"),   // 2
                    ("b", "#rust"), // 3
                    ("c", "#go"),   // 4: another room
                    ("a", "b"),     // 5: private
                ])
                .await;
            let rooms = |r: &[&str]| r.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
            let read = async |user: &str, member_of: &[&str], hidden: &[&str]| {
                let hidden: Vec<String> = hidden.iter().map(|h| name_key(h)).collect();
                let member_of = rooms(member_of);
                let got = reader.history(user, i64::MAX, 100, &hidden, 0, &member_of).await;
                ids(&got.expect("read"))
            };
            // Members get the room; nobody else does, not even its own past senders.
            assert_eq!(read("b", &["#rust"], &[]).await, ["1", "2", "3", "5"], "{at}");
            assert_eq!(read("a", &[], &[]).await, ["2", "5"], "{at}: a left #rust");
            assert_eq!(read("c", &["#go"], &[]).await, ["2", "4"], "{at}");
            assert_eq!(read("b", &["#rust"], &["a"]).await, ["3"], "{at}: blocks hold");
            // The newest of all the parts together, up to the bound.
            let got = reader.history("b", 3, 2, &[], 0, &rooms(&["#rust"])).await.expect("read");
            assert_eq!(ids(&got), ["2", "3"], "{at}");
            let got = reader.room_history("#rust", i64::MAX, 10, &[]).await.expect("read");
            assert_eq!(ids(&got), ["1", "3"], "{at}");
            let got = reader.room_history("#rust", i64::MAX, 1, &[]).await.expect("read");
            assert_eq!(ids(&got), ["3"], "{at}: the newest");
            assert!(
                reader.room_history("#none", i64::MAX, 10, &[]).await.expect("read").is_empty()
            );

            for op in [
                RoomOp::Put { room: "#rust".into(), topic: None, invite_only: false, created: 7 },
                RoomOp::Put { room: "#go".into(), topic: None, invite_only: false, created: 8 },
                RoomOp::Invite { room: "#rust".into(), key: "b".into(), by: "a".into() },
                RoomOp::Invite { room: "#rust".into(), key: "z".into(), by: "a".into() },
                RoomOp::Join { room: "#rust".into(), key: "b".into() }, // uses b's invitation
                RoomOp::Join { room: "#rust".into(), key: "a".into() },
                RoomOp::Join { room: "#rust".into(), key: "a".into() }, // once
                RoomOp::Join { room: "#go".into(), key: "a".into() },
                RoomOp::Join { room: "#go".into(), key: "c".into() },
                RoomOp::Put {
                    room: "#rust".into(),
                    topic: Some("crabs".into()),
                    invite_only: true,
                    created: 9, // a change keeps the creation time
                },
                RoomOp::Part { room: "#go".into(), key: "c".into() },
                RoomOp::PartAll { key: "a".into() },
            ] {
                writer.ops.send(Op::Room(op)).await.expect("queued");
            }
            close(writer).await;
            let (_w, _r, loaded) = place.open().await;
            let kept: Vec<_> = loaded
                .rooms
                .iter()
                .map(|r| {
                    (r.name.as_str(), r.topic.as_deref(), r.invite_only, r.created, &r.members[..])
                })
                .collect();
            let b = ["b".to_owned()];
            assert_eq!(
                kept,
                [("#go", None, false, 8, &[][..]), ("#rust", Some("crabs"), true, 7, &b[..])],
                "{at}"
            );
            let invited: Vec<_> = loaded.rooms.iter().map(|r| r.invited.clone()).collect();
            assert_eq!(invited, [vec![], vec!["z".to_owned()]], "{at}: b's was used up");
        }
    }

    #[tokio::test]
    async fn history_is_the_newest_visible_messages_oldest_first_up_to_the_bound() {
        for place in Place::both().await {
            let (_w, reader) = place
                .with(&[
                    ("a", "ALL"), // 1
                    ("a", "b"),   // 2: to b
                    ("b", "a"),   // 3: from b
                    ("a", "c"),   // 4: not b's
                    ("c", "ALL"), // 5
                    ("b", "b"),   // 6: note to self, once
                ])
                .await;
            let at = place.name();
            let h =
                async |user, upto, limit, hidden| history(&reader, user, upto, limit, hidden).await;
            assert_eq!(h("b", i64::MAX, 100, &[]).await, ["1", "2", "3", "5", "6"], "{at}");
            assert_eq!(h("b", i64::MAX, 2, &[]).await, ["5", "6"], "{at}");
            assert_eq!(h("b", 3, 100, &[]).await, ["1", "2", "3"], "{at}");
            assert_eq!(h("z", i64::MAX, 100, &[]).await, ["1", "5"], "{at}");
            assert!(h("b", i64::MAX, 0, &[]).await.is_empty(), "{at}");
            // hiding a name removes its broadcasts and the private messages both ways
            assert_eq!(h("b", i64::MAX, 100, &["A"]).await, ["5", "6"], "{at}");
            assert_eq!(h("a", i64::MAX, 100, &["c"]).await, ["1", "2", "3"], "{at}");
            // private history starts after `since`
            let got = reader.history("b", i64::MAX, 100, &[], 2, &[]).await.expect("read");
            assert_eq!(ids(&got), ["1", "3", "5", "6"], "{at}");
        }
    }

    #[tokio::test]
    async fn history_matches_a_plain_filter_of_every_message() {
        // A store where private messages are spread among many broadcasts, as in a real
        // room: the query's bounds must never drop or add a message the plain rule keeps.
        let names = ["a", "b", "c", "d"];
        let mut seed = 7u64;
        let mut next = move |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let messages: Vec<(&str, &str)> = (0..400)
            .map(|_| {
                let src = names[next(4)];
                let dest = if next(5) == 0 { names[next(4)] } else { "ALL" };
                (src, dest)
            })
            .collect();
        for place in Place::both().await {
            let (_w, reader) = place.with(&messages).await;
            for user in ["a", "b", "z"] {
                for hidden in [&[][..], &["c"][..], &["a", "d"][..]] {
                    for (upto, limit) in [(400, 1000), (400, 10), (250, 7), (400, 1), (120, 50)] {
                        let want: Vec<String> = messages
                            .iter()
                            .enumerate()
                            .filter(|(i, (src, dest))| {
                                *i < upto
                                    && ((*dest == "ALL" || *dest == user) && !hidden.contains(src)
                                        || *src == user
                                            && *dest != "ALL"
                                            && *dest != user
                                            && !hidden.contains(dest))
                            })
                            .map(|(i, _)| (i + 1).to_string())
                            .collect();
                        let want = want[want.len().saturating_sub(limit)..].to_vec();
                        let got = history(&reader, user, upto as i64, limit, hidden).await;
                        assert_eq!(
                            got,
                            want,
                            "{}: user {user}, hidden {hidden:?}, upto {upto}, limit {limit}",
                            place.name()
                        );
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn blocks_users_and_messages_persist_and_a_message_is_stored_once() {
        for place in Place::both().await {
            let at = place.name();
            let (writer, reader, _) = place.open().await;
            for op in [
                Op::UserSeen { name: "bob".into(), at: 2 },
                Op::UserSeen { name: "ann".into(), at: 1 },
                Op::UserSeen { name: "bob".into(), at: 3 },
                Op::UserSeen { name: "Zed".into(), at: 3 },
                Op::Block {
                    blocker_key: "ann".into(),
                    blocked_key: "bob".into(),
                    blocked_name: "Bob".into(),
                },
                Op::Block {
                    blocker_key: "ann".into(),
                    blocked_key: "cat".into(),
                    blocked_name: "cat".into(),
                },
                Op::Block {
                    blocker_key: "ann".into(),
                    blocked_key: "cat".into(),
                    blocked_name: "Cat".into(),
                },
                Op::Unblock { blocker_key: "ann".into(), blocked_key: "bob".into() },
                Op::Message { id: 1, message: Message::new("ann", "ALL", 0, "first") },
                // the same message again (a retry, another node): stored once
                Op::Message { id: 1, message: Message::new("ann", "ALL", 0, "first") },
            ] {
                writer.ops.send(op).await.expect("queued");
            }
            let mut committed = writer.committed.clone();
            committed.wait_for(|c| *c >= 1).await.expect("committed");
            writer
                .ops
                .send(Op::Message { id: 1, message: Message::new("ann", "ALL", 0, "first") })
                .await
                .expect("queued");
            writer
                .ops
                .send(Op::Message { id: 2, message: Message::new("bob", "ALL", 0, "second") })
                .await
                .expect("queued");
            committed.wait_for(|c| *c >= 2).await.expect("committed");
            assert_eq!(reader.all_users().await.expect("users"), ["Zed", "ann", "bob"], "{at}");
            close(writer).await;
            let (writer, reader, loaded) = place.open().await;
            let cat = ("ann".to_owned(), "cat".to_owned(), "Cat".to_owned());
            assert_eq!(loaded.blocks, [cat], "{at}");
            assert_eq!(loaded.last_id, 2, "{at}");
            assert_eq!(history(&reader, "x", 2, 10, &[]).await, ["first", "second"], "{at}");
            close(writer).await;
        }
    }

    #[tokio::test]
    async fn the_registry_survives_a_reopen() {
        use crate::registry::RegistryOp as R;
        for place in Place::both().await {
            let at = place.name();
            let (writer, _r, _) = place.open().await;
            let far = crate::hub::unix_now() + 3600;
            for op in [
                R::PutAccount {
                    key: "ann".into(),
                    name: "Ann".into(),
                    hash: "h1".into(),
                    since: 5,
                    created: 1,
                },
                R::SetHash { key: "ann".into(), hash: "h2".into() },
                R::PutAccount {
                    key: "gone".into(),
                    name: "gone".into(),
                    hash: "h".into(),
                    since: 0,
                    created: 1,
                },
                R::PutToken { hash: "t1".into(), key: "gone".into(), created: 1, expires: far },
                R::DeleteAccount { key: "gone".into() },
                R::PutToken { hash: "t2".into(), key: "ann".into(), created: 1, expires: far },
                R::TouchToken { hash: "t2".into(), last_used: 7, expires: far + 1 },
                R::PutToken { hash: "old".into(), key: "ann".into(), created: 1, expires: 2 },
                R::PutReservation {
                    key: "bob".into(),
                    name: "Bob".into(),
                    address: "192.0.2.7".into(),
                    until: None,
                    since: 3,
                },
                R::PutSanction {
                    id: 1,
                    kind: "ban".into(),
                    key: Some("eve".into()),
                    name: Some("Eve".into()),
                    address: None,
                    by: "ann".into(),
                    at: 1,
                    until: None,
                    reason: Some("spam".into()),
                },
                R::PutSanction {
                    id: 2,
                    kind: "mute".into(),
                    key: Some("dan".into()),
                    name: Some("dan".into()),
                    address: None,
                    by: "ann".into(),
                    at: 1,
                    until: Some(far),
                    reason: None,
                },
                R::LiftSanction { id: 2, at: 4 },
                R::Audit {
                    at: 1,
                    actor: "ann".into(),
                    action: "ban".into(),
                    target: "eve".into(),
                    reason: Some("spam".into()),
                },
            ] {
                writer.ops.send(Op::Registry(op)).await.expect("queued");
            }
            close(writer).await;
            let (writer, _r, loaded) = place.open().await;
            let r = loaded.registry;
            let accounts: Vec<(&str, &str, &str, i64)> = r
                .accounts
                .iter()
                .map(|(k, a)| (k.as_str(), a.name.as_str(), &*a.hash, a.since))
                .collect();
            assert_eq!(accounts, [("ann", "Ann", "h2", 5)], "{at}");
            let tokens: Vec<(&str, &str, i64)> =
                r.tokens.iter().map(|(h, t)| (h.as_str(), t.key.as_str(), t.last_used)).collect();
            assert_eq!(tokens, [("t2", "ann", 7)], "{at}: expired and removed ones are gone");
            assert_eq!(r.reservations.len(), 1, "{at}");
            assert_eq!(r.reservations[0].1.ip.to_string(), "192.0.2.7", "{at}");
            let sanctions: Vec<(i64, Option<&str>)> =
                r.sanctions.iter().map(|s| (s.id, s.reason.as_deref())).collect();
            assert_eq!(sanctions, [(1, Some("spam"))], "{at}: the lifted mute is not loaded");
            assert_eq!(r.last_sanction, 2, "{at}");
            close(writer).await;
        }
    }
}
