//! Relay storage in PostgreSQL, for several relay processes serving the same spaces
//! behind a load balancer (`cunwu-relay serve --db postgres://…`). The same `Storage`
//! operations and tables as the SQLite file (`db.rs`), with two differences that let
//! relay nodes share a database:
//!
//! - `lock_space` takes a session advisory lock on the space, held while a relay checks
//!   and appends a sync's changes: log positions are handed out and committed in order
//!   across nodes, so a reader that sees position N has every position before it.
//! - The relay's in-memory document cache is checked against the log end after the
//!   lock is taken (`service.rs`), so a node never judges a change against a document
//!   another node has since extended.
//!
//! Connections come from a small pool; each write method is one transaction.

use crate::db::{
    counter_sql, invite_usable, parse_roster, roster_json, BlobRecord, BlobRef, EntityRecord,
    InviteRecord, LogBatch, LogRow, Result, RosterCache, SpaceGuard, SpaceRecord, Storage,
};
use crate::error::RelayError;
use crate::group::GroupCommit;
use cunwu_protocol::roster::Roster;
use cunwu_protocol::wire::{entity_hex, BatchPairs};
use parking_lot::Mutex;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// The same tables as the SQLite storage (`db::SCHEMA`, the one place they are
/// defined), in PostgreSQL's types: 64-bit integers, BYTEA, no `WITHOUT ROWID`.
fn schema() -> String {
    let pg = dialect;
    format!(
        "{}{}{BLOB_PIECES}{}{}",
        pg(crate::db::SCHEMA),
        pg(crate::db::BLOB_SCHEMA),
        pg(crate::db::READ_INDEX_SCHEMA),
        pg(crate::db::ROSTER_SCHEMA)
    )
}

/// SQLite's table definitions in PostgreSQL's words.
fn dialect(sql: &str) -> String {
    sql.replace("INTEGER", "BIGINT")
        .replace("BLOB", "BYTEA")
        .replace(") WITHOUT ROWID;", ");")
}

/// A query written for SQLite and shared (`db::ROW_AUDIENCES`, `db::TALLIED`) as
/// PostgreSQL reads it: without SQLite's index hints (PostgreSQL plans from its
/// statistics) and with `$N` parameters.
fn query_dialect(sql: &str) -> String {
    let mut words = vec![];
    let mut it = sql.split_whitespace();
    while let Some(w) = it.next() {
        if w == "INDEXED" {
            // "INDEXED BY <index>"
            it.next();
            it.next();
        } else {
            words.push(w);
        }
    }
    let mut sql = words.join(" ");
    for n in (1..10).rev() {
        sql = sql.replace(&format!("?{n}"), &format!("${n}"));
    }
    sql
}

/// `db::ROW_AUDIENCES` and `db::TALLIED` as PostgreSQL reads them.
static ROW_AUDIENCES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| query_dialect(crate::db::ROW_AUDIENCES));
static TALLIED: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| query_dialect(crate::db::TALLIED));

/// Attachment bytes in PostgreSQL: one row per verified piece, in the database every
/// relay node reaches (the SQLite relay keeps them in files beside its database).
const BLOB_PIECES: &str = "
CREATE TABLE IF NOT EXISTS blob_pieces (
    hash TEXT NOT NULL, piece BIGINT NOT NULL, bytes BYTEA NOT NULL, PRIMARY KEY (hash, piece)
);
";

/// A fresh epoch in PostgreSQL: random, 1 to 2^53 (as `db::NEW_EPOCH` in SQLite).
const NEW_EPOCH: &str = "(floor(random() * 9007199254740991)::bigint + 1)";

/// Bring a database written by an older relay to `db::SCHEMA_VERSION` (the steps are
/// listed there), inside the transaction that holds `SCHEMA_LOCK`.
fn migrate(tx: &mut Transaction<'_>, now: i64) -> Result<()> {
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .map_err(pg)?;
    let version: i64 = tx
        .query_one("SELECT COALESCE(max(version), 0) FROM schema_version", &[])
        .map_err(pg)?
        .get(0);
    if version > crate::db::SCHEMA_VERSION {
        return Err(crate::db::newer_schema(version));
    }
    if version == crate::db::SCHEMA_VERSION {
        let filed = fill_read_index(tx)?;
        if filed > 0 {
            tracing::warn!(
                rows = filed,
                "log rows an older relay appended were filed in the read index"
            );
        }
        return Ok(());
    }
    let exists = |tx: &mut Transaction<'_>, t: &str| -> Result<bool> {
        Ok(tx
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&t])
            .map_err(pg)?
            .get(0))
    };
    let mut moved = false;
    if version < 1 {
        if exists(tx, "counters")? {
            moved = true;
            tx.execute(
                "INSERT INTO sync_counters(space_id, device, counter)
                 SELECT s.id, c.device, LEAST(c.counter, $1) FROM counters c
                 JOIN spaces s ON true JOIN LATERAL jsonb_array_elements(s.roster::jsonb -> 'devices') d ON d ->> 'key' = c.device
                 ON CONFLICT DO NOTHING",
                &[&(now + crate::service::MAX_COUNTER_AHEAD_MS)],
            )
            .map_err(pg)?;
            tx.batch_execute("DROP TABLE counters").map_err(pg)?;
        }
        if exists(tx, "roster_sent")? {
            moved = true;
            tx.execute(
                "INSERT INTO roster_floors(space_id, device, version)
                 SELECT s.id, r.device, r.version FROM roster_sent r
                 JOIN spaces s ON true JOIN LATERAL jsonb_array_elements(s.roster::jsonb -> 'devices') d ON d ->> 'key' = r.device
                 ON CONFLICT DO NOTHING",
                &[],
            )
            .map_err(pg)?;
            tx.batch_execute("DROP TABLE roster_sent").map_err(pg)?;
        }
    }
    if version < 2 {
        let has: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'log' AND column_name = 'copy_of' AND table_schema = current_schema())",
                &[],
            )
            .map_err(pg)?
            .get(0);
        if !has {
            moved = true;
            tx.batch_execute(&crate::db::ADD_COPY_OF.replace("INTEGER", "BIGINT"))
                .map_err(pg)?;
        }
    }
    if version < 3 {
        let has: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'log' AND column_name = 'arrived_at' AND table_schema = current_schema())",
                &[],
            )
            .map_err(pg)?
            .get(0);
        if !has {
            moved = true;
            tx.batch_execute(&crate::db::ADD_ARRIVED_AT.replace("INTEGER", "BIGINT"))
                .map_err(pg)?;
        }
    }
    if version < 4 {
        let has: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'spaces' AND column_name = 'epoch' AND table_schema = current_schema())",
                &[],
            )
            .map_err(pg)?
            .get(0);
        if !has {
            tx.batch_execute(&crate::db::ADD_EPOCH.replace("INTEGER", "BIGINT"))
                .map_err(pg)?;
        }
        moved = true;
        tx.execute(
            &format!("UPDATE spaces SET epoch = {NEW_EPOCH} WHERE epoch = 0"),
            &[],
        )
        .map_err(pg)?;
    }
    if version < 5 {
        let has: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'invites' AND column_name = 'enrols' AND table_schema = current_schema())",
                &[],
            )
            .map_err(pg)?
            .get(0);
        if !has {
            moved = true;
            tx.batch_execute(crate::db::ADD_ENROLS).map_err(pg)?;
        }
    }
    if version < 6 {
        // the attachment tables are made by `schema()` before this runs
        moved = true;
    }
    if version < 7 {
        // `log_readers` is made by `schema()`; fill it for the log so far
        moved = true;
        tx.batch_execute("DELETE FROM log_readers").map_err(pg)?;
        fill_read_index(tx)?;
    }
    if version >= 7 {
        // rows an older relay appended meanwhile (as on every open)
        fill_read_index(tx)?;
    }
    if version < 8 {
        let has: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'spaces' AND column_name = 'roster' AND table_schema = current_schema())",
                &[],
            )
            .map_err(pg)?
            .get(0);
        if has {
            // `rosters` is made by `schema()`
            moved = true;
            tx.batch_execute(
                &crate::db::MOVE_ROSTERS
                    .replace(
                        "json_extract(roster, '$.version')",
                        "(roster::jsonb ->> 'version')::bigint",
                    )
                    .replace(crate::db::NEW_EPOCH, NEW_EPOCH),
            )
            .map_err(pg)?;
        }
    }
    tx.execute("DELETE FROM schema_version", &[]).map_err(pg)?;
    tx.execute(
        "INSERT INTO schema_version(version) VALUES ($1)",
        &[&crate::db::SCHEMA_VERSION],
    )
    .map_err(pg)?;
    if moved {
        tracing::info!(
            from = version,
            to = crate::db::SCHEMA_VERSION,
            "relay database migrated"
        );
    }
    Ok(())
}

