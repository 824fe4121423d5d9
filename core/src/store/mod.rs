//! The store: one SQLite file per device holding every entity's automerge document,
//! the changes made here and their sync state, and the projection tables that lists,
//! counts and search read. Every write — a local operation or a merge of changes from
//! elsewhere — stores the change and updates the projections in one transaction, so a
//! crash never leaves them apart and a list screen never loads a CRDT.
//!
//! Two connections to the one file (WAL): the **writer** (`conn`) for every write and
//! merge, and a **reader** (`reader`) for lists, counts and search, so a long merge
//! holding the writer's transaction never keeps a list screen waiting (a WAL reader
//! sees the last committed state while a write transaction is open).
//!
//! The `Store`'s methods, by concern (one file each):
//! - opening, membership, roster, documents, compaction, projection rebuild: here;
//! - local operations (post, file, transition, comment, vote…): `actions.rs`;
//! - changes from elsewhere, judged by the policy and parked until their
//!   dependencies arrive: `merge.rs`; relay log entries and bundles: `exchange.rs`;
//! - outbox, acks, rejections, cursor: `sync_state.rs`;
//! - lists, counts, search, tallies (on the reader): `queries.rs`, with the
//!   projection rows they read written by `projection.rs` and `search.rs`;
//! - damage found and healed: `heal.rs`; tables and migrations: `schema.rs`;
//! - attachments (their bytes, states, budget): `attachments.rs`.

mod actions;
mod affairs;
mod attachments;
mod exchange;
mod heal;
mod merge;
mod projection;
mod queries;
mod register;
pub mod schema;
pub mod search;
mod sync_state;

pub use actions::*;
pub use affairs::{ActivitySummary, MatterSummary, NewActivity};
pub use attachments::{
    AttachmentState, AttachmentView, BlobObserver, BlobProgress, BlobReport, DEFAULT_BLOB_BUDGET,
};
pub use exchange::{Provenance, ReceiveReport, MAX_BUNDLE_OPS};
pub use heal::{IntegrityReport, Quarantined, RepairReport};
pub use merge::{MergeReport, MAX_PARKED_PER_SIGNER, MAX_PARKED_TOTAL, PARKED_TTL_MS};
pub use queries::*;
pub use register::*;
pub use sync_state::*;

use crate::doc::EntityDoc;
use crate::error::{Error, Result};
use crate::identity::DeviceKey;
use crate::model::deliberation::Deliberation;
use crate::model::EntityKind;
use crate::policy::{self, Lookup};
use crate::roster::{Member, Roster, SignedRoster, SignedRosterDelta};
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Fold this many incremental changes of an entity into its snapshot.
pub const COMPACT_AFTER: i64 = 64;

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Origin {
    Local,
    Remote,
}

/// An entity that changed, as told to observers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EntityChange {
    pub id: String,
    pub kind: EntityKind,
    pub origin: Origin,
}

/// Subscribers learn which entities changed, by a local edit or a merge.
pub trait Observer: Send + Sync {
    fn entities_changed(&self, changes: &[EntityChange]);
}

impl<F: Fn(&[EntityChange]) + Send + Sync> Observer for F {
    fn entities_changed(&self, changes: &[EntityChange]) {
        self(changes)
    }
}

/// This device's place in a space, set when it enrolls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub space_id: String,
    pub space_name: String,
    pub member_id: String,
    pub relay_url: String,
    pub relay_key: [u8; 32],
}

pub struct Store {
    /// The writer: every write, merge and migration.
    pub(crate) conn: Mutex<Connection>,
    /// The reader: lists, counts and search (`queries.rs`); never writes.
    pub(crate) reader: Mutex<Connection>,
    pub(crate) key: DeviceKey,
    path: PathBuf,
    observers: Mutex<Vec<(u64, Arc<dyn Observer>)>>,
    next_observer: AtomicU64,
    /// One sync of this store at a time (foreground, background loop, WorkManager).
    #[cfg(feature = "http")]
    pub(crate) sync_lock: tokio::sync::Mutex<()>,
    /// One attachment lane pass at a time; apart from `sync_lock`, so document sync
    /// never waits for bytes.
    #[cfg(feature = "http")]
    pub(crate) blob_lock: tokio::sync::Mutex<()>,
}

