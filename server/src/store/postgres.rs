//! The PostgreSQL backend (cluster mode): one database shared by every node.
//!
//! Each node runs one writer task that takes what its hub queued, up to [`STORE_BATCH`]
//! operations, and commits it in one transaction (group commit, as with SQLite); the messages
//! of a batch go in one `INSERT … SELECT FROM UNNEST(…)` statement. Every write is idempotent:
//! a message is keyed by its id (`ON CONFLICT DO NOTHING`), so a retry, or another node
//! writing the same message, stores it once. Sessions read history through a pool of
//! connections.
//!
//! Messages keep the keys of their sender and recipient (`src_key`, `dest_key`, computed by
//! the server as [`shared::names::name_key`]), so that the join history can leave out the
//! names a user blocks without computing keys in the database.
//!
//! Migrations are versioned in the table `chatterbox_schema` and run under a transaction-level
//! advisory lock, so that nodes starting together migrate once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use prometheus_client::metrics::histogram::Histogram;
use shared::Message;
use shared::names::name_key;
use tokio::sync::{mpsc, watch};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;
use tokio_util::sync::CancellationToken;

use super::{COMMIT_ATTEMPTS, Finished, Loaded, MAX_ALL_USERS, Op, StoreError, Writer, publish};
use crate::config::{STORE_BATCH, STORE_QUEUE, STORE_READERS};
use crate::files::{FileStore, Sha256};
use crate::registry::{self, Account, Kind, RegistryOp, Reservation, Sanction, Token};
use crate::rooms::{RoomOp, StoredRoom, room_of};
use crate::search::{Arg, FilterColumns, Scope};
use shared::frame::{Change, Hit};
use shared::limits::MAX_ROOMS;

/// The schema version this server writes; migrations move older databases forward.
pub const SCHEMA_VERSION: i32 = 5;

/// Connections a node keeps to PostgreSQL: the writer's one and [`STORE_READERS`] for
/// history reads, which is as many reads as SQLite runs at once.
const POOL_SIZE: usize = STORE_READERS + 1;

/// How long a node waits for a connection from the pool (or for a new one to be made): a
/// login that cannot read its history within this fails rather than hang.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock migrations hold (an arbitrary number: "chatterbox" in letters' places).
const MIGRATION_LOCK: i64 = 0x0C4A_7B0C;

/// Opens the database at `url`, migrates it and starts the writer task.
pub async fn open(
    url: &str,
    files: Option<FileStore>,
    fatal: CancellationToken,
    commit_seconds: Histogram,
) -> Result<(Writer, super::Reader, Loaded), StoreError> {
    let pg: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Url(format!("{e}")))?;
    let manager =
        Manager::from_config(pg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Url(e.to_string()))?;
    migrate(&pool).await?;
    let (last_id, blocks, registry) = load(&pool).await?;
    let rooms = load_rooms(&pool).await?;
    let (ops, rx) = mpsc::channel(STORE_QUEUE);
    let (committed_tx, committed) = watch::channel(last_id);
    let writer_pool = pool.clone();
    let task = tokio::spawn(async move {
        if let Err(e) =
            write_loop(&writer_pool, files.as_ref(), rx, &committed_tx, &commit_seconds).await
        {
            tracing::error!(error = %e, "the store cannot commit; shutting down");
            fatal.cancel();
        }
    });
    let writer = Writer { ops, committed, finished: Finished::Task(task) };
    let reader = super::Reader::Postgres(Reader { pool });
    Ok((writer, reader, Loaded { last_id, blocks, registry, rooms }))
}