/// Serializes schema creation when several relay nodes start at once.
const SCHEMA_LOCK: i64 = 0x6375_6e77_7500_0001;

/// File in the read index every log row filed under no key (`db::FILL_READ_INDEX`; on
/// every open, for rows a relay older than version 7 appended); returns how many index
/// rows were written.
fn fill_read_index(tx: &mut Transaction<'_>) -> Result<u64> {
    tx.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS audience_readers (audience TEXT NOT NULL, reader TEXT NOT NULL) ON COMMIT DROP;
         DELETE FROM audience_readers;",
    )
    .map_err(pg)?;
    let audiences: Vec<String> = tx
        .query("SELECT DISTINCT audience FROM entities", &[])
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ins = tx
        .prepare("INSERT INTO audience_readers(audience, reader) VALUES ($1, $2)")
        .map_err(pg)?;
    for a in audiences {
        for k in crate::db::index_keys_of([a.clone()]) {
            tx.execute(&ins, &[&a, &k]).map_err(pg)?;
        }
    }
    tx.execute(crate::db::FILL_READ_INDEX, &[]).map_err(pg)
}

fn pg(e: postgres::Error) -> RelayError {
    use postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::READ_ONLY_SQL_TRANSACTION => {
            crate::error::full(format!("postgresql: {e}"))
        }
        _ => RelayError::Storage(format!("postgresql: {e}")),
    }
}

pub struct PgStorage {
    url: String,
    pool: Arc<Mutex<Vec<Pooled>>>,
    rosters: RosterCache,
    /// Log appends of syncs that arrive together, one transaction for them all.
    group: GroupCommit<(String, LogBatch)>,
}

/// A connection and the statements prepared on it, keyed by their SQL text: each is
/// prepared (one round trip, one parse on the server) the first time this connection
/// runs it, then only bound and executed. The SQL text of this file never carries
/// values (they are parameters), so the cache holds a fixed set; a connection that
/// broke is dropped with its statements.
struct Pooled {
    client: Client,
    statements: Statements,
}

#[derive(Default)]
struct Statements {
    by_sql: HashMap<String, Statement>,
    /// Statements prepared on this connection (tests).
    prepared: u64,
}

impl Statements {
    fn get(
        &mut self,
        c: &mut impl GenericClient,
        sql: &str,
    ) -> std::result::Result<Statement, postgres::Error> {
        if let Some(st) = self.by_sql.get(sql) {
            return Ok(st.clone());
        }
        let st = c.prepare(sql)?;
        self.prepared += 1;
        self.by_sql.insert(sql.to_string(), st.clone());
        Ok(st)
    }
}

/// SQL text (prepared once per connection) or a statement already prepared.
trait Sql {
    fn statement(
        &self,
        c: &mut impl GenericClient,
        cache: &mut Statements,
    ) -> std::result::Result<Statement, postgres::Error>;
}

impl Sql for str {
    fn statement(
        &self,
        c: &mut impl GenericClient,
        cache: &mut Statements,
    ) -> std::result::Result<Statement, postgres::Error> {
        cache.get(c, self)
    }
}

impl Sql for String {
    fn statement(
        &self,
        c: &mut impl GenericClient,
        cache: &mut Statements,
    ) -> std::result::Result<Statement, postgres::Error> {
        cache.get(c, self)
    }
}

impl Sql for Statement {
    fn statement(
        &self,
        _: &mut impl GenericClient,
        _: &mut Statements,
    ) -> std::result::Result<Statement, postgres::Error> {
        Ok(self.clone())
    }
}

/// The `postgres` calls this file makes, by the same names, on a connection or a
/// transaction, each through the connection's statement cache.
macro_rules! cached_calls {
    () => {
        fn execute<S: Sql + ?Sized>(
            &mut self,
            sql: &S,
            params: &[&(dyn ToSql + Sync)],
        ) -> std::result::Result<u64, postgres::Error> {
            let (c, cache) = self.parts();
            let st = sql.statement(c, cache)?;
            c.execute(&st, params)
        }

        fn query<S: Sql + ?Sized>(
            &mut self,
            sql: &S,
            params: &[&(dyn ToSql + Sync)],
        ) -> std::result::Result<Vec<Row>, postgres::Error> {
            let (c, cache) = self.parts();
            let st = sql.statement(c, cache)?;
            c.query(&st, params)
        }

        fn query_one<S: Sql + ?Sized>(
            &mut self,
            sql: &S,
            params: &[&(dyn ToSql + Sync)],
        ) -> std::result::Result<Row, postgres::Error> {
            let (c, cache) = self.parts();
            let st = sql.statement(c, cache)?;
            c.query_one(&st, params)
        }

        fn query_opt<S: Sql + ?Sized>(
            &mut self,
            sql: &S,
            params: &[&(dyn ToSql + Sync)],
        ) -> std::result::Result<Option<Row>, postgres::Error> {
            let (c, cache) = self.parts();
            let st = sql.statement(c, cache)?;
            c.query_opt(&st, params)
        }

        /// Prepared once per connection, like every statement here.
        fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
            let (c, cache) = self.parts();
            cache.get(c, sql)
        }

        /// Several statements in one simple query (schema, `SET LOCAL`): not prepared.
        #[allow(dead_code)]
        fn batch_execute(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
            self.parts().0.batch_execute(sql)
        }
    };
}

/// A pooled connection, returned on drop unless it broke.
struct Conn {
    pooled: Option<Pooled>,
    pool: Arc<Mutex<Vec<Pooled>>>,
}

impl Conn {
    fn parts(&mut self) -> (&mut Client, &mut Statements) {
        let p = self.pooled.as_mut().expect("present until drop");
        (&mut p.client, &mut p.statements)
    }

    cached_calls!();

    fn transaction(&mut self) -> std::result::Result<Transaction<'_>, postgres::Error> {
        let (c, statements) = self.parts();
        Ok(Transaction {
            tx: c.transaction()?,
            statements,
        })
    }
}

/// A transaction on a pooled connection, whose statements go through the
/// connection's cache (`postgres::Transaction` under the same method names).
struct Transaction<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut Statements,
}

impl<'a> Transaction<'a> {
    fn parts(&mut self) -> (&mut postgres::Transaction<'a>, &mut Statements) {
        (&mut self.tx, &mut *self.statements)
    }

    cached_calls!();

    /// A savepoint inside this transaction: committed into it, or rolled back alone.
    fn transaction(&mut self) -> std::result::Result<Transaction<'_>, postgres::Error> {
        Ok(Transaction {
            tx: self.tx.transaction()?,
            statements: &mut *self.statements,
        })
    }

    fn commit(self) -> std::result::Result<(), postgres::Error> {
        self.tx.commit()
    }

    fn rollback(self) -> std::result::Result<(), postgres::Error> {
        self.tx.rollback()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(c) = self.pooled.take() {
            let mut pool = self.pool.lock();
            if !c.client.is_closed() && pool.len() < 16 {
                pool.push(c);
            }
        }
    }
}

/// The stored roster of a space, locked for this transaction, with the space's row (a
/// roster change waits for the appends of that space, as it did when the roster was
/// in that row).
fn roster_for_update(tx: &mut Transaction<'_>, space: &str) -> Result<Option<String>> {
    let held = tx
        .query_opt("SELECT 1 FROM spaces WHERE id = $1 FOR UPDATE", &[&space])
        .map_err(pg)?;
    if held.is_none() {
        return Ok(None);
    }
    Ok(tx
        .query_opt(
            "SELECT roster FROM rosters WHERE space_id = $1 FOR UPDATE",
            &[&space],
        )
        .map_err(pg)?
        .map(|r| r.get(0)))
}

