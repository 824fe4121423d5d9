//! A phone heals. One damaged entity (a stored change or snapshot that no longer
//! loads, a missing change, a garbled parked row, a missing projection or outbox row)
//! must never stop the rest of the sync. This module holds the one procedure for it:
//! the damaged entity is *quarantined* (its rows removed, the reason recorded in the
//! `quarantine` table, reported), this device's own changes that can still be read
//! are kept aside in `kept_changes` (the relay never sends a device its own changes
//! back), and a full pull is requested, so the next sync starts again from cursor 0:
//! the relay re-sends everything, merge is idempotent, and the entity is re-created
//! from what the relay holds, with the kept changes put back on top. A change made
//! here that can no longer be read is marked rejected with a reason saying so: it is
//! reported, never silently kept as "pending".
//!
//! `Store::check_integrity` looks for every kind of damage without changing anything;
//! `Store::repair` fixes what it finds (quarantine, outbox rows re-derived from the
//! documents, projections rebuilt, a full pull requested).

use super::merge::{drop_parked, MergeReport};
use super::{local_set, projection, EntityChange, Store};
use crate::doc::{change_from_bytes, EntityDoc};
use crate::error::Result;
use crate::ids::now_ms;
use crate::model::EntityKind;
use automerge::{Automerge, ChangeHash};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// `local` key: set when a full pull is wanted (read and cleared by `Store::cursor`).
pub(crate) const FULL_PULL_KEY: &str = "full_pull";

/// One entry of the quarantine log: an entity (or a parked change of it) found damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    pub entity_id: String,
    pub reason: String,
    /// UTC ms.
    pub at: i64,
}

/// What `check_integrity` found. Every list holds (what, problem) in plain words.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// SQLite's own `PRAGMA integrity_check` lines ("ok" when the file is sound).
    pub sqlite: Vec<String>,
    /// (entity id, problem): documents that do not load or lack changes.
    pub damaged_entities: Vec<(String, String)>,
    /// (entity id, problem): projection rows missing or not matching the document.
    pub projections: Vec<(String, String)>,
    /// (change hash hex, problem): outbox rows whose change is not in its document.
    pub outbox_missing_change: Vec<(String, String)>,
    /// (change hash hex, entity id): changes made on this device with no outbox row.
    pub changes_without_outbox: Vec<(String, String)>,
    /// (change hash hex, problem): parked rows that do not read.
    pub garbled_parked: Vec<(String, String)>,
    /// Local changes saved from a damaged entity, waiting to be put back.
    pub kept_changes: usize,
    /// A full pull from the relay is requested for the next sync.
    pub full_pull_requested: bool,
}

impl IntegrityReport {
    /// Nothing is damaged (kept changes and a requested pull are work in progress, not damage).
    pub fn is_ok(&self) -> bool {
        self.sqlite == ["ok"]
            && self.damaged_entities.is_empty()
            && self.projections.is_empty()
            && self.outbox_missing_change.is_empty()
            && self.changes_without_outbox.is_empty()
            && self.garbled_parked.is_empty()
    }

    /// Every problem as one line of plain words.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .sqlite
            .iter()
            .filter(|l| *l != "ok")
            .map(|l| format!("sqlite: {l}"))
            .collect();
        out.extend(
            self.damaged_entities
                .iter()
                .map(|(e, p)| format!("entity {e}: {p}")),
        );
        out.extend(
            self.projections
                .iter()
                .map(|(e, p)| format!("entity {e}: {p}")),
        );
        out.extend(
            self.outbox_missing_change
                .iter()
                .map(|(h, p)| format!("local change {h}: {p}")),
        );
        out.extend(self.changes_without_outbox.iter().map(|(h, e)| {
            format!("local change {h} of entity {e} has no outbox row (it would never be sent)")
        }));
        out.extend(
            self.garbled_parked
                .iter()
                .map(|(h, p)| format!("parked change {h}: {p}")),
        );
        out
    }
}

/// What `repair` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    pub before: IntegrityReport,
    /// (entity id, reason) of entities removed to be fetched again.
    pub quarantined: Vec<(String, String)>,
    /// Outbox rows re-derived from the documents (changes that would never have been sent).
    pub outbox_restored: usize,
    /// (change hash hex, reason) of changes made here that can never be sent.
    pub lost: Vec<(String, String)>,
    /// Garbled parked rows dropped (the relay sends those changes again).
    pub parked_dropped: usize,
    /// Kept local changes put back into their documents.
    pub restored: usize,
    pub projections_rebuilt: bool,
    /// The next sync pulls everything again from the relay.
    pub full_pull_requested: bool,
    pub after: IntegrityReport,
}