/// The statements of each schema version, in order.
const MIGRATIONS: &[&str] = &[
    // version 1
    "CREATE TABLE messages (
         id       BIGINT PRIMARY KEY,
         src      TEXT NOT NULL,
         dest     TEXT NOT NULL,
         src_key  TEXT NOT NULL,
         dest_key TEXT NOT NULL,
         ts       BIGINT NOT NULL,
         content  TEXT NOT NULL
     );
     -- broadcasts (dest = 'ALL') and private messages to a user, newest first
     CREATE INDEX messages_by_dest ON messages (dest, id);
     -- private messages a user sent
     CREATE INDEX messages_private_by_src ON messages (src, id) WHERE dest <> 'ALL';
     CREATE TABLE users (
         name       TEXT PRIMARY KEY,
         first_seen BIGINT NOT NULL,
         last_seen  BIGINT NOT NULL
     );
     CREATE INDEX users_by_last_seen ON users (last_seen);
     CREATE TABLE blocks (
         blocker_key  TEXT NOT NULL,
         blocked_key  TEXT NOT NULL,
         blocked_name TEXT NOT NULL,
         PRIMARY KEY (blocker_key, blocked_key)
     );
     CREATE TABLE accounts (
         key      TEXT PRIMARY KEY,
         name     TEXT NOT NULL,
         hash     TEXT NOT NULL,
         since_id BIGINT NOT NULL,
         created  BIGINT NOT NULL
     );
     -- session tokens, by the SHA-256 of the token (never the token itself)
     CREATE TABLE tokens (
         hash      TEXT PRIMARY KEY,
         key       TEXT NOT NULL,
         created   BIGINT NOT NULL,
         last_used BIGINT NOT NULL,
         expires   BIGINT NOT NULL
     );
     -- until: NULL while the holder is online
     CREATE TABLE reservations (
         key      TEXT PRIMARY KEY,
         name     TEXT NOT NULL,
         address  TEXT NOT NULL,
         until    BIGINT,
         since_id BIGINT NOT NULL
     );
     -- bans and mutes; lifted: when an operator lifted it (NULL: not lifted)
     CREATE TABLE sanctions (
         id      BIGINT PRIMARY KEY,
         kind    TEXT NOT NULL,
         key     TEXT,
         name    TEXT,
         address TEXT,
         \"by\"  TEXT NOT NULL,
         at      BIGINT NOT NULL,
         until   BIGINT,
         reason  TEXT,
         lifted  BIGINT
     );
     CREATE TABLE audit (
         id     BIGSERIAL PRIMARY KEY,
         at     BIGINT NOT NULL,
         actor  TEXT NOT NULL,
         action TEXT NOT NULL,
         target TEXT NOT NULL,
         reason TEXT
     );",
    // version 2: rooms (extension `rooms`). A message to a room keeps the room in `room`
    // too: private and public history never read those rows.
    "ALTER TABLE messages ADD COLUMN room TEXT;
     CREATE INDEX messages_by_room ON messages (room, id) WHERE room IS NOT NULL;
     CREATE TABLE rooms (
         name        TEXT PRIMARY KEY,
         topic       TEXT,
         invite_only BOOLEAN NOT NULL,
         created     BIGINT NOT NULL
     );
     CREATE TABLE room_members (
         room TEXT NOT NULL,
         key  TEXT NOT NULL,
         PRIMARY KEY (room, key)
     );
     CREATE INDEX room_members_by_key ON room_members (key);
     CREATE TABLE room_invites (
         room TEXT NOT NULL,
         key  TEXT NOT NULL,
         PRIMARY KEY (room, key)
     );",
    // version 3: edits and deletes (extension `edit`) and full-text search (extension
    // `search`), as with SQLite: an edit or delete is a row of its own (`op` 1 or 2, `target`
    // the message it changes), the message holds the result. `words` is the message's text
    // search vector ('simple': no stemming, as SQLite's index), none for edit rows; the
    // database keeps it in step with the text.
    "ALTER TABLE messages ADD COLUMN edited BIGINT, ADD COLUMN deleted BIGINT,
         ADD COLUMN target BIGINT, ADD COLUMN op BIGINT;
     CREATE INDEX messages_by_target ON messages (target) WHERE target IS NOT NULL;
     ALTER TABLE messages ADD COLUMN words tsvector GENERATED ALWAYS AS
         (CASE WHEN op IS NULL THEN to_tsvector('simple', content) END) STORED;
     CREATE INDEX messages_words ON messages USING GIN (words);",
    // version 4: new words wait in the GIN index's pending list until it holds 512 kB (not
    // PostgreSQL's 4 MB), then move into the index proper. Every search reads the whole
    // pending list: over 1,000,000 messages a two-word search took 13 ms with a full list
    // and 5.5 ms with an empty one; the smaller list bounds that part, at the cost of moving
    // it into the index more often (the history benchmark's search p99 went from 27 to
    // 23 ms, its commits from 26,000 to 24,000 a second).
    "ALTER INDEX messages_words SET (gin_pending_list_limit = 512);",
    // version 5: files (extension `files`), as with SQLite: a file's message holds the JSON
    // of its `FILE` and the SHA-256 its bytes are stored under in the shared directory.
    "ALTER TABLE messages ADD COLUMN file TEXT, ADD COLUMN file_sha TEXT;
     CREATE INDEX messages_by_file ON messages (file_sha) WHERE file_sha IS NOT NULL;",
];

async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS chatterbox_schema (version INTEGER NOT NULL)")
        .await?;
    let version: i32 =
        tx.query_opt("SELECT version FROM chatterbox_schema", &[]).await?.map_or(0, |r| r.get(0));
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew(i64::from(version)));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        tx.batch_execute(sql).await?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("DELETE FROM chatterbox_schema", &[]).await?;
        tx.execute("INSERT INTO chatterbox_schema (version) VALUES ($1)", &[&v]).await?;
    }
    tx.commit().await?;
    Ok(())
}

type Blocks = Vec<(String, String, String)>;