/// Store a changed roster of a space, with its version (refused unless raised, as in
/// SQLite: `db::unraised_roster`).
fn put_roster(tx: &mut Transaction<'_>, space: &str, roster: &Roster) -> Result<()> {
    let n = tx
        .execute(
            &format!("UPDATE rosters SET version = $2, stamp = {NEW_EPOCH}, roster = $3 WHERE space_id = $1 AND version < $2"),
            &[&space, &(roster.version as i64), &roster_json(roster)],
        )
        .map_err(pg)?;
    match n {
        1 => Ok(()),
        _ => Err(crate::db::unraised_roster(space, roster.version)),
    }
}

/// The advisory lock key of a space: 64 bits of a hash of its id.
fn space_key(space: &str) -> i64 {
    let h = Sha256::digest(format!("cunwu-space\0{space}").as_bytes());
    i64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
}

/// Whether `db` names a PostgreSQL database rather than an SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl PgStorage {
    /// Connect and create the tables when missing.
    pub fn open(url: &str) -> Result<PgStorage> {
        let s = PgStorage {
            url: url.to_string(),
            pool: Arc::new(Mutex::new(vec![])),
            rosters: RosterCache::default(),
            group: GroupCommit::default(),
        };
        let mut c = s.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map_err(pg)?;
        tx.batch_execute(&schema()).map_err(pg)?;
        migrate(&mut tx, cunwu_protocol::ids::now_ms())?;
        tx.commit().map_err(pg)?;
        drop(c);
        Ok(s)
    }

    fn conn(&self) -> Result<Conn> {
        if let Some(pooled) = self.pool.lock().pop() {
            return Ok(Conn {
                pooled: Some(pooled),
                pool: self.pool.clone(),
            });
        }
        let client = Client::connect(&self.url, NoTls).map_err(|e| {
            RelayError::Storage(format!(
                "cannot connect to PostgreSQL at {}: {e}",
                redact(&self.url)
            ))
        })?;
        Ok(Conn {
            pooled: Some(Pooled {
                client,
                statements: Statements::default(),
            }),
            pool: self.pool.clone(),
        })
    }

    fn append_seq(tx: &mut Transaction<'_>, space: &str) -> Result<i64> {
        let row = tx
            .query_opt(
                "UPDATE spaces SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1",
                &[&space],
            )
            .map_err(pg)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space} on this relay")))?;
        Ok(row.get(0))
    }
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &creds[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

struct AdvisoryLock {
    conn: Option<Conn>,
    key: i64,
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some(mut c) = self.conn.take() {
            if c.execute("SELECT pg_advisory_unlock($1)", &[&self.key])
                .is_err()
            {
                // a connection that could not unlock must not go back to the pool
                if let Some(pooled) = c.pooled.take() {
                    drop(pooled);
                }
            }
        }
    }
}

/// One transaction (one commit, one WAL flush) for the appends that arrived together
/// (`group::GroupCommit`), each in its own savepoint when there are several, so that
/// one that fails fails alone. The appends take the `spaces` rows of their spaces
/// (`append_seq`) in the order of the space ids, so two relay nodes committing groups
/// at once never wait for each other in a cycle; the service's advisory lock of each
/// space (`lock_space`) is held on another connection, which this transaction never
/// waits for.
fn commit_group(c: &mut Conn, jobs: &[(String, LogBatch)]) -> Result<Vec<Result<u64>>> {
    let mut tx = c.transaction().map_err(pg)?;
    if let [(space, batch)] = jobs {
        // alone: no savepoint needed, a failure rolls the transaction back
        let r = append_batch_in(&mut tx, space, batch);
        if r.is_ok() {
            tx.commit().map_err(pg)?;
        }
        return Ok(vec![r]);
    }
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|a, b| jobs[*a].0.cmp(&jobs[*b].0));
    let mut results: Vec<Option<Result<u64>>> = jobs.iter().map(|_| None).collect();
    for i in order {
        let (space, batch) = &jobs[i];
        let mut sp = tx.transaction().map_err(pg)?;
        let r = append_batch_in(&mut sp, space, batch);
        if r.is_ok() {
            sp.commit().map_err(pg)?;
        } else {
            sp.rollback().map_err(pg)?;
        }
        results[i] = Some(r);
    }
    tx.commit().map_err(pg)?;
    Ok(results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect())
}

/// Append one batch inside the caller's transaction (see `commit_group`).
fn append_batch_in(tx: &mut Transaction<'_>, space: &str, b: &LogBatch) -> Result<u64> {
    // the running totals of what every member may read, up to the row before
    fn totals(tx: &mut Transaction<'_>, space: &str, seq: i64) -> Result<(i64, i64)> {
        Ok(tx
            .query_opt(
                "SELECT coalesce(total_changes, 0), coalesce(total_bytes, 0) FROM log WHERE space_id = $1 AND seq = $2",
                &[&space, &(seq - 1)],
            )
            .map_err(pg)?
            .map_or((0, 0), |r| (r.get(0), r.get(1))))
    }
    for (entity, audience) in &b.opened {
        tx.execute(
            "UPDATE entities SET audience = $3 WHERE space_id = $1 AND id = $2",
            &[&space, entity, audience],
        )
        .map_err(pg)?;
        let earlier: Vec<i64> = tx
            .query(
                "SELECT DISTINCT seq FROM changes WHERE space_id = $1 AND entity_id = $2 ORDER BY seq",
                &[&space, entity],
            )
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for original in earlier {
            let copy = PgStorage::append_seq(tx, space)?;
            let (n, bytes) = totals(tx, space, copy)?;
            let row = tx
                .query_one(
                    "SELECT count(*), coalesce(sum(octet_length(bytes)), 0)::BIGINT FROM changes WHERE space_id = $1 AND seq = $2",
                    &[&space, &original],
                )
                .map_err(pg)?;
            let (dn, dbytes): (i64, i64) = (row.get(0), row.get(1));
            tx.execute(
                "INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs, copy_of, arrived_at, total_changes, total_bytes)
                 SELECT space_id, $3::BIGINT, type, author, signed_at, signature, pairs, seq, arrived_at, $4::BIGINT, $5::BIGINT
                 FROM log WHERE space_id = $1 AND seq = $2",
                &[&space, &original, &copy, &(n + dn), &(bytes + dbytes)],
            )
            .map_err(pg)?;
            // the copy is read by the widened audience; the original is filed
            // under it too, for readers whose cursor is still before it
            file_row(tx, space, original, &[original, copy])?;
        }
    }
    let seq = PgStorage::append_seq(tx, space)?;
    let (n, bytes) = totals(tx, space, seq)?;
    tx.execute(
        "INSERT INTO log(space_id, seq, type, author, signed_at, signature, pairs, arrived_at, total_changes, total_bytes)
         VALUES ($1, $2, 'batch', $3, $4, $5, $6, $7, $8, $9)",
        &[
            &space,
            &seq,
            &&b.author[..],
            &b.signed_at,
            &b.signature,
            &b.pairs.to_bytes(),
            &b.arrived_at,
            &(n + b.public_changes as i64),
            &(bytes + b.public_bytes as i64),
        ],
    )
    .map_err(pg)?;
    let ins = tx
        .prepare("INSERT INTO changes(space_id, hash, entity_id, seq, idx, bytes) VALUES ($1, $2, $3, $4, $5, $6)")
        .map_err(pg)?;
    let ent = tx
        .prepare("INSERT INTO entities(space_id, id, kind, audience, ref_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
        .map_err(pg)?;
    for (i, ch) in b.changes.iter().enumerate() {
        tx.execute(
            &ins,
            &[
                &space,
                &&ch.hash[..],
                &ch.entity,
                &seq,
                &(i as i64),
                &ch.bytes,
            ],
        )
        .map_err(pg)?;
        if let Some(e) = &ch.new_entity {
            tx.execute(&ent, &[&space, &ch.entity, &e.kind, &e.audience, &e.ref_id])
                .map_err(pg)?;
        }
    }
    for r in &b.blob_refs {
        tx.execute(
            "INSERT INTO blob_refs(space_id, hash, entity_id, author, size, mime) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[&space, &r.hash, &r.entity, &r.author, &(r.size as i64), &r.mime],
        )
        .map_err(pg)?;
    }
    file_row(tx, space, seq, &[seq])?;
    Ok(seq as u64)
}

/// The columns of a log row as `read_log` reads them (`decode_log_rows`).
const LOG_COLUMNS: &str = "seq, type, author, signed_at, signature, pairs, deliberation, tally_json, coalesce(copy_of, seq), arrived_at";

/// Log rows as the service reads them: a batch carries the bytes of the changes
/// `wanted(author, entity)` accepts only (a copy's are read from its original's rows).
fn decode_log_rows(
    c: &mut Conn,
    space: &str,
    rows: Vec<postgres::Row>,
    wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
) -> Result<Vec<LogRow>> {
    let ch = c.prepare("SELECT entity_id, hash, bytes FROM changes WHERE space_id = $1 AND seq = $2 ORDER BY idx").map_err(pg)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.get(0);
        let ty: String = r.get(1);
        if ty == "tally" {
            out.push(LogRow::Tally {
                seq: seq as u64,
                deliberation: r.get::<_, Option<String>>(6).unwrap_or_default(),
                tally_json: r.get::<_, Option<Vec<u8>>>(7).unwrap_or_default(),
                signature: r.get(4),
                arrived_at: r.get(9),
            });
            continue;
        }
        let author: [u8; 32] = r
            .get::<_, Option<Vec<u8>>>(2)
            .and_then(|a| a.try_into().ok())
            .unwrap_or([0; 32]);
        let pairs = BatchPairs::from_bytes(&r.get::<_, Option<Vec<u8>>>(5).unwrap_or_default())
            .map_err(|e| RelayError::Storage(e.to_string()))?;
        let any_wanted = pairs.iter().any(|(e, _)| wanted(&author, &entity_hex(e)));
        let mut changes = vec![];
        // a copy's changes are those of the batch it copies
        let stored: i64 = r.get(8);
        if any_wanted {
            for row in c.query(&ch, &[&space, &stored]).map_err(pg)? {
                let entity: String = row.get(0);
                if wanted(&author, &entity) {
                    let hash: Vec<u8> = row.get(1);
                    changes.push((entity, hash.try_into().unwrap_or([0; 32]), row.get(2)));
                }
            }
        }
        out.push(LogRow::Batch {
            seq: seq as u64,
            author,
            signed_at: r.get::<_, Option<i64>>(3).unwrap_or(0),
            signature: r.get(4),
            pairs,
            changes,
            arrived_at: r.get(9),
            origin: stored as u64,
        });
    }
    Ok(out)
}

