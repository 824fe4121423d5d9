//! The one entry point for changes from elsewhere (the relay, a bundle, a test peer).
//! Idempotent (a change already held is skipped by hash), order-independent (a change
//! whose dependencies have not arrived is parked and retried when they do), and every
//! change is checked — signer in the roster, policy — exactly as the relay checks it.

use super::{policy_ctx, projection, roster_of, ConnLookup, EntityChange, Origin, Store};
use crate::doc::{change_from_bytes, EntityDoc};
use crate::error::{Error, Result};
use crate::model::EntityKind;
use crate::policy;
use crate::roster::Roster;
use crate::wire::{SignedTally, VerifiedChange};
use automerge::ChangeHash;
use rusqlite::{params, Connection};
use serde_json::Value;
use std::collections::HashSet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub applied: usize,
    pub duplicates: usize,
    /// Waiting for dependencies (kept, retried on the next merge).
    pub parked: usize,
    /// (entity id, change hash hex, reason) of changes refused by signature or policy.
    pub rejected: Vec<(String, String, String)>,
    pub changed: Vec<EntityChange>,
}

enum Verdict {
    Applied,
    Duplicate,
    Park,
    Reject(String),
}

impl Store {
    /// Merge changes whose batch signatures have been verified (see `wire::SignedBatch::verify`).
    pub fn merge(&self, changes: Vec<VerifiedChange>) -> Result<MergeReport> {
        let mut conn = self.conn.lock();
        let roster = roster_of(&conn)?;
        let kinds = self.request_kinds();
        let tx = conn.transaction()?;
        let mut report = MergeReport::default();
        let mut queue: Vec<VerifiedChange> = changes;
        // parked changes of the touched entities get another chance
        let touched: HashSet<String> = queue.iter().map(|c| c.entity.clone()).collect();
        for e in &touched {
            queue.extend(take_parked(&tx, e)?);
        }
        let mut changed: Vec<EntityChange> = vec![];
        loop {
            let mut progress = false;
            let mut waiting = vec![];
            for c in queue.drain(..) {
                match merge_one(&tx, &roster, &kinds, &c)? {
                    Verdict::Applied => {
                        progress = true;
                        report.applied += 1;
                        let kind = entity_kind(&tx, &c.entity)?;
                        if !changed.iter().any(|x| x.id == c.entity) {
                            changed.push(EntityChange {
                                id: c.entity.clone(),
                                kind,
                                origin: Origin::Remote,
                            });
                        }
                        // a new deliberation may unpark ballots
                        if kind == EntityKind::Deliberation {
                            waiting.extend(take_parked_ballots(&tx)?);
                        }
                    }
                    Verdict::Duplicate => report.duplicates += 1,
                    Verdict::Park => waiting.push(c),
                    Verdict::Reject(reason) => {
                        report.rejected.push((
                            c.entity.clone(),
                            c.change.hash().to_string(),
                            reason,
                        ));
                    }
                }
            }
            queue = waiting;
            if !progress || queue.is_empty() {
                break;
            }
        }
        let mut seen = HashSet::new();
        for c in queue {
            if seen.insert(c.change.hash()) {
                report.parked += 1;
                tx.execute(
                    "INSERT OR IGNORE INTO parked(hash, entity_id, author, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![&c.change.hash().0[..], c.entity, c.author, c.seq.map(|s| s as i64), c.change.raw_bytes()],
                )?;
            }
        }
        tx.commit()?;
        drop(conn);
        report.changed = changed.clone();
        self.notify(changed);
        Ok(report)
    }

    /// Store tallies signed by the relay (checked against the pinned relay key).
    pub fn merge_tallies(&self, tallies: &[SignedTally]) -> Result<Vec<EntityChange>> {
        let m = self.membership()?.ok_or(Error::NotEnrolled)?;
        let mut out = vec![];
        let conn = self.conn.lock();
        for t in tallies {
            let tally = t.verify(&m.relay_key)?;
            conn.execute(
                "INSERT OR REPLACE INTO tallies(deliberation_id, tally_json, signature) VALUES (?1, ?2, ?3)",
                params![tally.deliberation, t.tally_json, t.signature],
            )?;
            out.push(EntityChange {
                id: tally.deliberation,
                kind: EntityKind::Deliberation,
                origin: Origin::Remote,
            });
        }
        drop(conn);
        self.notify(out.clone());
        Ok(out)
    }
}