/// Every room with its members' keys.
async fn load_rooms(pool: &Pool) -> Result<Vec<StoredRoom>, StoreError> {
    let client = pool.get().await?;
    let limit = i64::try_from(MAX_ROOMS).unwrap_or(i64::MAX);
    let mut rooms: Vec<StoredRoom> = client
        .query(
            "SELECT name, topic, invite_only, created FROM rooms ORDER BY name COLLATE \"C\"
             LIMIT $1",
            &[&limit],
        )
        .await?
        .iter()
        .map(|r| StoredRoom {
            name: r.get(0),
            topic: r.get(1),
            invite_only: r.get(2),
            created: r.get(3),
            members: Vec::new(),
            invited: Vec::new(),
        })
        .collect();
    let members = client
        .prepare("SELECT key FROM room_members WHERE room = $1 ORDER BY key COLLATE \"C\"")
        .await?;
    let invited = client
        .prepare("SELECT key FROM room_invites WHERE room = $1 ORDER BY key COLLATE \"C\"")
        .await?;
    for room in &mut rooms {
        let keys = client.query(&members, &[&room.name]).await?;
        room.members = keys.iter().map(|r| r.get(0)).collect();
        let keys = client.query(&invited, &[&room.name]).await?;
        room.invited = keys.iter().map(|r| r.get(0)).collect();
    }
    Ok(rooms)
}

/// Writes one room change inside the batch's transaction.
async fn write_room(
    tx: &deadpool_postgres::Transaction<'_>,
    op: &RoomOp,
) -> Result<(), StoreError> {
    let (sql, params): (&str, Vec<&(dyn ToSql + Sync)>) = match op {
        RoomOp::Put { room, topic, invite_only, created } => (
            "INSERT INTO rooms (name, topic, invite_only, created) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET topic = excluded.topic,
                 invite_only = excluded.invite_only",
            vec![room, topic, invite_only, created],
        ),
        RoomOp::Invite { room, key, .. } => (
            "INSERT INTO room_invites (room, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            vec![room, key],
        ),
        RoomOp::Join { room, key } => {
            let stmt =
                tx.prepare_cached("DELETE FROM room_invites WHERE room = $1 AND key = $2").await?;
            tx.execute(&stmt, &[room, key]).await?;
            (
                "INSERT INTO room_members (room, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                vec![room, key],
            )
        }
        RoomOp::Part { room, key } => {
            ("DELETE FROM room_members WHERE room = $1 AND key = $2", vec![room, key])
        }
        RoomOp::PartAll { key } => {
            let stmt = tx.prepare_cached("DELETE FROM room_invites WHERE key = $1").await?;
            tx.execute(&stmt, &[key]).await?;
            ("DELETE FROM room_members WHERE key = $1", vec![key])
        }
    };
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, &params).await?;
    Ok(())
}

