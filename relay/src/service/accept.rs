//! Accepting a sync: who sent it (before anything is inflated), replay and rate,
//! then each batch's changes judged by the core policy under the space lock and
//! appended to the log as one entry per batch; the answer carries the acks, the
//! rejections and the member's view after their cursor (`read.rs`).

use super::{first_field, Relay, RelayLookup, Result, MAX_COUNTER_AHEAD_MS};
use crate::db::{AcceptedChange, EntityRecord, LogBatch};
use crate::error::RelayError;
use cunwu_protocol::policy::{self, Audience};
use cunwu_protocol::roster::{Member, Roster, SignedRosterDelta};
use cunwu_protocol::wire::{
    self, entity_hex, Item, Rejection, Remaining, SignedBatch, SyncResponse,
};
use cunwu_protocol::ChangeHash;
use cunwu_protocol::EntityKind;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The longest a batch's judgement reads one snapshot before it takes a newer one
/// (`Reads::renew`): a large upload does not keep the WAL from being checkpointed.
const SNAPSHOT_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// Who sent a sync and what its batches are judged by: the space and its roster as
/// the request found them, the member and device, the newest roster delivered to that
/// device, the relay's clock and the time budget.
#[derive(Clone, Copy)]
struct Sender<'a> {
    space: &'a str,
    roster: &'a Roster,
    member: &'a Member,
    device: &'a [u8; 32],
    roster_floor: u64,
    now: i64,
    deadline: Instant,
}

impl Relay {
    /// The replay rule for sync counters, per (space, device): a counter must be above
    /// the last one recorded and at most `MAX_COUNTER_AHEAD_MS` beyond the relay's
    /// clock. A refusal records nothing and names the lowest counter the relay would
    /// take (`RelayError::Counter`), so an honest phone restored from a backup, or one
    /// whose clock ran ahead, can continue from there (`SyncClient::sync_once`).
    ///
    /// When the database cannot be written (disk full or read-only), a request that
    /// only receives (`pull_only`) is checked against the stored counter and one kept
    /// in memory instead, so phones still receive while the operator frees space.
    fn check_counter(
        &self,
        space: &str,
        device: &str,
        counter: u64,
        now: i64,
        pull_only: bool,
    ) -> Result<()> {
        let bound = now.saturating_add(MAX_COUNTER_AHEAD_MS).max(0) as u64;
        if counter > bound {
            let expected = self.storage.counter(space, device)? + 1;
            return Err(RelayError::Counter {
                reason: format!(
                    "sync counter {counter} is more than {} h beyond the relay's clock ({now} ms) and was not recorded; \
                     is this phone's clock right? The relay expects a counter from {expected}",
                    MAX_COUNTER_AHEAD_MS / 3_600_000
                ),
                expected,
            });
        }
        let advanced = match self.storage.advance_counter(space, device, counter) {
            Err(RelayError::Full(why)) if pull_only => {
                let stored = self.storage.counter(space, device)?;
                let mut held = self.unwritten_counters.lock();
                let last = held
                    .get(&(space.to_string(), device.to_string()))
                    .copied()
                    .unwrap_or(0)
                    .max(stored);
                if counter > last {
                    tracing::warn!(%why, "a pull-only sync on a full or read-only disk: its counter is kept in memory");
                    held.insert((space.to_string(), device.to_string()), counter);
                }
                counter > last
            }
            other => other?,
        };
        if !advanced {
            let expected = self.storage.counter(space, device)? + 1;
            return Err(RelayError::Counter {
                reason: format!(
                    "replayed or out-of-order sync request: counter {counter} is not above the last one seen; \
                     the relay expects a counter from {expected}"
                ),
                expected,
            });
        }
        Ok(())
    }

    // ---- sync ------------------------------------------------------------------------