fn entity_kind(tx: &Connection, id: &str) -> Result<EntityKind> {
    let k: String = tx.query_row("SELECT kind FROM entities WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    EntityKind::parse(&k)
}

fn take_parked(tx: &Connection, entity: &str) -> Result<Vec<VerifiedChange>> {
    let rows: Vec<(Vec<u8>, String, Option<i64>)> = {
        let mut s =
            tx.prepare_cached("SELECT bytes, author, seq FROM parked WHERE entity_id = ?1")?;
        let v = s
            .query_map([entity], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    tx.execute("DELETE FROM parked WHERE entity_id = ?1", [entity])?;
    rows.into_iter()
        .map(|(b, author, seq)| {
            Ok(VerifiedChange {
                entity: entity.to_string(),
                change: change_from_bytes(&b)?,
                author,
                seq: seq.map(|s| s as u64),
            })
        })
        .collect()
}

fn take_parked_ballots(tx: &Connection) -> Result<Vec<VerifiedChange>> {
    let ids: Vec<String> = {
        let mut s = tx.prepare_cached("SELECT DISTINCT entity_id FROM parked")?;
        let v = s
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    let mut out = vec![];
    for id in ids {
        out.extend(take_parked(tx, &id)?);
    }
    Ok(out)
}

fn merge_one(
    tx: &Connection,
    roster: &Roster,
    kinds: &[String],
    c: &VerifiedChange,
) -> Result<Verdict> {
    let mut doc = Store::load_doc(tx, &c.entity)?.unwrap_or_else(EntityDoc::empty);
    let hash = c.change.hash();
    if doc.has_change(&hash) {
        return Ok(Verdict::Duplicate);
    }
    if !doc.missing_deps(&c.change).is_empty() {
        return Ok(Verdict::Park);
    }
    let signer = match roster.signer(&c.author, c.seq) {
        Ok(m) => m.clone(),
        Err(e) => return Ok(Verdict::Reject(e.to_string())),
    };
    doc = match policy::check_change(
        &policy_ctx(roster, kinds, &ConnLookup(tx)),
        &signer,
        &doc,
        &c.entity,
        &c.change,
    ) {
        Ok(after) => after,
        Err(Error::NotFound(_)) => return Ok(Verdict::Park),
        Err(e) => return Ok(Verdict::Reject(e.to_string())),
    };
    let (kind, _) = doc.header().expect("checked by the policy");
    let at = after_time(&doc.to_json());
    // one bad change must never abort the whole merge: store it under a savepoint
    tx.execute_batch("SAVEPOINT merge_one")?;
    match Store::store_change(tx, kind, &c.entity, &doc, &hash.0, c.change.raw_bytes(), at) {
        Ok(()) => {
            tx.execute_batch("RELEASE merge_one")?;
            Ok(Verdict::Applied)
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO merge_one; RELEASE merge_one")?;
            Ok(Verdict::Reject(format!("could not be stored: {e}")))
        }
    }
}

fn after_time(after: &Value) -> i64 {
    after
        .get("events")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .filter_map(|e| e.get("at").and_then(Value::as_i64))
                .max()
        })
        .unwrap_or(0)
}

/// Rebuild an entity's document without `drop` and every change that depends on
/// them; returns every hash removed. An entity left with no change disappears.
pub(crate) fn drop_changes(
    tx: &Connection,
    entity: &str,
    drop: &HashSet<ChangeHash>,
) -> Result<HashSet<ChangeHash>> {
    let Some(doc) = Store::load_doc(tx, entity)? else {
        return Ok(HashSet::new());
    };
    let all = doc.all_changes();
    let mut dropped: HashSet<ChangeHash> = HashSet::new();
    let mut keep = vec![];
    for c in all {
        if drop.contains(&c.hash()) || c.deps().iter().any(|d| dropped.contains(d)) {
            dropped.insert(c.hash());
        } else {
            keep.push(c);
        }
    }
    if dropped.is_empty() {
        return Ok(dropped);
    }
    if keep.is_empty() {
        tx.execute("DELETE FROM changes WHERE entity_id = ?1", [entity])?;
        projection::remove(tx, entity)?;
        tx.execute("DELETE FROM entities WHERE id = ?1", [entity])?;
        return Ok(dropped);
    }
    let mut fresh = EntityDoc::empty();
    fresh.apply(keep)?;
    let kind = fresh
        .header()
        .map(|h| h.0)
        .ok_or_else(|| Error::Document("rebuilt document lost its header".into()))?;
    Store::compact_entity(tx, entity, &fresh)?;
    projection::remove(tx, entity)?;
    projection::project(tx, kind, entity, &fresh)?;
    Ok(dropped)
}
