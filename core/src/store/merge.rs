//! The one entry point for changes from elsewhere (the relay, a bundle, a test peer).
//! Idempotent (a change already held is skipped by hash), order-independent (a change
//! whose dependencies have not arrived is parked and retried when they do), and every
//! change is checked — signer in the roster, policy — exactly as the relay checks it.
//!
//! Parking is bounded: only changes from known signers are parked, at most
//! `MAX_PARKED_PER_SIGNER` per signer and `MAX_PARKED_TOTAL` in all, for at most
//! `PARKED_TTL_MS`; each parked change records what it waits for (`parked_waits`), so
//! applying a change retries exactly what it unblocks, and refusing one refuses what
//! waits for it. A damaged entity met here is quarantined (`heal.rs`), never fatal.

use super::{heal, policy_ctx, projection, roster_of, ConnLookup, EntityChange, Origin, Store};
use crate::doc::{change_from_bytes, EntityDoc};
use crate::error::{Error, Result};
use crate::ids::{now_ms, DAY_MS};
use crate::model::deliberation::Tally;
use crate::model::EntityKind;
use crate::policy;
use crate::roster::Roster;
use crate::wire::{SignedTally, VerifiedChange};
use automerge::ChangeHash;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Most parked changes kept per signer: one device can fill at most this much of a
/// phone with changes whose dependencies never come (a bundle of orphans).
pub const MAX_PARKED_PER_SIGNER: i64 = 2_000;
/// Most parked changes kept in all (the whole space).
pub const MAX_PARKED_TOTAL: i64 = 20_000;
/// A parked change whose dependencies have not come within this time is dropped (the
/// relay sends it again after a full pull, so nothing the relay holds is lost).
pub const PARKED_TTL_MS: i64 = 30 * DAY_MS;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub applied: usize,
    pub duplicates: usize,
    /// Waiting for dependencies (kept, retried when what they wait for is applied).
    pub parked: usize,
    /// (entity id, change hash hex, reason) of changes refused by signature or policy,
    /// or because they depend on a refused change, or because parking is full.
    pub rejected: Vec<(String, String, String)>,
    /// (entity id, reason) of parked changes dropped: expired, or a stored row that no
    /// longer reads.
    pub dropped_parked: Vec<(String, String)>,
    /// (entity id, reason) of entities found damaged: removed, recorded in the
    /// quarantine table, and fetched again from the relay by the next sync.
    pub quarantined: Vec<(String, String)>,
    /// (change hash hex, reason) of changes made on this device that were lost with a
    /// damaged entity, or built on a change the relay's log replaced: they can never be sent.
    pub lost: Vec<(String, String)>,
    /// (entity id, change hash hex, reason) of changes held here (from a bundle, or made
    /// on a phone that reuses its place) that the relay's log replaced: a device gave
    /// one place in its chain of changes to a document to two different changes, and the
    /// one the relay holds is what every phone keeps (see `supersede`).
    pub superseded: Vec<(String, String, String)>,
    pub changed: Vec<EntityChange>,
}

enum Verdict {
    Applied,
    Duplicate,
    /// Waiting for these (`change:<hex>` / `entity:<id>` keys of `parked_waits`).
    Park(Vec<String>),
    Reject(String),
}

fn wait_change(h: &ChangeHash) -> String {
    format!("change:{h}")
}

fn wait_entity(id: &str) -> String {
    format!("entity:{id}")
}

