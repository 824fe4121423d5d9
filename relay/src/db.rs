//! Relay storage: the space log, entity documents, roster, invites and replay
//! counters (per space and device), in one SQLite file (the embedded default). Everything the service needs
//! from storage goes through the `Storage` trait, which the PostgreSQL backend for
//! several relay processes (`pg.rs`) implements too (see docs/ARCHITECTURE.md).
//! Each method that writes is one transaction: a crash or SIGTERM never leaves half a
//! sync behind, and what the relay acked is on disk (synchronous=FULL).

use crate::error::RelayError;
use cunwu_protocol::roster::Roster;
use cunwu_protocol::wire::{entity_hex, BatchPairs};
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Arc;

/// Statements the relay runs again and again are prepared once per connection:
/// `row`/`exec` take them from the connection's statement cache (rusqlite's own
/// `query_row`/`execute` parse the SQL on every call, a tenth of a small sync's CPU).
/// Not for a PRAGMA that sets a value (it acts when prepared, so a cached one acts once):
/// use `pragma_update`.
trait Cached {
    fn row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T>;
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl Cached for Connection {
    fn row<T, P: rusqlite::Params, F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// How many statements a connection keeps prepared (more than the relay has).
const STATEMENT_CACHE: usize = 256;

/// Settings of every connection the relay serves from (the writer and each reader):
/// statements kept prepared; sorting and `DISTINCT` in memory (else SQLite creates,
/// and unlinks, a temporary file for them on most syncs). No memory map: a reader
/// unmaps it whenever another connection has committed, which under load is before
/// every read, and the unmapping costs more than the reads it saves.
fn tune(c: &Connection) -> Result<()> {
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    c.pragma_update(None, "temp_store", "MEMORY").map_err(db)?;
    Ok(())
}

pub type Result<T> = std::result::Result<T, RelayError>;

#[derive(Debug, Clone)]
pub struct SpaceRecord {
    pub id: String,
    pub name: String,
    pub relay_secret: Vec<u8>,
    pub roster: Arc<Roster>,
    /// The log's epoch: a random number set when the space is made and renewed when
    /// the relay's database is restored from a backup (`wire::SyncResponse::epoch`).
    pub epoch: u64,
}

#[derive(Debug, Clone)]
pub struct InviteRecord {
    pub code_hash: String,
    pub space_id: String,
    pub role: cunwu_protocol::Role,
    pub household: String,
    pub group: String,
    pub expires_at: i64,
    pub created_by: String,
    /// The register person, migrant flag and residence the invite enrols.
    pub enrols: cunwu_protocol::wire::control::InviteFor,
}

#[derive(Debug, Clone)]
pub struct EntityRecord {
    pub kind: String,
    pub audience: String,
    pub ref_id: Option<String>,
}

/// One accepted change ready to be appended to the log.
#[derive(Debug, Clone)]
pub struct AcceptedChange {
    pub entity: String,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
    /// Set when the change creates the entity.
    pub new_entity: Option<EntityRecord>,
}

/// A batch as appended to the log: the signed (entity, hash) pairs and the accepted changes.
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub author: [u8; 32],
    pub signed_at: i64,
    pub signature: Vec<u8>,
    pub pairs: BatchPairs,
    pub changes: Vec<AcceptedChange>,
    /// Drafts this batch publishes, with their new audience (JSON): the storage sets
    /// the audience and appends every earlier batch that carried the draft again (a
    /// log row whose `copy_of` names the original), before this batch, in one
    /// transaction.
    pub opened: Vec<(String, String)>,
    /// When the batch reached the relay (its clock, ms).
    pub arrived_at: i64,
    /// Its changes that every member may read, and their bytes (for `remaining`).
    pub public_changes: u64,
    pub public_bytes: u64,
    /// The attachments the new events of its changes reference (`blob_refs`), written
    /// in the same transaction as the changes.
    pub blob_refs: Vec<BlobRef>,
}

/// One reference to attached bytes: an accepted change by `author` (a member id) in
/// `entity` names the attachment `hash` of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub entity: String,
    pub hash: String,
    pub author: String,
    pub size: u64,
    /// The type the reference declares (the relay checks the first piece against it).
    pub mime: String,
}

/// What the relay holds of one attachment's bytes, whatever the space (one copy per
/// hash): its size, its verified piece list (once sent) and how many bytes from the
/// start it holds durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    pub size: u64,
    pub pieces: Option<Vec<u8>>,
    pub have: u64,
}

#[derive(Debug, Clone)]
pub enum LogRow {
    Batch {
        seq: u64,
        author: [u8; 32],
        signed_at: i64,
        signature: Vec<u8>,
        pairs: BatchPairs,
        changes: Vec<(String, [u8; 32], Vec<u8>)>,
        /// When it reached the relay; `None` for rows written before version 3.
        arrived_at: Option<i64>,
        /// The log position the batch was first appended at: `seq` itself, or for a
        /// copy (a published draft's batch appended again) the original's. Phones judge
        /// the author's standing in the roster at this position, so a copy of a batch
        /// whose device was revoked or rotated since still verifies.
        origin: u64,
    },
    Tally {
        seq: u64,
        deliberation: String,
        tally_json: Vec<u8>,
        signature: Vec<u8>,
        arrived_at: Option<i64>,
    },
}

/// An invite as read from the `invites` table: space, role, household, group,
/// expiry, creator, when it was used.
type InviteRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<String>,
);

pub trait Storage: Send + Sync + 'static {
    /// Take a space for appending to its log (see [`SpaceGuard`]).
    fn lock_space(&self, space: &str) -> Result<SpaceGuard>;
    fn create_space(
        &self,
        id: &str,
        name: &str,
        relay_secret: &[u8],
        roster: &Roster,
    ) -> Result<()>;
    fn space(&self, id: &str) -> Result<Option<SpaceRecord>>;
    /// Read a space's roster, let `apply` change it and store it, in one transaction
    /// (nothing is stored when `apply` fails).
    fn update_roster(
        &self,
        space: &str,
        apply: &mut dyn FnMut(&mut Roster) -> Result<()>,
    ) -> Result<Roster>;
    fn put_invite(&self, inv: &InviteRecord) -> Result<()>;
    /// Take an unused, unexpired invite (single use) and save the roster it produced, atomically.
    fn redeem_invite(
        &self,
        code_hash: &str,
        now: i64,
        apply: &mut dyn FnMut(&InviteRecord, &mut Roster) -> Result<()>,
    ) -> Result<(InviteRecord, Roster)>;
    /// Record `counter` for `device` in `space` if it is above the last one; false
    /// for a replay. Counters are kept per (space, device): one key enrolled in two
    /// spaces has two independent counters.
    fn advance_counter(&self, space: &str, device: &str, counter: u64) -> Result<bool>;
    /// The last counter recorded for `device` in `space` (0 if none).
    fn counter(&self, space: &str, device: &str) -> Result<u64>;
    /// Record a one-time nonce; false if seen before.
    fn use_nonce(&self, nonce: &str, now: i64) -> Result<bool>;
    /// Forget the nonces of timed control requests (`wire::control::fresh_nonce`) used
    /// before `before` (relay time); untimed nonces of older apps stay. Returns how many.
    fn prune_nonces(&self, before: i64) -> Result<u64>;
    fn entity(&self, space: &str, id: &str) -> Result<Option<EntityRecord>>;
    fn entity_changes(&self, space: &str, id: &str) -> Result<Vec<Vec<u8>>>;
    fn has_change(&self, space: &str, hash: &[u8; 32]) -> Result<bool>;
    /// Append a batch of accepted changes as one log entry; returns its sequence number.
    fn append_batch(&self, space: &str, batch: &LogBatch) -> Result<u64>;
    fn append_tally(
        &self,
        space: &str,
        deliberation: &str,
        tally_json: &[u8],
        signature: &[u8],
    ) -> Result<u64>;
    /// Log rows after `cursor`, up to about `max_rows` rows. A batch row carries the
    /// bytes of the changes `wanted(author, entity)` accepts only (the reader may not
    /// see the others, and loading them is most of the cost of a sync that walks
    /// other members' private requests).
    fn read_log(
        &self,
        space: &str,
        cursor: u64,
        max_rows: u32,
        wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
    ) -> Result<Vec<LogRow>>;
    /// The read index (`log_readers`): for each of `keys` (`policy::reader_keys`), the
    /// first `limit` log positions after `cursor` filed under it, ascending.
    fn reader_seqs(
        &self,
        space: &str,
        keys: &[String],
        cursor: u64,
        limit: u32,
    ) -> Result<Vec<Vec<u64>>>;
    /// The log rows at `seqs` (ascending), read as `read_log` reads them.
    fn read_log_at(
        &self,
        space: &str,
        seqs: &[u64],
        wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
    ) -> Result<Vec<LogRow>>;
    fn last_seq(&self, space: &str) -> Result<u64>;
    /// What is left after `cursor`: log entries, changes and change bytes (for a
    /// device's progress; see `wire::Remaining`).
    fn remaining(&self, space: &str, cursor: u64) -> Result<cunwu_protocol::wire::Remaining>;
    /// Audiences of every entity in the space (for read filtering).
    fn audiences(&self, space: &str) -> Result<std::collections::HashMap<String, String>>;
    /// Entities of a kind that reference `ref_id` (the ballots of a deliberation).
    fn referencing(&self, space: &str, ref_id: &str) -> Result<Vec<String>>;
    fn tallied(&self, space: &str, deliberation: &str) -> Result<Option<Vec<u8>>>;
    /// The newest roster version of `space` delivered to a device (0 if none).
    fn roster_sent(&self, space: &str, device: &str) -> Result<u64>;
    /// Record a roster version of `space` delivered to a device (only ever raises it).
    fn set_roster_sent(&self, space: &str, device: &str, version: u64) -> Result<()>;
    /// Give every space's log a new epoch (after a restore: devices that synced with
    /// the log before pull it again and re-send what it no longer holds).
    fn renew_epochs(&self) -> Result<()>;
    /// Forget the replay counters and roster floors of devices that may no longer
    /// sync in a space (revoked, rotated away, or not in its roster): the relay refuses
    /// their requests before it reads a counter. Returns the rows removed. (Control
    /// nonces are kept: control requests carry no time, so a forgotten nonce would let
    /// a captured request be replayed.)
    fn prune_counters(&self) -> Result<u64>;

    // ---- attachments (`service/blobs.rs`) ----------------------------------------------

    /// Every reference to `hash` in `space`.
    fn blob_refs(&self, space: &str, hash: &str) -> Result<Vec<BlobRef>>;
    /// What the relay holds of `hash` (`None` before its piece list arrived).
    fn blob(&self, hash: &str) -> Result<Option<BlobRecord>>;
    /// Record a verified piece list for `hash` (nothing when one is held already).
    fn put_blob_pieces(&self, hash: &str, size: u64, pieces: &[u8]) -> Result<()>;
    /// Store verified bytes of `hash` starting at `offset` (a piece boundary) and
    /// return how many bytes from the start are held durably afterwards. Bytes the
    /// relay holds already are not written again (`offset` below what it holds); an
    /// offset past what it holds is refused. Durable (fsync or commit) before it returns.
    fn append_blob(&self, hash: &str, offset: u64, bytes: &[u8]) -> Result<u64>;
    /// Up to `len` held bytes of `hash` from `offset`.
    fn read_blob(&self, hash: &str, offset: u64, len: u64) -> Result<Vec<u8>>;
    /// The members of `space` who delivered verified bytes of `hash`, with how many.
    fn blob_holders(&self, space: &str, hash: &str) -> Result<Vec<(String, u64)>>;
    /// Record that `member` delivered `have` verified bytes of `hash` (only ever raises it).
    fn set_blob_holder(&self, space: &str, hash: &str, member: &str, have: u64) -> Result<()>;

    /// Let this thread's reads until [`Storage::end_reads`] see one snapshot of the
    /// database (scopes nest; the outermost ends it). A sync's reads between two of
    /// its writes are a dozen small lookups: in one read transaction SQLite takes its
    /// WAL read lock and checks its page cache once, not once per lookup. Writes are
    /// not part of it: what the thread writes meanwhile is seen only after the scope.
    /// A storage without such a thing reads as before.
    fn begin_reads(&self) -> Result<()> {
        Ok(())
    }
    fn end_reads(&self) {}

    /// Whether other relay processes append to this storage's logs (PostgreSQL): a
    /// process then checks its cached documents against the log end before it uses
    /// them (`Relay::hold_space`) on every sync, not only on those that append.
    fn shared_by_nodes(&self) -> bool {
        false
    }
}

/// Rows of `table` (with `space_id` and `device`) whose device is not an active device
/// of the space's roster (SQLite's JSON functions).
fn prune_sql(table: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE NOT EXISTS (
             SELECT 1 FROM rosters s, json_each(s.roster, '$.devices') d
             WHERE s.space_id = {table}.space_id AND json_extract(d.value, '$.key') = {table}.device
               AND json_extract(d.value, '$.revoked_at_seq') IS NULL)"
    )
}

/// One writer connection, and a pool of reader connections (WAL: readers never wait
/// for a writer's fsync, and several syncs read the log at once).
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    group: crate::group::GroupCommit<(String, LogBatch)>,
    path: std::path::PathBuf,
    readers: Mutex<Vec<Connection>>,
    rosters: RosterCache,
    /// Where attachment bytes live: `<db>.blobs/<hash[0..2]>/<hash>`.
    blob_dir: std::path::PathBuf,
    /// Held while bytes are appended to a blob file and its `have` committed (one
    /// writing relay process per SQLite file).
    blob_write: Mutex<()>,
}

/// The folder beside the database that holds attachment bytes.
pub fn blob_dir_of(db: &Path) -> std::path::PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".blobs");
    db.with_file_name(name)
}

/// The file of one attachment's bytes.
pub fn blob_file(dir: &Path, hash: &str) -> std::path::PathBuf {
    dir.join(&hash[..2]).join(hash)
}

/// An I/O error of the blob files, as the relay reports it (507 when the disk is full
/// or read-only, as the sync path does).
fn io(e: std::io::Error) -> RelayError {
    use std::io::ErrorKind::{ReadOnlyFilesystem, StorageFull};
    match e.kind() {
        StorageFull | ReadOnlyFilesystem => crate::error::full(e),
        _ => RelayError::Storage(format!("attachment files: {e}")),
    }
}