    /// One sync exchange: a sealed request (`wire::SealedRequest`) in, a framed
    /// `SyncResponse` out.
    ///
    /// Who sent it is settled before any work: the header names the space and the
    /// device, the device must be enrolled there and not revoked, and its signature
    /// over the still-compressed body must verify. Only then is the body inflated (to
    /// an absolute bound) and decoded, and only after that is any change parsed.
    ///
    /// The answer is written in wire version `response_version` (the newest the device
    /// said it reads with `wire::RESPONSE_VERSION_HEADER`, else 3, which older apps read).
    pub fn sync(&self, body: &[u8], now: i64, response_version: u8) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.limits.sync_budget;
        let sealed = wire::SealedRequest::read(body)?;
        let space_id = entity_hex(&sealed.space);
        let device_hex = hex::encode(sealed.device);
        // the space, and the roster floor of a device enrolled there, in one snapshot
        // (ended before the signature is checked and the body inflated)
        let reads = self.reads()?;
        let rec = self
            .storage
            .space(&space_id)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space_id} on this relay")))?;
        let member = match rec.roster.signer(&device_hex, None) {
            Ok(m) => m.clone(),
            Err(cunwu_protocol::Error::BadSignature(m)) => return Err(RelayError::Unauthorized(m)),
            Err(e) => return Err(RelayError::Forbidden(e.to_string())),
        };
        let roster_floor = self.storage.roster_sent(&space_id, &device_hex)?;
        drop(reads);
        let req = sealed.open()?;
        // what judging this request may cost, counted before any change is judged
        let mut ops: u64 = 0;
        for b in &req.batches {
            for it in &b.items {
                if let Item::Change { bytes, .. } = it {
                    ops += cunwu_protocol::doc::change_ops(bytes).unwrap_or(0);
                }
            }
        }
        if ops > wire::MAX_REQUEST_OPS {
            return Err(RelayError::TooLarge(format!(
                "the request carries {ops} automerge operations; the limit is {} (the app splits its uploads)",
                wire::MAX_REQUEST_OPS
            )));
        }
        let pull_only = req.batches.is_empty();
        self.check_counter(&space_id, &device_hex, req.counter, now, pull_only)?;
        // counted only for fresh requests, so replaying a captured one cannot lock a device out
        self.check_rate(&space_id, &device_hex, now)?;
        // the space is locked one batch at a time, so one large upload never keeps the
        // village's other phones waiting for long
        let lock = self.space_lock(&space_id);
        let mut acks = vec![];
        let mut rejections = vec![];
        let mut needs_tally = false;
        // changes refused earlier in this request, with the reason: a change repeated in
        // a request is judged once
        let mut refused: HashMap<ChangeHash, String> = HashMap::new();
        let from = Sender {
            space: &space_id,
            roster: &rec.roster,
            member: &member,
            device: &req.device,
            roster_floor,
            now,
            deadline,
        };
        for batch in &req.batches {
            let _guard = lock.lock();
            // what the batch is judged by is read in one snapshot, taken once the space
            // is held; `accept_batch` ends it before the append
            let reads = self.reads()?;
            let _held = self.hold_space(&space_id)?;
            let (a, r, t) = self.accept_batch(&from, batch, &mut refused, reads)?;
            acks.extend(a);
            rejections.extend(r);
            needs_tally |= t;
        }
        // another relay node may have extended the log since this process's documents
        // were cached: checked on every sync there (`Storage::shared_by_nodes`), else
        // only when the space is taken to publish tallies
        let tally_due = self.cache.tally_due(&space_id, now, needs_tally);
        if tally_due || self.storage.shared_by_nodes() {
            let _guard = lock.lock();
            let _held = self.hold_space(&space_id)?;
            if tally_due {
                match self.publish_tallies(&space_id, &rec.relay_secret, now) {
                    // a tally due now is published by a later sync, once the disk has room
                    Err(RelayError::Full(why)) if pull_only => {
                        tracing::warn!(%why, "tallies not published: the disk is full or read-only")
                    }
                    other => other?,
                }
            }
        }
        self.metrics.changes_accepted.add(acks.len() as u64);
        self.metrics.changes_rejected.add(rejections.len() as u64);
        // the answer is read in one snapshot, after the appends
        let reads = self.reads()?;
        let (entries, cursor, more) = self.read_for(
            &space_id,
            &member,
            &req.device,
            req.cursor,
            req.max_page_bytes,
        )?;
        let remaining = if more {
            self.storage.remaining(&space_id, cursor)?
        } else {
            Remaining::default()
        };
        // the roster as it is now, for a device that holds an older one
        let newer = if rec.roster.version > req.roster_version {
            self.storage.space(&space_id)?.map(|s| s.roster)
        } else {
            None
        };
        // ended before anything is written or signed
        drop(reads);
        let (roster, roster_delta) = if rec.roster.version > req.roster_version {
            let current = newer.unwrap_or(rec.roster.clone());
            if current.version > roster_floor {
                self.note_roster_sent(&space_id, &device_hex, current.version, pull_only)?;
            }
            let signed = self.signed_roster(&space_id, &current, &rec.relay_secret)?;
            // a device that reads version 6 gets only what changed since its version
            // when the roster can say (`Roster::delta_since`); else the whole roster
            match (response_version >= 6)
                .then(|| SignedRosterDelta::between(&current, &signed, req.roster_version))
                .flatten()
            {
                Some(delta) => (None, Some(delta)),
                None => (Some(signed), None),
            }
        } else {
            let held = req.roster_version.min(rec.roster.version);
            if held > roster_floor {
                self.note_roster_sent(&space_id, &device_hex, held, pull_only)?;
            }
            (None, None)
        };
        let resp = SyncResponse {
            acks,
            rejections,
            entries,
            cursor,
            more,
            roster,
            server_time: now,
            remaining,
            epoch: rec.epoch,
            roster_delta,
        };
        Ok(resp.encode(response_version))
    }

    /// Record the roster version delivered to a device; on a full or read-only disk a
    /// pull-only sync goes on without it (the floor is raised by a later sync).
    fn note_roster_sent(
        &self,
        space: &str,
        device: &str,
        version: u64,
        pull_only: bool,
    ) -> Result<()> {
        match self.storage.set_roster_sent(space, device, version) {
            Err(RelayError::Full(why)) if pull_only => {
                tracing::warn!(%why, "roster floor not recorded: the disk is full or read-only");
                Ok(())
            }
            other => other,
        }
    }

    /// Judge one batch of `from`'s and append what passes as one log entry: the acks,
    /// the rejections, and whether tallies need a look.
    #[allow(clippy::type_complexity)]
    fn accept_batch(
        &self,
        from: &Sender,
        batch: &SignedBatch,
        refused: &mut HashMap<ChangeHash, String>,
        reads: super::Reads<'_>,
    ) -> Result<(Vec<[u8; 32]>, Vec<Rejection>, bool)> {
        let Sender {
            space,
            roster,
            member,
            device,
            roster_floor,
            now,
            deadline,
        } = *from;
        let mut acks = vec![];
        let mut rejections = vec![];
        let reject_all = |reason: String, rejections: &mut Vec<Rejection>| -> Result<()> {
            for (e, h) in batch.pairs().unwrap_or_default() {
                rejections.push(Rejection {
                    hash: h,
                    entity: e,
                    reason: reason.clone(),
                });
            }
            Ok(())
        };
        if &batch.author != device {
            reject_all(
                "a device may only send changes it signed itself".into(),
                &mut rejections,
            )?;
            return Ok((acks, rejections, false));
        }
        let verified = match batch.verify(None) {
            Ok(v) => v,
            Err(e) => {
                reject_all(e.to_string(), &mut rejections)?;
                return Ok((acks, rejections, false));
            }
        };
        let kinds = cunwu_protocol::model::request::catalogue();
        let mut accepted: Vec<AcceptedChange> = vec![];
        let mut seen: HashSet<ChangeHash> = HashSet::new();

        let mut touched: Vec<String> = vec![];
        let mut needs_tally = false;
        // readers of this batch: every document in it must have the same audience once
        // the batch is applied, so a reader receives a batch whole or not at all and
        // never learns the id, author or time of a document they may not read. A draft
        // published within the batch counts as public (its earlier changes in the batch
        // are public with it).
        let mut audiences: HashMap<String, Audience> = HashMap::new();
        // documents held as drafts before this batch: if the batch publishes one, the
        // relay opens its earlier batches to every reader
        let mut drafts_before: HashSet<String> = HashSet::new();
        // the attachments the batch's new events reference (`blob_refs`)
        let mut blob_refs: Vec<crate::db::BlobRef> = vec![];
        let forget = |touched: &[String]| self.cache.forget_docs(space, touched);
        let mut reads = reads;
        let mut snapshot_since = Instant::now();
        for vc in verified {
            // the space is held, so a newer snapshot sees only what other spaces appended
            if snapshot_since.elapsed() > SNAPSHOT_MAX {
                if let Err(e) = reads.renew() {
                    forget(&touched);
                    return Err(e);
                }
                snapshot_since = Instant::now();
            }
            if Instant::now() > deadline {
                // nothing of this batch is stored; batches before it are, and are acked
                // again when the device retries
                forget(&touched);
                self.metrics.sync_errors.inc();
                return Err(RelayError::Unavailable(format!(
                    "the sync took longer than its budget of {} s and was cut; changes acked before are kept, send the rest again",
                    self.limits.sync_budget.as_secs()
                )));
            }
            let hash = vc.change.hash();
            let eid = wire::entity_bytes(&vc.entity)?;
            let known_audience = self.audience_of(space, &vc.entity);
            if seen.contains(&hash) || self.storage.has_change(space, &hash.0)? {
                // held already: acked, but its audience still counts for the batch, or a
                // held private change could ride in a public batch and be named to readers
                if let Some(a) = known_audience {
                    audiences.entry(vc.entity.clone()).or_insert(a);
                }
                acks.push(hash.0);
                continue;
            }
            let reject = |reason: String| Rejection {
                hash: hash.0,
                entity: eid,
                reason,
            };
            if let Some(reason) = refused.get(&hash) {
                rejections.push(reject(reason.clone()));
                continue;
            }
            let rejected = |reason: String,
                            rejections: &mut Vec<Rejection>,
                            refused: &mut HashMap<ChangeHash, String>| {
                refused.insert(hash, reason.clone());
                rejections.push(reject(reason));
            };
            if let Some(dep) = vc.change.deps().iter().find(|d| refused.contains_key(d)) {
                rejected(
                    format!("{}{dep} which was rejected", wire::DEPENDS_ON_REFUSED),
                    &mut rejections,
                    refused,
                );
                continue;
            }
            let before = self.load_doc(space, &vc.entity)?.unwrap_or_default();
            let doc = &before;
            let is_new = doc.header().is_none();
            let ctx = policy::Context {
                roster,
                kinds: &kinds,
                arrival: Some(now),
                roster_floor: Some(roster_floor),
                lookup: &RelayLookup { relay: self, space },
            };
            let doc = match policy::judge(&ctx, member, doc, &vc.entity, &vc.change) {
                policy::Verdict::Accept(after) => *after,
                // devices send a document's changes in order, and a ballot after its
                // deliberation: the relay parks nothing
                policy::Verdict::Park(missing) => {
                    let changes: Vec<_> = missing
                        .iter()
                        .filter_map(|m| match m {
                            policy::Missing::Change(h) => Some(h),
                            policy::Missing::Entity(_) => None,
                        })
                        .collect();
                    let why = match (changes.first(), missing.first()) {
                        (Some(first), _) => format!(
                            "depends on {} change(s) {} (first: {first}); send changes in order",
                            changes.len(),
                            wire::NOT_HELD
                        ),
                        (None, Some(policy::Missing::Entity(id))) => {
                            format!("refers to {id}, which {}; send it first", wire::NOT_HELD)
                        }
                        _ => format!("waits for something {}", wire::NOT_HELD),
                    };
                    rejected(why, &mut rejections, refused);
                    continue;
                }
                policy::Verdict::Refuse(e) => {
                    rejected(e.to_string(), &mut rejections, refused);
                    continue;
                }
            };
            let after = doc.to_json();
            let (kind, _) = doc.header().expect("checked by the policy");
            blob_refs.extend(new_references(kind, &vc.entity, &before, &after));
            // an audience is fixed when the document is made, but for a draft, which
            // widens to every member when published (`Audience::widens_to`)
            let audience = match known_audience {
                Some(a @ Audience::Draft { .. }) => {
                    drafts_before.insert(vc.entity.clone());
                    let now = policy::audience(&after, &RelayLookup { relay: self, space })
                        .inspect_err(|_| forget(&touched))?;
                    if now != a && !a.widens_to(&now) {
                        rejected(
                            "a change may not alter who reads its document".into(),
                            &mut rejections,
                            refused,
                        );
                        continue;
                    }
                    now
                }
                Some(a) => a,
                None => policy::audience(&after, &RelayLookup { relay: self, space })
                    .inspect_err(|_| forget(&touched))?,
            };
            audiences.insert(vc.entity.clone(), audience);
            let new_entity = if is_new {
                let ref_id = match kind {
                    EntityKind::Ballot => first_field(&after, "deliberation"),
                    // the relay publishes a signed tally for every vote once it closes
                    EntityKind::Deliberation => (first_field(&after, "deciding_body").as_deref()
                        != Some("consultation_only"))
                    .then(|| "tally".to_string()),
                    EntityKind::RequestNotes => first_field(&after, "request"),
                    _ => None,
                };
                Some(EntityRecord {
                    kind: kind.as_str().into(),
                    // set below from the audience after the whole batch
                    audience: String::new(),
                    ref_id,
                })
            } else {
                None
            };
            if kind == EntityKind::Deliberation || kind == EntityKind::Ballot {
                needs_tally = true;
            }
            self.cache.put_doc(space, &vc.entity, doc);
            touched.push(vc.entity.clone());
            seen.insert(hash);
            acks.push(hash.0);
            accepted.push(AcceptedChange {
                entity: vc.entity,
                hash: hash.0,
                bytes: vc.change.raw_bytes().to_vec(),
                new_entity,
            });
        }
        let mut readers = audiences.values();
        if let Some(first) = readers.next() {
            if readers.any(|a| a != first) {
                return Ok(self.refuse_mixed_batch(space, batch, &touched, acks, &seen));
            }
        }
        let json = |a: &Audience| serde_json::to_string(a).expect("audience serializes");
        for ch in &mut accepted {
            if let (Some(e), Some(a)) = (ch.new_entity.as_mut(), audiences.get(&ch.entity)) {
                e.audience = json(a);
            }
        }
        // drafts this batch publishes: their earlier batches are appended again, before
        // this one, so every reader's cursor meets the whole notice in order
        let opened: Vec<(String, String)> = drafts_before
            .iter()
            .filter_map(|e| match audiences.get(e) {
                Some(a @ Audience::Space) => Some((e.clone(), json(a))),
                _ => None,
            })
            .collect();
        // what of it every member may read, for the totals `remaining` is read from
        let public = accepted
            .iter()
            .filter(|c| audiences.get(&c.entity) == Some(&Audience::Space))
            .fold((0u64, 0u64), |(n, b), c| (n + 1, b + c.bytes.len() as u64));
        if !accepted.is_empty() {
            let lb = LogBatch {
                author: batch.author,
                signed_at: batch.signed_at,
                signature: batch.signature.clone(),
                pairs: batch.pairs()?,
                public_changes: public.0,
                public_bytes: public.1,
                changes: accepted,
                opened,
                arrived_at: now,
                blob_refs,
            };
            // the append is read by what follows it, so the snapshot ends first
            drop(reads);
            let appended = self.storage.append_batch(space, &lb);
            if let Ok(seq) = &appended {
                self.cache.appended(space, *seq);
            }
            if let Err(e) = appended {
                // the cache holds changes that were not stored: forget them
                forget(&touched);
                return Err(e);
            }
            let widened = lb.opened.iter().map(|(e, a)| (e, a));
            let made = lb
                .changes
                .iter()
                .filter_map(|ch| Some((&ch.entity, &ch.new_entity.as_ref()?.audience)));
            for (entity, a) in made.chain(widened) {
                if let Ok(a) = serde_json::from_str::<Audience>(a) {
                    self.cache.add_audience(space, entity, a);
                }
            }
        }
        Ok((acks, rejections, needs_tally))
    }

    /// A batch whose documents have different audiences: every change of it the relay
    /// does not already hold is refused (and forgotten by the document cache).
    fn refuse_mixed_batch(
        &self,
        space: &str,
        batch: &SignedBatch,
        touched: &[String],
        mut acks: Vec<[u8; 32]>,
        accepted: &HashSet<ChangeHash>,
    ) -> (Vec<[u8; 32]>, Vec<Rejection>, bool) {
        self.cache.forget_docs(space, touched);
        acks.retain(|h| !accepted.contains(&ChangeHash(*h)));
        let held: HashSet<[u8; 32]> = acks.iter().copied().collect();
        let reason = "a batch may only hold documents with the same readers (the app signs one batch per audience); \
                      this one mixes them";
        let rejections = batch
            .pairs()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, h)| !held.contains(h))
            .map(|(e, h)| Rejection {
                hash: h,
                entity: e,
                reason: reason.into(),
            })
            .collect();
        (acks, rejections, false)
    }

    /// Who may read an entity the relay already holds (`None` for a new one).
    fn audience_of(&self, space: &str, entity: &str) -> Option<Audience> {
        match self.cache.audience(space, entity) {
            // a draft may have been published through another relay node: under the
            // space lock, storage is the authority
            Some(Audience::Draft { .. }) | None => {}
            Some(a) => return Some(a),
        }
        self.storage
            .entity(space, entity)
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_str::<Audience>(&r.audience).ok())
    }
}

/// The attachments a change's new events reference: what `model::attachment::referenced`
/// finds in the document after the change and did not find before it (counted per
/// author and hash, so re-attaching the same bytes in a later event is a reference too
/// only when it is a new one).
fn new_references(
    kind: EntityKind,
    entity: &str,
    before: &cunwu_protocol::doc::EntityDoc,
    after: &serde_json::Value,
) -> Vec<crate::db::BlobRef> {
    use cunwu_protocol::model::attachment::referenced;
    let Some(events) = after.get("events").and_then(|e| e.as_array()) else {
        return vec![];
    };
    let now = referenced(kind, events);
    if now.is_empty() {
        return vec![];
    }
    let mut held: HashMap<(String, String), usize> = HashMap::new();
    for (by, a) in referenced(kind, &before.events_json()) {
        *held.entry((by, a.hash)).or_default() += 1;
    }
    let mut out = vec![];
    for (by, a) in now {
        match held.get_mut(&(by.clone(), a.hash.clone())) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(crate::db::BlobRef {
                entity: entity.to_string(),
                hash: a.hash,
                author: by,
                size: a.size,
                mime: a.mime,
            }),
        }
    }
    out
}