/// What the server keeps in memory: the last message id, the blocks, and the registry (what
/// has expired dropped).
async fn load(pool: &Pool) -> Result<(i64, Blocks, registry::Loaded), StoreError> {
    let client = pool.get().await?;
    let now = crate::hub::unix_now();
    client.execute("DELETE FROM tokens WHERE expires <= $1", &[&now]).await?;
    client
        .execute("DELETE FROM reservations WHERE until IS NOT NULL AND until <= $1", &[&now])
        .await?;
    let last_id: i64 =
        client.query_one("SELECT COALESCE(MAX(id), 0) FROM messages", &[]).await?.get(0);
    let blocks = client
        .query("SELECT blocker_key, blocked_key, blocked_name FROM blocks", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let accounts = client
        .query("SELECT key, name, hash, since_id FROM accounts", &[])
        .await?
        .iter()
        .map(|r| {
            let hash: String = r.get(2);
            (r.get(0), Account { name: r.get(1), hash: Arc::from(hash), since: r.get(3) })
        })
        .collect();
    let tokens = client
        .query("SELECT hash, key, created, last_used, expires FROM tokens", &[])
        .await?
        .iter()
        .map(|r| {
            let token =
                Token { key: r.get(1), created: r.get(2), last_used: r.get(3), expires: r.get(4) };
            (r.get(0), token)
        })
        .collect();
    let reservations = client
        .query("SELECT key, name, address, until, since_id FROM reservations", &[])
        .await?
        .iter()
        .filter_map(|r| {
            let address: String = r.get(2);
            let ip = address.parse().ok()?;
            Some((r.get(0), Reservation { name: r.get(1), ip, until: r.get(3), since: r.get(4) }))
        })
        .collect();
    let sanctions = client
        .query(
            "SELECT id, kind, key, name, address, \"by\", at, until, reason FROM sanctions
             WHERE lifted IS NULL AND (until IS NULL OR until > $1)",
            &[&now],
        )
        .await?
        .iter()
        .map(|r| {
            let kind: String = r.get(1);
            let key: Option<String> = r.get(2);
            let name: Option<String> = r.get(3);
            let address: Option<String> = r.get(4);
            Sanction {
                id: r.get(0),
                kind: if kind == "mute" { Kind::Mute } else { Kind::Ban },
                name: key.zip(name),
                address: address.and_then(|a| a.parse().ok()),
                by: r.get(5),
                at: r.get(6),
                until: r.get(7),
                reason: r.get(8),
            }
        })
        .collect();
    let last_sanction: i64 =
        client.query_one("SELECT COALESCE(MAX(id), 0) FROM sanctions", &[]).await?.get(0);
    let registry = registry::Loaded { accounts, tokens, reservations, sanctions, last_sanction };
    Ok((last_id, blocks, registry))
}

async fn write_loop(
    pool: &Pool,
    files: Option<&FileStore>,
    mut rx: mpsc::Receiver<Op>,
    committed: &watch::Sender<i64>,
    commit_seconds: &Histogram,
) -> Result<(), StoreError> {
    let mut batch = Vec::with_capacity(STORE_BATCH);
    while let Some(op) = rx.recv().await {
        batch.push(op);
        while batch.len() < STORE_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let mut attempt = 1;
        let (last, released) = loop {
            match commit(pool, &batch).await {
                Ok(done) => break done,
                Err(e) if attempt < COMMIT_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "commit failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        commit_seconds.observe(started.elapsed().as_secs_f64());
        batch.clear();
        if let Some(files) = files {
            remove_unreferenced(pool, files, &released).await;
        }
        if let Some(id) = last {
            publish(committed, id);
        }
    }
    Ok(())
}

/// The columns of a batch's messages, for one `UNNEST` insert.
#[derive(Default)]
struct Columns {
    id: Vec<i64>,
    src: Vec<String>,
    dest: Vec<String>,
    src_key: Vec<String>,
    dest_key: Vec<String>,
    room: Vec<Option<String>>,
    ts: Vec<i64>,
    content: Vec<String>,
    target: Vec<Option<i64>>,
    op: Vec<Option<i64>>,
    file: Vec<Option<String>>,
    file_sha: Vec<Option<String>>,
}

/// Removes the stored bytes of each of `released` that no message refers to any more.
async fn remove_unreferenced(pool: &Pool, files: &FileStore, released: &[String]) {
    for sha in released {
        let referred = async {
            let client = pool.get().await?;
            let sql = "SELECT EXISTS (SELECT 1 FROM messages WHERE file_sha = $1)";
            let stmt = client.prepare_cached(sql).await?;
            Ok::<bool, StoreError>(client.query_one(&stmt, &[sha]).await?.get(0))
        };
        match (referred.await, Sha256::parse(sha)) {
            (Ok(false), Ok(sha)) => {
                let files = files.clone();
                let removed = tokio::task::spawn_blocking(move || files.remove(&sha)).await;
                if let Ok(Err(e)) = removed {
                    tracing::warn!(error = %e, "removing a deleted message's file");
                }
            }
            (Err(e), _) => tracing::warn!(error = %e, "checking a deleted file's references"),
            _ => {}
        }
    }
}

/// Commits one batch; returns the highest message id in it and the files deleted messages
/// referred to. Safe to run again after a failure: every statement is idempotent or
/// replaces what it wrote.
async fn commit(pool: &Pool, batch: &[Op]) -> Result<(Option<i64>, Vec<String>), StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut messages = Columns::default();
    // The edit and delete rows of the batch, applied once they are stored.
    let mut changes: Vec<(i64, &Message)> = Vec::new();
    let mut released = Vec::new();
    // name → the latest time seen in the batch (one upsert may not touch a row twice)
    let mut seen: HashMap<&str, i64> = HashMap::new();
    for op in batch {
        match op {
            Op::Message { id, message: m } => {
                messages.id.push(*id);
                messages.src_key.push(name_key(&m.src));
                messages.dest_key.push(name_key(&m.dest));
                messages.src.push(m.src.clone());
                messages.dest.push(m.dest.clone());
                messages.room.push(room_of(&m.dest).map(str::to_owned));
                messages.ts.push(m.timestamp);
                messages.content.push(m.content.clone());
                let (target, op) = match m.change {
                    Some(Change::Edit(t)) => (Some(t), Some(1)),
                    Some(Change::Delete(t)) => (Some(t), Some(2)),
                    _ => (None, None),
                };
                messages.target.push(target);
                messages.op.push(op);
                let (file, file_sha) = super::stored_file(m.file.as_ref());
                messages.file.push(file);
                messages.file_sha.push(file_sha);
                if op.is_some() {
                    changes.push((*id, m));
                }
            }
            Op::UserSeen { name, at } => {
                let latest = seen.entry(name.as_str()).or_insert(*at);
                *latest = (*latest).max(*at);
            }
            Op::Block { blocker_key, blocked_key, blocked_name } => {
                let sql = "INSERT INTO blocks (blocker_key, blocked_key, blocked_name)
                           VALUES ($1, $2, $3)
                           ON CONFLICT (blocker_key, blocked_key)
                           DO UPDATE SET blocked_name = excluded.blocked_name";
                let stmt = tx.prepare_cached(sql).await?;
                tx.execute(&stmt, &[blocker_key, blocked_key, blocked_name]).await?;
            }
            Op::Unblock { blocker_key, blocked_key } => {
                let sql = "DELETE FROM blocks WHERE blocker_key = $1 AND blocked_key = $2";
                let stmt = tx.prepare_cached(sql).await?;
                tx.execute(&stmt, &[blocker_key, blocked_key]).await?;
            }
            Op::Registry(op) => write_registry(&tx, op).await?,
            Op::Room(op) => write_room(&tx, op).await?,
        }
    }
    if !seen.is_empty() {
        let (names, ats): (Vec<&str>, Vec<i64>) = seen.into_iter().unzip();
        let sql = "INSERT INTO users (name, first_seen, last_seen)
                   SELECT name, at, at FROM UNNEST($1::text[], $2::bigint[]) AS s (name, at)
                   ON CONFLICT (name)
                   DO UPDATE SET last_seen = GREATEST(users.last_seen, excluded.last_seen)";
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(&stmt, &[&names, &ats]).await?;
    }
    let last = messages.id.iter().copied().max();
    if last.is_some() {
        let sql = "INSERT INTO messages
                       (id, src, dest, src_key, dest_key, ts, content, room, target, op,
                        file, file_sha)
                   SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[],
                                        $5::text[], $6::bigint[], $7::text[], $8::text[],
                                        $9::bigint[], $10::bigint[], $11::text[], $12::text[])
                   ON CONFLICT (id) DO NOTHING";
        let m = &messages;
        let columns: [&(dyn ToSql + Sync); 12] = [
            &m.id,
            &m.src,
            &m.dest,
            &m.src_key,
            &m.dest_key,
            &m.ts,
            &m.content,
            &m.room,
            &m.target,
            &m.op,
            &m.file,
            &m.file_sha,
        ];
        if changes.is_empty() {
            let stmt = tx.prepare_cached(sql).await?;
            tx.execute(&stmt, &columns).await?;
        } else {
            // A change is applied only by the commit that stored its row: another node
            // storing the same row later (it is already there) must not apply an older edit
            // over a newer one.
            let stmt = tx.prepare_cached(&format!("{sql} RETURNING id")).await?;
            let stored: std::collections::HashSet<i64> =
                tx.query(&stmt, &columns).await?.iter().map(|r| r.get(0)).collect();
            for (id, m) in changes {
                if stored.contains(&id) {
                    released.extend(apply_change(&tx, m).await?);
                }
            }
        }
    }
    tx.commit().await?;
    Ok((last, released))
}

/// Applies an edit or delete row `m` to the message it changes: an edit replaces the text
/// (the search vector follows), a delete removes it and the text of the message's earlier
/// edits, and its file (the SHA-256 returned). A message already deleted stays so.
async fn apply_change(
    tx: &deadpool_postgres::Transaction<'_>,
    m: &Message,
) -> Result<Option<String>, StoreError> {
    let mut released = None;
    match m.change {
        Some(Change::Edit(target)) => {
            let stmt = tx
                .prepare_cached(
                    "UPDATE messages SET content = $2, edited = $3
                     WHERE id = $1 AND op IS NULL AND deleted IS NULL",
                )
                .await?;
            tx.execute(&stmt, &[&target, &m.content, &m.timestamp]).await?;
        }
        Some(Change::Delete(target)) => {
            let stmt = tx
                .prepare_cached(
                    "SELECT file_sha FROM messages
                     WHERE id = $1 AND op IS NULL AND deleted IS NULL FOR UPDATE",
                )
                .await?;
            released = tx.query_opt(&stmt, &[&target]).await?.and_then(|r| r.get(0));
            let stmt = tx
                .prepare_cached(
                    "UPDATE messages SET content = '', deleted = $2, file = NULL, file_sha = NULL
                     WHERE id = $1 AND op IS NULL AND deleted IS NULL",
                )
                .await?;
            tx.execute(&stmt, &[&target, &m.timestamp]).await?;
            let stmt = tx
                .prepare_cached("UPDATE messages SET content = '' WHERE target = $1 AND op = 1")
                .await?;
            tx.execute(&stmt, &[&target]).await?;
        }
        _ => {}
    }
    Ok(released)
}

/// Writes one registry change inside the batch's transaction.
async fn write_registry(
    tx: &deadpool_postgres::Transaction<'_>,
    op: &RegistryOp,
) -> Result<(), StoreError> {
    let (sql, params): (&str, Vec<&(dyn ToSql + Sync)>) = match op {
        RegistryOp::PutAccount { key, name, hash, since, created } => (
            "INSERT INTO accounts (key, name, hash, since_id, created) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, hash = excluded.hash,
                 since_id = excluded.since_id, created = excluded.created",
            vec![key, name, hash, since, created],
        ),
        RegistryOp::DeleteAccount { key } => {
            let stmt = tx.prepare_cached("DELETE FROM tokens WHERE key = $1").await?;
            tx.execute(&stmt, &[key]).await?;
            ("DELETE FROM accounts WHERE key = $1", vec![key])
        }
        RegistryOp::SetHash { key, hash } => {
            ("UPDATE accounts SET hash = $2 WHERE key = $1", vec![key, hash])
        }
        RegistryOp::PutToken { hash, key, created, expires } => (
            "INSERT INTO tokens (hash, key, created, last_used, expires) VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (hash) DO UPDATE SET key = excluded.key, created = excluded.created,
                 last_used = excluded.last_used, expires = excluded.expires",
            vec![hash, key, created, expires],
        ),
        RegistryOp::TouchToken { hash, last_used, expires } => (
            "UPDATE tokens SET last_used = $2, expires = $3 WHERE hash = $1",
            vec![hash, last_used, expires],
        ),
        RegistryOp::DeleteToken { hash } => ("DELETE FROM tokens WHERE hash = $1", vec![hash]),
        RegistryOp::PutReservation { key, name, address, until, since } => (
            "INSERT INTO reservations (key, name, address, until, since_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, address = excluded.address,
                 until = excluded.until, since_id = excluded.since_id",
            vec![key, name, address, until, since],
        ),
        RegistryOp::DeleteReservation { key } => {
            ("DELETE FROM reservations WHERE key = $1", vec![key])
        }
        RegistryOp::PutSanction { id, kind, key, name, address, by, at, until, reason } => (
            "INSERT INTO sanctions (id, kind, key, name, address, \"by\", at, until, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO NOTHING",
            vec![id, kind, key, name, address, by, at, until, reason],
        ),
        RegistryOp::LiftSanction { id, at } => {
            ("UPDATE sanctions SET lifted = $2 WHERE id = $1", vec![id, at])
        }
        RegistryOp::Audit { at, actor, action, target, reason } => (
            "INSERT INTO audit (at, actor, action, target, reason) VALUES ($1, $2, $3, $4, $5)",
            vec![at, actor, action, target, reason],
        ),
        RegistryOp::ClearBlocks { blocker_key } => {
            ("DELETE FROM blocks WHERE blocker_key = $1", vec![blocker_key])
        }
    };
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, &params).await?;
    Ok(())
}