/// On open: a blob file longer than the `have` committed for it (bytes written before
/// a crash, never acknowledged) is cut back to it, so appends continue at `have`.
fn trim_blob_files(conn: &Connection, dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let mut st = conn
        .prepare("SELECT hash, have FROM blobs WHERE have > 0")
        .map_err(db)?;
    let rows: Vec<(String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)?;
    for (hash, have) in rows {
        if !cunwu_protocol::model::attachment::is_hash(&hash) {
            continue;
        }
        let path = blob_file(dir, &hash);
        let held = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if held < have as u64 {
            lower_blob_have(conn, &hash, held)?;
            tracing::warn!(%hash, have, held, "attachment bytes acknowledged once are missing; the uploaders are asked again");
        }
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.len() > have as u64 {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io)?;
                f.set_len(have as u64).map_err(io)?;
                f.sync_all().map_err(io)?;
                tracing::info!(%hash, have, was = meta.len(), "attachment file cut back to what was acknowledged");
            }
        }
    }
    Ok(())
}

/// `len` bytes rounded down to whole pieces.
fn whole_pieces(len: u64) -> u64 {
    let p = cunwu_protocol::model::attachment::PIECE_BYTES as u64;
    len / p * p
}

/// The bytes of `hash` really held are `len`: `have` and every uploader's resume point
/// come down to the whole pieces of it, so the missing bytes are sent again.
fn lower_blob_have(conn: &Connection, hash: &str, len: u64) -> Result<()> {
    let keep = whole_pieces(len) as i64;
    conn.exec(
        "UPDATE blobs SET have = min(have, ?2) WHERE hash = ?1",
        params![hash, keep],
    )
    .map_err(db)?;
    conn.exec(
        "UPDATE blob_holders SET have = min(have, ?2) WHERE hash = ?1",
        params![hash, keep],
    )
    .map_err(db)?;
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Parsed rosters by space: every sync needs its space's roster, and reading and
/// parsing a village's roster costs more than the rest of a small sync. A roster is
/// cached under its row's `stamp`, a random number written with every roster change
/// (`rosters.stamp`), and the log's epoch: a sync reads that one small column and the
/// roster itself only when it changed, so a roster written by another process (the
/// admin commands, another relay node) is never served stale. A version would not
/// do: a database rolled back without a restore (a PostgreSQL failover to a lagging
/// standby, a snapshot) can come to hold another roster of a version seen before.
/// Shared, not copied.
#[derive(Default)]
pub(crate) struct RosterCache(Mutex<std::collections::HashMap<String, CachedRoster>>);

/// A roster as cached: the stamp of its row, the epoch of the log, the roster.
type CachedRoster = (i64, u64, Arc<Roster>);

impl RosterCache {
    /// The cached roster of `space` for this stamp and epoch, if any.
    pub(crate) fn get(&self, space: &str, stamp: i64, epoch: u64) -> Option<Arc<Roster>> {
        match self.0.lock().get(space) {
            Some((s, e, r)) if *s == stamp && *e == epoch => Some(r.clone()),
            _ => None,
        }
    }

    /// Parse a stored roster and keep it under the stamp read with it.
    pub(crate) fn parse(
        &self,
        space: &str,
        stamp: i64,
        epoch: u64,
        text: &str,
    ) -> Result<Arc<Roster>> {
        let r = Arc::new(parse_roster(text)?);
        self.0
            .lock()
            .insert(space.to_string(), (stamp, epoch, r.clone()));
        Ok(r)
    }
}

/// Held while a relay extends a space's log; dropping it releases the space. The
/// SQLite storage has one writing relay process (the relay also holds an in-process
/// lock), so its guard is empty; PostgreSQL holds an advisory lock, so that several
/// relay processes serving one space append in turn.
pub struct SpaceGuard(#[allow(dead_code)] pub(crate) Option<Box<dyn Send>>);

/// A reader connection borrowed from the pool, returned on drop; or the connection of
/// this thread's open read snapshot (`Storage::begin_reads`), returned to it.
struct Reader<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
    /// Borrowed from the snapshot of the storage at this address.
    snapshot: Option<usize>,
}

/// Reader connections kept for reuse (each with its statement cache); a sync holds
/// one for each of its read snapshots (`Storage::begin_reads`) and sometimes a second.
const READERS_POOLED: usize = 16;

/// Keep a reader connection for reuse, up to `READERS_POOLED` (else it is closed).
fn pool_reader(pool: &Mutex<Vec<Connection>>, c: Connection) {
    let mut pool = pool.lock();
    if pool.len() < READERS_POOLED {
        pool.push(c);
    }
}

thread_local! {
    /// Per thread, the open read snapshots (`Storage::begin_reads`): the storage's
    /// address, the connection holding the read transaction (absent while a `Reader`
    /// borrows it), and how many scopes are open on it.
    static SNAPSHOTS: std::cell::RefCell<Vec<(usize, Option<Connection>, u32)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(at) = self.snapshot {
            let c = self.conn.take();
            SNAPSHOTS.with_borrow_mut(|v| {
                if let Some(slot) = v.iter_mut().find(|s| s.0 == at) {
                    slot.1 = c;
                }
            });
            return;
        }
        if let Some(c) = self.conn.take() {
            pool_reader(self.pool, c);
        }
    }
}

/// An invite's `enrols` column: NULL when it names no one (and in rows written before
/// version 4).
pub(crate) fn enrols_json(e: &cunwu_protocol::wire::control::InviteFor) -> Option<String> {
    (!e.is_empty()).then(|| serde_json::to_string(e).expect("invite json"))
}

pub(crate) fn parse_enrols(
    text: Option<String>,
) -> Result<cunwu_protocol::wire::control::InviteFor> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| RelayError::Storage(format!("stored invite: {e}")))
    })
    .transpose()
    .map(Option::unwrap_or_default)
}