impl Store {
    /// Merge changes whose batch signatures have been verified (see `wire::SignedBatch::verify`).
    pub fn merge(&self, changes: Vec<VerifiedChange>) -> Result<MergeReport> {
        let mut conn = self.conn.lock();
        let roster = roster_of(&conn)?;
        let kinds = self.request_kinds();
        let me = self.device_id();
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut report = MergeReport::default();
        expire_parked(&tx, now, &mut report)?;
        let mut queue: Vec<VerifiedChange> = changes;
        let mut waits: HashMap<ChangeHash, Vec<String>> = HashMap::new();
        // refused here, with the reason: changes that depend on them are refused too
        let mut refused: HashMap<ChangeHash, String> = HashMap::new();
        let mut changed: Vec<EntityChange> = vec![];
        loop {
            let mut progress = false;
            let mut waiting = vec![];
            for c in queue.drain(..) {
                let hash = c.change.hash();
                match merge_one(&tx, &roster, &kinds, &c, &refused, &me, &mut report)? {
                    Verdict::Applied => {
                        progress = true;
                        report.applied += 1;
                        waits.remove(&hash);
                        let kind = entity_kind(&tx, &c.entity)?;
                        if !changed.iter().any(|x| x.id == c.entity) {
                            changed.push(EntityChange {
                                id: c.entity.clone(),
                                kind,
                                origin: Origin::Remote,
                            });
                        }
                        // exactly what waits for this change, or for this entity (a
                        // ballot for its deliberation; rows parked by older versions)
                        waiting.extend(take_waiting(
                            &tx,
                            &[wait_change(&hash), wait_entity(&c.entity)],
                            &mut report,
                        )?);
                    }
                    Verdict::Duplicate => report.duplicates += 1,
                    Verdict::Park(w) => {
                        waits.insert(hash, w);
                        waiting.push(c);
                    }
                    Verdict::Reject(reason) => {
                        waits.remove(&hash);
                        report
                            .rejected
                            .push((c.entity.clone(), hash.to_string(), reason.clone()));
                        refused.insert(hash, reason);
                        // what was parked waiting for it will never apply: judge it now
                        let dependents = take_waiting(&tx, &[wait_change(&hash)], &mut report)?;
                        progress |= !dependents.is_empty();
                        waiting.extend(dependents);
                    }
                }
            }
            // local changes saved from a damaged entity go back once the relay re-sent
            // what they build on; what waits for them gets its chance
            for (id, h) in heal::restore_kept(&tx, &mut report)? {
                progress = true;
                if !changed.iter().any(|x| x.id == id) {
                    changed.push(EntityChange {
                        id: id.clone(),
                        kind: entity_kind(&tx, &id)?,
                        origin: Origin::Remote,
                    });
                }
                waiting.extend(take_waiting(
                    &tx,
                    &[wait_change(&h), wait_entity(&id)],
                    &mut report,
                )?);
            }
            queue = waiting;
            if !progress || queue.is_empty() {
                break;
            }
        }
        let mut budget = ParkBudget::default();
        let mut seen = HashSet::new();
        for c in queue {
            let hash = c.change.hash();
            if !seen.insert(hash) {
                continue;
            }
            let w = waits
                .remove(&hash)
                .unwrap_or_else(|| vec![wait_entity(&c.entity)]);
            match park(&tx, &c, &w, now, &mut budget)? {
                Parked::Already => report.parked += 1,
                Parked::New
                    if c.seq.is_none()
                        || report.quarantined.iter().any(|(e, _)| *e == c.entity) =>
                {
                    report.parked += 1
                }
                Parked::New => {
                    report.parked += 1;
                    // The relay serves an entity's changes in log order and accepted
                    // each only with its dependencies, so a change from the relay that
                    // still waits means this phone lost something it held: fetch
                    // everything again (once per such change: a change already parked
                    // does not ask again).
                    let reason = format!(
                        "the relay sent change {hash} which needs {} that this phone should already hold; fetching everything again",
                        w.join(", ")
                    );
                    heal::record_quarantine(&tx, &c.entity, &reason, now)?;
                    heal::request_full_pull(&tx)?;
                    report.quarantined.push((c.entity.clone(), reason));
                }
                Parked::Full(reason) => {
                    report
                        .rejected
                        .push((c.entity.clone(), hash.to_string(), reason))
                }
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
            let held: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT tally_json FROM tallies WHERE deliberation_id = ?1",
                    [&tally.deliberation],
                    |r| r.get(0),
                )
                .optional()?;
            // a stored tally that no longer parses is replaced by any signed one
            let held = held.and_then(|j| serde_json::from_slice::<Tally>(&j).ok());
            if held.is_some_and(|h| !tally_supersedes(&tally, &h)) {
                continue;
            }
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

/// Signed results only move forward: `new` replaces `held` only if it was computed
/// at a later log position, and a final tally is never replaced by a non-final one
/// (whatever position a replayed or misdated one claims). The one rule for tallies.
pub(crate) fn tally_supersedes(new: &Tally, held: &Tally) -> bool {
    if held.final_result && !new.final_result {
        return false;
    }
    new.as_of > held.as_of || (new.as_of == held.as_of && new.final_result && !held.final_result)
}

fn entity_kind(tx: &Connection, id: &str) -> Result<EntityKind> {
    let k: String = tx.query_row("SELECT kind FROM entities WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    Ok(EntityKind::parse(&k)?)
}

enum Parked {
    New,
    Already,
    Full(String),
}

/// Parked rows counted once per merge (total, and per signer as met).
#[derive(Default)]
struct ParkBudget {
    total: Option<i64>,
    by_signer: HashMap<String, i64>,
}

/// Park a change (signer already checked) with what it waits for, within the caps.
fn park(
    tx: &Connection,
    c: &VerifiedChange,
    waits: &[String],
    now: i64,
    budget: &mut ParkBudget,
) -> Result<Parked> {
    let hash = c.change.hash();
    let held: i64 = tx.query_row(
        "SELECT count(*) FROM parked WHERE hash = ?1",
        [&hash.0[..]],
        |r| r.get(0),
    )?;
    if held > 0 {
        for w in waits {
            tx.execute(
                "INSERT OR IGNORE INTO parked_waits(waits_for, hash) VALUES (?1, ?2)",
                params![w, &hash.0[..]],
            )?;
        }
        return Ok(Parked::Already);
    }
    let by_signer = match budget.by_signer.get(&c.author) {
        Some(n) => *n,
        None => tx.query_row(
            "SELECT count(*) FROM parked WHERE author = ?1",
            [&c.author],
            |r| r.get(0),
        )?,
    };
    if by_signer >= MAX_PARKED_PER_SIGNER {
        return Ok(Parked::Full(format!(
            "not kept: {by_signer} changes by this device already wait for changes that have not arrived \
             (limit {MAX_PARKED_PER_SIGNER}); it can be received again once those arrive"
        )));
    }
    let total = match budget.total {
        Some(n) => n,
        None => tx.query_row("SELECT count(*) FROM parked", [], |r| r.get(0))?,
    };
    if total >= MAX_PARKED_TOTAL {
        return Ok(Parked::Full(format!(
            "not kept: {total} changes already wait for changes that have not arrived (limit {MAX_PARKED_TOTAL}); \
             it can be received again once those arrive"
        )));
    }
    tx.execute(
        "INSERT INTO parked(hash, entity_id, author, seq, bytes, parked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![&hash.0[..], c.entity, c.author, c.seq.map(|s| s as i64), c.change.raw_bytes(), now],
    )?;
    for w in waits {
        tx.execute(
            "INSERT OR IGNORE INTO parked_waits(waits_for, hash) VALUES (?1, ?2)",
            params![w, &hash.0[..]],
        )?;
    }
    budget.total = Some(total + 1);
    budget.by_signer.insert(c.author.clone(), by_signer + 1);
    Ok(Parked::New)
}

/// Drop parked changes older than `PARKED_TTL_MS`.
fn expire_parked(tx: &Connection, now: i64, report: &mut MergeReport) -> Result<()> {
    let old: Vec<(Vec<u8>, String)> = {
        let mut s = tx.prepare_cached("SELECT hash, entity_id FROM parked WHERE parked_at < ?1")?;
        let v = s
            .query_map([now - PARKED_TTL_MS], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        v
    };
    for (h, e) in old {
        drop_parked(tx, &h)?;
        report.dropped_parked.push((
            e,
            format!(
                "change {} expired after waiting 30 days for its dependencies",
                hex::encode(&h)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn drop_parked(tx: &Connection, hash: &[u8]) -> Result<()> {
    tx.execute("DELETE FROM parked WHERE hash = ?1", [hash])?;
    tx.execute("DELETE FROM parked_waits WHERE hash = ?1", [hash])?;
    Ok(())
}

/// A `parked` row: hash, entity, bytes, author, log position.
type ParkedRow = (Vec<u8>, String, Vec<u8>, String, Option<i64>);

/// Take out of parking every change waiting for any of `keys`. A stored row that no
/// longer reads is dropped, recorded and reported, and a full pull is requested (the
/// relay sends it again): never fatal.
fn take_waiting(
    tx: &Connection,
    keys: &[String],
    report: &mut MergeReport,
) -> Result<Vec<VerifiedChange>> {
    let mut rows: Vec<ParkedRow> = vec![];
    {
        let mut s = tx.prepare_cached(
            "SELECT p.hash, p.entity_id, p.bytes, p.author, p.seq FROM parked_waits w JOIN parked p ON p.hash = w.hash
             WHERE w.waits_for = ?1",
        )?;
        for k in keys {
            let v: Vec<_> = s
                .query_map([k], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            rows.extend(v);
        }
    }
    let mut out = vec![];
    let mut seen = HashSet::new();
    for (h, entity, bytes, author, seq) in rows {
        if !seen.insert(h.clone()) {
            continue;
        }
        drop_parked(tx, &h)?;
        match change_from_bytes(&bytes) {
            Ok(change) if change.hash().0[..] == h[..] => out.push(VerifiedChange {
                entity,
                change,
                author,
                seq: seq.map(|s| s as u64),
            }),
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "its bytes do not match its hash".to_string(),
                };
                let reason =
                    format!("parked change {} could not be read ({why}): dropped, fetching everything again", hex::encode(&h));
                heal::record_quarantine(tx, &entity, &reason, now_ms())?;
                heal::request_full_pull(tx)?;
                report.dropped_parked.push((entity, reason));
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn merge_one(
    tx: &Connection,
    roster: &Roster,
    kinds: &[String],
    c: &VerifiedChange,
    refused: &HashMap<ChangeHash, String>,
    me: &str,
    report: &mut MergeReport,
) -> Result<Verdict> {
    let mut doc = match Store::load_doc(tx, &c.entity) {
        Ok(d) => d.unwrap_or_else(EntityDoc::empty),
        Err(e) => {
            // one damaged entity never stops the merge: set it aside, fetch it again
            let reason = format!("stored document does not load ({e})");
            heal::quarantine(tx, &c.entity, &reason, me, report)?;
            EntityDoc::empty()
        }
    };
    let hash = c.change.hash();
    // held already, or refused already in this merge (a copy is never judged twice)
    if doc.has_change(&hash) || refused.contains_key(&hash) {
        return Ok(Verdict::Duplicate);
    }
    // the signer before parking: an unknown or revoked device's change is refused, never parked
    let signer = match roster.signer(&c.author, c.seq) {
        Ok(m) => m.clone(),
        Err(e) => return Ok(Verdict::Reject(e.to_string())),
    };
    let missing = doc.missing_deps(&c.change);
    if let Some((d, why)) = missing.iter().find_map(|d| refused.get(d).map(|r| (d, r))) {
        return Ok(Verdict::Reject(format!(
            "depends on change {d}, which was refused: {why}"
        )));
    }
    let lookup = ConnLookup(tx);
    let ctx = policy_ctx(roster, kinds, &lookup);
    let mut verdict = policy::judge(&ctx, &signer, &doc, &c.entity, &c.change);
    if matches!(verdict, policy::Verdict::Refuse(_)) && c.seq.is_some() {
        if let Some(after) = supersede(tx, &ctx, &signer, &doc, c, report)? {
            verdict = policy::Verdict::Accept(Box::new(after));
        }
    }
    doc = match verdict {
        policy::Verdict::Accept(after) => *after,
        policy::Verdict::Park(waits) => {
            return Ok(Verdict::Park(
                waits
                    .iter()
                    .map(|m| match m {
                        policy::Missing::Change(h) => wait_change(h),
                        policy::Missing::Entity(id) => wait_entity(id),
                    })
                    .collect(),
            ))
        }
        policy::Verdict::Refuse(e) => return Ok(Verdict::Reject(e.to_string())),
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

/// The relay's log is the authority on each device's chain of changes to a document.
/// When a change from the relay (`c`, refused as it stands) takes the place — same
/// device, same change number — of a different change this phone holds, the held one
/// never reached the relay (the relay keeps one change per place) and never will: it
/// came in a bundle from a device that gave the place to two changes, or this phone's
/// own store reused it. It is dropped with everything built on it, and `c` judged
/// again; if `c` is still refused, nothing is dropped. Every phone thus ends with the
/// relay's version, in whatever order the two arrived (a phone that gets the relay's
/// first refuses the bundle's by the chain rule). This phone's own changes among the
/// dropped ones can never be sent: they are marked rejected and reported as lost.
fn supersede(
    tx: &Connection,
    ctx: &policy::Context,
    signer: &crate::roster::Member,
    doc: &EntityDoc,
    c: &VerifiedChange,
    report: &mut MergeReport,
) -> Result<Option<EntityDoc>> {
    let Some(rival) = doc.rival_of(&c.change) else {
        return Ok(None);
    };
    tx.execute_batch("SAVEPOINT supersede")?;
    let dropped = drop_changes(tx, &c.entity, &HashSet::from([rival]))?;
    let fresh = Store::load_doc(tx, &c.entity)?.unwrap_or_else(EntityDoc::empty);
    let policy::Verdict::Accept(after) = policy::judge(ctx, signer, &fresh, &c.entity, &c.change)
    else {
        tx.execute_batch("ROLLBACK TO supersede; RELEASE supersede")?;
        return Ok(None);
    };
    let now = now_ms();
    let author = c.change.actor_id().to_hex_string();
    for h in &dropped {
        let reason = if *h == rival {
            format!(
                "device {} gave its change number {} to this document to two different changes; the relay holds the other one ({}), which replaces this one",
                crate::roster::short(&author),
                c.change.seq(),
                c.change.hash()
            )
        } else {
            format!("built on change {rival}, which the relay's log replaced")
        };
        let mine = tx.execute(
            "UPDATE outbox SET state = 'rejected', reason = ?2, updated_at = ?3 WHERE hash = ?1 AND state IN ('pending', 'sent')",
            params![&h.0[..], reason, now],
        )?;
        if mine > 0 {
            report.lost.push((h.to_string(), reason.clone()));
        }
        report
            .superseded
            .push((c.entity.clone(), h.to_string(), reason));
    }
    tx.execute_batch("RELEASE supersede")?;
    Ok(Some(*after))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(as_of: u64, final_result: bool) -> Tally {
        Tally {
            deliberation: "d".into(),
            eligible: 3,
            participants: 1,
            counts: vec![1, 0],
            quorum_met: false,
            decided: None,
            final_result,
            roll: Default::default(),
            as_of,
            in_hall: 0,
        }
    }

    #[test]
    fn tallies_only_move_forward() {
        assert!(
            tally_supersedes(&t(5, false), &t(4, false)),
            "newer replaces older"
        );
        assert!(
            !tally_supersedes(&t(4, false), &t(5, false)),
            "older never replaces newer"
        );
        assert!(
            !tally_supersedes(&t(4, false), &t(4, false)),
            "the same position changes nothing"
        );
        assert!(
            tally_supersedes(&t(4, true), &t(4, false)),
            "final replaces non-final at the same position"
        );
        assert!(
            !tally_supersedes(&t(9, false), &t(4, true)),
            "non-final never replaces final, whatever position it claims"
        );
        assert!(
            !tally_supersedes(&t(3, true), &t(4, true)),
            "an older final does not replace a newer one"
        );
        assert!(
            tally_supersedes(&t(1, false), &t(0, false)),
            "tallies signed before as_of existed (0) give way"
        );
    }
}