pub(crate) fn record_quarantine(
    tx: &Connection,
    entity: &str,
    reason: &str,
    at: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO quarantine(entity_id, reason, at) VALUES (?1, ?2, ?3)",
        params![entity, reason, at],
    )?;
    tracing::warn!(entity, reason, "quarantined");
    Ok(())
}

pub(crate) fn request_full_pull(tx: &Connection) -> Result<()> {
    local_set(tx, FULL_PULL_KEY, &[1])
}

/// Every change of an entity that can still be read, from its snapshot and from each
/// incremental row, each on its own (one bad row does not spoil the others).
fn salvage(tx: &Connection, entity: &str) -> Result<HashMap<ChangeHash, automerge::Change>> {
    let mut out = HashMap::new();
    let snap: Option<Option<Vec<u8>>> = tx
        .query_row(
            "SELECT snapshot FROM entities WHERE id = ?1",
            [entity],
            |r| r.get(0),
        )
        .optional()
        .unwrap_or(None);
    if let Some(Some(s)) = snap {
        if let Ok(doc) = Automerge::load(&s) {
            for c in doc.get_changes(&[]) {
                out.insert(c.hash(), c.clone());
            }
        }
    }
    let rows: Vec<Vec<u8>> = {
        let mut s = tx.prepare("SELECT bytes FROM changes WHERE entity_id = ?1")?;
        let v = s
            .query_map([entity], |r| r.get(0))?
            .filter_map(|r| r.ok())
            .collect();
        v
    };
    for b in rows {
        // stored rows are in automerge's DEFLATE form (written by this device)
        if let Ok(c) = crate::doc::stored_change(&b) {
            out.insert(c.hash(), c);
        }
    }
    Ok(out)
}