/// The relay tables, in SQLite's dialect; `pg.rs` derives the PostgreSQL ones from it.
pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS spaces (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, relay_secret BLOB NOT NULL, next_seq INTEGER NOT NULL DEFAULT 1,
    epoch INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS invites (
    code_hash TEXT PRIMARY KEY, space_id TEXT NOT NULL, role TEXT NOT NULL, household TEXT NOT NULL, grp TEXT NOT NULL,
    expires_at INTEGER NOT NULL, created_by TEXT NOT NULL, used_at INTEGER, enrols TEXT
);
CREATE TABLE IF NOT EXISTS sync_counters (
    space_id TEXT NOT NULL, device TEXT NOT NULL, counter INTEGER NOT NULL, PRIMARY KEY (space_id, device)
);
CREATE TABLE IF NOT EXISTS roster_floors (
    space_id TEXT NOT NULL, device TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (space_id, device)
);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log (
    space_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, author BLOB, signed_at INTEGER,
    signature BLOB NOT NULL, pairs BLOB, deliberation TEXT, tally_json BLOB, copy_of INTEGER,
    arrived_at INTEGER, total_changes INTEGER, total_bytes INTEGER,
    PRIMARY KEY (space_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    space_id TEXT NOT NULL, hash BLOB NOT NULL, entity_id TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (space_id, hash)
);
CREATE INDEX IF NOT EXISTS changes_entity ON changes(space_id, entity_id, seq, idx);
CREATE INDEX IF NOT EXISTS changes_seq ON changes(space_id, seq, idx);
CREATE TABLE IF NOT EXISTS entities (
    space_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, audience TEXT NOT NULL, ref_id TEXT,
    PRIMARY KEY (space_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entities_ref ON entities(space_id, ref_id);
CREATE INDEX IF NOT EXISTS log_tallies ON log(space_id, deliberation, seq) WHERE type = 'tally';
"#;

/// The attachment tables version 6 added (`pg.rs` derives its own from it, plus
/// `blob_pieces`, which holds the bytes there).
pub(crate) const BLOB_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS blob_refs (
    space_id TEXT NOT NULL, hash TEXT NOT NULL, entity_id TEXT NOT NULL, author TEXT NOT NULL, size INTEGER NOT NULL,
    mime TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (space_id, hash, entity_id, author)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    hash TEXT PRIMARY KEY, size INTEGER NOT NULL, pieces BLOB, have INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS blob_holders (
    space_id TEXT NOT NULL, hash TEXT NOT NULL, member TEXT NOT NULL, have INTEGER NOT NULL,
    PRIMARY KEY (space_id, hash, member)
) WITHOUT ROWID;
"#;

/// The read index version 7 added (`pg.rs` derives its own from it): a log row's
/// position under every reader key of the audiences of the documents it carries
/// (`policy::index_keys`), so a sync reads only the positions filed under the member's
/// keys (`policy::reader_keys`) instead of walking the whole log.
pub(crate) const READ_INDEX_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS log_readers (
    space_id TEXT NOT NULL, reader TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (space_id, reader, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS log_readers_seq ON log_readers(space_id, seq);
"#;

/// The rosters, out of the `spaces` row since version 8: a roster of a village is tens
/// or hundreds of kilobytes, and the `spaces` row is read and written on every sync
/// (`next_seq`), which then walked (and compared) every page of the roster. `version`
/// is the roster's, so a sync reads the roster only when it changed
/// ([`RosterCache`]). `pg.rs` derives its own from it.
pub(crate) const ROSTER_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS rosters (
    space_id TEXT PRIMARY KEY, version INTEGER NOT NULL, stamp INTEGER NOT NULL, roster TEXT NOT NULL
);
"#;

/// Version 8's move of the rosters out of `spaces` (both backends; PostgreSQL's cast
/// is in `pg.rs`). Run when `spaces.roster` exists.
pub(crate) const MOVE_ROSTERS: &str = "INSERT INTO rosters(space_id, version, stamp, roster)
     SELECT id, coalesce(json_extract(roster, '$.version'), 0), ((random() & 9007199254740991) + 1), roster FROM spaces WHERE true
     ON CONFLICT(space_id) DO NOTHING;
     ALTER TABLE spaces DROP COLUMN roster;";

/// The audiences, as stored now, of the documents whose changes the batch row at
/// position `?2` holds (a copy's are its original's: pass `copy_of`). A row is filed
/// in the read index under their keys (`index_keys_of`); both backends use it.
///
/// This and `TALLIED` name their index (`INDEXED BY`, which `pg::query_dialect` removes):
/// without statistics SQLite's planner preferred an index on `space_id` alone that
/// walked every change, or every log row, of the space, once per append
/// (`tests::lookups_of_one_row_do_not_walk_the_whole_space`).
pub(crate) const ROW_AUDIENCES: &str = "SELECT DISTINCT e.audience FROM changes c INDEXED BY changes_seq JOIN entities e ON e.space_id = c.space_id AND e.id = c.entity_id WHERE c.space_id = ?1 AND c.seq = ?2";

/// The newest tally published for deliberation `?2` of space `?1`.
pub(crate) const TALLIED: &str = "SELECT tally_json FROM log INDEXED BY log_tallies WHERE space_id = ?1 AND type = 'tally' AND deliberation = ?2 ORDER BY seq DESC LIMIT 1";

/// The read-index keys of a row carrying documents of these audiences (stored JSON):
/// the union of `policy::index_keys`. An audience that does not parse is read by no
/// one (`service/read.rs` withholds it), so it adds no key.
pub(crate) fn index_keys_of(
    audiences: impl IntoIterator<Item = String>,
) -> std::collections::BTreeSet<String> {
    audiences
        .into_iter()
        .filter_map(|a| serde_json::from_str::<cunwu_protocol::policy::Audience>(&a).ok())
        .flat_map(|a| cunwu_protocol::policy::index_keys(&a))
        .collect()
}

/// Version 7's backfill of the read index, after `audience_readers(audience, reader)`
/// (a temporary table) holds the keys of every distinct stored audience: a batch row
/// is filed under its changes' documents' audiences (a copy's under its original's),
/// a tally under its deliberation's. Both backends run it.
///
/// Only rows filed under no key are filed, so it also runs on every open: it files the
/// rows a relay older than version 7 appended to this database (a node not yet
/// upgraded, or a binary rolled back), which readers would otherwise never be shown.
pub(crate) const FILL_READ_INDEX: &str = "INSERT INTO log_readers(space_id, reader, seq)
 SELECT l.space_id, ar.reader, l.seq FROM log l
   JOIN changes c ON c.space_id = l.space_id AND c.seq = coalesce(l.copy_of, l.seq)
   JOIN entities e ON e.space_id = c.space_id AND e.id = c.entity_id
   JOIN audience_readers ar ON ar.audience = e.audience
   WHERE l.type = 'batch'
     AND NOT EXISTS (SELECT 1 FROM log_readers r WHERE r.space_id = l.space_id AND r.seq = l.seq)
 UNION
 SELECT l.space_id, ar.reader, l.seq FROM log l
   JOIN entities e ON e.space_id = l.space_id AND e.id = l.deliberation
   JOIN audience_readers ar ON ar.audience = e.audience
   WHERE l.type = 'tally'
     AND NOT EXISTS (SELECT 1 FROM log_readers r WHERE r.space_id = l.space_id AND r.seq = l.seq)";

/// The relay schema's version: `PRAGMA user_version` in SQLite, the `schema_version`
/// table in PostgreSQL. Databases written before versions existed are version 0.
///
/// 1. Replay counters and roster floors are kept per (space, device): the per-device
///    tables `counters` and `roster_sent` become `sync_counters` and `roster_floors`,
///    each old row copied to every space whose roster lists the device, and a counter
///    beyond `MAX_COUNTER_AHEAD_MS` of the migration's clock lowered to that bound (an
///    old relay recorded any counter, which could lock a device out for years).
/// 2. A log row may be a copy of an earlier batch (`log.copy_of`, its changes read from
///    the original's rows): when a draft is published its earlier batches are appended
///    again, so readers whose cursors passed them while they were private receive them.
/// 3. Each log row records when it reached the relay (`log.arrived_at`; NULL for rows
///    written before), served to devices as the time the village saw it, and how many
///    changes every member may read the log holds up to it, with their bytes
///    (`total_changes`, `total_bytes`): what is left after a cursor is two lookups,
///    and says nothing of documents the reader may not read.
/// 4. Each space's log has an epoch (`spaces.epoch`, random, never 0), served to devices
///    (wire version 5) and renewed by `cunwu-relay restore`, so a device that synced
///    with a log since lost to a restore pulls again and re-sends its changes.
/// 5. An invite may name the person on the village register it enrols, with the
///    migrant flag and residence (`invites.enrols`, JSON of `InviteFor`; NULL before).
/// 6. Attachments ([`BLOB_SCHEMA`]): `blob_refs` (which accepted changes reference which
///    bytes), `blobs` (one row per content address, whatever the space) and
///    `blob_holders` (how much of the bytes each member delivered). New tables only:
///    no relay before version 6 accepted an attach event, so nothing is backfilled.
/// 7. The read index ([`READ_INDEX_SCHEMA`], `log_readers`), written with every log row
///    and filled for the rows written before ([`FILL_READ_INDEX`]) from the audiences
///    of their documents as stored at the migration.
/// 8. The rosters in their own table ([`ROSTER_SCHEMA`], `rosters`, with the roster's
///    version beside it), moved out of `spaces.roster` ([`MOVE_ROSTERS`]).
pub const SCHEMA_VERSION: i64 = 8;

/// The SQL that adds version 5's column to a database written before it.
pub(crate) const ADD_ENROLS: &str = "ALTER TABLE invites ADD COLUMN enrols TEXT";

/// The SQL that adds `log.copy_of` to a database written before version 2.
pub(crate) const ADD_COPY_OF: &str = "ALTER TABLE log ADD COLUMN copy_of INTEGER";
/// The SQL that adds version 3's columns to a database written before it.
pub(crate) const ADD_ARRIVED_AT: &str = "ALTER TABLE log ADD COLUMN arrived_at INTEGER;
     ALTER TABLE log ADD COLUMN total_changes INTEGER;
     ALTER TABLE log ADD COLUMN total_bytes INTEGER;";

/// The SQL that adds version 4's epoch to a database written before it (each space
/// then gets one with [`NEW_EPOCH`]).
pub(crate) const ADD_EPOCH: &str = "ALTER TABLE spaces ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0";
/// A fresh epoch in SQLite: random, 1 to 2^53 (JSON-safe, never the 0 that means "none").
pub(crate) const NEW_EPOCH: &str = "((random() & 9007199254740991) + 1)";

/// Whether an SQLite table has a column (a migration step adds it only once).
fn has_column(tx: &Connection, table: &str, column: &str) -> Result<bool> {
    tx.row(
        "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(db)
}

/// Bring an SQLite relay database written by an older relay to `SCHEMA_VERSION`, in
/// one transaction (several processes may open the file at once: the version is read
/// again inside it).
fn migrate_sqlite(conn: &mut Connection, now: i64) -> Result<()> {
    let version: i64 = conn
        .row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(newer_schema(version));
    }
    if version == SCHEMA_VERSION {
        let tx = conn.transaction().map_err(db)?;
        let filed = fill_read_index(&tx)?;
        tx.commit().map_err(db)?;
        if filed > 0 {
            tracing::warn!(
                rows = filed,
                "log rows an older relay appended were filed in the read index"
            );
        }
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let version: i64 = tx
        .row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    let mut moved = false;
    if version < 1 {
        let exists = |t: &str| -> Result<bool> {
            tx.row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [t],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(db)
        };
        if exists("counters")? {
            moved = true;
            tx.exec(
                "INSERT OR IGNORE INTO sync_counters(space_id, device, counter)
                 SELECT s.id, c.device, min(c.counter, ?1) FROM counters c, spaces s, json_each(s.roster, '$.devices') d
                 WHERE json_extract(d.value, '$.key') = c.device",
                [now + crate::service::MAX_COUNTER_AHEAD_MS],
            )
            .map_err(db)?;
            tx.exec("DROP TABLE counters", []).map_err(db)?;
        }
        if exists("roster_sent")? {
            moved = true;
            tx.exec(
                "INSERT OR IGNORE INTO roster_floors(space_id, device, version)
                 SELECT s.id, r.device, r.version FROM roster_sent r, spaces s, json_each(s.roster, '$.devices') d
                 WHERE json_extract(d.value, '$.key') = r.device",
                [],
            )
            .map_err(db)?;
            tx.exec("DROP TABLE roster_sent", []).map_err(db)?;
        }
    }
    if version < 2 && !has_column(&tx, "log", "copy_of")? {
        moved = true;
        tx.exec(ADD_COPY_OF, []).map_err(db)?;
    }
    if version < 3 && !has_column(&tx, "log", "arrived_at")? {
        moved = true;
        tx.execute_batch(ADD_ARRIVED_AT).map_err(db)?;
    }
    if version < 4 {
        if !has_column(&tx, "spaces", "epoch")? {
            tx.exec(ADD_EPOCH, []).map_err(db)?;
        }
        moved = true;
        tx.exec(
            &format!("UPDATE spaces SET epoch = {NEW_EPOCH} WHERE epoch = 0"),
            [],
        )
        .map_err(db)?;
    }
    if version < 5 && !has_column(&tx, "invites", "enrols")? {
        moved = true;
        tx.exec(ADD_ENROLS, []).map_err(db)?;
    }
    if version < 6 {
        // the tables are made by `BLOB_SCHEMA` on open
        moved = true;
    }
    if version < 7 {
        // the table is made by `READ_INDEX_SCHEMA` on open; fill it for the log so far
        moved = true;
        tx.execute_batch("DELETE FROM log_readers").map_err(db)?;
        fill_read_index(&tx)?;
    }
    if version >= 7 {
        // rows an older relay appended meanwhile (as on every open)
        fill_read_index(&tx)?;
    }
    if version < 8 && has_column(&tx, "spaces", "roster")? {
        // `rosters` is made by `ROSTER_SCHEMA` on open
        moved = true;
        tx.execute_batch(MOVE_ROSTERS).map_err(db)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db)?;
    tx.commit().map_err(db)?;
    if moved {
        tracing::info!(
            from = version,
            to = SCHEMA_VERSION,
            "relay database migrated"
        );
    }
    Ok(())
}

/// A database written by a newer relay: refused, so an older binary never writes rows
/// the newer schema's indexes do not know of.
pub(crate) fn newer_schema(version: i64) -> RelayError {
    RelayError::Storage(format!(
        "the relay database is of schema version {version}, newer than this relay's {SCHEMA_VERSION}: \
         run the relay version that wrote it (or a newer one)"
    ))
}

/// File in the read index every log row filed under no key ([`FILL_READ_INDEX`]);
/// returns how many index rows were written.
fn fill_read_index(tx: &rusqlite::Transaction<'_>) -> Result<usize> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS audience_readers (audience TEXT NOT NULL, reader TEXT NOT NULL);
         DELETE FROM temp.audience_readers;",
    )
    .map_err(db)?;
    let audiences: Vec<String> = tx
        .prepare("SELECT DISTINCT audience FROM entities")
        .map_err(db)?
        .query_map([], |r| r.get(0))
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)?;
    {
        let mut ins = tx
            .prepare("INSERT INTO audience_readers(audience, reader) VALUES (?1, ?2)")
            .map_err(db)?;
        for a in audiences {
            for k in index_keys_of([a.clone()]) {
                ins.execute(params![a, k]).map_err(db)?;
            }
        }
    }
    let n = tx.exec(FILL_READ_INDEX, []).map_err(db)?;
    tx.execute_batch("DROP TABLE temp.audience_readers")
        .map_err(db)?;
    Ok(n)
}

fn db(e: rusqlite::Error) -> RelayError {
    use rusqlite::ErrorCode::{DiskFull, ReadOnly};
    match e.sqlite_error_code() {
        Some(DiskFull | ReadOnly) => crate::error::full(e),
        _ => RelayError::Storage(e.to_string()),
    }
}

impl SqliteStorage {
    pub fn open(path: &Path) -> Result<SqliteStorage> {
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(db)?;
        conn.row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
            .map_err(|e| {
                RelayError::Storage(format!("{} is not a relay database: {e}", path.display()))
            })?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        conn.execute_batch(BLOB_SCHEMA).map_err(db)?;
        conn.execute_batch(READ_INDEX_SCHEMA).map_err(db)?;
        conn.execute_batch(ROSTER_SCHEMA).map_err(db)?;
        migrate_sqlite(&mut conn, cunwu_protocol::ids::now_ms())?;
        // after the migration, which may sort a whole log (`FILL_READ_INDEX`) and so
        // keeps SQLite's temporary files on disk
        tune(&conn)?;
        let blob_dir = blob_dir_of(path);
        trim_blob_files(&conn, &blob_dir)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            group: Default::default(),
            path: path.to_path_buf(),
            readers: Mutex::new(vec![]),
            rosters: RosterCache::default(),
            blob_dir,
            blob_write: Mutex::new(()),
        })
    }

    /// This storage's entry in the thread's `SNAPSHOTS`.
    fn snapshot_key(&self) -> usize {
        self as *const SqliteStorage as usize
    }

    fn reader(&self) -> Result<Reader<'_>> {
        let at = self.snapshot_key();
        // this thread's snapshot, unless a reader of it is already out (a read made
        // while another one's rows are walked): that one reads the latest state
        let pinned = SNAPSHOTS
            .with_borrow_mut(|v| v.iter_mut().find(|s| s.0 == at).and_then(|s| s.1.take()));
        if let Some(conn) = pinned {
            return Ok(Reader {
                conn: Some(conn),
                pool: &self.readers,
                snapshot: Some(at),
            });
        }
        let pooled = self.readers.lock().pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path).map_err(db)?;
                c.busy_timeout(std::time::Duration::from_secs(30))
                    .map_err(db)?;
                c.pragma_update(None, "query_only", true).map_err(db)?;
                tune(&c)?;
                c
            }
        };
        Ok(Reader {
            conn: Some(conn),
            pool: &self.readers,
            snapshot: None,
        })
    }
}

/// An invite is single use and expires (both storages redeem through this rule).
pub(crate) fn invite_usable(used_at: Option<i64>, expires_at: i64, now: i64) -> Result<()> {
    if used_at.is_some() {
        return Err(RelayError::Forbidden(
            "this invite has already been used".into(),
        ));
    }
    if now > expires_at {
        return Err(RelayError::Forbidden("this invite has expired".into()));
    }
    Ok(())
}

/// A counter as stored (a signed 64-bit column in both backends). Counters above
/// `i64::MAX` never reach storage: the relay refuses them as far beyond its clock.
pub(crate) fn counter_sql(counter: u64) -> i64 {
    i64::try_from(counter).unwrap_or(i64::MAX)
}

/// Store a changed roster of a space, with its version.
fn put_roster(tx: &Connection, space: &str, roster: &Roster) -> Result<()> {
    let n = tx
        .exec(
            &format!("UPDATE rosters SET version = ?2, stamp = {NEW_EPOCH}, roster = ?3 WHERE space_id = ?1 AND version < ?2"),
            params![space, roster.version as i64, roster_json(roster)],
        )
        .map_err(db)?;
    match n {
        1 => Ok(()),
        _ => Err(unraised_roster(space, roster.version)),
    }
}

/// A roster written without raising its version (both backends refuse it: the
/// rosters are cached by version, `RosterCache`, and signed once per version).
pub(crate) fn unraised_roster(space: &str, version: u64) -> RelayError {
    RelayError::Storage(format!(
        "a changed roster of space {space} must have a version above the stored one, not {version} (Roster::record_change)"
    ))
}

pub(crate) fn roster_json(r: &Roster) -> String {
    serde_json::to_string(r).expect("roster serializes")
}

pub(crate) fn parse_roster(s: &str) -> Result<Roster> {
    serde_json::from_str(s).map_err(|e| RelayError::Storage(format!("stored roster: {e}")))
}