/// File the log rows at `at` in the read index under the keys of the documents the
/// batch row at `changes_of` holds changes of (`db::ROW_AUDIENCES`).
fn file_row(tx: &mut Transaction<'_>, space: &str, changes_of: i64, at: &[i64]) -> Result<()> {
    let audiences: Vec<String> = tx
        .query(ROW_AUDIENCES.as_str(), &[&space, &changes_of])
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    file_keys(tx, space, crate::db::index_keys_of(audiences), at)
}

fn file_keys(
    tx: &mut Transaction<'_>,
    space: &str,
    keys: std::collections::BTreeSet<String>,
    at: &[i64],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = keys.into_iter().collect();
    tx.execute(
        "INSERT INTO log_readers(space_id, reader, seq)
         SELECT $1::TEXT, k, s FROM unnest($2::TEXT[]) k CROSS JOIN unnest($3::BIGINT[]) s
         ON CONFLICT DO NOTHING",
        &[&space, &keys, &at],
    )
    .map_err(pg)?;
    Ok(())
}

impl Storage for PgStorage {
    fn shared_by_nodes(&self) -> bool {
        true
    }

    fn lock_space(&self, space: &str) -> Result<SpaceGuard> {
        let mut c = self.conn()?;
        let key = space_key(space);
        c.execute("SELECT pg_advisory_lock($1)", &[&key])
            .map_err(pg)?;
        Ok(SpaceGuard(Some(Box::new(AdvisoryLock {
            conn: Some(c),
            key,
        }))))
    }