pub(crate) fn local_get(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT value FROM local WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(crate) fn local_set(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO local(key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

fn local_str(conn: &Connection, key: &str) -> Result<Option<String>> {
    local_get(conn, key)?
        .map(|v| {
            String::from_utf8(v)
                .map_err(|_| Error::Database(format!("local value {key} is not text")))
        })
        .transpose()
}

impl Store {
    /// Open (or create) the store at `path`. A file that is not a Cunwu store, or is
    /// corrupt, gives `Error::Database` and is left untouched.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Any read of a non-database file fails here with NotADatabase.
        conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate_to(&mut conn, schema::LATEST)?;
        let key = match local_get(&conn, "device_secret")? {
            Some(s) => DeviceKey::from_secret(&s)?,
            None => {
                let k = DeviceKey::generate();
                local_set(&conn, "device_secret", &k.secret_bytes())?;
                k
            }
        };
        let reader = Connection::open(&path)?;
        reader.busy_timeout(std::time::Duration::from_secs(10))?;
        reader.pragma_update(None, "query_only", "ON")?;
        let store = Store {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            key,
            path,
            observers: Mutex::new(vec![]),
            next_observer: AtomicU64::new(1),
            #[cfg(feature = "http")]
            sync_lock: tokio::sync::Mutex::new(()),
            #[cfg(feature = "http")]
            blob_lock: tokio::sync::Mutex::new(()),
        };
        if local_get(&store.conn.lock(), "rebuild_projections")?.is_some() {
            store.rebuild_projections()?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's id (hex of its public key).
    pub fn device_id(&self) -> String {
        self.key.id()
    }

    pub fn subscribe(&self, o: Arc<dyn Observer>) -> u64 {
        let id = self.next_observer.fetch_add(1, Ordering::Relaxed);
        self.observers.lock().push((id, o));
        id
    }

    pub fn unsubscribe(&self, id: u64) {
        self.observers.lock().retain(|(i, _)| *i != id);
    }

    pub(crate) fn notify(&self, changes: Vec<EntityChange>) {
        if changes.is_empty() {
            return;
        }
        let obs: Vec<_> = self
            .observers
            .lock()
            .iter()
            .map(|(_, o)| o.clone())
            .collect();
        for o in obs {
            o.entities_changed(&changes);
        }
    }

    // ---- membership and roster -------------------------------------------------

    pub fn membership(&self) -> Result<Option<Membership>> {
        let c = self.conn.lock();
        let Some(space_id) = local_str(&c, "space_id")? else {
            return Ok(None);
        };
        let key = local_get(&c, "relay_key")?.ok_or(Error::NotEnrolled)?;
        Ok(Some(Membership {
            space_id,
            space_name: local_str(&c, "space_name")?.unwrap_or_default(),
            member_id: local_str(&c, "member_id")?.ok_or(Error::NotEnrolled)?,
            relay_url: local_str(&c, "relay_url")?.unwrap_or_default(),
            relay_key: key
                .try_into()
                .map_err(|_| Error::Database("stored relay key is not 32 bytes".into()))?,
        }))
    }

    /// Record the outcome of enrolment: the space, this device's member id, the relay
    /// (whose key is pinned from now on) and the first signed roster.
    pub fn set_membership(&self, m: &Membership, roster: &SignedRoster) -> Result<()> {
        let r = roster.verify(&m.relay_key)?;
        if r.space_id != m.space_id {
            return Err(Error::BadSignature("roster is for another space".into()));
        }
        if r.device(&self.device_id())
            .is_none_or(|d| d.member != m.member_id)
        {
            return Err(Error::invalid(
                "the roster does not list this device for this member",
            ));
        }
        let mut c = self.conn.lock();
        let tx = c.transaction()?;
        local_set(&tx, "space_id", m.space_id.as_bytes())?;
        local_set(&tx, "space_name", m.space_name.as_bytes())?;
        local_set(&tx, "member_id", m.member_id.as_bytes())?;
        local_set(&tx, "relay_url", m.relay_url.as_bytes())?;
        local_set(&tx, "relay_key", &m.relay_key)?;
        local_set(
            &tx,
            "roster",
            &serde_json::to_vec(roster).expect("roster json"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Install a newer roster; it must verify against the pinned relay key.
    pub fn install_roster(&self, signed: &SignedRoster) -> Result<bool> {
        let m = self.membership()?.ok_or(Error::NotEnrolled)?;
        let new = signed.verify(&m.relay_key)?;
        if new.space_id != m.space_id {
            return Err(Error::BadSignature("roster is for another space".into()));
        }
        let c = self.conn.lock();
        let cur = roster_of(&c)?;
        if new.version <= cur.version {
            return Ok(false);
        }
        local_set(
            &c,
            "roster",
            &serde_json::to_vec(signed).expect("roster json"),
        )?;
        Ok(true)
    }

    /// Take a roster update (wire version 6): the changes since a version this phone
    /// held, with the relay's signature of the whole roster they lead to. The result
    /// must verify against the pinned relay key exactly as a whole roster would, and is
    /// kept as one. Returns false when this phone already holds that version or a newer
    /// one (a later page of the same sync may carry the update again).
    pub fn apply_roster_delta(&self, delta: &SignedRosterDelta) -> Result<bool> {
        let m = self.membership()?.ok_or(Error::NotEnrolled)?;
        let cur = self.roster()?;
        if delta.delta()?.version <= cur.version {
            return Ok(false);
        }
        let (_, signed) = delta.apply(&cur, &m.relay_key)?;
        // kept as any whole roster is: the space, and the version against what this
        // phone holds by then (a bundle may have brought a newer one meanwhile)
        self.install_roster(&signed)
    }

    /// The current roster. It is re-verified against the pinned relay key on every
    /// read, so editing the database cannot raise anyone's role.
    pub fn roster(&self) -> Result<Roster> {
        roster_of(&self.conn.lock())
    }

    /// The member this device acts for.
    pub fn me(&self) -> Result<Member> {
        let c = self.conn.lock();
        me_of(&c, &self.device_id())
    }

    /// The request kinds this space offers.
    pub fn request_kinds(&self) -> Vec<String> {
        crate::model::request::catalogue()
    }

    // ---- documents ---------------------------------------------------------------

    pub(crate) fn load_doc(conn: &Connection, id: &str) -> Result<Option<EntityDoc>> {
        let snap: Option<Option<Vec<u8>>> = conn
            .query_row("SELECT snapshot FROM entities WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(snap) = snap else { return Ok(None) };
        let mut stmt =
            conn.prepare_cached("SELECT bytes FROM changes WHERE entity_id = ?1 ORDER BY rowid")?;
        let rows: Vec<Vec<u8>> = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let doc = EntityDoc::load(snap.as_deref(), rows.iter().map(|v| v.as_slice()))?;
        // every stored change was applied when it was stored: one that now waits for
        // a dependency means a stored change is missing (a damaged entity, see heal.rs)
        let missing = doc.pending_deps();
        if !missing.is_empty() {
            return Err(Error::Database(format!(
                "stored document of entity {id} lacks {} change(s) its other changes depend on (first: {})",
                missing.len(),
                missing[0]
            )));
        }
        Ok(Some(doc))
    }

    /// Store a change to an entity (new or existing) and refresh its projections.
    pub(crate) fn store_change(
        tx: &Connection,
        kind: EntityKind,
        id: &str,
        doc: &EntityDoc,
        hash: &[u8],
        bytes: &[u8],
        at: i64,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO entities(id, kind, snapshot, incremental, updated_at) VALUES (?1, ?2, NULL, 0, ?3)
             ON CONFLICT(id) DO NOTHING",
            params![id, kind.as_str(), at],
        )?;
        // automerge's own compressed form (DEFLATE for changes over 256 bytes); loads back the same
        let stored = crate::doc::change_from_bytes(bytes)?.bytes().into_owned();
        let added = tx.execute(
            "INSERT OR IGNORE INTO changes(hash, entity_id, bytes) VALUES (?1, ?2, ?3)",
            params![hash, id, stored],
        )?;
        let n: i64 = tx.query_row(
            "UPDATE entities SET incremental = incremental + ?2, updated_at = max(updated_at, ?3) WHERE id = ?1 RETURNING incremental",
            params![id, added as i64, at],
            |r| r.get(0),
        )?;
        if n >= COMPACT_AFTER {
            Self::compact_entity(tx, id, doc)?;
        }
        projection::project(tx, kind, id, doc)
    }

    /// Replace an entity's incremental changes by one snapshot of the whole document
    /// (history included).
    pub(crate) fn compact_entity(tx: &Connection, id: &str, doc: &EntityDoc) -> Result<()> {
        tx.execute(
            "UPDATE entities SET snapshot = ?2, incremental = 0 WHERE id = ?1",
            params![id, doc.save()],
        )?;
        tx.execute("DELETE FROM changes WHERE entity_id = ?1", [id])?;
        Ok(())
    }

    /// Compact every entity that has incremental changes (e.g. after a large merge).
    pub fn compact(&self) -> Result<usize> {
        let mut c = self.conn.lock();
        let tx = c.transaction()?;
        let ids: Vec<String> = {
            let mut s = tx.prepare("SELECT id FROM entities WHERE incremental > 0")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        for id in &ids {
            if let Some(doc) = Self::load_doc(&tx, id)? {
                Self::compact_entity(&tx, id, &doc)?;
            }
        }
        tx.commit()?;
        Ok(ids.len())
    }

    /// Recompute every projection row from the documents (after a migration).
    pub fn rebuild_projections(&self) -> Result<()> {
        let mut c = self.conn.lock();
        let tx = c.transaction()?;
        for t in [
            "notices",
            "receipts",
            "requests",
            "deliberations",
            "ballots",
            "electorate",
            "persons",
            "matters",
            "party_activities",
            "party_attendance",
            "blob_refs",
        ] {
            tx.execute(&format!("DELETE FROM {t}"), [])?;
        }
        tx.execute("INSERT INTO search(search) VALUES ('delete-all')", [])?;
        let ids: Vec<(String, String)> = {
            let mut s = tx.prepare("SELECT id, kind FROM entities")?;
            let v = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        for (id, kind) in ids {
            if let Some(doc) = Self::load_doc(&tx, &id)? {
                projection::project(&tx, EntityKind::parse(&kind)?, &id, &doc)?;
            }
        }
        tx.execute("DELETE FROM local WHERE key = 'rebuild_projections'", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Run SQLite's integrity check (for tests and diagnostics).
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .lock()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The whole document of an entity as JSON (for debugging and convergence tests).
    pub fn document_json(&self, id: &str) -> Result<Value> {
        let c = self.conn.lock();
        Ok(Self::load_doc(&c, id)?
            .ok_or_else(|| Error::NotFound(format!("entity {id}")))?
            .to_json())
    }

    /// Ids and kinds of every entity in the store.
    pub fn entity_ids(&self) -> Result<Vec<(String, EntityKind)>> {
        let c = self.conn.lock();
        let mut s = c.prepare("SELECT id, kind FROM entities ORDER BY id")?;
        let rows: Vec<(String, String)> = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(i, k)| Ok((i, EntityKind::parse(&k)?)))
            .collect()
    }
}

/// When each event of `doc` reached the village, from the arrival times recorded for
/// the changes that appended them (events not yet at the relay are left out).
pub(crate) fn arrivals(c: &Connection, doc: &EntityDoc) -> Result<crate::model::notice::Arrivals> {
    let mut out = crate::model::notice::Arrivals::new();
    let mut at = c.prepare_cached("SELECT at FROM arrivals WHERE hash = ?1")?;
    for (event, change) in doc.events_json().iter().zip(doc.event_changes()) {
        // only the events whose dates people see need their arrival (publications and
        // questions): a notice read by a whole village costs no lookup per receipt
        let dated = event
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| crate::model::notice::ARRIVAL_DATED_EVENTS.contains(&t));
        let (true, Some(id), Some(h)) = (dated, event.get("id").and_then(Value::as_str), change)
        else {
            continue;
        };
        if let Some(t) = at
            .query_row([&h.0[..]], |r| r.get::<_, i64>(0))
            .optional()?
        {
            out.insert(id.to_string(), t);
        }
    }
    Ok(out)
}

pub(crate) fn roster_of(c: &Connection) -> Result<Roster> {
    let key = local_get(c, "relay_key")?.ok_or(Error::NotEnrolled)?;
    let raw = local_get(c, "roster")?.ok_or(Error::NotEnrolled)?;
    let signed: SignedRoster =
        serde_json::from_slice(&raw).map_err(|e| Error::Database(format!("stored roster: {e}")))?;
    Ok(signed.verify(&key)?)
}

pub(crate) fn me_of(c: &Connection, device: &str) -> Result<Member> {
    let roster = roster_of(c)?;
    Ok(roster.signer(device, None).cloned()?)
}

/// Lets the policy see other entities (a ballot's deliberation) inside a transaction.
pub(crate) struct ConnLookup<'a>(pub &'a Connection);

impl Lookup for ConnLookup<'_> {
    fn deliberation(&self, id: &str) -> Option<Deliberation> {
        Store::load_doc(self.0, id).ok()??.deliberation()
    }

    fn register(&self, at: Option<&[String]>) -> Option<crate::model::register::Register> {
        let space = local_get(self.0, "space_id").ok()??;
        let id = crate::model::register::register_id(&String::from_utf8(space).ok()?);
        Store::load_doc(self.0, &id).ok()??.register(at)
    }

    fn vote_final(&self, deliberation: &str) -> bool {
        let json: Option<Vec<u8>> = self
            .0
            .query_row(
                "SELECT tally_json FROM tallies WHERE deliberation_id = ?1",
                [deliberation],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        json.and_then(|j| serde_json::from_slice::<crate::model::deliberation::Tally>(&j).ok())
            .is_some_and(|t| t.final_result)
    }
}

pub(crate) fn policy_ctx<'a>(
    roster: &'a Roster,
    kinds: &'a [String],
    lookup: &'a dyn Lookup,
) -> policy::Context<'a> {
    policy::Context {
        roster,
        kinds,
        arrival: None,
        roster_floor: None,
        lookup,
    }
}