/// One SQLite transaction (one fsync, `synchronous=FULL`) for the appends that arrived
/// together (`group::GroupCommit`), each in its own savepoint so that one that fails
/// fails alone.
/// A group of one (most syncs when the relay is not busy) needs no savepoint: its
/// failure rolls the whole transaction back (a savepoint copies every page it changes
/// to a statement journal first, a twentieth of a small sync's CPU).
fn commit_group(c: &mut Connection, jobs: &[(String, LogBatch)]) -> Result<Vec<Result<u64>>> {
    if let [(space, batch)] = jobs {
        let tx = c.transaction().map_err(db)?;
        let appended = append_batch_in(&tx, space, batch);
        if appended.is_ok() {
            tx.commit().map_err(db)?;
        } // else dropping the transaction rolls it back
        return Ok(vec![appended]);
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut tx = c.transaction().map_err(db)?;
    for (space, batch) in jobs {
        let mut sp = tx.savepoint().map_err(db)?;
        match append_batch_in(&sp, space, batch) {
            Ok(seq) => {
                sp.commit().map_err(db)?;
                results.push(Ok(seq));
            }
            Err(e) => {
                sp.rollback().map_err(db)?;
                drop(sp);
                results.push(Err(e));
            }
        }
    }
    tx.commit().map_err(db)?;
    Ok(results)
}

/// Append one batch inside the caller's transaction (see `GroupCommit`).
fn append_batch_in(tx: &Connection, space: &str, b: &LogBatch) -> Result<u64> {
    let next_seq = |tx: &Connection| -> Result<i64> {
        tx.row(
            "UPDATE spaces SET next_seq = next_seq + 1 WHERE id = ?1 RETURNING next_seq - 1",
            [space],
            |r| r.get(0),
        )
        .map_err(db)
    };
    // the running totals of what every member may read, up to the row before
    let totals = |tx: &Connection, seq: i64| -> Result<(i64, i64)> {
        tx.row(
            "SELECT coalesce(total_changes, 0), coalesce(total_bytes, 0) FROM log WHERE space_id = ?1 AND seq = ?2",
            params![space, seq - 1],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map(|t| t.unwrap_or((0, 0)))
        .map_err(db)
    };
    for (entity, audience) in &b.opened {
        tx.exec(
            "UPDATE entities SET audience = ?3 WHERE space_id = ?1 AND id = ?2",
            params![space, entity, audience],
        )
        .map_err(db)?;
        let earlier: Vec<i64> = tx
            .prepare_cached(
                "SELECT DISTINCT seq FROM changes WHERE space_id = ?1 AND entity_id = ?2 ORDER BY seq",
            )
            .map_err(db)?
            .query_map(params![space, entity], |r| r.get(0))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        for original in earlier {
            let copy = next_seq(tx)?;
            let (n, bytes) = totals(tx, copy)?;
            let (dn, dbytes): (i64, i64) = tx
                .row(
                    "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM changes WHERE space_id = ?1 AND seq = ?2",
                    params![space, original],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db)?;
            tx.exec(
                "INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs, copy_of, arrived_at, total_changes, total_bytes)
                 SELECT space_id, ?3, type, author, signed_at, signature, pairs, seq, arrived_at, ?4, ?5 FROM log
                 WHERE space_id = ?1 AND seq = ?2",
                params![space, original, copy, n + dn, bytes + dbytes],
            )
            .map_err(db)?;
            // the copy is read by the widened audience; the original is filed under it
            // too, for readers whose cursor is still before it
            file_row(tx, space, original, &[original, copy])?;
        }
    }
    let seq = next_seq(tx)?;
    let (n, bytes) = totals(tx, seq)?;
    tx.exec(
        "INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs, arrived_at, total_changes, total_bytes)
         VALUES (?1, ?2, 'batch', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            space,
            seq,
            &b.author[..],
            b.signed_at,
            b.signature,
            b.pairs.to_bytes(),
            b.arrived_at,
            n + b.public_changes as i64,
            bytes + b.public_bytes as i64
        ],
    )
    .map_err(db)?;
    {
        let mut ins = tx
            .prepare_cached("INSERT INTO changes(space_id, hash, entity_id, seq, idx, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(db)?;
        let mut ent = tx
            .prepare_cached("INSERT OR IGNORE INTO entities(space_id, id, kind, audience, ref_id) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(db)?;
        for (i, ch) in b.changes.iter().enumerate() {
            ins.execute(params![
                space,
                &ch.hash[..],
                ch.entity,
                seq,
                i as i64,
                ch.bytes
            ])
            .map_err(db)?;
            if let Some(e) = &ch.new_entity {
                ent.execute(params![space, ch.entity, e.kind, e.audience, e.ref_id])
                    .map_err(db)?;
            }
        }
        let mut refs = tx
            .prepare_cached("INSERT OR IGNORE INTO blob_refs(space_id, hash, entity_id, author, size, mime) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(db)?;
        for r in &b.blob_refs {
            refs.execute(params![
                space,
                r.hash,
                r.entity,
                r.author,
                r.size as i64,
                r.mime
            ])
            .map_err(db)?;
        }
    }
    file_row(tx, space, seq, &[seq])?;
    Ok(seq as u64)
}

/// File the log rows at `at` in the read index under the keys of the documents the
/// batch row at `changes_of` holds changes of (`ROW_AUDIENCES`).
fn file_row(tx: &Connection, space: &str, changes_of: i64, at: &[i64]) -> Result<()> {
    let audiences: Vec<String> = tx
        .prepare_cached(ROW_AUDIENCES)
        .map_err(db)?
        .query_map(params![space, changes_of], |r| r.get(0))
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)?;
    file_keys(tx, space, index_keys_of(audiences), at)
}

fn file_keys(
    tx: &Connection,
    space: &str,
    keys: std::collections::BTreeSet<String>,
    at: &[i64],
) -> Result<()> {
    let mut ins = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO log_readers(space_id, reader, seq) VALUES (?1, ?2, ?3)",
        )
        .map_err(db)?;
    for k in &keys {
        for seq in at {
            ins.execute(params![space, k, seq]).map_err(db)?;
        }
    }
    Ok(())
}

/// The columns of a log row as `read_log` reads them (`log_row_sql`).
const LOG_COLUMNS: &str = "seq, type, author, signed_at, signature, pairs, deliberation, tally_json, coalesce(copy_of, seq), arrived_at";

type LogRowSql = (
    i64,
    String,
    Option<Vec<u8>>,
    Option<i64>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<String>,
    Option<Vec<u8>>,
    i64,
    Option<i64>,
);

fn log_row_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<LogRowSql> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

/// Log rows as the service reads them: a batch carries the bytes of the changes
/// `wanted(author, entity)` accepts only (a copy's are read from its original's rows).
fn decode_log_rows(
    c: &Connection,
    space: &str,
    rows: Vec<LogRowSql>,
    wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
) -> Result<Vec<LogRow>> {
    let mut ch = c
        .prepare_cached("SELECT entity_id, hash, bytes FROM changes WHERE space_id = ?1 AND seq = ?2 ORDER BY idx")
        .map_err(db)?;
    let mut out = Vec::with_capacity(rows.len());
    for (seq, ty, author, signed_at, signature, pairs, delib, tally, stored, arrived_at) in rows {
        if ty == "tally" {
            out.push(LogRow::Tally {
                seq: seq as u64,
                deliberation: delib.unwrap_or_default(),
                tally_json: tally.unwrap_or_default(),
                signature,
                arrived_at,
            });
            continue;
        }
        let author: [u8; 32] = author.and_then(|a| a.try_into().ok()).unwrap_or([0; 32]);
        let pairs = BatchPairs::from_bytes(&pairs.unwrap_or_default())
            .map_err(|e| RelayError::Storage(e.to_string()))?;
        let any_wanted = pairs.iter().any(|(e, _)| wanted(&author, &entity_hex(e)));
        let changes: Vec<(String, Vec<u8>, Vec<u8>)> = if any_wanted {
            // a copy's changes are those of the batch it copies
            ch.query_map(params![space, stored], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(db)?
            .filter(|r: &rusqlite::Result<(String, Vec<u8>, Vec<u8>)>| {
                r.as_ref()
                    .map_or(true, |(e, _, _)| wanted(&author, e.as_str()))
            })
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?
        } else {
            vec![]
        };
        out.push(LogRow::Batch {
            seq: seq as u64,
            author,
            signed_at: signed_at.unwrap_or(0),
            signature,
            pairs,
            changes: changes
                .into_iter()
                .map(|(e, h, b)| (e, h.try_into().unwrap_or([0; 32]), b))
                .collect(),
            arrived_at,
            origin: stored as u64,
        });
    }
    Ok(out)
}

impl Storage for SqliteStorage {
    fn lock_space(&self, _space: &str) -> Result<SpaceGuard> {
        Ok(SpaceGuard(None))
    }

    fn create_space(
        &self,
        id: &str,
        name: &str,
        relay_secret: &[u8],
        roster: &Roster,
    ) -> Result<()> {
        let mut c = self.conn.lock();
        let tx = c.transaction().map_err(db)?;
        tx.exec(
            &format!("INSERT INTO spaces(id, name, relay_secret, epoch) VALUES (?1, ?2, ?3, {NEW_EPOCH})"),
            params![id, name, relay_secret],
        )
        .map_err(db)?;
        tx.exec(
            &format!("INSERT INTO rosters(space_id, version, stamp, roster) VALUES (?1, ?2, {NEW_EPOCH}, ?3)"),
            params![id, roster.version as i64, roster_json(roster)],
        )
        .map_err(db)?;
        tx.commit().map_err(db)
    }

    fn space(&self, id: &str) -> Result<Option<SpaceRecord>> {
        let c = self.reader()?;
        let row: Option<(String, String, Vec<u8>, i64, i64)> = c
            .row(
                "SELECT s.id, s.name, s.relay_secret, s.epoch, r.stamp FROM spaces s JOIN rosters r ON r.space_id = s.id WHERE s.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((id, name, relay_secret, epoch, stamp)) = row else {
            return Ok(None);
        };
        let epoch = epoch as u64;
        let roster = match self.rosters.get(&id, stamp, epoch) {
            Some(r) => r,
            None => {
                let (stamp, text): (i64, String) = c
                    .row(
                        "SELECT stamp, roster FROM rosters WHERE space_id = ?1",
                        [&id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db)?;
                self.rosters.parse(&id, stamp, epoch, &text)?
            }
        };
        Ok(Some(SpaceRecord {
            id,
            name,
            relay_secret,
            roster,
            epoch,
        }))
    }

    fn update_roster(
        &self,
        space: &str,
        apply: &mut dyn FnMut(&mut Roster) -> Result<()>,
    ) -> Result<Roster> {
        let mut c = self.conn.lock();
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let text: String = tx
            .row(
                "SELECT roster FROM rosters WHERE space_id = ?1",
                [space],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space} on this relay")))?;
        let before = parse_roster(&text)?;
        let mut roster = before.clone();
        apply(&mut roster)?;
        if roster != before {
            put_roster(&tx, space, &roster)?;
        }
        tx.commit().map_err(db)?;
        Ok(roster)
    }

    fn put_invite(&self, inv: &InviteRecord) -> Result<()> {
        self.conn
            .lock()
            .exec(
                "INSERT INTO invites(code_hash, space_id, role, household, grp, expires_at, created_by, enrols) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![inv.code_hash, inv.space_id, inv.role.as_str(), inv.household, inv.group, inv.expires_at, inv.created_by, enrols_json(&inv.enrols)],
            )
            .map_err(db)?;
        Ok(())
    }

    fn redeem_invite(
        &self,
        code_hash: &str,
        now: i64,
        apply: &mut dyn FnMut(&InviteRecord, &mut Roster) -> Result<()>,
    ) -> Result<(InviteRecord, Roster)> {
        let mut c = self.conn.lock();
        let tx = c.transaction().map_err(db)?;
        let row: Option<InviteRow> = tx
            .row(
                "SELECT space_id, role, household, grp, expires_at, created_by, used_at, enrols FROM invites WHERE code_hash = ?1",
                [code_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
            )
            .optional()
            .map_err(db)?;
        let Some((space_id, role, household, group, expires_at, created_by, used_at, enrols)) = row
        else {
            return Err(RelayError::Forbidden("unknown invite code".into()));
        };
        invite_usable(used_at, expires_at, now)?;
        let inv = InviteRecord {
            code_hash: code_hash.into(),
            space_id: space_id.clone(),
            role: cunwu_protocol::Role::parse(&role)
                .map_err(|e| RelayError::Storage(e.to_string()))?,
            household,
            group,
            expires_at,
            created_by,
            enrols: parse_enrols(enrols)?,
        };
        let roster: String = tx
            .row(
                "SELECT roster FROM rosters WHERE space_id = ?1",
                [&space_id],
                |r| r.get(0),
            )
            .map_err(db)?;
        let before = parse_roster(&roster)?;
        let mut roster = before.clone();
        apply(&inv, &mut roster)?;
        tx.exec(
            "UPDATE invites SET used_at = ?2 WHERE code_hash = ?1",
            params![code_hash, now],
        )
        .map_err(db)?;
        if roster != before {
            put_roster(&tx, &space_id, &roster)?;
        }
        tx.commit().map_err(db)?;
        Ok((inv, roster))
    }

    fn advance_counter(&self, space: &str, device: &str, counter: u64) -> Result<bool> {
        // Written without its own fsync (`synchronous=NORMAL` for this one statement;
        // WAL): it survives a crash of the process and reaches the disk with the next
        // durable commit; only an OS crash or power cut could roll back the last
        // counters. A replayed request is harmless for writes (changes are
        // content-addressed) and the window is tiny; one fsync fewer per sync is a
        // fifth more syncs per second (docs/BENCHMARKS.md).
        let c = self.conn.lock();
        // (`pragma_update`, never `Cached::exec`: a PRAGMA that sets a value acts when it
        // is prepared, so a cached one would set it once, on the first call only)
        c.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
        let n = c.exec(
            "INSERT INTO sync_counters(space_id, device, counter) VALUES (?1, ?2, ?3)
             ON CONFLICT(space_id, device) DO UPDATE SET counter = excluded.counter WHERE excluded.counter > sync_counters.counter",
            params![space, device, counter_sql(counter)],
        );
        c.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        Ok(n.map_err(db)? == 1)
    }

    fn counter(&self, space: &str, device: &str) -> Result<u64> {
        let v: Option<i64> = self
            .reader()?
            .row(
                "SELECT counter FROM sync_counters WHERE space_id = ?1 AND device = ?2",
                [space, device],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    fn use_nonce(&self, nonce: &str, now: i64) -> Result<bool> {
        let n = self
            .conn
            .lock()
            .exec(
                "INSERT OR IGNORE INTO nonces(nonce, at) VALUES (?1, ?2)",
                params![nonce, now],
            )
            .map_err(db)?;
        Ok(n == 1)
    }

    fn prune_nonces(&self, before: i64) -> Result<u64> {
        let n = self
            .conn
            .lock()
            .exec(
                "DELETE FROM nonces WHERE at < ?1 AND nonce LIKE 't%'",
                params![before],
            )
            .map_err(db)?;
        Ok(n as u64)
    }

    fn entity(&self, space: &str, id: &str) -> Result<Option<EntityRecord>> {
        self.reader()?
            .row(
                "SELECT kind, audience, ref_id FROM entities WHERE space_id = ?1 AND id = ?2",
                [space, id],
                |r| {
                    Ok(EntityRecord {
                        kind: r.get(0)?,
                        audience: r.get(1)?,
                        ref_id: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(db)
    }

    fn entity_changes(&self, space: &str, id: &str) -> Result<Vec<Vec<u8>>> {
        let c = self.reader()?;
        let mut s = c
            .prepare_cached("SELECT bytes FROM changes WHERE space_id = ?1 AND entity_id = ?2 ORDER BY seq, idx")
            .map_err(db)?;
        let v = s
            .query_map([space, id], |r| r.get(0))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        Ok(v)
    }

    fn has_change(&self, space: &str, hash: &[u8; 32]) -> Result<bool> {
        let c = self.reader()?;
        let mut s = c
            .prepare_cached("SELECT 1 FROM changes WHERE space_id = ?1 AND hash = ?2")
            .map_err(db)?;
        s.exists(params![space, &hash[..]]).map_err(db)
    }

    fn append_batch(&self, space: &str, b: &LogBatch) -> Result<u64> {
        self.group.submit(
            (space.to_string(), b.clone()),
            || Ok(self.conn.lock()),
            |c, jobs| commit_group(c, jobs),
        )
    }

    fn append_tally(
        &self,
        space: &str,
        deliberation: &str,
        tally_json: &[u8],
        signature: &[u8],
    ) -> Result<u64> {
        let mut c = self.conn.lock();
        let tx = c.transaction().map_err(db)?;
        let seq: i64 = tx
            .row(
                "UPDATE spaces SET next_seq = next_seq + 1 WHERE id = ?1 RETURNING next_seq - 1",
                [space],
                |r| r.get(0),
            )
            .map_err(db)?;
        tx.exec(
            "INSERT INTO log(space_id, seq, type, signature, deliberation, tally_json, arrived_at, total_changes, total_bytes)
             SELECT ?1, ?2, 'tally', ?3, ?4, ?5, ?6, coalesce(max(total_changes), 0), coalesce(max(total_bytes), 0)
             FROM log WHERE space_id = ?1 AND seq = ?2 - 1",
            params![space, seq, signature, deliberation, tally_json, cunwu_protocol::ids::now_ms()],
        )
        .map_err(db)?;
        // a tally is read by its deliberation's audience
        let audience: Option<String> = tx
            .row(
                "SELECT audience FROM entities WHERE space_id = ?1 AND id = ?2",
                params![space, deliberation],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        file_keys(&tx, space, index_keys_of(audience), &[seq])?;
        tx.commit().map_err(db)?;
        Ok(seq as u64)
    }

    fn read_log(
        &self,
        space: &str,
        cursor: u64,
        max_rows: u32,
        wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
    ) -> Result<Vec<LogRow>> {
        let c = self.reader()?;
        let rows: Vec<LogRowSql> = c
            .prepare_cached(&format!(
                "SELECT {LOG_COLUMNS} FROM log WHERE space_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ))
            .map_err(db)?
            .query_map(params![space, cursor as i64, max_rows], log_row_sql)
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        decode_log_rows(&c, space, rows, wanted)
    }

    fn reader_seqs(
        &self,
        space: &str,
        keys: &[String],
        cursor: u64,
        limit: u32,
    ) -> Result<Vec<Vec<u64>>> {
        let c = self.reader()?;
        let mut s = c
            .prepare_cached(
                "SELECT seq FROM log_readers WHERE space_id = ?1 AND reader = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
            )
            .map_err(db)?;
        keys.iter()
            .map(|k| {
                s.query_map(params![space, k, cursor as i64, limit], |r| {
                    r.get::<_, i64>(0).map(|v| v as u64)
                })
                .map_err(db)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db)
            })
            .collect()
    }

    fn read_log_at(
        &self,
        space: &str,
        seqs: &[u64],
        wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
    ) -> Result<Vec<LogRow>> {
        let c = self.reader()?;
        let mut s = c
            .prepare_cached(&format!(
                "SELECT {LOG_COLUMNS} FROM log WHERE space_id = ?1 AND seq = ?2"
            ))
            .map_err(db)?;
        let mut rows = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(r) = s
                .query_row(params![space, *seq as i64], log_row_sql)
                .optional()
                .map_err(db)?
            {
                rows.push(r);
            }
        }
        drop(s);
        decode_log_rows(&c, space, rows, wanted)
    }

    fn last_seq(&self, space: &str) -> Result<u64> {
        let n: i64 = self
            .reader()?
            .row(
                "SELECT next_seq - 1 FROM spaces WHERE id = ?1",
                [space],
                |r| r.get(0),
            )
            .map_err(db)?;
        Ok(n as u64)
    }

    fn remaining(&self, space: &str, cursor: u64) -> Result<cunwu_protocol::wire::Remaining> {
        let c = self.reader()?;
        let at = |seq: i64| -> Result<(i64, i64)> {
            c.prepare_cached(
                "SELECT coalesce(total_changes, 0), coalesce(total_bytes, 0) FROM log WHERE space_id = ?1 AND seq = ?2",
            )
            .map_err(db)?
            .query_row(params![space, seq], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map(|t| t.unwrap_or((0, 0)))
            .map_err(db)
        };
        let last: i64 = c
            .row(
                "SELECT next_seq - 1 FROM spaces WHERE id = ?1",
                [space],
                |r| r.get(0),
            )
            .map_err(db)?;
        let ((n0, b0), (n1, b1)) = (at(cursor as i64)?, at(last)?);
        Ok(cunwu_protocol::wire::Remaining {
            entries: (last - cursor as i64).max(0) as u64,
            changes: (n1 - n0).max(0) as u64,
            bytes: (b1 - b0).max(0) as u64,
        })
    }

    fn audiences(&self, space: &str) -> Result<std::collections::HashMap<String, String>> {
        let c = self.reader()?;
        let mut s = c
            .prepare_cached("SELECT id, audience FROM entities WHERE space_id = ?1")
            .map_err(db)?;
        let v = s
            .query_map([space], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        Ok(v)
    }

    fn referencing(&self, space: &str, ref_id: &str) -> Result<Vec<String>> {
        let c = self.reader()?;
        let mut s = c
            .prepare_cached("SELECT id FROM entities WHERE space_id = ?1 AND ref_id = ?2")
            .map_err(db)?;
        let v = s
            .query_map([space, ref_id], |r| r.get(0))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        Ok(v)
    }

    fn tallied(&self, space: &str, deliberation: &str) -> Result<Option<Vec<u8>>> {
        self.reader()?
            .row(TALLIED, [space, deliberation], |r| r.get(0))
            .optional()
            .map_err(db)
    }

    fn roster_sent(&self, space: &str, device: &str) -> Result<u64> {
        let v: Option<i64> = self
            .reader()?
            .row(
                "SELECT version FROM roster_floors WHERE space_id = ?1 AND device = ?2",
                [space, device],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        Ok(v.unwrap_or(0) as u64)
    }

    fn set_roster_sent(&self, space: &str, device: &str, version: u64) -> Result<()> {
        self.conn
            .lock()
            .exec(
                "INSERT INTO roster_floors(space_id, device, version) VALUES (?1, ?2, ?3)
                 ON CONFLICT(space_id, device) DO UPDATE SET version = max(version, excluded.version)",
                params![space, device, version as i64],
            )
            .map_err(db)?;
        Ok(())
    }

    fn renew_epochs(&self) -> Result<()> {
        self.conn
            .lock()
            .exec(&format!("UPDATE spaces SET epoch = {NEW_EPOCH}"), [])
            .map_err(db)?;
        Ok(())
    }

    fn prune_counters(&self) -> Result<u64> {
        let mut c = self.conn.lock();
        let tx = c.transaction().map_err(db)?;
        let mut n = 0;
        for table in ["sync_counters", "roster_floors"] {
            n += tx.exec(&prune_sql(table), []).map_err(db)? as u64;
        }
        tx.commit().map_err(db)?;
        Ok(n)
    }

    fn begin_reads(&self) -> Result<()> {
        let at = self.snapshot_key();
        let nested = SNAPSHOTS.with_borrow_mut(|v| match v.iter_mut().find(|s| s.0 == at) {
            Some(slot) => {
                slot.2 += 1;
                true
            }
            None => false,
        });
        if nested {
            return Ok(());
        }
        let mut r = self.reader()?;
        let conn = r.conn.take().expect("present until drop");
        // deferred: the snapshot is taken at the first read
        conn.exec("BEGIN", []).map_err(db)?;
        SNAPSHOTS.with_borrow_mut(|v| v.push((at, Some(conn), 1)));
        Ok(())
    }

    fn end_reads(&self) {
        let at = self.snapshot_key();
        let ended = SNAPSHOTS.with_borrow_mut(|v| {
            let i = v.iter().position(|s| s.0 == at)?;
            v[i].2 -= 1;
            (v[i].2 == 0).then(|| v.remove(i).1).flatten()
        });
        if let Some(c) = ended {
            // a connection whose read transaction will not end is not pooled again
            if c.exec("COMMIT", []).is_ok() {
                pool_reader(&self.readers, c);
            }
        }
    }

    fn blob_refs(&self, space: &str, hash: &str) -> Result<Vec<BlobRef>> {
        let c = self.reader()?;
        let mut st = c
            .prepare_cached(
                "SELECT entity_id, author, size, mime FROM blob_refs WHERE space_id = ?1 AND hash = ?2",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![space, hash], |r| {
                Ok(BlobRef {
                    entity: r.get(0)?,
                    hash: hash.to_string(),
                    author: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    mime: r.get(3)?,
                })
            })
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        Ok(rows)
    }

    fn blob(&self, hash: &str) -> Result<Option<BlobRecord>> {
        let c = self.reader()?;
        c.row(
            "SELECT size, pieces, have FROM blobs WHERE hash = ?1",
            [hash],
            |r| {
                Ok(BlobRecord {
                    size: r.get::<_, i64>(0)? as u64,
                    pieces: r.get(1)?,
                    have: r.get::<_, i64>(2)? as u64,
                })
            },
        )
        .optional()
        .map_err(db)
    }

    fn put_blob_pieces(&self, hash: &str, size: u64, pieces: &[u8]) -> Result<()> {
        let c = self.conn.lock();
        c.exec(
            "INSERT INTO blobs(hash, size, pieces, have) VALUES (?1, ?2, ?3, 0)
             ON CONFLICT(hash) DO UPDATE SET pieces = excluded.pieces WHERE blobs.pieces IS NULL",
            params![hash, size as i64, pieces],
        )
        .map_err(db)?;
        Ok(())
    }

    fn append_blob(&self, hash: &str, offset: u64, bytes: &[u8]) -> Result<u64> {
        use std::io::{Seek, SeekFrom, Write};
        let _w = self.blob_write.lock();
        let Some(rec) = self.blob(hash)? else {
            return Err(RelayError::Conflict(format!(
                "the relay holds no piece list for {hash}; send it first"
            )));
        };
        if offset < rec.have {
            return Ok(rec.have);
        }
        if offset > rec.have {
            return Err(RelayError::Conflict(format!(
                "bytes of {hash} from {offset} cannot be stored: the relay holds {} bytes of it",
                rec.have
            )));
        }
        let end = offset + bytes.len() as u64;
        if end > rec.size {
            return Err(RelayError::BadRequest(format!(
                "{} bytes from {offset} run past the end of {hash} ({} bytes)",
                bytes.len(),
                rec.size
            )));
        }
        let path = blob_file(&self.blob_dir, hash);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            // bytes acknowledged once are gone (a file lost with its folder in a power
            // cut, a restore without the folder): never pad with zeros; count only what
            // is really here and ask the uploaders for the rest
            let c = self.conn.lock();
            lower_blob_have(&c, hash, len)?;
            return Err(RelayError::Conflict(format!(
                "the relay lost bytes of {hash} after byte {}; ask GET /v1/blobs/{hash} where to resume",
                whole_pieces(len)
            )));
        }
        if let Some(parent) = path.parent() {
            if !parent.is_dir() {
                std::fs::create_dir_all(parent).map_err(io)?;
                // the new folders reach the disk before anything in them is acknowledged
                sync_dir(parent);
                sync_dir(&self.blob_dir);
            }
        }
        let created = len == 0 && !path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        if created {
            if let Some(parent) = path.parent() {
                sync_dir(parent);
            }
        }
        // anything past `have` was never acknowledged: write over it
        f.set_len(offset).map_err(io)?;
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_data().map_err(io)?;
        let c = self.conn.lock();
        c.exec(
            "UPDATE blobs SET have = ?2 WHERE hash = ?1 AND have = ?3",
            params![hash, end as i64, offset as i64],
        )
        .map_err(db)?;
        Ok(end)
    }

    fn read_blob(&self, hash: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let Some(rec) = self.blob(hash)? else {
            return Ok(vec![]);
        };
        let end = rec.have.min(offset.saturating_add(len));
        if end <= offset {
            return Ok(vec![]);
        }
        let mut f = std::fs::File::open(blob_file(&self.blob_dir, hash)).map_err(io)?;
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut out = vec![0u8; (end - offset) as usize];
        f.read_exact(&mut out).map_err(io)?;
        Ok(out)
    }

    fn blob_holders(&self, space: &str, hash: &str) -> Result<Vec<(String, u64)>> {
        let c = self.reader()?;
        let mut st = c
            .prepare_cached(
                "SELECT member, have FROM blob_holders WHERE space_id = ?1 AND hash = ?2",
            )
            .map_err(db)?;
        let rows = st
            .query_map(params![space, hash], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        Ok(rows)
    }

    fn set_blob_holder(&self, space: &str, hash: &str, member: &str, have: u64) -> Result<()> {
        let c = self.conn.lock();
        c.exec(
            "INSERT INTO blob_holders(space_id, hash, member, have) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(space_id, hash, member) DO UPDATE SET have = max(have, excluded.have)",
            params![space, hash, member, have as i64],
        )
        .map_err(db)?;
        Ok(())
    }
}

/// `cunwu-relay backup`: a consistent copy of the SQLite relay database at `from`
/// while a relay serves it (SQLite's online backup, in one step: one read transaction,
/// so the copy is the database as of one commit; WAL lets the relay keep appending
/// meanwhile). The copy's spaces get new epochs, so copying the file back over the
/// database is already a restore that devices notice (`restore` renews them again).
/// The attachment bytes (`<db>.blobs/`) are copied to `<out>.blobs/` after the
/// snapshot. Returns the pages copied.
pub fn backup(from: &Path, out: &Path) -> Result<i32> {
    if out.exists() {
        return Err(RelayError::BadRequest(format!(
            "{} exists: a backup is written to a new file",
            out.display()
        )));
    }
    let src = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db)?;
    src.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(db)?;
    src.row("SELECT count(*) FROM spaces", [], |r| r.get::<_, i64>(0))
        .map_err(|e| {
            RelayError::Storage(format!("{} is not a relay database: {e}", from.display()))
        })?;
    let mut dst = Connection::open(out).map_err(db)?;
    let pages = {
        let b = rusqlite::backup::Backup::new(&src, &mut dst).map_err(db)?;
        // every page in one step: a step that meets a write by another connection
        // would start over, and a busy relay writes all the time
        loop {
            match b.step(-1).map_err(db)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => continue,
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
        b.progress().pagecount
    };
    dst.exec(&format!("UPDATE spaces SET epoch = {NEW_EPOCH}"), [])
        .map_err(db)?;
    // the attachment bytes after the snapshot: files only grow, so each holds at least
    // what the copy's `have` says (the excess is cut off when the copy is opened)
    copy_blob_files(&blob_dir_of(from), &blob_dir_of(out))?;
    Ok(pages)
}

/// Copy the attachment files of one relay database's folder into another's: each file
/// the destination lacks or holds less of. Bytes of one hash are the same everywhere
/// (content addressed), so a longer file is never overwritten by a shorter one.
fn copy_blob_files(from: &Path, to: &Path) -> Result<()> {
    let Ok(subs) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for sub in subs {
        let sub = sub.map_err(io)?;
        if !sub.file_type().map_err(io)?.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(sub.path()).map_err(io)? {
            let f = f.map_err(io)?;
            let name = f.file_name();
            if !cunwu_protocol::model::attachment::is_hash(&name.to_string_lossy()) {
                continue;
            }
            let dest = to.join(sub.file_name()).join(&name);
            let have = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
            if f.metadata().map_err(io)?.len() > have {
                std::fs::create_dir_all(to.join(sub.file_name())).map_err(io)?;
                std::fs::copy(f.path(), &dest).map_err(io)?;
                std::fs::File::open(&dest)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
            }
        }
    }
    Ok(())
}

/// `cunwu-relay restore --from FILE`: copy a backup over the SQLite database at `to`
/// (the relay must be stopped), through SQLite so the database's WAL stays consistent;
/// the backup's attachment files (`<from>.blobs/`) are copied beside it.
pub fn restore_file(from: &Path, to: &Path) -> Result<()> {
    let src = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(db)?;
    src.row("SELECT count(*) FROM spaces", [], |r| r.get::<_, i64>(0))
        .map_err(|e| {
            RelayError::Storage(format!("{} is not a relay backup: {e}", from.display()))
        })?;
    let mut dst = Connection::open(to).map_err(db)?;
    dst.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db)?;
    let b = rusqlite::backup::Backup::new(&src, &mut dst).map_err(db)?;
    loop {
        match b.step(-1).map_err(|e| {
            RelayError::Storage(format!(
                "could not write {} (is a relay still serving it? stop it first): {e}",
                to.display()
            ))
        })? {
            rusqlite::backup::StepResult::Done => {
                return copy_blob_files(&blob_dir_of(from), &blob_dir_of(to))
            }
            rusqlite::backup::StepResult::More => continue,
            _ => {
                return Err(RelayError::Storage(format!(
                    "{} is in use (is a relay still serving it? stop it first)",
                    to.display()
                )))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cunwu_protocol::roster::DeviceEntry;

    /// A batch of one new notice, its bytes, hash and author all `n` (group commit tests).
    pub(crate) fn one_change_batch(n: u8) -> LogBatch {
        LogBatch {
            author: [n; 32],
            signed_at: 1,
            signature: vec![n],
            pairs: BatchPairs::new(vec![([n; 16], [n; 32])]),
            changes: vec![AcceptedChange {
                entity: format!("{n:032x}"),
                hash: [n; 32],
                bytes: vec![n; 100],
                new_entity: Some(EntityRecord {
                    kind: "notice".into(),
                    audience: r#"{"type":"space"}"#.into(),
                    ref_id: None,
                }),
            }],
            opened: vec![],
            arrived_at: 5,
            public_changes: 1,
            public_bytes: 100,
            blob_refs: vec![],
        }
    }

    /// The tables of a relay written before schema versions (per-device counters and
    /// roster floors), with one space whose roster lists `device`.
    pub(crate) fn old_roster(space: &str, device: &str) -> String {
        let roster = Roster {
            space_id: space.into(),
            space_name: "青石村".into(),
            version: 3,
            members: vec![],
            devices: vec![DeviceEntry {
                key: device.into(),
                member: "m1".into(),
                revoked_at_seq: None,
                changed_version: 0,
            }],
            deltas_from: None,
        };
        roster_json(&roster)
    }

    /// `SCHEMA` without the columns versions 2 and 3 added.
    fn version_1_schema() -> String {
        let v1 = schema_v7()
            .replace(
                ", copy_of INTEGER,\n    arrived_at INTEGER, total_changes INTEGER, total_bytes INTEGER,",
                ",",
            )
            .replace("used_at INTEGER, enrols TEXT", "used_at INTEGER");
        assert!(!v1.contains("copy_of") && !v1.contains("arrived_at") && !v1.contains("total_"));
        assert!(!v1.contains("enrols"));
        v1
    }

    /// The tables as a version-1 relay wrote them (before `log.copy_of`), holding one
    /// space whose log has one batch carrying one change of a draft notice, in the
    /// dialect `blob` writes a byte string in.
    pub(crate) fn version_1_log(blob: &dyn Fn(&[u8]) -> String) -> String {
        let pairs = BatchPairs::new(vec![([7; 16], [9; 32])]).to_bytes();
        format!(
            "{}
             INSERT INTO spaces(id, name, relay_secret, roster, next_seq) VALUES ('s1', 'a', {z}, '{{\"space_id\":\"s1\",\"space_name\":\"a\",\"version\":0,\"members\":[],\"devices\":[]}}', 2);
             INSERT INTO invites(code_hash, space_id, role, household, grp, expires_at, created_by) VALUES ('old', 's1', 'resident', 'H01', '一组', 9000000000000000, 'admin');
             INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs) VALUES ('s1', 1, 'batch', {a}, 5, {z}, {p});
             INSERT INTO changes(space_id, hash, entity_id, seq, idx, bytes) VALUES ('s1', {h}, '{e}', 1, 0, {b});
             INSERT INTO entities(space_id, id, kind, audience) VALUES ('s1', '{e}', 'notice', '{{\"type\":\"draft\",\"notice\":\"{e}\"}}');",
            version_1_schema(),
            z = blob(&[0]),
            a = blob(&[1; 32]),
            p = blob(&pairs),
            h = blob(&[9; 32]),
            e = entity_hex(&[7; 16]),
            b = blob(b"draft change"),
        )
    }

    /// After the upgrade to version 4: an invite written before names no one, and one
    /// written now keeps the person, migrant flag and residence it enrols.
    pub(crate) fn invites_work_after_upgrade(s: &dyn Storage) {
        use cunwu_protocol::wire::control::InviteFor;
        let enrols_of = |code: &str| {
            let mut seen = None;
            s.redeem_invite(code, 1, &mut |inv, _| {
                seen = Some(inv.enrols.clone());
                Ok(())
            })
            .unwrap();
            seen.unwrap()
        };
        assert_eq!(enrols_of("old"), InviteFor::default());
        let enrols = InviteFor {
            person: Some("0a000000000000000000000000000001".into()),
            migrant: true,
            lives_in: Some("东莞".into()),
        };
        s.put_invite(&InviteRecord {
            code_hash: "new".into(),
            space_id: "s1".into(),
            role: cunwu_protocol::Role::Resident,
            household: String::new(),
            group: String::new(),
            expires_at: 9_000_000_000_000_000,
            created_by: "admin".into(),
            enrols: enrols.clone(),
        })
        .unwrap();
        assert_eq!(enrols_of("new"), enrols);
    }

    /// After the upgrade: the old batch reads as before, and publishing the draft
    /// appends a copy of it (the same signed batch, its change read from the original)
    /// before the publishing batch, with the entity's audience widened.
    pub(crate) fn copies_work_after_upgrade(s: &dyn Storage) {
        let e = entity_hex(&[7; 16]);
        let arrivals = |s: &dyn Storage| -> Vec<Option<i64>> {
            s.read_log("s1", 0, 10, &mut |_, _| true)
                .unwrap()
                .into_iter()
                .map(|r| match r {
                    LogRow::Batch { arrived_at, .. } | LogRow::Tally { arrived_at, .. } => {
                        arrived_at
                    }
                })
                .collect()
        };
        let batches = |s: &dyn Storage| -> Vec<(u64, Vec<u8>, Vec<Vec<u8>>)> {
            s.read_log("s1", 0, 10, &mut |_, _| true)
                .unwrap()
                .into_iter()
                .filter_map(|r| match r {
                    LogRow::Batch {
                        seq,
                        signature,
                        changes,
                        ..
                    } => Some((seq, signature, changes.into_iter().map(|c| c.2).collect())),
                    LogRow::Tally { .. } => None,
                })
                .collect()
        };
        assert_eq!(
            batches(s),
            vec![(1, vec![0], vec![b"draft change".to_vec()])]
        );
        let public = r#"{"type":"space"}"#.to_string();
        let seq = s
            .append_batch(
                "s1",
                &LogBatch {
                    author: [1; 32],
                    signed_at: 6,
                    signature: vec![2],
                    pairs: BatchPairs::new(vec![([7; 16], [8; 32])]),
                    changes: vec![AcceptedChange {
                        entity: e.clone(),
                        hash: [8; 32],
                        bytes: b"publish".to_vec(),
                        new_entity: None,
                    }],
                    opened: vec![(e.clone(), public.clone())],
                    arrived_at: 99,
                    public_changes: 1,
                    public_bytes: 7,
                    blob_refs: vec![],
                },
            )
            .unwrap();
        assert_eq!(seq, 3, "the copy takes seq 2, the publishing batch 3");
        assert_eq!(
            batches(s),
            vec![
                (1, vec![0], vec![b"draft change".to_vec()]),
                (2, vec![0], vec![b"draft change".to_vec()]),
                (3, vec![2], vec![b"publish".to_vec()]),
            ]
        );
        assert_eq!(s.entity("s1", &e).unwrap().unwrap().audience, public);
        assert_eq!(
            arrivals(s),
            vec![None, None, Some(99)],
            "a row from before version 3 has no arrival time; a copy keeps its original's"
        );
        assert_eq!(
            s.remaining("s1", 1).unwrap(),
            cunwu_protocol::wire::Remaining {
                entries: 2,
                changes: 1 + 1,
                bytes: 12 + 7
            },
            "the copy counts the draft's change, public now; the row from before version 3 counts nothing"
        );
        // a tally row carries the totals on
        let tally = s.append_tally("s1", &e, b"{}", &[3]).unwrap();
        assert_eq!(tally, 4);
        assert_eq!(
            s.remaining("s1", 1).unwrap(),
            cunwu_protocol::wire::Remaining {
                entries: 3,
                changes: 2,
                bytes: 19
            }
        );
        assert_eq!(s.remaining("s1", 4).unwrap().changes, 0);
        assert_eq!(
            s.entity_changes("s1", &e).unwrap(),
            vec![b"draft change".to_vec(), b"publish".to_vec()],
            "a copy adds no change rows"
        );
    }

    #[test]
    fn a_version_1_log_is_upgraded_and_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let c = Connection::open(&path).unwrap();
            let hex = |b: &[u8]| format!("X'{}'", hex::encode(b));
            c.execute_batch(&version_1_log(&hex)).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        let v: i64 = s
            .conn
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        copies_work_after_upgrade(&s);
        invites_work_after_upgrade(&s);
    }

    #[test]
    fn a_database_written_by_the_old_schema_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let now = cunwu_protocol::ids::now_ms();
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE spaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, relay_secret BLOB NOT NULL, roster TEXT NOT NULL, next_seq INTEGER NOT NULL DEFAULT 1);
                 CREATE TABLE counters (device TEXT PRIMARY KEY, counter INTEGER NOT NULL);
                 CREATE TABLE roster_sent (device TEXT PRIMARY KEY, version INTEGER NOT NULL);
                 CREATE TABLE nonces (nonce TEXT PRIMARY KEY, at INTEGER NOT NULL);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO spaces(id, name, relay_secret, roster) VALUES ('s1', 'a', X'00', ?1)",
                [old_roster("s1", "d1")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO spaces(id, name, relay_secret, roster) VALUES ('s2', 'b', X'00', ?1)",
                [old_roster("s2", "d2")],
            )
            .unwrap();
            // d1 synced normally; d2's phone once sent a counter five years ahead
            c.execute(
                "INSERT INTO counters VALUES ('d1', ?1), ('d2', ?2), ('gone', 7)",
                [now - 1000, now + 5 * 365 * 86_400_000],
            )
            .unwrap();
            c.execute("INSERT INTO roster_sent VALUES ('d1', 3), ('d2', 2)", [])
                .unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.counter("s1", "d1").unwrap(), (now - 1000) as u64);
        assert_eq!(
            s.counter("s2", "d1").unwrap(),
            0,
            "a counter goes only to the spaces that list the device"
        );
        let d2 = s.counter("s2", "d2").unwrap() as i64;
        assert!(
            d2 <= cunwu_protocol::ids::now_ms() + crate::service::MAX_COUNTER_AHEAD_MS,
            "not lowered: {d2}"
        );
        assert!(
            d2 >= now + crate::service::MAX_COUNTER_AHEAD_MS - 1000,
            "{d2}"
        );
        assert_eq!(s.roster_sent("s1", "d1").unwrap(), 3);
        assert_eq!(s.roster_sent("s2", "d2").unwrap(), 2);
        assert_eq!(s.roster_sent("s1", "d2").unwrap(), 0);
        // the old tables are gone, the version is recorded, the new rules apply
        let c = s.conn.lock();
        let old: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('counters', 'roster_sent')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 0);
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(c);
        assert!(
            !s.advance_counter("s1", "d1", (now - 2000) as u64).unwrap(),
            "migrated counter still protects"
        );
        assert!(s.advance_counter("s1", "d1", now as u64).unwrap());
        drop(s);
        // opening again changes nothing
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.counter("s1", "d1").unwrap(), now as u64);
    }

    /// The attachment tables work on a database upgraded to version 6 whose space `s1`
    /// exists: a batch's references are stored with it, then one blob's piece list,
    /// bytes and holders (both storages).
    pub(crate) fn blobs_work_after_upgrade(s: &dyn Storage) {
        use cunwu_protocol::model::attachment::{PieceList, PIECE_BYTES};
        let bytes: Vec<u8> = (0..PIECE_BYTES + 100).map(|i| (i % 253) as u8).collect();
        let list = PieceList::of(&bytes);
        let hash = list.hash();
        let r = BlobRef {
            entity: "e6".into(),
            hash: hash.clone(),
            author: "m1".into(),
            size: bytes.len() as u64,
            mime: "image/png".into(),
        };
        s.append_batch(
            "s1",
            &LogBatch {
                author: [6; 32],
                signed_at: 6,
                signature: vec![6],
                pairs: BatchPairs::new(vec![([6; 16], [66; 32])]),
                changes: vec![AcceptedChange {
                    entity: "e6".into(),
                    hash: [66; 32],
                    bytes: b"attach".to_vec(),
                    new_entity: None,
                }],
                opened: vec![],
                arrived_at: 6,
                public_changes: 0,
                public_bytes: 0,
                blob_refs: vec![r.clone()],
            },
        )
        .unwrap();
        assert_eq!(s.blob_refs("s1", &hash).unwrap(), vec![r]);
        assert!(s.blob_refs("s2", &hash).unwrap().is_empty(), "per space");
        assert_eq!(s.blob(&hash).unwrap(), None);
        s.put_blob_pieces(&hash, bytes.len() as u64, &list.to_bytes())
            .unwrap();
        // bytes past what is held are refused; the first piece, then the last
        assert!(s
            .append_blob(&hash, PIECE_BYTES as u64, &bytes[PIECE_BYTES..])
            .is_err());
        assert_eq!(
            s.append_blob(&hash, 0, &bytes[..PIECE_BYTES]).unwrap(),
            PIECE_BYTES as u64
        );
        // held already: not written again
        assert_eq!(
            s.append_blob(&hash, 0, &bytes[..PIECE_BYTES]).unwrap(),
            PIECE_BYTES as u64
        );
        let end = s
            .append_blob(&hash, PIECE_BYTES as u64, &bytes[PIECE_BYTES..])
            .unwrap();
        assert_eq!(end, bytes.len() as u64);
        let rec = s.blob(&hash).unwrap().unwrap();
        assert_eq!((rec.size, rec.have), (end, end));
        assert_eq!(rec.pieces.as_deref(), Some(&list.to_bytes()[..]));
        assert_eq!(s.read_blob(&hash, 0, 1 << 20).unwrap(), bytes);
        assert_eq!(
            s.read_blob(&hash, PIECE_BYTES as u64, 10).unwrap(),
            &bytes[PIECE_BYTES..PIECE_BYTES + 10]
        );
        s.set_blob_holder("s1", &hash, "m1", end).unwrap();
        s.set_blob_holder("s1", &hash, "m1", 5).unwrap();
        assert_eq!(
            s.blob_holders("s1", &hash).unwrap(),
            vec![("m1".to_string(), end)],
            "only ever raised"
        );
    }

    /// `begin_reads`: until the scope ends, this thread reads one snapshot, whatever
    /// is committed meanwhile (here through another connection); nested scopes end
    /// with the outermost; a read made while another reader is out still works; after
    /// the scope the thread reads the latest state, and the connection is pooled again
    /// with no transaction open.
    #[test]
    fn reads_in_a_scope_see_one_snapshot_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let s = SqliteStorage::open(&path).unwrap();
        s.create_space("s1", "青石村", &[7; 32], &Roster::default())
            .unwrap();
        s.append_batch("s1", &one_change_batch(1)).unwrap();
        let other = Connection::open(&path).unwrap();
        other
            .busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let bump = || {
            other
                .execute(
                    "UPDATE spaces SET next_seq = next_seq + 1 WHERE id = 's1'",
                    [],
                )
                .unwrap()
        };
        s.begin_reads().unwrap();
        assert_eq!(s.last_seq("s1").unwrap(), 1);
        bump();
        assert_eq!(s.last_seq("s1").unwrap(), 1, "the snapshot holds");
        s.begin_reads().unwrap();
        {
            let walking = s.reader().unwrap();
            // another read while the snapshot's connection is out: the latest state
            assert_eq!(s.last_seq("s1").unwrap(), 2);
            drop(walking);
        }
        s.end_reads();
        assert_eq!(s.last_seq("s1").unwrap(), 1, "the outer scope still holds");
        s.end_reads();
        assert_eq!(s.last_seq("s1").unwrap(), 2, "the scope ended");
        bump();
        assert_eq!(s.last_seq("s1").unwrap(), 3);
        for c in s.readers.lock().iter() {
            assert!(c.is_autocommit(), "a pooled reader has no transaction open");
        }
        SNAPSHOTS.with_borrow(|v| assert!(v.is_empty()));
    }

    /// The planner, without statistics, is free to answer a lookup of one log row by
    /// walking every row of the space through an index on `space_id` alone: a cost
    /// that grows with the village on every append (`ROW_AUDIENCES`, once per batch)
    /// and every tally check (`TALLIED`). Each of them must search on more than the
    /// space.
    #[test]
    fn lookups_of_one_row_do_not_walk_the_whole_space() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("r.db")).unwrap();
        let c = s.conn.lock();
        for sql in [ROW_AUDIENCES, TALLIED] {
            let n = sql.matches('?').count();
            let plan: Vec<String> = c
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(vec![1; n]), |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(
                plan.iter()
                    .filter(|p| p.starts_with("SEARCH") || p.starts_with("SCAN"))
                    .all(|p| p.starts_with("SEARCH") && !p.ends_with("(space_id=?)")),
                "{sql}\nis planned as {plan:?}"
            );
        }
    }

    /// A database written by version 5 (no attachment tables) is upgraded to 6 and
    /// its attachment tables work.
    #[test]
    fn a_version_5_database_gets_the_attachment_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&schema_v7()).unwrap();
            c.execute(
                "INSERT INTO spaces(id, name, relay_secret, roster, epoch) VALUES ('s1', 'a', X'00', ?1, 5)",
                [&old_roster("s1", "d1")],
            )
            .unwrap();
            c.pragma_update(None, "user_version", 5).unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        let v: i64 = s
            .conn
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        blobs_work_after_upgrade(&s);
        assert!(
            blob_dir_of(&path).is_dir(),
            "bytes live beside the database"
        );
    }

    /// The rows of a log as version 6 wrote it (no read index), after its tables, in
    /// the dialect `blob` writes a byte string in. Space `s1`: 1 a request of `m2`, 2 a
    /// staff note, 3 a draft notice published since (its audience is `space` now), 4
    /// its copy, 5 a tally of a party deliberation, 6 a ballot only `m3` reads.
    pub(crate) fn version_6_log(blob: &dyn Fn(&[u8]) -> String) -> String {
        let audiences = [
            r#"{"type":"request","filer":"m2","filed_by":null}"#,
            r#"{"type":"staff"}"#,
            r#"{"type":"space"}"#,
            r#"{"type":"party"}"#,
            r#"{"type":"voter","member":"m3"}"#,
        ];
        let mut sql = format!(
            "INSERT INTO spaces(id, name, relay_secret, roster, next_seq, epoch) VALUES ('s1', 'a', {z}, '{r}', 7, 5);\n",
            z = blob(&[0]),
            r = old_roster("s1", "d1"),
        );
        for (i, a) in audiences.iter().enumerate() {
            let n = i as u8 + 1;
            let e = entity_hex(&[n; 16]);
            sql += &format!(
                "INSERT INTO entities(space_id, id, kind, audience) VALUES ('s1', '{e}', 'x', '{a}');\n"
            );
            // entity 4 (the deliberation) has its tally at 5, entity 5 its ballot at 6
            let seq = [1, 2, 3, 0, 6][i];
            if seq > 0 {
                let pairs = BatchPairs::new(vec![([n; 16], [n; 32])]).to_bytes();
                sql += &format!(
                    "INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs) VALUES ('s1', {seq}, 'batch', {a}, 5, {z}, {p});
                     INSERT INTO changes(space_id, hash, entity_id, seq, idx, bytes) VALUES ('s1', {h}, '{e}', {seq}, 0, {b});\n",
                    a = blob(&[1; 32]),
                    z = blob(&[0]),
                    p = blob(&pairs),
                    h = blob(&[n; 32]),
                    b = blob(b"c"),
                );
            }
        }
        sql += &format!(
            "INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs, copy_of) SELECT space_id, 4, type, author, signed_at, signature, pairs, 3 FROM log WHERE space_id = 's1' AND seq = 3;
             INSERT INTO log(space_id, seq, type, signature, deliberation, tally_json) VALUES ('s1', 5, 'tally', {z}, '{d}', {t});\n",
            z = blob(&[0]),
            d = entity_hex(&[4; 16]),
            t = blob(b"{}"),
        );
        sql
    }

    /// After the upgrade to version 7: the rows written before are in the read index
    /// under their documents' audiences (the published draft and its copy under
    /// `space`, the tally under its deliberation's), and new rows are filed as they are
    /// appended (both storages).
    pub(crate) fn read_index_works_after_upgrade(s: &dyn Storage) {
        let keys: Vec<String> = ["space", "staff", "m:m2", "party", "m:m3", "m:m9"]
            .map(String::from)
            .into();
        assert_eq!(
            s.reader_seqs("s1", &keys, 0, 10).unwrap(),
            vec![vec![3, 4], vec![1, 2, 5], vec![1], vec![5], vec![6], vec![]],
            "the index of the log written before"
        );
        assert_eq!(
            s.reader_seqs("s1", &keys[1..2], 1, 1).unwrap(),
            vec![vec![2]],
            "after a cursor, up to a limit"
        );
        let seq = s
            .append_batch(
                "s1",
                &LogBatch {
                    author: [2; 32],
                    signed_at: 7,
                    signature: vec![7],
                    pairs: BatchPairs::new(vec![([7; 16], [7; 32])]),
                    changes: vec![AcceptedChange {
                        entity: entity_hex(&[7; 16]),
                        hash: [7; 32],
                        bytes: b"file".to_vec(),
                        new_entity: Some(EntityRecord {
                            kind: "request".into(),
                            audience: r#"{"type":"request","filer":"m9","filed_by":"m2"}"#.into(),
                            ref_id: None,
                        }),
                    }],
                    opened: vec![],
                    arrived_at: 7,
                    public_changes: 0,
                    public_bytes: 0,
                    blob_refs: vec![],
                },
            )
            .unwrap();
        assert_eq!(seq, 7);
        let tally = s
            .append_tally("s1", &entity_hex(&[4; 16]), b"{}", &[8])
            .unwrap();
        assert_eq!(tally, 8);
        assert_eq!(
            s.reader_seqs("s1", &keys, 6, 10).unwrap(),
            vec![vec![], vec![7, 8], vec![7], vec![8], vec![], vec![7]],
            "a new request is filed for staff, its filer and whoever filed it; a tally as its deliberation"
        );
        let rows = s.read_log_at("s1", &[1, 5, 7], &mut |_, _| true).unwrap();
        let seqs: Vec<u64> = rows
            .iter()
            .map(|r| match r {
                LogRow::Batch { seq, .. } | LogRow::Tally { seq, .. } => *seq,
            })
            .collect();
        assert_eq!(seqs, vec![1, 5, 7]);
        assert!(
            matches!(&rows[2], LogRow::Batch { changes, .. } if changes[0].2 == b"file"),
            "{:?}",
            rows[2]
        );
    }

    /// After the upgrade to version 8: the roster written before (version 3, device d1)
    /// is served from `rosters` and `spaces` holds none; a roster change made through
    /// another connection to the file (the admin commands, or a second process) is
    /// seen by the next read of a storage that cached the old one, and a change that
    /// does not raise the version is refused.
    pub(crate) fn rosters_work_after_upgrade(s: &dyn Storage, other: &dyn Storage) {
        let r = s.space("s1").unwrap().expect("the space").roster;
        assert_eq!(r.version, 3, "the roster moved with its version");
        assert_eq!(r.devices[0].key, "d1", "the roster moved whole");
        let before = r.as_ref().clone();
        other
            .update_roster("s1", &mut |roster| {
                roster.devices[0].revoked_at_seq = Some(1);
                roster.record_change(&before);
                Ok(())
            })
            .unwrap();
        let r = s.space("s1").unwrap().unwrap().roster;
        assert_eq!(
            (r.version, r.devices[0].revoked_at_seq),
            (4, Some(1)),
            "a roster changed elsewhere is not served stale"
        );
        let e = s
            .update_roster("s1", &mut |roster| {
                roster.devices[0].revoked_at_seq = None;
                Ok(())
            })
            .expect_err("a change that keeps the version");
        assert!(e.to_string().contains("must have a version above"), "{e}");
        assert_eq!(
            s.space("s1").unwrap().unwrap().roster.devices[0].revoked_at_seq,
            Some(1)
        );
    }

    /// An SQLite database of schema `version` (6 or 7: `schema_v7()` and `tables`)
    /// holding `version_6_log`.
    fn write_version_6_log(path: &Path, tables: &[&str], version: i64) {
        let c = Connection::open(path).unwrap();
        let hex = |b: &[u8]| format!("X'{}'", hex::encode(b));
        c.execute_batch(&format!(
            "{}{}{}",
            schema_v7(),
            tables.concat(),
            version_6_log(&hex)
        ))
        .unwrap();
        c.pragma_update(None, "user_version", version).unwrap();
    }

    /// A database written by version 7 (the roster in the `spaces` row) is upgraded to
    /// 8: the roster moves to `rosters`, and the column leaves `spaces`.
    #[test]
    fn a_version_7_database_moves_its_rosters_out_of_the_spaces_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        write_version_6_log(&path, &[BLOB_SCHEMA, READ_INDEX_SCHEMA], 7);
        let s = SqliteStorage::open(&path).unwrap();
        let other = SqliteStorage::open(&path).unwrap();
        {
            let c = s.conn.lock();
            assert!(
                !has_column(&c, "spaces", "roster").unwrap(),
                "the column is gone"
            );
            let v: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, SCHEMA_VERSION);
        }
        rosters_work_after_upgrade(&s, &other);
        // the database rolled back (a snapshot) to another roster of version 4: the
        // row's stamp differs, so it is read again, though the version is the same
        let mut back = s.space("s1").unwrap().unwrap().roster.as_ref().clone();
        back.devices[0].revoked_at_seq = Some(2);
        Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE rosters SET roster = ?1, stamp = stamp + 1 WHERE space_id = 's1'",
                [roster_json(&back)],
            )
            .unwrap();
        let r = s.space("s1").unwrap().unwrap().roster;
        assert_eq!(
            (r.version, r.devices[0].revoked_at_seq),
            (4, Some(2)),
            "another roster of the same version is not served stale"
        );
        read_index_works_after_upgrade(&s);
    }

    /// A database written by version 6 (no read index) is upgraded to 7: its log is
    /// indexed and new rows are filed as they are appended.
    #[test]
    fn a_version_6_database_gets_the_read_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        write_version_6_log(&path, &[BLOB_SCHEMA], 6);
        let s = SqliteStorage::open(&path).unwrap();
        let v: i64 = s
            .conn
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        read_index_works_after_upgrade(&s);
        // opening again does not index the log twice
        drop(s);
        let s = SqliteStorage::open(&path).unwrap();
        let n: i64 = s
            .conn
            .lock()
            .query_row("SELECT count(*) FROM log_readers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            n, 13,
            "8 keys for the 6 rows written before, 5 for the 2 after"
        );
    }

    /// Rows a relay older than version 7 appended to a version-7 database (a node not yet
    /// upgraded, a binary rolled back) are in no index row: the next open files them
    /// (here the one that upgrades it to version 8), or readers would never be shown
    /// them. A database of a newer version is refused.
    #[test]
    fn rows_an_older_relay_appended_are_filed_when_a_newer_one_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        write_version_6_log(&path, &[BLOB_SCHEMA, READ_INDEX_SCHEMA], 7);
        let s = SqliteStorage::open(&path).unwrap();
        read_index_works_after_upgrade(&s);
        drop(s);
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        let e = SqliteStorage::open(&path)
            .err()
            .expect("a newer database is refused");
        assert!(e.to_string().contains("newer than this relay's"), "{e}");
    }

    /// A draft is filed for staff and the committee's superset; when it is published,
    /// its copy and the original are filed under `space` too, so a resident whose
    /// cursor is before either reads it.
    #[test]
    fn publishing_a_draft_files_its_batches_for_everyone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let s = SqliteStorage::open(&path).unwrap();
        s.create_space("s1", "a", &[0], &Roster::default()).unwrap();
        let e = entity_hex(&[3; 16]);
        let batch =
            |hash: u8, new_entity: Option<EntityRecord>, opened: Vec<(String, String)>| LogBatch {
                author: [1; 32],
                signed_at: 1,
                signature: vec![1],
                pairs: BatchPairs::new(vec![([3; 16], [hash; 32])]),
                changes: vec![AcceptedChange {
                    entity: e.clone(),
                    hash: [hash; 32],
                    bytes: vec![hash],
                    new_entity,
                }],
                opened,
                arrived_at: 1,
                public_changes: 0,
                public_bytes: 0,
                blob_refs: vec![],
            };
        let draft = format!(r#"{{"type":"draft","notice":"{e}"}}"#);
        s.append_batch(
            "s1",
            &batch(
                1,
                Some(EntityRecord {
                    kind: "notice".into(),
                    audience: draft,
                    ref_id: None,
                }),
                vec![],
            ),
        )
        .unwrap();
        let keys: Vec<String> = ["space", "staff", "person"].map(String::from).into();
        assert_eq!(
            s.reader_seqs("s1", &keys, 0, 10).unwrap(),
            vec![vec![], vec![1], vec![1]]
        );
        let publish = s
            .append_batch(
                "s1",
                &batch(2, None, vec![(e.clone(), r#"{"type":"space"}"#.into())]),
            )
            .unwrap();
        assert_eq!(publish, 3, "the copy at 2, the publishing batch at 3");
        assert_eq!(
            s.reader_seqs("s1", &keys, 0, 10).unwrap(),
            vec![vec![1, 2, 3], vec![1], vec![1]]
        );
    }

    /// Bytes written to a blob file but never committed (a relay killed between the
    /// write and the commit of `have`) are cut off when the relay opens the database.
    #[test]
    fn a_blob_file_longer_than_what_was_committed_is_cut_back_on_open() {
        use cunwu_protocol::model::attachment::{PieceList, PIECE_BYTES};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let bytes: Vec<u8> = (0..3 * PIECE_BYTES).map(|i| (i % 241) as u8).collect();
        let list = PieceList::of(&bytes);
        let hash = list.hash();
        {
            let s = SqliteStorage::open(&path).unwrap();
            s.put_blob_pieces(&hash, bytes.len() as u64, &list.to_bytes())
                .unwrap();
            s.append_blob(&hash, 0, &bytes[..PIECE_BYTES]).unwrap();
        }
        // what a kill after the write and before the commit leaves: a longer file
        let file = blob_file(&blob_dir_of(&path), &hash);
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            f.write_all(&bytes[PIECE_BYTES..PIECE_BYTES + 5000])
                .unwrap();
        }
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            PIECE_BYTES as u64 + 5000
        );
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            PIECE_BYTES as u64,
            "cut back to the committed have"
        );
        assert_eq!(s.blob(&hash).unwrap().unwrap().have, PIECE_BYTES as u64);
        s.append_blob(
            &hash,
            PIECE_BYTES as u64,
            &bytes[PIECE_BYTES..2 * PIECE_BYTES],
        )
        .unwrap();
        assert_eq!(
            s.read_blob(&hash, 0, 1 << 20).unwrap(),
            &bytes[..2 * PIECE_BYTES]
        );
    }

    /// `backup` and `restore` carry the attachment files beside the database.
    #[test]
    fn backups_and_restores_carry_the_attachment_bytes() {
        use cunwu_protocol::model::attachment::PieceList;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let bytes: Vec<u8> = (0..100_000).map(|i| (i % 239) as u8).collect();
        let list = PieceList::of(&bytes);
        let hash = list.hash();
        {
            let s = SqliteStorage::open(&path).unwrap();
            s.put_blob_pieces(&hash, bytes.len() as u64, &list.to_bytes())
                .unwrap();
            s.append_blob(&hash, 0, &bytes).unwrap();
        }
        let out = dir.path().join("backup.db");
        backup(&path, &out).unwrap();
        assert!(blob_file(&blob_dir_of(&out), &hash).is_file());
        let restored = dir.path().join("elsewhere.db");
        restore_file(&out, &restored).unwrap();
        let s = SqliteStorage::open(&restored).unwrap();
        assert_eq!(s.read_blob(&hash, 0, 1 << 20).unwrap(), bytes);
    }

    /// The tables as a version-3 relay wrote them: no `spaces.epoch`.
    pub(crate) fn version_3_schema() -> String {
        let v7 = schema_v7();
        let v3 = v7.replace(",\n    epoch INTEGER NOT NULL DEFAULT 0", "");
        assert_ne!(v3, v7, "the epoch column is where this test expects it");
        v3
    }

    /// `SCHEMA` as it was before version 8: the roster in the `spaces` row.
    pub(crate) fn schema_v7() -> String {
        let v7 = SCHEMA.replace(
            "relay_secret BLOB NOT NULL, next_seq",
            "relay_secret BLOB NOT NULL, roster TEXT NOT NULL, next_seq",
        );
        assert_ne!(v7, SCHEMA, "the spaces table is as this test expects it");
        v7
    }

    fn epochs(s: &SqliteStorage) -> Vec<u64> {
        ["s1", "s2"]
            .iter()
            .map(|id| s.space(id).unwrap().unwrap().epoch)
            .collect()
    }

    #[test]
    fn a_version_3_database_gets_an_epoch_per_space_and_restores_renew_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&version_3_schema()).unwrap();
            for id in ["s1", "s2"] {
                c.execute(
                    "INSERT INTO spaces(id, name, relay_secret, roster) VALUES (?1, 'a', X'00', ?2)",
                    [id, &old_roster(id, "d1")],
                )
                .unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        let v: i64 = s
            .conn
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let first = epochs(&s);
        assert!(
            first.iter().all(|e| *e > 0) && first[0] != first[1],
            "{first:?}"
        );
        drop(s);
        // opening again keeps them
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(epochs(&s), first);
        // a new space gets one too
        s.create_space(
            "s3",
            "c",
            &[0],
            &parse_roster(&old_roster("s3", "d3")).unwrap(),
        )
        .unwrap();
        assert!(s.space("s3").unwrap().unwrap().epoch > 0);
        // a backup is the same log under new epochs, and so is a restore of it
        s.append_tally("s1", "e1", b"{}", &[1]).unwrap();
        let copy = dir.path().join("copy.db");
        assert!(backup(&path, &copy).unwrap() > 0);
        assert!(
            backup(&path, &copy).is_err(),
            "a backup never overwrites a file"
        );
        let b = SqliteStorage::open(&copy).unwrap();
        assert_eq!(b.last_seq("s1").unwrap(), 1);
        let backed = epochs(&b);
        assert!(backed.iter().zip(&first).all(|(b, f)| b != f && *b > 0));
        drop(b);
        s.append_tally("s1", "e1", b"{}", &[2]).unwrap();
        assert_eq!(s.last_seq("s1").unwrap(), 2);
        drop(s);
        restore_file(&copy, &path).unwrap();
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.last_seq("s1").unwrap(), 1, "the log as it was backed up");
        assert_eq!(epochs(&s), backed);
        s.renew_epochs().unwrap();
        let renewed = epochs(&s);
        assert!(renewed.iter().zip(&backed).all(|(r, b)| r != b && *r > 0));
    }

    #[test]
    fn a_backup_made_while_the_log_grows_is_one_consistent_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.db");
        let s = std::sync::Arc::new(SqliteStorage::open(&path).unwrap());
        s.create_space(
            "s1",
            "a",
            &[0],
            &parse_roster(&old_roster("s1", "d1")).unwrap(),
        )
        .unwrap();
        let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let writer = {
            let (s, writing) = (s.clone(), writing.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while writing.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                    s.append_tally("s1", "e1", &[7; 2048], &[1]).unwrap();
                    n += 1;
                }
                n
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(30));
        let mut copies = vec![];
        for i in 0..3 {
            let out = dir.path().join(format!("b{i}.db"));
            backup(&path, &out).unwrap();
            copies.push(out);
        }
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        let written = writer.join().unwrap();
        for c in &copies {
            let conn = Connection::open(c).unwrap();
            let ok: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
            // the log end the space records is exactly the rows the log holds
            let (end, rows, max): (i64, i64, i64) = conn
                .query_row(
                    "SELECT (SELECT next_seq - 1 FROM spaces WHERE id = 's1'), count(*), coalesce(max(seq), 0) FROM log",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            assert_eq!((end, rows), (max, max), "{}", c.display());
            assert!(max <= written as i64);
        }
    }

    /// Appends that arrive together are committed in one transaction (one fsync), each
    /// returns only after that commit, and one that fails fails alone.
    #[test]
    fn appends_that_arrive_together_share_one_commit() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.db");
        let s = std::sync::Arc::new(SqliteStorage::open(&path).unwrap());
        let spaces: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        for id in &spaces {
            s.create_space(id, "a", &[0], &parse_roster(&old_roster(id, "d1")).unwrap())
                .unwrap();
        }
        let batch = one_change_batch;
        let commits = s.group.commits.load(Relaxed);
        // the writer connection is busy (a transaction being written): eight syncs of
        // eight spaces, and one of a space that does not exist, arrive meanwhile
        let busy = s.conn.lock();
        let mut threads = vec![];
        for (i, id) in spaces
            .iter()
            .cloned()
            .chain(["nowhere".to_string()])
            .enumerate()
        {
            let (s, b) = (s.clone(), batch(i as u8 + 1));
            threads.push(std::thread::spawn(move || s.append_batch(&id, &b)));
        }
        let t = std::time::Instant::now();
        while s.group.queued() < 9 {
            assert!(t.elapsed().as_secs() < 20, "the appends did not queue");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(
            threads.iter().all(|t| !t.is_finished()),
            "nothing is acknowledged before its commit"
        );
        drop(busy);
        let results: Vec<Result<u64>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            s.group.commits.load(Relaxed) - commits,
            1,
            "one transaction"
        );
        for r in &results[..8] {
            assert_eq!(*r.as_ref().unwrap(), 1, "{results:?}");
        }
        assert!(results[8].is_err(), "{results:?}");
        drop(s);
        // durable, each in its own space
        let s = SqliteStorage::open(&path).unwrap();
        for (i, id) in spaces.iter().enumerate() {
            assert_eq!(s.last_seq(id).unwrap(), 1);
            assert!(s.has_change(id, &[i as u8 + 1; 32]).unwrap());
            assert!(!s.has_change(id, &[i as u8 + 2; 32]).unwrap());
        }
    }

    #[test]
    fn counters_of_devices_that_may_no_longer_sync_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("p.db")).unwrap();
        let mut roster = parse_roster(&old_roster("s1", "live")).unwrap();
        let mut gone = roster.devices[0].clone();
        gone.key = "revoked".into();
        gone.revoked_at_seq = Some(4);
        roster.devices.push(gone);
        s.create_space("s1", "a", &[0], &roster).unwrap();
        for d in ["live", "revoked", "stranger"] {
            assert!(s.advance_counter("s1", d, 10).unwrap());
            s.set_roster_sent("s1", d, 3).unwrap();
        }
        assert!(s.advance_counter("nowhere", "live", 10).unwrap());
        assert_eq!(s.prune_counters().unwrap(), 2 * 2 + 1);
        assert_eq!(
            s.counter("s1", "live").unwrap(),
            10,
            "an active device keeps its counter"
        );
        assert_eq!(s.roster_sent("s1", "live").unwrap(), 3);
        for d in ["revoked", "stranger"] {
            assert_eq!(s.counter("s1", d).unwrap(), 0);
            assert_eq!(s.roster_sent("s1", d).unwrap(), 0);
        }
        assert_eq!(s.counter("nowhere", "live").unwrap(), 0);
        assert_eq!(s.prune_counters().unwrap(), 0);
        assert!(
            !s.advance_counter("s1", "live", 10).unwrap(),
            "the kept counter still refuses a replay"
        );
    }

    #[test]
    fn counters_and_roster_floors_are_per_space() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("r.db")).unwrap();
        assert!(s.advance_counter("a", "k", 100).unwrap());
        assert!(
            s.advance_counter("b", "k", 50).unwrap(),
            "space b has its own counter"
        );
        assert!(!s.advance_counter("a", "k", 100).unwrap());
        assert_eq!(
            (s.counter("a", "k").unwrap(), s.counter("b", "k").unwrap()),
            (100, 50)
        );
        s.set_roster_sent("a", "k", 5).unwrap();
        s.set_roster_sent("a", "k", 4).unwrap();
        assert_eq!(
            (
                s.roster_sent("a", "k").unwrap(),
                s.roster_sent("b", "k").unwrap()
            ),
            (5, 0)
        );
        // a counter beyond i64 is stored as the largest one, never wrapped negative
        assert!(s.advance_counter("c", "k", u64::MAX).unwrap());
        assert_eq!(s.counter("c", "k").unwrap(), i64::MAX as u64);
    }
}