    fn create_space(
        &self,
        id: &str,
        name: &str,
        relay_secret: &[u8],
        roster: &Roster,
    ) -> Result<()> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        tx.execute(
            &format!("INSERT INTO spaces(id, name, relay_secret, epoch) VALUES ($1, $2, $3, {NEW_EPOCH})"),
            &[&id, &name, &relay_secret],
        )
        .map_err(pg)?;
        tx.execute(
            &format!("INSERT INTO rosters(space_id, version, stamp, roster) VALUES ($1, $2, {NEW_EPOCH}, $3)"),
            &[&id, &(roster.version as i64), &roster_json(roster)],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)
    }

    fn space(&self, id: &str) -> Result<Option<SpaceRecord>> {
        let mut c = self.conn()?;
        let row = c
            .query_opt(
                "SELECT s.id, s.name, s.relay_secret, s.epoch, r.stamp FROM spaces s JOIN rosters r ON r.space_id = s.id WHERE s.id = $1",
                &[&id],
            )
            .map_err(pg)?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.get(0);
        let epoch = row.get::<_, i64>(3) as u64;
        let roster = match self.rosters.get(&id, row.get(4), epoch) {
            Some(r) => r,
            None => {
                let r = c
                    .query_one(
                        "SELECT stamp, roster FROM rosters WHERE space_id = $1",
                        &[&id],
                    )
                    .map_err(pg)?;
                self.rosters.parse(&id, r.get(0), epoch, r.get(1))?
            }
        };
        Ok(Some(SpaceRecord {
            id,
            name: row.get(1),
            relay_secret: row.get(2),
            roster,
            epoch,
        }))
    }

    fn update_roster(
        &self,
        space: &str,
        apply: &mut dyn FnMut(&mut Roster) -> Result<()>,
    ) -> Result<Roster> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let text = roster_for_update(&mut tx, space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space} on this relay")))?;
        let before = parse_roster(&text)?;
        let mut roster = before.clone();
        apply(&mut roster)?;
        if roster != before {
            put_roster(&mut tx, space, &roster)?;
        }
        tx.commit().map_err(pg)?;
        Ok(roster)
    }

    fn put_invite(&self, inv: &InviteRecord) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO invites(code_hash, space_id, role, household, grp, expires_at, created_by, enrols) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&inv.code_hash, &inv.space_id, &inv.role.as_str(), &inv.household, &inv.group, &inv.expires_at, &inv.created_by, &crate::db::enrols_json(&inv.enrols)],
            )
            .map_err(pg)?;
        Ok(())
    }

    fn redeem_invite(
        &self,
        code_hash: &str,
        now: i64,
        apply: &mut dyn FnMut(&InviteRecord, &mut Roster) -> Result<()>,
    ) -> Result<(InviteRecord, Roster)> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let row = tx
            .query_opt(
                "SELECT space_id, role, household, grp, expires_at, created_by, used_at, enrols FROM invites WHERE code_hash = $1 FOR UPDATE",
                &[&code_hash],
            )
            .map_err(pg)?;
        let Some(row) = row else {
            return Err(RelayError::Forbidden("unknown invite code".into()));
        };
        let expires_at: i64 = row.get(4);
        invite_usable(row.get(6), expires_at, now)?;
        let space_id: String = row.get(0);
        let role: String = row.get(1);
        let inv = InviteRecord {
            code_hash: code_hash.into(),
            space_id: space_id.clone(),
            role: cunwu_protocol::Role::parse(&role)
                .map_err(|e| RelayError::Storage(e.to_string()))?,
            household: row.get(2),
            group: row.get(3),
            expires_at,
            created_by: row.get(5),
            enrols: crate::db::parse_enrols(row.get(7))?,
        };
        let text = roster_for_update(&mut tx, &space_id)?.ok_or_else(|| {
            RelayError::Storage(format!(
                "an invite of space {space_id}, which has no roster"
            ))
        })?;
        let before = parse_roster(&text)?;
        let mut roster = before.clone();
        apply(&inv, &mut roster)?;
        tx.execute(
            "UPDATE invites SET used_at = $2 WHERE code_hash = $1",
            &[&code_hash, &now],
        )
        .map_err(pg)?;
        if roster != before {
            put_roster(&mut tx, &space_id, &roster)?;
        }
        tx.commit().map_err(pg)?;
        Ok((inv, roster))
    }

    fn advance_counter(&self, space: &str, device: &str, counter: u64) -> Result<bool> {
        // like the SQLite storage: no wait for the WAL flush of this one write
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(pg)?;
        let n = tx
            .execute(
                "INSERT INTO sync_counters(space_id, device, counter) VALUES ($1, $2, $3)
                 ON CONFLICT(space_id, device) DO UPDATE SET counter = excluded.counter WHERE excluded.counter > sync_counters.counter",
                &[&space, &device, &counter_sql(counter)],
            )
            .map_err(pg)?;
        tx.commit().map_err(pg)?;
        Ok(n == 1)
    }

    fn counter(&self, space: &str, device: &str) -> Result<u64> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT counter FROM sync_counters WHERE space_id = $1 AND device = $2",
                &[&space, &device],
            )
            .map_err(pg)?;
        Ok(row.map(|r| r.get::<_, i64>(0)).unwrap_or(0).max(0) as u64)
    }

    fn use_nonce(&self, nonce: &str, now: i64) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "INSERT INTO nonces(nonce, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&nonce, &now],
            )
            .map_err(pg)?;
        Ok(n == 1)
    }

    fn prune_nonces(&self, before: i64) -> Result<u64> {
        self.conn()?
            .execute(
                "DELETE FROM nonces WHERE at < $1 AND nonce LIKE 't%'",
                &[&before],
            )
            .map_err(pg)
    }

    fn entity(&self, space: &str, id: &str) -> Result<Option<EntityRecord>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT kind, audience, ref_id FROM entities WHERE space_id = $1 AND id = $2",
                &[&space, &id],
            )
            .map_err(pg)?;
        Ok(row.map(|r| EntityRecord {
            kind: r.get(0),
            audience: r.get(1),
            ref_id: r.get(2),
        }))
    }

    fn entity_changes(&self, space: &str, id: &str) -> Result<Vec<Vec<u8>>> {
        let rows = self
            .conn()?
            .query("SELECT bytes FROM changes WHERE space_id = $1 AND entity_id = $2 ORDER BY seq, idx", &[&space, &id])
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn has_change(&self, space: &str, hash: &[u8; 32]) -> Result<bool> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT 1 FROM changes WHERE space_id = $1 AND hash = $2",
                &[&space, &&hash[..]],
            )
            .map_err(pg)?;
        Ok(row.is_some())
    }

    fn append_batch(&self, space: &str, b: &LogBatch) -> Result<u64> {
        self.group
            .submit((space.to_string(), b.clone()), || self.conn(), commit_group)
    }

    fn append_tally(
        &self,
        space: &str,
        deliberation: &str,
        tally_json: &[u8],
        signature: &[u8],
    ) -> Result<u64> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let seq = Self::append_seq(&mut tx, space)?;
        tx.execute(
            "INSERT INTO log(space_id, seq, type, signature, deliberation, tally_json, arrived_at, total_changes, total_bytes)
             SELECT $1::TEXT, $2::BIGINT, 'tally', $3::BYTEA, $4::TEXT, $5::BYTEA, $6::BIGINT,
                    coalesce(max(total_changes), 0), coalesce(max(total_bytes), 0)
             FROM log WHERE space_id = $1::TEXT AND seq = $2::BIGINT - 1",
            &[&space, &seq, &signature, &deliberation, &tally_json, &cunwu_protocol::ids::now_ms()],
        )
        .map_err(pg)?;
        // a tally is read by its deliberation's audience
        let audience: Option<String> = tx
            .query_opt(
                "SELECT audience FROM entities WHERE space_id = $1 AND id = $2",
                &[&space, &deliberation],
            )
            .map_err(pg)?
            .map(|r| r.get(0));
        file_keys(&mut tx, space, crate::db::index_keys_of(audience), &[seq])?;
        tx.commit().map_err(pg)?;
        Ok(seq as u64)
    }

    fn read_log(
        &self,
        space: &str,
        cursor: u64,
        max_rows: u32,
        wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
    ) -> Result<Vec<LogRow>> {
        let mut c = self.conn()?;
        let rows = c
            .query(
                &format!("SELECT {LOG_COLUMNS} FROM log WHERE space_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"),
                &[&space, &(cursor as i64), &i64::from(max_rows)],
            )
            .map_err(pg)?;
        decode_log_rows(&mut c, space, rows, wanted)
    }

    fn reader_seqs(
        &self,
        space: &str,
        keys: &[String],
        cursor: u64,
        limit: u32,
    ) -> Result<Vec<Vec<u64>>> {
        // one round trip: the first `limit` positions of each key
        let rows = self
            .conn()?
            .query(
                "SELECT k.i, s.seq FROM unnest($2::TEXT[]) WITH ORDINALITY AS k(reader, i)
                 CROSS JOIN LATERAL (SELECT seq FROM log_readers
                     WHERE space_id = $1 AND reader = k.reader AND seq > $3 ORDER BY seq LIMIT $4) s
                 ORDER BY k.i, s.seq",
                &[&space, &keys, &(cursor as i64), &i64::from(limit)],
            )
            .map_err(pg)?;
        let mut out = vec![vec![]; keys.len()];
        for r in rows {
            let i: i64 = r.get(0);
            let seq: i64 = r.get(1);
            out[(i - 1) as usize].push(seq as u64);
        }
        Ok(out)
    }

    fn read_log_at(
        &self,
        space: &str,
        seqs: &[u64],
        wanted: &mut dyn FnMut(&[u8; 32], &str) -> bool,
    ) -> Result<Vec<LogRow>> {
        let mut c = self.conn()?;
        let at: Vec<i64> = seqs.iter().map(|s| *s as i64).collect();
        let rows = c
            .query(
                &format!("SELECT {LOG_COLUMNS} FROM log WHERE space_id = $1 AND seq = ANY($2) ORDER BY seq"),
                &[&space, &at],
            )
            .map_err(pg)?;
        decode_log_rows(&mut c, space, rows, wanted)
    }

    fn remaining(&self, space: &str, cursor: u64) -> Result<cunwu_protocol::wire::Remaining> {
        let mut c = self.conn()?;
        let last: i64 = c
            .query_one("SELECT next_seq - 1 FROM spaces WHERE id = $1", &[&space])
            .map_err(pg)?
            .get(0);
        let mut at = |seq: i64| -> Result<(i64, i64)> {
            Ok(c
                .query_opt(
                    "SELECT coalesce(total_changes, 0), coalesce(total_bytes, 0) FROM log WHERE space_id = $1 AND seq = $2",
                    &[&space, &seq],
                )
                .map_err(pg)?
                .map_or((0, 0), |r| (r.get(0), r.get(1))))
        };
        let ((n0, b0), (n1, b1)) = (at(cursor as i64)?, at(last)?);
        Ok(cunwu_protocol::wire::Remaining {
            entries: (last - cursor as i64).max(0) as u64,
            changes: (n1 - n0).max(0) as u64,
            bytes: (b1 - b0).max(0) as u64,
        })
    }

    fn last_seq(&self, space: &str) -> Result<u64> {
        let row = self
            .conn()?
            .query_opt("SELECT next_seq - 1 FROM spaces WHERE id = $1", &[&space])
            .map_err(pg)?;
        let row =
            row.ok_or_else(|| RelayError::NotFound(format!("no space {space} on this relay")))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn audiences(&self, space: &str) -> Result<HashMap<String, String>> {
        let rows = self
            .conn()?
            .query(
                "SELECT id, audience FROM entities WHERE space_id = $1",
                &[&space],
            )
            .map_err(pg)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn referencing(&self, space: &str, ref_id: &str) -> Result<Vec<String>> {
        let rows = self
            .conn()?
            .query(
                "SELECT id FROM entities WHERE space_id = $1 AND ref_id = $2",
                &[&space, &ref_id],
            )
            .map_err(pg)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn tallied(&self, space: &str, deliberation: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .conn()?
            .query_opt(TALLIED.as_str(), &[&space, &deliberation])
            .map_err(pg)?;
        Ok(row.and_then(|r| r.get(0)))
    }

    fn roster_sent(&self, space: &str, device: &str) -> Result<u64> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT version FROM roster_floors WHERE space_id = $1 AND device = $2",
                &[&space, &device],
            )
            .map_err(pg)?;
        Ok(row.map(|r| r.get::<_, i64>(0)).unwrap_or(0) as u64)
    }

    fn set_roster_sent(&self, space: &str, device: &str, version: u64) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO roster_floors(space_id, device, version) VALUES ($1, $2, $3)
                 ON CONFLICT(space_id, device) DO UPDATE SET version = GREATEST(roster_floors.version, excluded.version)",
                &[&space, &device, &(version as i64)],
            )
            .map_err(pg)?;
        Ok(())
    }

    fn renew_epochs(&self) -> Result<()> {
        self.conn()?
            .execute(&format!("UPDATE spaces SET epoch = {NEW_EPOCH}"), &[])
            .map_err(pg)?;
        Ok(())
    }

    fn prune_counters(&self) -> Result<u64> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        let mut n = 0;
        for table in ["sync_counters", "roster_floors"] {
            n += tx
                .execute(
                    &format!(
                        "DELETE FROM {table} t WHERE NOT EXISTS (
                             SELECT 1 FROM rosters s, jsonb_array_elements(s.roster::jsonb -> 'devices') d
                             WHERE s.space_id = t.space_id AND d ->> 'key' = t.device AND d ->> 'revoked_at_seq' IS NULL)"
                    ),
                    &[],
                )
                .map_err(pg)?;
        }
        tx.commit().map_err(pg)?;
        Ok(n)
    }

    fn blob_refs(&self, space: &str, hash: &str) -> Result<Vec<BlobRef>> {
        Ok(self
            .conn()?
            .query(
                "SELECT entity_id, author, size, mime FROM blob_refs WHERE space_id = $1 AND hash = $2",
                &[&space, &hash],
            )
            .map_err(pg)?
            .iter()
            .map(|r| BlobRef {
                entity: r.get(0),
                hash: hash.to_string(),
                author: r.get(1),
                size: r.get::<_, i64>(2) as u64,
                mime: r.get(3),
            })
            .collect())
    }

    fn blob(&self, hash: &str) -> Result<Option<BlobRecord>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT size, pieces, have FROM blobs WHERE hash = $1",
                &[&hash],
            )
            .map_err(pg)?
            .map(|r| BlobRecord {
                size: r.get::<_, i64>(0) as u64,
                pieces: r.get(1),
                have: r.get::<_, i64>(2) as u64,
            }))
    }

    fn put_blob_pieces(&self, hash: &str, size: u64, pieces: &[u8]) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO blobs(hash, size, pieces, have) VALUES ($1, $2, $3, 0)
                 ON CONFLICT (hash) DO UPDATE SET pieces = excluded.pieces WHERE blobs.pieces IS NULL",
                &[&hash, &(size as i64), &pieces],
            )
            .map_err(pg)?;
        Ok(())
    }

    fn append_blob(&self, hash: &str, offset: u64, bytes: &[u8]) -> Result<u64> {
        use cunwu_protocol::model::attachment::PIECE_BYTES;
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(pg)?;
        // the row lock orders appends of the same bytes across relay nodes
        let Some(row) = tx
            .query_opt(
                "SELECT size, have FROM blobs WHERE hash = $1 FOR UPDATE",
                &[&hash],
            )
            .map_err(pg)?
        else {
            return Err(RelayError::Conflict(format!(
                "the relay holds no piece list for {hash}; send it first"
            )));
        };
        let (size, have) = (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
        if offset < have {
            return Ok(have);
        }
        if offset > have {
            return Err(RelayError::Conflict(format!(
                "bytes of {hash} from {offset} cannot be stored: the relay holds {have} bytes of it"
            )));
        }
        let end = offset + bytes.len() as u64;
        if end > size {
            return Err(RelayError::BadRequest(format!(
                "{} bytes from {offset} run past the end of {hash} ({size} bytes)",
                bytes.len()
            )));
        }
        for (i, piece) in bytes.chunks(PIECE_BYTES).enumerate() {
            let n = (offset as usize / PIECE_BYTES + i) as i64;
            tx.execute(
                "INSERT INTO blob_pieces(hash, piece, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&hash, &n, &piece],
            )
            .map_err(pg)?;
        }
        tx.execute(
            "UPDATE blobs SET have = $2 WHERE hash = $1",
            &[&hash, &(end as i64)],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
        Ok(end)
    }

    fn read_blob(&self, hash: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        use cunwu_protocol::model::attachment::PIECE_BYTES;
        let piece = PIECE_BYTES as u64;
        let first = (offset / piece) as i64;
        let last = offset.saturating_add(len).div_ceil(piece) as i64;
        let rows = self
            .conn()?
            .query(
                "SELECT bytes FROM blob_pieces WHERE hash = $1 AND piece >= $2 AND piece < $3 ORDER BY piece",
                &[&hash, &first, &last],
            )
            .map_err(pg)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(r.get::<_, &[u8]>(0));
        }
        let skip = (offset - first as u64 * piece) as usize;
        let mut out = out.split_off(skip.min(out.len()));
        out.truncate(len as usize);
        Ok(out)
    }

    fn blob_holders(&self, space: &str, hash: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT member, have FROM blob_holders WHERE space_id = $1 AND hash = $2",
                &[&space, &hash],
            )
            .map_err(pg)?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn set_blob_holder(&self, space: &str, hash: &str, member: &str, have: u64) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO blob_holders(space_id, hash, member, have) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (space_id, hash, member) DO UPDATE SET have = GREATEST(blob_holders.have, excluded.have)",
                &[&space, &hash, &member, &(have as i64)],
            )
            .map_err(pg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_files_and_passwords_stay_out_of_messages() {
        assert!(is_url("postgres://relay@db.county.example/cunwu"));
        assert!(is_url("postgresql://relay@10.0.0.5:5432/cunwu"));
        assert!(!is_url("cunwu-relay.db") && !is_url("/var/lib/cunwu/postgres.db"));
        assert_eq!(
            redact("postgres://relay:s3cret@db:5432/cunwu"),
            "postgres://relay:***@db:5432/cunwu"
        );
        assert_eq!(
            redact("postgres://relay@db/cunwu"),
            "postgres://relay@db/cunwu"
        );
        assert_ne!(space_key("a"), space_key("b"));
        assert_eq!(
            space_key("dd9b82c77738a7dd5a4172c060c3412d"),
            space_key("dd9b82c77738a7dd5a4172c060c3412d")
        );
    }

    /// A new, empty database on the server `CUNWU_TEST_POSTGRES` names: (server URL,
    /// database name, database URL), or `None` when no server is given
    /// (`scripts/postgres.sh start`).
    fn empty_database() -> Option<(String, String, String)> {
        let server = std::env::var("CUNWU_TEST_POSTGRES")
            .ok()
            .filter(|s| !s.is_empty())?;
        let name = format!("cunwu_migrate_{}", cunwu_protocol::ids::new_id());
        Client::connect(&server, NoTls)
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let (base, _) = server.rsplit_once('/').expect("a URL with a database name");
        let url = format!("{base}/{name}");
        Some((server, name, url))
    }

    /// A version-1 database (before `log.copy_of`) is upgraded, and a published draft's
    /// batches are appended again (`db::tests::copies_work_after_upgrade`).
    #[test]
    fn a_version_1_log_is_upgraded_and_keeps_working() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        {
            let mut c = Client::connect(&url, NoTls).unwrap();
            let hex = |b: &[u8]| format!("'\\x{}'::bytea", hex::encode(b));
            let sql = crate::db::tests::version_1_log(&hex)
                .replace("INTEGER", "BIGINT")
                .replace("BLOB", "BYTEA")
                .replace(") WITHOUT ROWID;", ");");
            c.batch_execute(&sql).unwrap();
            c.batch_execute(
                "CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES (1);",
            )
            .unwrap();
        }
        let s = PgStorage::open(&url).unwrap();
        let v: i64 = s
            .conn()
            .unwrap()
            .query_one("SELECT max(version) FROM schema_version", &[])
            .unwrap()
            .get(0);
        assert_eq!(v, crate::db::SCHEMA_VERSION);
        crate::db::tests::copies_work_after_upgrade(&s);
        crate::db::tests::invites_work_after_upgrade(&s);
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// A version-5 database (no attachment tables) is upgraded to 6 and its
    /// attachment tables work (`db::tests::blobs_work_after_upgrade`).
    #[test]
    fn a_version_5_database_gets_the_attachment_tables() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        {
            let mut c = Client::connect(&url, NoTls).unwrap();
            let pg = dialect;
            c.batch_execute(&pg(&crate::db::tests::schema_v7()))
                .unwrap();
            c.execute(
                "INSERT INTO spaces(id, name, relay_secret, roster, epoch) VALUES ('s1', 'a', '\\x00'::bytea, $1, 5)",
                &[&crate::db::tests::old_roster("s1", "d1")],
            )
            .unwrap();
            c.batch_execute(
                "CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES (5);",
            )
            .unwrap();
        }
        let s = PgStorage::open(&url).unwrap();
        let v: i64 = s
            .conn()
            .unwrap()
            .query_one("SELECT max(version) FROM schema_version", &[])
            .unwrap()
            .get(0);
        assert_eq!(v, crate::db::SCHEMA_VERSION);
        crate::db::tests::blobs_work_after_upgrade(&s);
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// A PostgreSQL database of schema `version` (6 or 7: `db::tests::schema_v7()` and
    /// `tables`) holding `db::tests::version_6_log`.
    fn write_version_6_log(url: &str, tables: &[&str], version: i64) {
        let mut c = Client::connect(url, NoTls).unwrap();
        let hex = |b: &[u8]| format!("'\\x{}'::bytea", hex::encode(b));
        let tables: String = tables.iter().map(|t| dialect(t)).collect();
        c.batch_execute(&format!(
            "{}{tables}{}CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES ({version});",
            dialect(&crate::db::tests::schema_v7()),
            crate::db::tests::version_6_log(&hex)
        ))
        .unwrap();
    }

    /// A version-7 database (the roster in the `spaces` row) is upgraded to 8: the
    /// roster moves to `rosters` (`db::tests::rosters_work_after_upgrade`, with a second
    /// node changing it), and the column leaves `spaces`.
    #[test]
    fn a_version_7_database_moves_its_rosters_out_of_the_spaces_row() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        write_version_6_log(
            &url,
            &[
                crate::db::BLOB_SCHEMA,
                BLOB_PIECES,
                crate::db::READ_INDEX_SCHEMA,
            ],
            7,
        );
        let s = PgStorage::open(&url).unwrap();
        let other = PgStorage::open(&url).unwrap();
        let (v, has): (i64, bool) = {
            let mut c = s.conn().unwrap();
            let v = c
                .query_one("SELECT max(version) FROM schema_version", &[])
                .unwrap()
                .get(0);
            let has = c
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'spaces' AND column_name = 'roster' AND table_schema = current_schema())",
                    &[],
                )
                .unwrap()
                .get(0);
            (v, has)
        };
        assert_eq!(v, crate::db::SCHEMA_VERSION);
        assert!(!has, "the column is gone");
        crate::db::tests::rosters_work_after_upgrade(&s, &other);
        crate::db::tests::read_index_works_after_upgrade(&s);
        drop((s, other));
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// A version-6 database (no read index) is upgraded to 7: its log is indexed and
    /// new rows are filed as they are appended (`db::tests::read_index_works_after_upgrade`).
    #[test]
    fn a_version_6_database_gets_the_read_index() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        write_version_6_log(&url, &[crate::db::BLOB_SCHEMA, BLOB_PIECES], 6);
        let s = PgStorage::open(&url).unwrap();
        let v: i64 = s
            .conn()
            .unwrap()
            .query_one("SELECT max(version) FROM schema_version", &[])
            .unwrap()
            .get(0);
        assert_eq!(v, crate::db::SCHEMA_VERSION);
        crate::db::tests::read_index_works_after_upgrade(&s);
        drop(s);
        let s = PgStorage::open(&url).unwrap();
        let n: i64 = s
            .conn()
            .unwrap()
            .query_one("SELECT count(*) FROM log_readers", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 13, "opening again does not index the log twice");
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// A version-3 database (no `spaces.epoch`) gets an epoch per space, kept when it
    /// is opened again; `renew_epochs` (restore) gives new ones.
    #[test]
    fn a_version_3_database_gets_an_epoch_per_space() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        {
            let mut c = Client::connect(&url, NoTls).unwrap();
            let sql = crate::db::tests::version_3_schema()
                .replace("INTEGER", "BIGINT")
                .replace("BLOB", "BYTEA")
                .replace(") WITHOUT ROWID;", ");");
            c.batch_execute(&sql).unwrap();
            for space in ["s1", "s2"] {
                let roster = crate::db::tests::old_roster(space, "d1");
                c.execute("INSERT INTO spaces(id, name, relay_secret, roster) VALUES ($1, 'x', '\\x00', $2)", &[&space, &roster])
                    .unwrap();
            }
            c.batch_execute(
                "CREATE TABLE schema_version (version BIGINT NOT NULL); INSERT INTO schema_version VALUES (3);",
            )
            .unwrap();
        }
        let epochs = |s: &PgStorage| -> Vec<u64> {
            ["s1", "s2"]
                .iter()
                .map(|id| s.space(id).unwrap().unwrap().epoch)
                .collect()
        };
        let s = PgStorage::open(&url).unwrap();
        let first = epochs(&s);
        assert!(
            first.iter().all(|e| *e > 0) && first[0] != first[1],
            "{first:?}"
        );
        drop(s);
        let s = PgStorage::open(&url).unwrap();
        assert_eq!(epochs(&s), first, "opening again keeps them");
        let v: i64 = s
            .conn()
            .unwrap()
            .query_one("SELECT max(version) FROM schema_version", &[])
            .unwrap()
            .get(0);
        assert_eq!(v, crate::db::SCHEMA_VERSION);
        s.renew_epochs().unwrap();
        assert!(epochs(&s).iter().zip(&first).all(|(r, f)| r != f && *r > 0));
        s.create_space(
            "s3",
            "c",
            &[0],
            &crate::db::parse_roster(&crate::db::tests::old_roster("s3", "d3")).unwrap(),
        )
        .unwrap();
        assert!(s.space("s3").unwrap().unwrap().epoch > 0);
        // counters of devices that may no longer sync are pruned; an active one's stay
        for d in ["d1", "ghost"] {
            assert!(s.advance_counter("s1", d, 10).unwrap());
        }
        assert_eq!(s.prune_counters().unwrap(), 1);
        assert_eq!(
            (
                s.counter("s1", "d1").unwrap(),
                s.counter("s1", "ghost").unwrap()
            ),
            (10, 0)
        );
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// A database written by the relay before schema versions is migrated on open:
    /// counters and roster floors move to (space, device) keys. Runs when
    /// `CUNWU_TEST_POSTGRES` names a server (`scripts/postgres.sh start`).
    #[test]
    fn a_database_written_by_the_old_schema_is_migrated_on_open() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        let now = cunwu_protocol::ids::now_ms();
        {
            let mut c = Client::connect(&url, NoTls).unwrap();
            c.batch_execute(
                "CREATE TABLE spaces (id TEXT PRIMARY KEY, name TEXT NOT NULL, relay_secret BYTEA NOT NULL, roster TEXT NOT NULL, next_seq BIGINT NOT NULL DEFAULT 1);
                 CREATE TABLE counters (device TEXT PRIMARY KEY, counter BIGINT NOT NULL);
                 CREATE TABLE roster_sent (device TEXT PRIMARY KEY, version BIGINT NOT NULL);",
            )
            .unwrap();
            for (space, device) in [("s1", "d1"), ("s2", "d2")] {
                let roster = crate::db::tests::old_roster(space, device);
                c.execute("INSERT INTO spaces(id, name, relay_secret, roster) VALUES ($1, 'x', '\\x00', $2)", &[&space, &roster])
                    .unwrap();
            }
            let ahead = now + 5 * 365 * 86_400_000;
            c.execute(
                "INSERT INTO counters VALUES ('d1', $1), ('d2', $2)",
                &[&(now - 1000), &ahead],
            )
            .unwrap();
            c.execute("INSERT INTO roster_sent VALUES ('d1', 3), ('d2', 2)", &[])
                .unwrap();
        }
        let s = PgStorage::open(&url).unwrap();
        assert_eq!(s.counter("s1", "d1").unwrap(), (now - 1000) as u64);
        assert_eq!(s.counter("s2", "d1").unwrap(), 0);
        let d2 = s.counter("s2", "d2").unwrap() as i64;
        assert!(
            d2 <= cunwu_protocol::ids::now_ms() + crate::service::MAX_COUNTER_AHEAD_MS,
            "not lowered: {d2}"
        );
        assert_eq!(
            (
                s.roster_sent("s1", "d1").unwrap(),
                s.roster_sent("s2", "d2").unwrap()
            ),
            (3, 2)
        );
        let mut c = s.conn().unwrap();
        let old: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE tablename IN ('counters', 'roster_sent')",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(old, 0);
        let v: i64 = c
            .query_one("SELECT max(version) FROM schema_version", &[])
            .unwrap()
            .get(0);
        assert_eq!(v, crate::db::SCHEMA_VERSION);
        drop(c);
        assert!(!s.advance_counter("s1", "d1", (now - 2000) as u64).unwrap());
        assert!(s.advance_counter("s1", "d1", now as u64).unwrap());
        drop(s);
        let s = PgStorage::open(&url).unwrap();
        assert_eq!(
            s.counter("s1", "d1").unwrap(),
            now as u64,
            "opening again changes nothing"
        );
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// The statements on a connection, with how often each is prepared there.
    fn prepared_statements(s: &PgStorage) -> Vec<(String, i64)> {
        s.conn()
            .unwrap()
            .query(
                "SELECT statement, count(*) FROM pg_prepared_statements GROUP BY statement ORDER BY statement",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }

    /// Each pooled connection prepares a statement once: the same storage calls made
    /// again on that connection send no new statement to the server.
    #[test]
    fn statements_are_prepared_once_per_connection() {
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        let s = PgStorage::open(&url).unwrap();
        let roster = crate::db::parse_roster(&crate::db::tests::old_roster("s1", "d1")).unwrap();
        s.create_space("s1", "a", &[0], &roster).unwrap();
        // one caller at a time: every call below runs on the one pooled connection
        let round = |n: u8| {
            assert!(s.space("s1").unwrap().is_some());
            let seq = s
                .append_batch("s1", &crate::db::tests::one_change_batch(n))
                .unwrap();
            assert_eq!(seq, u64::from(n));
            let rows = s.read_log("s1", 0, 100, &mut |_, _| true).unwrap();
            assert_eq!(rows.len(), usize::from(n));
            assert!(s.advance_counter("s1", "d1", u64::from(n)).unwrap());
            assert_eq!(s.last_seq("s1").unwrap(), u64::from(n));
        };
        let prepares = || s.pool.lock()[0].statements.prepared;
        round(1);
        let after_one = prepares();
        let first = prepared_statements(&s);
        for sql in [
            "FROM spaces WHERE id",
            "INSERT INTO changes",
            "FROM log",
            "INSERT INTO sync_counters",
        ] {
            assert!(
                first.iter().any(|(st, _)| st.contains(sql)),
                "no prepared statement with {sql:?} on the connection: {first:?}"
            );
        }
        round(2);
        assert_eq!(
            prepares(),
            after_one + 1,
            "only the listing of prepared statements is new"
        );
        let second = prepared_statements(&s);
        assert_eq!(first, second, "the second round prepared statements again");
        assert!(second.iter().all(|(_, n)| *n == 1), "{second:?}");
        assert_eq!(s.pool.lock().len(), 1, "one connection served every call");
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    /// Appends that arrive together are committed in one PostgreSQL transaction, each
    /// returns only after that commit, and one that fails fails alone; each append is
    /// made as the service makes it, holding its space's advisory lock.
    #[test]
    fn appends_that_arrive_together_share_one_commit() {
        use std::sync::atomic::Ordering::Relaxed;
        let Some((server, name, url)) = empty_database() else {
            eprintln!("skipped: CUNWU_TEST_POSTGRES is not set");
            return;
        };
        let s = Arc::new(PgStorage::open(&url).unwrap());
        let spaces: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        for id in &spaces {
            let roster = crate::db::parse_roster(&crate::db::tests::old_roster(id, "d1")).unwrap();
            s.create_space(id, "a", &[0], &roster).unwrap();
        }
        let append = |id: String, n: u8| {
            let s = s.clone();
            std::thread::spawn(move || {
                let _held = s.lock_space(&id)?;
                s.append_batch(&id, &crate::db::tests::one_change_batch(n))
            })
        };
        // another client holds the log: the first append leads, and its transaction
        // waits on that lock while eight more syncs, of seven spaces and of one that
        // does not exist, arrive
        let mut blocker = Client::connect(&url, NoTls).unwrap();
        let mut hold = blocker.transaction().unwrap();
        hold.batch_execute("LOCK TABLE log IN EXCLUSIVE MODE")
            .unwrap();
        let commits = s.group.commits.load(Relaxed);
        let mut threads = vec![append(spaces[0].clone(), 1)];
        let t = std::time::Instant::now();
        let mut watch = Client::connect(&url, NoTls).unwrap();
        while watch
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'log'::regclass",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 0
        {
            assert!(
                t.elapsed().as_secs() < 20,
                "the first append never waited for the log"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for (i, id) in spaces[1..]
            .iter()
            .cloned()
            .chain(["nowhere".to_string()])
            .enumerate()
        {
            threads.push(append(id, i as u8 + 2));
        }
        while s.group.queued() != 8 {
            assert!(
                t.elapsed().as_secs() < 40,
                "{} appends queued, not 8",
                s.group.queued()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            threads.iter().all(|t| !t.is_finished()),
            "nothing is acknowledged before its commit"
        );
        hold.rollback().unwrap();
        let results: Vec<Result<u64>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for r in &results[..8] {
            assert_eq!(*r.as_ref().unwrap(), 1, "{results:?}");
        }
        let Err(RelayError::NotFound(e)) = &results[8] else {
            panic!("the append to a missing space: {:?}", results[8])
        };
        assert!(e.contains("no space nowhere"), "{e}");
        assert_eq!(
            s.group.commits.load(Relaxed) - commits,
            2,
            "the first append's transaction, then one for the eight that waited"
        );
        drop(s);
        // durable, each in its own space
        let s = PgStorage::open(&url).unwrap();
        for (i, id) in spaces.iter().enumerate() {
            assert_eq!(s.last_seq(id).unwrap(), 1);
            assert!(s.has_change(id, &[i as u8 + 1; 32]).unwrap());
            assert!(!s.has_change(id, &[i as u8 + 2; 32]).unwrap());
        }
        drop(s);
        let _ = Client::connect(&server, NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")));
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error_without_the_password() {
        let Err(e) = PgStorage::open("postgres://relay:s3cret@127.0.0.1:1/cunwu") else {
            panic!("connected to port 1")
        };
        let msg = e.to_string();
        assert!(
            msg.contains("cannot connect to PostgreSQL at postgres://relay:***@127.0.0.1:1/cunwu"),
            "{msg}"
        );
        assert!(!msg.contains("s3cret"), "{msg}");
    }
}