/// Quarantine one damaged entity (see the module docs). `me` is this device's id.
pub(crate) fn quarantine(
    tx: &Connection,
    entity: &str,
    reason: &str,
    me: &str,
    report: &mut MergeReport,
) -> Result<()> {
    let now = now_ms();
    let salvaged = salvage(tx, entity)?;
    // this device's changes of the entity, by outbox state
    let outbox: Vec<(Vec<u8>, String)> = {
        let mut s = tx.prepare("SELECT hash, state FROM outbox WHERE entity_id = ?1")?;
        let v = s
            .query_map([entity], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    let state: HashMap<Vec<u8>, String> = outbox.into_iter().collect();
    let mut own: Vec<&automerge::Change> = salvaged
        .values()
        .filter(|c| c.actor_id().to_hex_string() == me)
        .collect();
    // lost: own changes (by the outbox) that no longer read, and own changes built on them
    let mut lost: HashSet<ChangeHash> = state
        .keys()
        .filter_map(|h| <[u8; 32]>::try_from(&h[..]).ok().map(ChangeHash))
        .filter(|h| !salvaged.contains_key(h))
        .collect();
    loop {
        let before = lost.len();
        own.retain(|c| {
            if c.deps().iter().any(|d| lost.contains(d)) {
                lost.insert(c.hash());
                false
            } else {
                true
            }
        });
        if lost.len() == before {
            break;
        }
    }
    for c in own {
        tx.execute(
            "INSERT OR REPLACE INTO kept_changes(hash, entity_id, bytes) VALUES (?1, ?2, ?3)",
            params![&c.hash().0[..], entity, c.raw_bytes()],
        )?;
    }
    for h in &lost {
        let acked = state.get(&h.0[..]).is_some_and(|s| s == "acked");
        let why = if acked {
            "made on this device and acknowledged by the relay, but lost with a damaged stored entity; \
             the relay holds it (it does not send a device its own changes back)"
        } else {
            "made on this device and lost with a damaged stored entity before the relay acknowledged it: it can never be sent"
        };
        if !acked {
            tx.execute(
                "UPDATE outbox SET state = 'rejected', reason = ?2, updated_at = ?3 WHERE hash = ?1 AND state IN ('pending', 'sent')",
                params![&h.0[..], why, now],
            )?;
        }
        report.lost.push((h.to_string(), why.to_string()));
    }
    projection::remove(tx, entity)?;
    tx.execute("DELETE FROM changes WHERE entity_id = ?1", [entity])?;
    tx.execute("DELETE FROM entities WHERE id = ?1", [entity])?;
    record_quarantine(tx, entity, reason, now)?;
    request_full_pull(tx)?;
    report
        .quarantined
        .push((entity.to_string(), reason.to_string()));
    Ok(())
}

/// Quarantine outside a merge (the outbox meets a damaged entity): its own transaction.
pub(crate) fn quarantine_now(
    conn: &Connection,
    entity: &str,
    reason: &str,
    me: &str,
) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    quarantine(&tx, entity, reason, me, &mut MergeReport::default())?;
    tx.commit()?;
    Ok(())
}

/// Whether a change of this device is kept aside from a damaged entity (it will be
/// put back and sent; not lost).
pub(crate) fn is_kept(conn: &Connection, hash: &[u8]) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT count(*) FROM kept_changes WHERE hash = ?1",
        [hash],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// Put kept local changes back into their documents once what they build on is there
/// again. Returns (entity, change) of every change put back.
pub(crate) fn restore_kept(
    tx: &Connection,
    report: &mut MergeReport,
) -> Result<Vec<(String, ChangeHash)>> {
    let mut changed = vec![];
    loop {
        let rows: Vec<(Vec<u8>, String, Vec<u8>)> = {
            let mut s = tx.prepare_cached("SELECT hash, entity_id, bytes FROM kept_changes")?;
            let v = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let mut progress = false;
        for (h, entity, bytes) in rows {
            let Ok(c) = change_from_bytes(&bytes) else {
                tx.execute("DELETE FROM kept_changes WHERE hash = ?1", [&h])?;
                report.lost.push((
                    hex::encode(&h),
                    "a kept local change no longer reads".into(),
                ));
                continue;
            };
            let Ok(doc) = Store::load_doc(tx, &entity) else {
                continue;
            };
            let mut doc = doc.unwrap_or_else(EntityDoc::empty);
            if doc.has_change(&c.hash()) {
                tx.execute("DELETE FROM kept_changes WHERE hash = ?1", [&h])?;
                continue;
            }
            if !doc.missing_deps(&c).is_empty() {
                continue;
            }
            doc.apply(vec![c.clone()])?;
            let Some((kind, _)) = doc.header() else {
                continue;
            };
            let at = c.timestamp() * 1000;
            tx.execute_batch("SAVEPOINT restore_kept")?;
            match Store::store_change(tx, kind, &entity, &doc, &c.hash().0, c.raw_bytes(), at) {
                Ok(()) => {
                    tx.execute("DELETE FROM kept_changes WHERE hash = ?1", [&h])?;
                    tx.execute_batch("RELEASE restore_kept")?;
                    progress = true;
                    changed.push((entity, c.hash()));
                }
                Err(_) => tx.execute_batch("ROLLBACK TO restore_kept; RELEASE restore_kept")?,
            }
        }
        if !progress {
            return Ok(changed);
        }
    }
}

/// Projection rows of an entity, as text (for comparing).
fn projection_rows(tx: &Connection, id: &str) -> Result<Vec<String>> {
    let mut out = vec![];
    for (t, col) in [
        ("notices", "id"),
        ("receipts", "notice_id"),
        ("requests", "id"),
        ("deliberations", "id"),
        ("ballots", "id"),
        ("electorate", "deliberation_id"),
        ("persons", "register_id"),
    ] {
        let mut s = tx.prepare(&format!("SELECT * FROM {t} WHERE {col} = ?1 ORDER BY 1, 2"))?;
        let n = s.column_count();
        let rows = s.query_map([id], |r| {
            let mut line = format!("{t}:");
            for i in 0..n {
                line.push_str(&format!(" {:?}", r.get::<_, rusqlite::types::Value>(i)?));
            }
            Ok(line)
        })?;
        for l in rows {
            out.push(l?);
        }
    }
    Ok(out)
}

impl Store {
    /// Look for every kind of damage without changing anything: SQLite's integrity
    /// check, every entity loads, every projection row exists and matches its
    /// document, every outbox row's change is in its document, every change made here
    /// has an outbox row, every parked row reads.
    pub fn check_integrity(&self) -> Result<IntegrityReport> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let r = check_in(&tx, &self.device_id())?;
        tx.rollback()?;
        Ok(r)
    }

    /// Integrity check, then fix: quarantine damaged entities, re-derive missing outbox
    /// rows, report changes made here that can never be sent, drop garbled parked rows,
    /// rebuild every projection, put kept changes back, and request a full pull (the
    /// next sync fetches everything again). Safe to run at any time, also when nothing
    /// is damaged.
    pub fn repair(&self) -> Result<RepairReport> {
        let me = self.device_id();
        let mut out = RepairReport::default();
        let mut changed = vec![];
        {
            let mut conn = self.conn.lock();
            let tx = conn.transaction()?;
            out.before = check_in(&tx, &me)?;
            let mut merge = MergeReport::default();
            for (e, why) in &out.before.damaged_entities {
                quarantine(&tx, e, why, &me, &mut merge)?;
            }
            let now = now_ms();
            for (h, e) in &out.before.changes_without_outbox {
                let kind: String = tx
                    .query_row("SELECT kind FROM entities WHERE id = ?1", [e], |r| r.get(0))
                    .optional()?
                    .unwrap_or_default();
                let hash = hex::decode(h).unwrap_or_default();
                out.outbox_restored += tx.execute(
                    "INSERT OR IGNORE INTO outbox(hash, entity_id, kind, summary, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 'recovered by repair (its outbox row was missing)', 'pending', ?4, ?4)",
                    params![hash, e, kind, now],
                )?;
            }
            // outbox rows whose change is gone and not kept aside: can never be sent
            for (h, _) in &out.before.outbox_missing_change {
                let hash = hex::decode(h).unwrap_or_default();
                let kept: i64 = tx.query_row(
                    "SELECT count(*) FROM kept_changes WHERE hash = ?1",
                    [&hash],
                    |r| r.get(0),
                )?;
                if kept > 0 {
                    continue;
                }
                let why = "made on this device and lost from the store before the relay acknowledged it: it can never be sent";
                let n = tx.execute(
                    "UPDATE outbox SET state = 'rejected', reason = ?2, updated_at = ?3 WHERE hash = ?1 AND state IN ('pending', 'sent')",
                    params![hash, why, now],
                )?;
                if n > 0 {
                    merge.lost.push((h.clone(), why.to_string()));
                }
            }
            for (h, why) in &out.before.garbled_parked {
                let hash = hex::decode(h).unwrap_or_default();
                let entity: String = tx
                    .query_row(
                        "SELECT entity_id FROM parked WHERE hash = ?1",
                        [&hash],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or_default();
                drop_parked(&tx, &hash)?;
                record_quarantine(
                    &tx,
                    &entity,
                    &format!("parked change {h} {why}: dropped"),
                    now,
                )?;
                out.parked_dropped += 1;
            }
            let restored = restore_kept(&tx, &mut merge)?;
            out.restored = restored.len();
            for (e, _) in restored {
                if !changed.contains(&e) {
                    changed.push(e);
                }
            }
            request_full_pull(&tx)?;
            local_set(&tx, "rebuild_projections", &[1])?;
            tx.commit()?;
            out.quarantined = merge.quarantined;
            out.lost = merge.lost;
        }
        self.rebuild_projections()?;
        out.projections_rebuilt = true;
        out.full_pull_requested = true;
        out.after = self.check_integrity()?;
        let mut note = vec![];
        for id in changed {
            let kind: Option<String> = self
                .conn
                .lock()
                .query_row("SELECT kind FROM entities WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()?;
            if let Some(k) = kind.and_then(|k| EntityKind::parse(&k).ok()) {
                note.push(EntityChange {
                    id,
                    kind: k,
                    origin: super::Origin::Remote,
                });
            }
        }
        self.notify(note);
        Ok(out)
    }

    /// The quarantine log, newest first.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>> {
        let c = self.conn.lock();
        let mut s =
            c.prepare("SELECT entity_id, reason, at FROM quarantine ORDER BY n DESC LIMIT 1000")?;
        let rows = s.query_map([], |r| {
            Ok(Quarantined {
                entity_id: r.get(0)?,
                reason: r.get(1)?,
                at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether the next sync pulls everything again from the relay.
    pub fn full_pull_requested(&self) -> Result<bool> {
        Ok(super::local_get(&self.conn.lock(), FULL_PULL_KEY)?.is_some())
    }
}

fn check_in(tx: &Connection, me: &str) -> Result<IntegrityReport> {
    let mut r = IntegrityReport::default();
    {
        let mut s = tx.prepare("PRAGMA integrity_check")?;
        r.sqlite = s
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    let ids: Vec<(String, String)> = {
        let mut s = tx.prepare("SELECT id, kind FROM entities ORDER BY id")?;
        let v = s
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    let mut docs: HashMap<String, EntityDoc> = HashMap::new();
    for (id, kind) in ids {
        let doc = match Store::load_doc(tx, &id) {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                r.damaged_entities.push((id, e.to_string()));
                continue;
            }
        };
        let Ok(kind) = EntityKind::parse(&kind) else {
            r.damaged_entities
                .push((id, format!("unknown kind {kind:?}")));
            continue;
        };
        if doc.header().map(|h| h.0) != Some(kind) {
            r.damaged_entities.push((
                id,
                format!("its document does not say it is a {}", kind.as_str()),
            ));
            continue;
        }
        // the projection it should have: computed under a savepoint, then undone
        let held = projection_rows(tx, &id)?;
        tx.execute_batch("SAVEPOINT check_projection")?;
        let fresh = projection::remove(tx, &id)
            .and_then(|_| projection::project(tx, kind, &id, &doc))
            .and_then(|_| projection_rows(tx, &id));
        tx.execute_batch("ROLLBACK TO check_projection; RELEASE check_projection")?;
        match fresh {
            Ok(f) if f == held => {}
            // rows missing and none different (a notice's receipts may outlive its row:
            // the author of a revision has read it)
            Ok(f) if held.len() < f.len() && held.iter().all(|h| f.contains(h)) => r
                .projections
                .push((id.clone(), "its list row is missing".into())),
            Ok(_) => r.projections.push((
                id.clone(),
                "its list row does not match its document".into(),
            )),
            Err(e) => r
                .damaged_entities
                .push((id.clone(), format!("its document does not fold: {e}"))),
        }
        docs.insert(id, doc);
    }
    let outbox: Vec<(Vec<u8>, String, String)> = {
        let mut s = tx.prepare("SELECT hash, entity_id, state FROM outbox")?;
        let v = s
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    let listed: HashSet<Vec<u8>> = outbox.iter().map(|(h, _, _)| h.clone()).collect();
    let damaged: HashSet<&String> = r.damaged_entities.iter().map(|(e, _)| e).collect();
    for (h, e, state) in &outbox {
        if !(state == "pending" || state == "sent") || damaged.contains(e) {
            continue;
        }
        let present = <[u8; 32]>::try_from(&h[..])
            .ok()
            .is_some_and(|a| docs.get(e).is_some_and(|d| d.has_change(&ChangeHash(a))));
        if !present {
            let kept: i64 = tx.query_row(
                "SELECT count(*) FROM kept_changes WHERE hash = ?1",
                [h],
                |row| row.get(0),
            )?;
            if kept == 0 {
                r.outbox_missing_change.push((
                    hex::encode(h),
                    format!(
                        "not {state} yet, and missing from its document {e}: it cannot be sent"
                    ),
                ));
            }
        }
    }
    for (id, doc) in &docs {
        for c in doc.all_changes() {
            if c.actor_id().to_hex_string() == me && !listed.contains(&c.hash().0[..]) {
                r.changes_without_outbox
                    .push((c.hash().to_string(), id.clone()));
            }
        }
    }
    r.changes_without_outbox.sort();
    let parked: Vec<(Vec<u8>, Vec<u8>)> = {
        let mut s = tx.prepare("SELECT hash, bytes FROM parked")?;
        let v = s
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    for (h, b) in parked {
        match change_from_bytes(&b) {
            Ok(c) if c.hash().0[..] == h[..] => {}
            Ok(_) => r
                .garbled_parked
                .push((hex::encode(&h), "does not match its hash".into())),
            Err(e) => r
                .garbled_parked
                .push((hex::encode(&h), format!("does not read ({e})"))),
        }
    }
    r.kept_changes = tx.query_row("SELECT count(*) FROM kept_changes", [], |row| {
        row.get::<_, i64>(0)
    })? as usize;
    r.full_pull_requested = super::local_get(tx, FULL_PULL_KEY)?.is_some();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn a_full_pull_request_restarts_the_next_sync_from_cursor_zero_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        s.set_cursor(42).unwrap();
        assert_eq!(s.cursor().unwrap(), 42);
        super::request_full_pull(&s.conn.lock()).unwrap();
        assert!(s.full_pull_requested().unwrap());
        // a sync that was under way stores its cursor: the request survives it
        s.set_cursor(50).unwrap();
        assert_eq!(s.cursor().unwrap(), 0, "the next sync starts from 0");
        assert!(!s.full_pull_requested().unwrap(), "once");
        s.set_cursor(7).unwrap();
        assert_eq!(s.cursor().unwrap(), 7);
    }

    #[test]
    fn integrity_check_of_a_fresh_store_is_ok_and_repair_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        let r = s.check_integrity().unwrap();
        assert!(r.is_ok(), "{:?}", r.problems());
        let fixed = s.repair().unwrap();
        assert!(
            fixed.quarantined.is_empty() && fixed.lost.is_empty() && fixed.outbox_restored == 0,
            "{fixed:?}"
        );
        assert!(fixed.after.is_ok());
        assert!(s.quarantined().unwrap().is_empty());
    }
}