/// The join history is read in three parts, each a range scan of an index from the newest
/// end, and merged, as with SQLite (see its `HISTORY_PUBLIC_SQL`): the newest broadcasts
/// ($1: up to id, $2: limit, $3: hidden keys), then the private messages to and from the user
/// ($1: user, $2: up to id, $3: lower bound, $4: limit, $5: hidden keys).
const HISTORY_PUBLIC_SQL: &str =
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE dest = 'ALL' AND id <= $1 AND NOT (src_key = ANY($3)) AND id > $4
     ORDER BY id DESC LIMIT $2";

/// Private messages to the user (see [`HISTORY_PUBLIC_SQL`]).
const HISTORY_TO_SQL: &str =
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE dest = $1 AND id <= $2 AND id >= $3 AND NOT (src_key = ANY($5))
     ORDER BY id DESC LIMIT $4";

/// Private messages from the user to others (see [`HISTORY_PUBLIC_SQL`]).
const HISTORY_FROM_SQL: &str =
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE src = $1 AND dest <> 'ALL' AND dest <> $1 AND room IS NULL
       AND id <= $2 AND id >= $3 AND NOT (dest_key = ANY($5))
     ORDER BY id DESC LIMIT $4";

/// A room's messages ($1: room, then as [`HISTORY_TO_SQL`]).
const HISTORY_ROOM_SQL: &str =
    "SELECT id, src, dest, ts, content, edited, deleted, target, op, file FROM messages
     WHERE room = $1 AND id <= $2 AND id >= $3 AND NOT (src_key = ANY($5))
     ORDER BY id DESC LIMIT $4";

/// A stored message with its id.
fn message_row(r: &tokio_postgres::Row) -> (i64, Message) {
    message_at(r, 0)
}

/// The stored message whose [`COLUMNS`] begin at column `at` of `r`.
fn message_at(r: &tokio_postgres::Row, at: usize) -> (i64, Message) {
    let id: i64 = r.get(at);
    let m = Message::new(
        r.get::<_, String>(at + 1),
        r.get::<_, String>(at + 2),
        r.get(at + 3),
        r.get::<_, String>(at + 4),
    );
    let change = super::change_of(r.get(at + 5), r.get(at + 6), r.get(at + 7), r.get(at + 8));
    let file = super::file_of(r.get::<_, Option<&str>>(at + 9));
    (id, Message { id: Some(id), change, file, ..m })
}

/// The columns [`message_row`] reads.
const COLUMNS: &str = "id, src, dest, ts, content, edited, deleted, target, op, file";

/// A statement built with its parameters numbered as they are added.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Sql {
    /// Adds a parameter; its placeholder.
    fn arg(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.args.push(Box::new(value));
        format!("${}", self.args.len())
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args.iter().map(|a| &**a as &(dyn ToSql + Sync)).collect()
    }
}

/// The columns [`message_row`] reads, of the table or subquery `alias`.
fn prefixed(alias: &str) -> String {
    COLUMNS.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

/// The visible message just before (`compare` `<`, `order` `DESC`) or after a search result
/// `h` in its conversation, as a subquery of the result's row: each place's branch runs only
/// for the results of that place (its condition on `h` is constant within the branch) and
/// reads that place's index. `since` and `hidden` are the placeholders of the scope's.
fn neighbour(compare: &str, order: &str, since: &str, hidden: &str) -> String {
    let common = format!(
        "m.id {compare} h.id AND m.op IS NULL AND m.deleted IS NULL
         AND NOT (m.src_key = ANY({hidden})) ORDER BY m.id {order} LIMIT 1"
    );
    let m = prefixed("m");
    format!(
        "(SELECT {m} FROM messages m WHERE h.dest = 'ALL' AND m.dest = 'ALL' AND {common})
         UNION ALL
         (SELECT {m} FROM messages m WHERE h.room IS NOT NULL AND m.room = h.room AND {common})
         UNION ALL
         (SELECT {m} FROM messages m
          WHERE h.dest <> 'ALL' AND h.room IS NULL AND m.room IS NULL AND m.id > {since}
            AND ((m.src = h.src AND m.dest = h.dest) OR (m.src = h.dest AND m.dest = h.src))
            AND {common})
         LIMIT 1"
    )
}

/// Read access to history: a pool of connections.
#[derive(Debug, Clone)]
pub struct Reader {
    pool: Pool,
}

impl Reader {
    /// See [`super::Reader::history`].
    #[allow(clippy::too_many_arguments, reason = "the history's parts and its bounds")]
    pub(super) async fn history(
        &self,
        user: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
        since: i64,
        rooms: &[String],
        after: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(HISTORY_PUBLIC_SQL).await?;
        let mut rows: Vec<(i64, Message)> = client
            .query(&stmt, &[&upto, &limit, &hidden, &after])
            .await?
            .iter()
            .map(message_row)
            .collect();
        let full = rows.len() == usize::try_from(limit).unwrap_or(usize::MAX);
        let lo_public = if full { rows.last().map_or(0, |(id, _)| *id) } else { 0 };
        let lo_public = lo_public.max(after.saturating_add(1));
        let lo = lo_public.max(since.saturating_add(1));
        for sql in [HISTORY_TO_SQL, HISTORY_FROM_SQL] {
            let stmt = client.prepare_cached(sql).await?;
            let found = client.query(&stmt, &[&user, &upto, &lo, &limit, &hidden]).await?;
            rows.extend(found.iter().map(message_row));
        }
        let stmt = client.prepare_cached(HISTORY_ROOM_SQL).await?;
        for room in rooms {
            let found = client.query(&stmt, &[room, &upto, &lo_public, &limit, &hidden]).await?;
            rows.extend(found.iter().map(message_row));
        }
        // Newest `limit` of all the parts, oldest first.
        rows.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows.into_iter().rev().map(|(_, m)| m).collect())
    }

    /// See [`super::Reader::room_history`].
    pub(super) async fn room_history(
        &self,
        room: &str,
        upto: i64,
        limit: usize,
        hidden: &[String],
    ) -> Result<Vec<Message>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(HISTORY_ROOM_SQL).await?;
        let rows = client.query(&stmt, &[&room, &upto, &0_i64, &limit, &hidden]).await?;
        Ok(rows.iter().rev().map(|r| message_row(r).1).collect())
    }

    /// See [`super::Reader::count_between`].
    pub(super) async fn count_between(
        &self,
        user: &str,
        after: i64,
        before: i64,
        hidden: &[String],
        since: i64,
        rooms: &[String],
    ) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let cap = i64::try_from(super::MAX_MISSED).unwrap_or(i64::MAX);
        let private_after = after.max(since);
        let count = |place: &str, column: &str| {
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM messages
                 WHERE {place} AND id > $1 AND id < $2 AND NOT ({column} = ANY($5))
                 LIMIT $3) AS part"
            )
        };
        let all = String::from("ALL");
        let user = user.to_owned();
        let mut parts: Vec<(String, &String, i64)> = vec![
            (count("dest = $4", "src_key"), &all, after),
            (count("dest = $4", "src_key"), &user, private_after),
            (
                count("src = $4 AND dest <> 'ALL' AND dest <> $4 AND room IS NULL", "dest_key"),
                &user,
                private_after,
            ),
        ];
        for room in rooms {
            parts.push((count("room = $4", "src_key"), room, after));
        }
        let mut total: u64 = 0;
        for (sql, arg, lo) in parts {
            let stmt = client.prepare_cached(&sql).await?;
            let n: i64 = client.query_one(&stmt, &[&lo, &before, &cap, arg, &hidden]).await?.get(0);
            total = total.saturating_add(u64::try_from(n).unwrap_or(0));
        }
        Ok(total.min(super::MAX_MISSED))
    }

    /// See [`super::Reader::message`].
    /// See [`super::Reader::file_usage`].
    pub(super) async fn file_usage(&self, key: String) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let sql = "SELECT COALESCE(SUM((file::json ->> 'SIZE')::bigint), 0)::bigint FROM messages
                   WHERE file_sha IS NOT NULL AND src_key = $1";
        let stmt = client.prepare_cached(sql).await?;
        let used: i64 = client.query_one(&stmt, &[&key]).await?.get(0);
        Ok(used.max(0).unsigned_abs())
    }

    pub(super) async fn message(&self, id: i64) -> Result<Option<Message>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {COLUMNS} FROM messages WHERE id = $1");
        let stmt = client.prepare_cached(&sql).await?;
        Ok(client.query_opt(&stmt, &[&id]).await?.map(|r| message_row(&r).1))
    }

    /// See [`super::Reader::search`].
    pub(super) async fn search(
        &self,
        terms: &[String],
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Hit>, StoreError> {
        let client = self.pool.get().await?;
        let mut sql = Sql::default();
        let query: Vec<String> = terms
            .iter()
            .map(|t| format!("phraseto_tsquery('simple', {})", sql.arg(t.clone())))
            .collect();
        let hidden = sql.arg(scope.hidden.clone());
        let since = sql.arg(scope.since);
        let text = format!(
            "SELECT {COLUMNS}, room FROM messages
             WHERE words @@ ({query}) AND id < {older} AND op IS NULL AND deleted IS NULL
               AND (dest = 'ALL' OR room = ANY({rooms})
                    OR (room IS NULL AND id > {since} AND (dest = {user} OR src = {user})))
               AND NOT (src_key = ANY({hidden}))
               AND (dest = 'ALL' OR room IS NOT NULL OR NOT (dest_key = ANY({hidden})))",
            query = query.join(" && "),
            older = sql.arg(scope.older_than.unwrap_or(i64::MAX)),
            rooms = sql.arg(scope.rooms.clone()),
            user = sql.arg(scope.user.clone()),
        );
        let columns = FilterColumns { dest: "dest", room: "room", sender_key: "src_key", ts: "ts" };
        let filters = scope.filters(columns, &mut |value| match value {
            Arg::Text(t) => sql.arg(t),
            Arg::Int(i) => sql.arg(i),
        });
        let limit = sql.arg(i64::try_from(limit).unwrap_or(i64::MAX));
        // The results and each one's context in one statement: a round trip and a plan for
        // all, where a statement per neighbour cost two of each per result (the search's p99
        // over 1,000,000 messages was mostly those).
        let side = |compare: &str, order: &str| neighbour(compare, order, &since, &hidden);
        sql.text = format!(
            "WITH hits AS MATERIALIZED ({text}{filters} ORDER BY id DESC LIMIT {limit})
             SELECT {h}, {b}, {a} FROM hits h
             LEFT JOIN LATERAL ({before}) b ON true
             LEFT JOIN LATERAL ({after}) a ON true
             ORDER BY h.id DESC",
            h = prefixed("h"),
            b = prefixed("b"),
            a = prefixed("a"),
            before = side("<", "DESC"),
            after = side(">", "ASC"),
        );
        let rows = client.query(&sql.text, &sql.params()).await?;
        Ok(rows
            .iter()
            .map(|row| {
                let message = message_row(row).1;
                let width = COLUMNS.split(',').count();
                let context = [width, 2 * width]
                    .into_iter()
                    .filter(|at| row.get::<_, Option<i64>>(*at).is_some())
                    .map(|at| message_at(row, at).1)
                    .collect();
                Hit { message, context }
            })
            .collect())
    }

    /// See [`super::Reader::all_users`].
    pub(super) async fn all_users(&self) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await?;
        let limit = i64::try_from(MAX_ALL_USERS).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT name FROM (SELECT name FROM users ORDER BY last_seen DESC LIMIT $1) AS recent
                 ORDER BY name COLLATE \"C\"",
                &[&limit],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist() -> Histogram {
        crate::metrics::commit_histogram()
    }

    #[tokio::test]
    async fn a_database_from_a_newer_version_is_refused_and_nodes_migrate_once() {
        let db = test_support::TestDb::new().await;
        // Two nodes starting together: one migrates, the other finds it done.
        let (a, b) = tokio::join!(
            open(&db.url, None, CancellationToken::new(), crate::metrics::commit_histogram()),
            open(&db.url, None, CancellationToken::new(), crate::metrics::commit_histogram())
        );
        let ((wa, _, _), (wb, _, _)) = (a.expect("first"), b.expect("second"));
        drop((wa, wb));
        let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.expect("connect");
        tokio::spawn(conn);
        let v: i32 = client
            .query_one("SELECT version FROM chatterbox_schema", &[])
            .await
            .expect("one version row")
            .get(0);
        assert_eq!(v, SCHEMA_VERSION);
        client
            .execute("UPDATE chatterbox_schema SET version = $1", &[&(SCHEMA_VERSION + 1)])
            .await
            .expect("set version");
        let err = open(&db.url, None, CancellationToken::new(), crate::metrics::commit_histogram())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, StoreError::TooNew(v) if v == i64::from(SCHEMA_VERSION) + 1),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_or_malformed_address_is_a_clear_error() {
        let err =
            open("postgres://nobody@127.0.0.1:1/none", None, CancellationToken::new(), hist())
                .await
                .expect_err("nothing listens on port 1");
        assert!(err.to_string().contains("PostgreSQL"), "{err}");
        let err = open("not a url at all", None, CancellationToken::new(), hist())
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Url(_)), "{err}");
    }
}
