//! The wire format, shared by device and relay (and by bundle files).
//!
//! A message is a frame: `b"CWU"`, a version byte, a kind byte, then a zstd frame (with
//! content checksum) holding the postcard encoding of the message. Changes travel as
//! automerge's uncompressed change bytes inside *signed batches*: one Ed25519
//! signature by the authoring device covers the (entity id, change hash) list of the
//! batch, so a village of thousands of changes carries a few signatures, not one per
//! change. A relay that may not show a reader some items of a batch replaces them with
//! `Withheld { entity, hash }`; the signature still verifies. Change hashes make every
//! transfer idempotent: a retry after a cut connection doubles nothing.
//!
//! See docs/WIRE.md for the byte layout and the exchange.

use crate::doc::change_from_bytes;
use crate::error::{Error, Result};
use crate::identity::{self, DeviceKey};
use crate::roster::{SignedRoster, SignedRosterDelta};
use automerge::{Change, ChangeHash};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::Digest;

pub const MAGIC: &[u8; 3] = b"CWU";
/// The newest version this build reads and writes. Version 2 added the `Created` item
/// form; version 3 seals sync requests outside the compression (see [`SealedRequest`]);
/// version 4 adds to a sync response when each log entry reached the relay and what
/// remains after the page ([`Remaining`]); version 5 adds the space log's `epoch` to a
/// sync response (a restored log has a new one: the device pulls again and re-sends
/// what the relay no longer holds); version 6 adds `roster_delta`: a device whose
/// roster is behind receives what changed since its version, not the whole roster.
/// Messages of other kinds are the same in versions 1 to 6 and are written as version 3
/// ([`WRITTEN_VERSION`]), so builds that read only up to 3 still read them; a sync
/// request must be version 3 or later.
pub const WIRE_VERSION: u8 = 6;
/// The version every message but a sync response of version 4 or later is written in.
pub const WRITTEN_VERSION: u8 = 3;
/// The HTTP request header with which a device asks for sync responses of this wire
/// version (value `6`). A relay answers a request without it in version 3, which every
/// older build reads; an older relay ignores the header and answers version 3.
pub const RESPONSE_VERSION_HEADER: &str = "cunwu-wire";
pub const OLDEST_READABLE_VERSION: u8 = 1;
/// The oldest version of a sync request the relay reads: before version 3 the request
/// was signed inside its compressed body, so checking who sent it meant inflating and
/// parsing it first.
pub const OLDEST_SYNC_REQUEST_VERSION: u8 = 3;
/// The most a bundle file may inflate to. Every limit on inflated size is absolute,
/// never a compression ratio: honest pages of repetitive Chinese text compress far
/// beyond any ratio one could pick.
pub const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;
/// The most a sync request may inflate to. Devices keep well below it: they send at
/// most [`MAX_UPLOAD_BYTES`] of changes per request.
pub const MAX_REQUEST_DECODED_BYTES: usize = 8 * 1024 * 1024;
/// The most a relay's answer may inflate to (a page is at most 8 MiB of changes).
pub const MAX_RESPONSE_DECODED_BYTES: usize = 64 * 1024 * 1024;
/// The most a peer summary (`Have`) may inflate to.
pub const MAX_HAVE_DECODED_BYTES: usize = 16 * 1024 * 1024;
/// The device splits its outbox into batches of about this many change bytes.
pub const BATCH_TARGET_BYTES: usize = 128 * 1024;
/// A device sends at most this many change bytes in one sync request; more waits for
/// the next request of the same sync.
pub const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;
/// A device sends at most this many automerge operations in one sync request.
pub const MAX_UPLOAD_OPS: u64 = 100_000;
/// The relay refuses a sync request carrying more operations than this (twice what a
/// device sends), before judging any of them: what a sync may cost is bounded.
pub const MAX_REQUEST_OPS: u64 = 2 * MAX_UPLOAD_OPS;

/// The absolute limit on what a frame of `kind` may inflate to.
pub fn decoded_limit(kind: FrameKind) -> usize {
    match kind {
        FrameKind::SyncRequest => MAX_REQUEST_DECODED_BYTES,
        FrameKind::SyncResponse => MAX_RESPONSE_DECODED_BYTES,
        FrameKind::Bundle => MAX_DECODED_BYTES,
        FrameKind::Have => MAX_HAVE_DECODED_BYTES,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    SyncRequest = 1,
    SyncResponse = 2,
    Bundle = 3,
    Have = 4,
}

pub type EntityId = [u8; 16];
pub type Hash = [u8; 32];

pub fn entity_bytes(id: &str) -> Result<EntityId> {
    let v = hex::decode(id).map_err(|_| Error::invalid(format!("entity id {id:?} is not hex")))?;
    v.try_into()
        .map_err(|_| Error::invalid(format!("entity id {id:?} is not 16 bytes")))
}

pub fn entity_hex(id: &EntityId) -> String {
    hex::encode(id)
}

/// One item of a signed batch.
///
/// On the wire an item is one of three forms (see docs/WIRE.md): `Change { entity,
/// bytes }`, `Withheld { entity, hash }`, and — since wire version 2 — `Created {
/// bytes }`, a change that creates its document: it has no dependencies and writes the
/// document's header, whose `id` names the entity, so the 16-byte entity id is not sent
/// again. The encoder uses `Created` exactly when [`created_entity`] of the bytes gives
/// back the item's entity, and the decoder turns it back into `Change` with that
/// entity, so the rest of the code only ever sees `Change` and `Withheld`, and the batch
/// signature (over entity ids and change hashes) is the same in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A change to entity `entity`: automerge change bytes (uncompressed form).
    Change { entity: EntityId, bytes: Vec<u8> },
    /// A change covered by the batch signature that this reader does not receive.
    Withheld { entity: EntityId, hash: Hash },
}

impl Item {
    pub fn entity(&self) -> &EntityId {
        match self {
            Item::Change { entity, .. } | Item::Withheld { entity, .. } => entity,
        }
    }
}

/// The entity a creation change makes, read from the change's operations without
/// applying it (the wire decoder never applies a change): no dependencies, and exactly
/// one write of a 32-hex-digit id to the root key `id` (see `doc::creation_id`). `None`
/// for every other change, and for bytes that are not a change. Whether the change
/// really creates a valid document of that id is the policy's judgement, made after
/// the signatures are checked.
pub fn created_entity(bytes: &[u8]) -> Option<EntityId> {
    let change = change_from_bytes(bytes).ok()?;
    entity_bytes(&crate::doc::creation_id(&change)?).ok()
}

/// A cheap test that rules most other changes out before [`created_entity`] decodes
/// them: a creation change holds its entity id as text (later changes do not).
fn may_be_creation_of(bytes: &[u8], entity: &EntityId) -> bool {
    let hex = entity_hex(entity);
    bytes.windows(hex.len()).any(|w| w == hex.as_bytes())
}

/// The wire forms of [`Item`] (postcard encodes the variant index, so order matters:
/// append new forms, never reorder).
#[derive(Serialize)]
enum ItemOut<'a> {
    Change {
        entity: &'a EntityId,
        bytes: &'a [u8],
    },
    Withheld {
        entity: &'a EntityId,
        hash: &'a Hash,
    },
    Created {
        bytes: &'a [u8],
    },
}

#[derive(Deserialize)]
enum ItemIn {
    Change { entity: EntityId, bytes: Vec<u8> },
    Withheld { entity: EntityId, hash: Hash },
    Created { bytes: Vec<u8> },
}

impl Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Item::Change { entity, bytes }
                if may_be_creation_of(bytes, entity) && created_entity(bytes) == Some(*entity) =>
            {
                ItemOut::Created { bytes }.serialize(s)
            }
            Item::Change { entity, bytes } => ItemOut::Change { entity, bytes }.serialize(s),
            Item::Withheld { entity, hash } => ItemOut::Withheld { entity, hash }.serialize(s),
        }
    }
}

thread_local! {
    /// The reason the last item failed to decode on this thread (postcard drops the
    /// text of custom serde errors; `decode` puts it back into its error).
    static ITEM_ERROR: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match ItemIn::deserialize(d)? {
            ItemIn::Change { entity, bytes } => Item::Change { entity, bytes },
            ItemIn::Withheld { entity, hash } => Item::Withheld { entity, hash },
            ItemIn::Created { bytes } => match created_entity(&bytes) {
                Some(entity) => Item::Change { entity, bytes },
                None => {
                    let why =
                        "a created item is not a change that creates a document (it must have no \
                               dependencies and set the document's 32-hex-digit id once)";
                    ITEM_ERROR.with(|e| *e.borrow_mut() = Some(why.to_string()));
                    return Err(serde::de::Error::custom(why));
                }
            },
        })
    }
}

/// postcard-decode `bytes` as a `T`, with the reason a created item was refused.
fn postcard_take<'a, T: DeserializeOwned>(bytes: &'a [u8], what: &str) -> Result<(T, &'a [u8])> {
    ITEM_ERROR.with(|e| e.borrow_mut().take());
    postcard::take_from_bytes(bytes).map_err(|e| {
        let why = ITEM_ERROR
            .with(|x| x.borrow_mut().take())
            .unwrap_or_else(|| e.to_string());
        Error::Malformed(format!("{what} does not decode: {why}"))
    })
}

/// The (entity, change hash) list a batch's signature covers, in item order: the one
/// type for it on the device, in bundles and on the relay. Stored as 48 bytes a pair
/// (entity, then hash: `to_bytes`), which is also how the signed message lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchPairs(Vec<(EntityId, Hash)>);

impl BatchPairs {
    /// Bytes of one pair in `to_bytes`.
    pub const PAIR_BYTES: usize = 48;

    pub fn new(pairs: Vec<(EntityId, Hash)>) -> BatchPairs {
        BatchPairs(pairs)
    }

    /// The stored form: each entity id then its change hash.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * Self::PAIR_BYTES);
        for (e, h) in &self.0 {
            out.extend_from_slice(e);
            out.extend_from_slice(h);
        }
        out
    }

    /// Read the stored form back; anything but whole pairs is malformed.
    pub fn from_bytes(b: &[u8]) -> Result<BatchPairs> {
        if !b.len().is_multiple_of(Self::PAIR_BYTES) {
            return Err(Error::Malformed(format!(
                "a batch's pair list is {} bytes, not a multiple of {}",
                b.len(),
                Self::PAIR_BYTES
            )));
        }
        Ok(BatchPairs(
            b.chunks_exact(Self::PAIR_BYTES)
                .map(|ch| {
                    (
                        ch[..16].try_into().expect("16 bytes"),
                        ch[16..].try_into().expect("32 bytes"),
                    )
                })
                .collect(),
        ))
    }

    /// Whether the list covers the change `hash`.
    pub fn covers(&self, hash: &Hash) -> bool {
        self.0.iter().any(|(_, h)| h == hash)
    }
}

impl PartialEq<Vec<(EntityId, Hash)>> for BatchPairs {
    fn eq(&self, other: &Vec<(EntityId, Hash)>) -> bool {
        &self.0 == other
    }
}

impl std::ops::Deref for BatchPairs {
    type Target = [(EntityId, Hash)];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl IntoIterator for BatchPairs {
    type Item = (EntityId, Hash);
    type IntoIter = std::vec::IntoIter<(EntityId, Hash)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a BatchPairs {
    type Item = &'a (EntityId, Hash);
    type IntoIter = std::slice::Iter<'a, (EntityId, Hash)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Changes by one device, signed together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBatch {
    pub author: [u8; 32],
    pub signed_at: i64,
    pub items: Vec<Item>,
    pub signature: Vec<u8>,
}

/// A change from a batch whose signature checked, with its decoded automerge change.
#[derive(Debug, Clone)]
pub struct VerifiedChange {
    pub entity: String,
    pub change: Change,
    pub author: String,
    /// Relay log position of the batch (None for bundle data not yet seen by a relay).
    pub seq: Option<u64>,
}

impl SignedBatch {
    /// The (entity, change hash) pairs the signature covers, in order. Computed from
    /// the bytes without parsing any change ([`change_hash_of`]).
    pub fn pairs(&self) -> Result<BatchPairs> {
        self.items
            .iter()
            .map(|it| match it {
                Item::Change { entity, bytes } => Ok((*entity, change_hash_of(bytes)?)),
                Item::Withheld { entity, hash } => Ok((*entity, *hash)),
            })
            .collect::<Result<_>>()
            .map(BatchPairs)
    }

    pub fn message(author: &[u8; 32], signed_at: i64, pairs: &BatchPairs) -> Vec<u8> {
        let mut m = Vec::with_capacity(64 + pairs.len() * BatchPairs::PAIR_BYTES);
        m.extend_from_slice(b"cunwu-batch-v1\0");
        m.extend_from_slice(author);
        m.extend_from_slice(&signed_at.to_le_bytes());
        m.extend_from_slice(&pairs.to_bytes());
        m
    }

    /// Sign `changes` (entity id, automerge change) by `key`.
    pub fn sign(key: &DeviceKey, signed_at: i64, changes: &[(EntityId, Change)]) -> SignedBatch {
        let author = key.public();
        let pairs = BatchPairs(changes.iter().map(|(e, c)| (*e, c.hash().0)).collect());
        let signature = key
            .sign(&Self::message(&author, signed_at, &pairs))
            .to_vec();
        let items = changes
            .iter()
            .map(|(e, c)| Item::Change {
                entity: *e,
                bytes: c.raw_bytes().to_vec(),
            })
            .collect();
        SignedBatch {
            author,
            signed_at,
            items,
            signature,
        }
    }

    /// Check the signature over the batch's (entity, hash) pairs first — computed from
    /// the bytes, nothing parsed yet — and only then parse each change, confirm that its
    /// hash is the one signed and that it was made by the batch author (automerge actor
    /// id = device key).
    pub fn verify(&self, seq: Option<u64>) -> Result<Vec<VerifiedChange>> {
        let author_hex = hex::encode(self.author);
        let pairs = self.pairs()?;
        identity::verify(
            &self.author,
            &Self::message(&self.author, self.signed_at, &pairs),
            &self.signature,
        )
        .map_err(|_| {
            Error::BadSignature(format!(
                "batch signature by device {} does not verify",
                crate::roster::short(&author_hex)
            ))
        })?;
        let mut out = vec![];
        for (item, (_, signed_hash)) in self.items.iter().zip(pairs.iter()) {
            if let Item::Change { entity, bytes } = item {
                let change = change_from_bytes(bytes)?;
                if change.hash().0 != *signed_hash {
                    return Err(Error::Malformed(
                        "a change's bytes are not in automerge's canonical form".into(),
                    ));
                }
                if change.actor_id().to_bytes() != self.author {
                    return Err(Error::BadSignature(format!(
                        "a change in the batch was made by actor {}, not by the signing device {}",
                        change.actor_id().to_hex_string(),
                        crate::roster::short(&author_hex)
                    )));
                }
                out.push(VerifiedChange {
                    entity: entity_hex(entity),
                    change,
                    author: author_hex.clone(),
                    seq,
                });
            }
        }
        Ok(out)
    }

    /// The same batch with only the items `keep` allows; the others become `Withheld`.
    pub fn redacted(&self, mut keep: impl FnMut(usize, &Item) -> bool) -> Result<SignedBatch> {
        let mut items = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().enumerate() {
            if keep(i, it) {
                items.push(it.clone());
            } else {
                items.push(match it {
                    Item::Change { entity, bytes } => Item::Withheld {
                        entity: *entity,
                        hash: change_hash_of(bytes)?,
                    },
                    w => w.clone(),
                });
            }
        }
        Ok(SignedBatch {
            author: self.author,
            signed_at: self.signed_at,
            items,
            signature: self.signature.clone(),
        })
    }
}

/// The automerge hash of an uncompressed change chunk, computed from its bytes without
/// parsing them: SHA-256 over the chunk type, length and data (automerge's definition).
/// A chunk whose length is not minimally encoded gets another hash here than from
/// automerge; `SignedBatch::verify` refuses it when it parses the change.
pub fn change_hash_of(bytes: &[u8]) -> Result<Hash> {
    if bytes.len() < 10 || bytes[..4] != [0x85, 0x6f, 0x4a, 0x83] || bytes[8] != 1 {
        return Err(Error::Malformed(
            "not an automerge change: missing the header of an uncompressed change chunk".into(),
        ));
    }
    Ok(sha2::Sha256::digest(&bytes[8..]).into())
}

/// A tally published by the relay (for secret ballots and hidden results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTally {
    pub tally_json: Vec<u8>,
    pub signature: Vec<u8>,
}

impl SignedTally {
    fn message(json: &[u8]) -> Vec<u8> {
        let mut m = b"cunwu-tally-v1\0".to_vec();
        m.extend_from_slice(json);
        m
    }
    pub fn sign(t: &crate::model::deliberation::Tally, relay: &DeviceKey) -> SignedTally {
        let tally_json = serde_json::to_vec(t).expect("tally serializes");
        let signature = relay.sign(&Self::message(&tally_json)).to_vec();
        SignedTally {
            tally_json,
            signature,
        }
    }
    pub fn verify(&self, relay_public: &[u8]) -> Result<crate::model::deliberation::Tally> {
        identity::verify(
            relay_public,
            &Self::message(&self.tally_json),
            &self.signature,
        )
        .map_err(|_| Error::BadSignature("tally is not signed by this space's relay".into()))?;
        serde_json::from_slice(&self.tally_json)
            .map_err(|e| Error::Malformed(format!("tally: {e}")))
    }
}

/// One entry of a space's log as the relay serves it, with when it reached the relay
/// (the relay's clock: the time the village saw it, whatever the author's phone
/// said; `None` from a relay that did not record it, or in a version-3 response).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogEntry {
    Batch {
        seq: u64,
        batch: SignedBatch,
        arrived_at: Option<i64>,
    },
    Tally {
        seq: u64,
        tally: SignedTally,
        arrived_at: Option<i64>,
    },
}

impl LogEntry {
    pub fn seq(&self) -> u64 {
        match self {
            LogEntry::Batch { seq, .. } | LogEntry::Tally { seq, .. } => *seq,
        }
    }

    pub fn arrived_at(&self) -> Option<i64> {
        match self {
            LogEntry::Batch { arrived_at, .. } | LogEntry::Tally { arrived_at, .. } => *arrived_at,
        }
    }
}

/// What is left of the log for this reader after a page: log entries, changes and
/// change bytes after the page's cursor. The relay counts every change after the
/// cursor, some of which this reader may not receive (others' private requests), so
/// it is an upper bound; 0 when nothing is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remaining {
    pub entries: u64,
    pub changes: u64,
    pub bytes: u64,
}

/// What a device sends: its cursor and the batches it has not had acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub space: EntityId,
    pub device: [u8; 32],
    /// Strictly increasing per device; the relay refuses a counter it has seen (replay).
    pub counter: u64,
    pub sent_at: i64,
    pub cursor: u64,
    pub roster_version: u64,
    /// Most change bytes the device wants in this response page.
    pub max_page_bytes: u32,
    pub batches: Vec<SignedBatch>,
}

/// A sync request as it travels: the frame header names the space and the device and
/// carries the device's Ed25519 signature over the *compressed* body, so the relay
/// checks who sent it — enrolled in that space, not revoked, signature valid — before
/// it inflates or parses a byte of it.
///
/// Layout (wire version 3): `"CWU"`, 3, kind 1, space (16 bytes), device key (32),
/// signature (64), then a checksummed zstd frame of the postcard `SyncRequest`. The
/// signature covers `"cunwu-sync-v3\0"`, space, device key and the zstd bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRequest<'a> {
    pub space: EntityId,
    pub device: [u8; 32],
    pub signature: [u8; 64],
    /// The zstd frame, as received.
    pub payload: &'a [u8],
}

const SEALED_HEADER: usize = 5 + 16 + 32 + 64;

impl<'a> SealedRequest<'a> {
    fn message(space: &EntityId, device: &[u8; 32], payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(64 + payload.len());
        m.extend_from_slice(b"cunwu-sync-v3\0");
        m.extend_from_slice(space);
        m.extend_from_slice(device);
        m.extend_from_slice(payload);
        m
    }

    /// Encode and sign `req` by `key` as a complete frame.
    pub fn seal(req: &SyncRequest, key: &DeviceKey) -> Vec<u8> {
        Self::seal_body(
            &req.space,
            key,
            &postcard::to_allocvec(req).expect("request serializes"),
        )
    }

    /// Compress and sign `body` (the postcard bytes of a request) by `key` for `space`.
    pub fn seal_body(space: &EntityId, key: &DeviceKey, body: &[u8]) -> Vec<u8> {
        let payload = compress(body);
        let device = key.public();
        let signature = key.sign(&Self::message(space, &device, &payload));
        let mut out = Vec::with_capacity(SEALED_HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.push(WRITTEN_VERSION);
        out.push(FrameKind::SyncRequest as u8);
        out.extend_from_slice(space);
        out.extend_from_slice(&device);
        out.extend_from_slice(&signature);
        out.extend_from_slice(&payload);
        out
    }

    /// Read the header of a sealed request: nothing is inflated or verified yet.
    pub fn read(frame: &'a [u8]) -> Result<SealedRequest<'a>> {
        check_frame_header(frame, FrameKind::SyncRequest)?;
        if frame[3] < OLDEST_SYNC_REQUEST_VERSION {
            return Err(Error::Malformed(format!(
                "a sync request of wire version {} is no longer accepted: since version {OLDEST_SYNC_REQUEST_VERSION} the \
                 device signs it outside the compression; update the app",
                frame[3]
            )));
        }
        if frame.len() < SEALED_HEADER + 5 {
            return Err(Error::Malformed(format!(
                "a sync request is at least {} bytes (header, space, device, signature, body); this one is {}",
                SEALED_HEADER + 5,
                frame.len()
            )));
        }
        Ok(SealedRequest {
            space: frame[5..21].try_into().expect("16"),
            device: frame[21..53].try_into().expect("32"),
            signature: frame[53..117].try_into().expect("64"),
            payload: &frame[SEALED_HEADER..],
        })
    }

    /// Check the signature against the device key the header names.
    pub fn verify(&self) -> Result<()> {
        identity::verify(
            &self.device,
            &Self::message(&self.space, &self.device, self.payload),
            &self.signature,
        )
        .map_err(|_| {
            Error::BadSignature("sync request is not signed by the device it names".into())
        })
    }

    /// Verify, then inflate (at most [`MAX_REQUEST_DECODED_BYTES`]) and decode the
    /// request; its space and device must be the ones the header names.
    pub fn open(&self) -> Result<SyncRequest> {
        self.verify()?;
        let body = inflate(self.payload, MAX_REQUEST_DECODED_BYTES)?;
        let (req, rest): (SyncRequest, _) = postcard_take(&body, "sync request body")?;
        if !rest.is_empty() {
            return Err(Error::Malformed(format!(
                "{} unexpected bytes after the sync request body",
                rest.len()
            )));
        }
        if req.space != self.space || req.device != self.device {
            return Err(Error::Malformed(
                "the sync request body names another space or device than its header".into(),
            ));
        }
        Ok(req)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub hash: Hash,
    pub entity: EntityId,
    pub reason: String,
}

/// Words in the reason of a rejection for a change whose dependencies the relay does
/// not hold (it parks nothing). Such a change is not wrong: after a restore from a
/// backup its dependencies come back when their authors' phones re-send them, so the
/// device keeps it and sends it again ([`Rejection::waits`]).
pub const NOT_HELD: &str = "the relay does not have";
/// How the relay begins the reason of a change refused because a change it depends on
/// was refused earlier in the same request, followed by that change's hash in hex.
pub const DEPENDS_ON_REFUSED: &str = "depends on change ";

impl Rejection {
    /// Split a response's rejections into those that stand and the hashes of changes
    /// that only wait for dependencies the relay does not hold yet (refused with
    /// [`NOT_HELD`], or refused for depending on such a change in the same request).
    pub fn waits(rejections: &[Rejection]) -> (Vec<Rejection>, Vec<Hash>) {
        let mut standing = vec![];
        let mut waiting: Vec<Hash> = vec![];
        for r in rejections {
            let on_waiting = r
                .reason
                .strip_prefix(DEPENDS_ON_REFUSED)
                .and_then(|rest| rest.get(..64))
                .and_then(|h| hex::decode(h).ok())
                .is_some_and(|h| waiting.iter().any(|w| w[..] == h[..]));
            if r.reason.contains(NOT_HELD) || on_waiting {
                waiting.push(r.hash);
            } else {
                standing.push(r.clone());
            }
        }
        (standing, waiting)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Hashes of the device's changes the relay holds (accepted now or before).
    pub acks: Vec<Hash>,
    pub rejections: Vec<Rejection>,
    pub entries: Vec<LogEntry>,
    pub cursor: u64,
    /// More entries wait after `cursor`: ask again.
    pub more: bool,
    pub roster: Option<SignedRoster>,
    pub server_time: i64,
    /// What is left after this page (version 4; zero in a version-3 response).
    pub remaining: Remaining,
    /// The space log's epoch (version 5; 0 in an older response, and from an older
    /// relay). It changes when the relay's log is restored from a backup: a device that
    /// synced in another epoch pulls the log again from the start and re-sends its
    /// changes the relay acked (it acks again those it holds; `SyncClient::sync_once`).
    pub epoch: u64,
    /// Version 6: instead of `roster`, what changed in the roster since the version the
    /// device said it holds (`SyncRequest::roster_version`), with the relay's signature
    /// of the whole roster it leads to. At most one of `roster` and `roster_delta` is set.
    pub roster_delta: Option<SignedRosterDelta>,
}

/// Sync responses as wire version 5 lays them out: no `roster_delta`.
mod v5 {
    use super::{Hash, LogEntry, Rejection, Remaining, SignedRoster};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize)]
    pub struct SyncResponseRef<'a> {
        pub acks: &'a [Hash],
        pub rejections: &'a [Rejection],
        pub entries: &'a [LogEntry],
        pub cursor: u64,
        pub more: bool,
        pub roster: &'a Option<SignedRoster>,
        pub server_time: i64,
        pub remaining: Remaining,
        pub epoch: u64,
    }

    #[derive(Deserialize)]
    pub struct SyncResponse {
        pub acks: Vec<Hash>,
        pub rejections: Vec<Rejection>,
        pub entries: Vec<LogEntry>,
        pub cursor: u64,
        pub more: bool,
        pub roster: Option<SignedRoster>,
        pub server_time: i64,
        pub remaining: Remaining,
        pub epoch: u64,
    }
}

/// Sync responses as wire version 4 lays them out: no `epoch`.
mod v4 {
    use super::{Hash, LogEntry, Rejection, Remaining, SignedRoster};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize)]
    pub struct SyncResponseRef<'a> {
        pub acks: &'a [Hash],
        pub rejections: &'a [Rejection],
        pub entries: &'a [LogEntry],
        pub cursor: u64,
        pub more: bool,
        pub roster: &'a Option<SignedRoster>,
        pub server_time: i64,
        pub remaining: Remaining,
    }

    #[derive(Deserialize)]
    pub struct SyncResponse {
        pub acks: Vec<Hash>,
        pub rejections: Vec<Rejection>,
        pub entries: Vec<LogEntry>,
        pub cursor: u64,
        pub more: bool,
        pub roster: Option<SignedRoster>,
        pub server_time: i64,
        pub remaining: Remaining,
    }
}

/// Sync responses as wire versions 1 to 3 lay them out: no arrival times, no
/// `remaining`. Written for a device that did not ask for version 4, read from a relay
/// that answered in it.
mod v3 {
    use super::{Hash, Rejection, SignedBatch, SignedRoster, SignedTally};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize)]
    pub enum LogEntryRef<'a> {
        Batch { seq: u64, batch: &'a SignedBatch },
        Tally { seq: u64, tally: &'a SignedTally },
    }

    #[derive(Serialize)]
    pub struct SyncResponseRef<'a> {
        pub acks: &'a [Hash],
        pub rejections: &'a [Rejection],
        pub entries: Vec<LogEntryRef<'a>>,
        pub cursor: u64,
        pub more: bool,
        pub roster: &'a Option<SignedRoster>,
        pub server_time: i64,
    }

    #[derive(Deserialize)]
    pub enum LogEntry {
        Batch { seq: u64, batch: SignedBatch },
        Tally { seq: u64, tally: SignedTally },
    }

    #[derive(Deserialize)]
    pub struct SyncResponse {
        pub acks: Vec<Hash>,
        pub rejections: Vec<Rejection>,
        pub entries: Vec<LogEntry>,
        pub cursor: u64,
        pub more: bool,
        pub roster: Option<SignedRoster>,
        pub server_time: i64,
    }
}

impl SyncResponse {
    /// The frame for a device that reads sync responses up to `version` (the value of
    /// its [`RESPONSE_VERSION_HEADER`], else 3).
    pub fn encode(&self, version: u8) -> Vec<u8> {
        if version >= 6 {
            return frame(6, FrameKind::SyncResponse, self);
        }
        if version == 5 {
            let v5 = v5::SyncResponseRef {
                acks: &self.acks,
                rejections: &self.rejections,
                entries: &self.entries,
                cursor: self.cursor,
                more: self.more,
                roster: &self.roster,
                server_time: self.server_time,
                remaining: self.remaining,
                epoch: self.epoch,
            };
            return frame(5, FrameKind::SyncResponse, &v5);
        }
        if version == 4 {
            let v4 = v4::SyncResponseRef {
                acks: &self.acks,
                rejections: &self.rejections,
                entries: &self.entries,
                cursor: self.cursor,
                more: self.more,
                roster: &self.roster,
                server_time: self.server_time,
                remaining: self.remaining,
            };
            return frame(4, FrameKind::SyncResponse, &v4);
        }
        let entries = self
            .entries
            .iter()
            .map(|e| match e {
                LogEntry::Batch { seq, batch, .. } => v3::LogEntryRef::Batch { seq: *seq, batch },
                LogEntry::Tally { seq, tally, .. } => v3::LogEntryRef::Tally { seq: *seq, tally },
            })
            .collect();
        let old = v3::SyncResponseRef {
            acks: &self.acks,
            rejections: &self.rejections,
            entries,
            cursor: self.cursor,
            more: self.more,
            roster: &self.roster,
            server_time: self.server_time,
        };
        frame(WRITTEN_VERSION, FrameKind::SyncResponse, &old)
    }

    /// Read a sync response of any readable version (a version-3 one has no arrival
    /// times and nothing in `remaining`; before version 5, `epoch` is 0).
    pub fn decode(bytes: &[u8]) -> Result<SyncResponse> {
        check_frame_header(bytes, FrameKind::SyncResponse)?;
        let body = inflate(&bytes[5..], decoded_limit(FrameKind::SyncResponse))?;
        if bytes[3] >= 6 {
            return whole(&body);
        }
        if bytes[3] == 5 {
            let v: v5::SyncResponse = whole(&body)?;
            return Ok(SyncResponse {
                acks: v.acks,
                rejections: v.rejections,
                entries: v.entries,
                cursor: v.cursor,
                more: v.more,
                roster: v.roster,
                server_time: v.server_time,
                remaining: v.remaining,
                epoch: v.epoch,
                roster_delta: None,
            });
        }
        if bytes[3] == 4 {
            let v: v4::SyncResponse = whole(&body)?;
            return Ok(SyncResponse {
                acks: v.acks,
                rejections: v.rejections,
                entries: v.entries,
                cursor: v.cursor,
                more: v.more,
                roster: v.roster,
                server_time: v.server_time,
                remaining: v.remaining,
                epoch: 0,
                roster_delta: None,
            });
        }
        let old: v3::SyncResponse = whole(&body)?;
        Ok(SyncResponse {
            acks: old.acks,
            rejections: old.rejections,
            entries: old
                .entries
                .into_iter()
                .map(|e| match e {
                    v3::LogEntry::Batch { seq, batch } => LogEntry::Batch {
                        seq,
                        batch,
                        arrived_at: None,
                    },
                    v3::LogEntry::Tally { seq, tally } => LogEntry::Tally {
                        seq,
                        tally,
                        arrived_at: None,
                    },
                })
                .collect(),
            cursor: old.cursor,
            more: old.more,
            roster: old.roster,
            server_time: old.server_time,
            remaining: Remaining::default(),
            epoch: 0,
            roster_delta: None,
        })
    }
}

/// A bundle file: the same signed batches and tallies, for phone-to-phone transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub space: EntityId,
    pub created_at: i64,
    pub roster: Option<SignedRoster>,
    pub batches: Vec<SignedBatch>,
    pub tallies: Vec<SignedTally>,
}

/// What a phone already holds, so a peer can export only what it lacks — and only
/// what the phone's member may read. Signed by the phone's device key, so nobody can
/// claim to be a cadre to draw other people's requests out of a cadre's phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Have {
    pub space: EntityId,
    pub device: [u8; 32],
    /// Each entity with the heads of its document.
    pub entities: Vec<(EntityId, Vec<Hash>)>,
    pub signature: Vec<u8>,
}

impl Have {
    fn message(space: &EntityId, device: &[u8; 32], entities: &[(EntityId, Vec<Hash>)]) -> Vec<u8> {
        let mut m = b"cunwu-have-v1\0".to_vec();
        m.extend_from_slice(space);
        m.extend_from_slice(device);
        m.extend_from_slice(&postcard::to_allocvec(entities).expect("have serializes"));
        m
    }
    pub fn sign(space: EntityId, key: &DeviceKey, entities: Vec<(EntityId, Hash32List)>) -> Have {
        let device = key.public();
        let signature = key
            .sign(&Self::message(&space, &device, &entities))
            .to_vec();
        Have {
            space,
            device,
            entities,
            signature,
        }
    }
    pub fn verify(&self) -> Result<()> {
        identity::verify(
            &self.device,
            &Self::message(&self.space, &self.device, &self.entities),
            &self.signature,
        )
        .map_err(|_| {
            Error::BadSignature(
                "the peer summary (have) is not signed by the device it names".into(),
            )
        })
    }
}

pub type Hash32List = Vec<Hash>;

/// Encode a message as a frame. A sync response is written in version 6 here; the
/// relay writes it with [`SyncResponse::encode`], in the version the device reads.
pub fn encode<T: Serialize>(kind: FrameKind, msg: &T) -> Vec<u8> {
    let version = match kind {
        FrameKind::SyncResponse => WIRE_VERSION,
        _ => WRITTEN_VERSION,
    };
    frame(version, kind, msg)
}

fn frame<T: Serialize + ?Sized>(version: u8, kind: FrameKind, msg: &T) -> Vec<u8> {
    let body = postcard::to_allocvec(msg).expect("message serializes");
    let z = compress(&body);
    let mut out = Vec::with_capacity(z.len() + 5);
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.push(kind as u8);
    out.extend_from_slice(&z);
    out
}

/// postcard-decode the whole of `body` as a `T`.
fn whole<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let (msg, rest): (T, &[u8]) = postcard_take(body, "message body")?;
    if !rest.is_empty() {
        return Err(Error::Malformed(format!(
            "{} unexpected bytes after the message",
            rest.len()
        )));
    }
    Ok(msg)
}

/// One checksummed zstd frame of `body`.
fn compress(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 3 + 16);
    let mut enc = zstd::stream::Encoder::new(&mut out, 9).expect("zstd encoder");
    enc.include_checksum(true).expect("zstd checksum flag");
    // sizes the compression context to the message (a small message gets a small one)
    enc.set_pledged_src_size(Some(body.len() as u64))
        .expect("zstd pledged size");
    std::io::Write::write_all(&mut enc, body).expect("write to memory");
    enc.finish().expect("zstd finish");
    out
}

fn check_frame_header(bytes: &[u8], kind: FrameKind) -> Result<()> {
    if bytes.len() < 5 || &bytes[..3] != MAGIC {
        return Err(Error::Malformed(
            "not a Cunwu message (missing the CWU header)".into(),
        ));
    }
    if !(OLDEST_READABLE_VERSION..=WIRE_VERSION).contains(&bytes[3]) {
        return Err(Error::UnsupportedVersion {
            found: bytes[3],
            supported: WIRE_VERSION,
        });
    }
    if bytes[4] != kind as u8 {
        return Err(Error::Malformed(format!(
            "expected a message of kind {:?}, got kind {}",
            kind, bytes[4]
        )));
    }
    Ok(())
}

/// Inflate one checksummed zstd frame, refusing to produce more than `limit` bytes.
/// The decoder's window is capped too, so a frame cannot make it reserve more memory
/// than the limit allows.
fn inflate(z: &[u8], limit: usize) -> Result<Vec<u8>> {
    // one zstd frame with its content checksum, so corruption is always detected
    if z.len() < 5 || z[..4] != [0x28, 0xB5, 0x2F, 0xFD] || z[4] & 0x04 == 0 {
        return Err(Error::Malformed(
            "the body is not a checksummed zstd frame".into(),
        ));
    }
    let mut dec = zstd::stream::Decoder::new(z)
        .map_err(|e| Error::Malformed(format!("compressed body: {e}")))?;
    // 2^27 = 128 MiB is zstd's default cap; a request needs far less
    let window_log = (usize::BITS - limit.max(1 << 20).leading_zeros()).min(27);
    dec.window_log_max(window_log)
        .map_err(|e| Error::Malformed(format!("compressed body: {e}")))?;
    let mut body = Vec::new();
    let n = std::io::Read::read_to_end(
        &mut std::io::Read::take(&mut dec, limit as u64 + 1),
        &mut body,
    )
    .map_err(|e| Error::Malformed(format!("compressed body is truncated or corrupt: {e}")))?;
    if n > limit {
        return Err(Error::TooLarge(format!(
            "message inflates beyond {limit} bytes ({} compressed), the most this kind of message may hold",
            z.len()
        )));
    }
    Ok(body)
}

/// Decode a frame of the expected kind; every failure is a clear `Malformed`,
/// `TooLarge` or `UnsupportedVersion` error. A sync request is read with
/// [`SealedRequest`] instead.
pub fn decode<T: DeserializeOwned>(kind: FrameKind, bytes: &[u8]) -> Result<T> {
    check_frame_header(bytes, kind)?;
    match kind {
        FrameKind::SyncRequest => {
            return Err(Error::Malformed(
                "a sync request is read with SealedRequest::read, not decode".into(),
            ))
        }
        FrameKind::SyncResponse if bytes[3] < 6 => {
            return Err(Error::Malformed(
                "a sync response before version 6 has another layout: read it with SyncResponse::decode"
                    .into(),
            ))
        }
        _ => {}
    }
    let body = inflate(&bytes[5..], decoded_limit(kind))?;
    whole(&body)
}

pub fn hash_hex(h: &Hash) -> String {
    hex::encode(h)
}

pub fn change_hash(h: &Hash) -> ChangeHash {
    ChangeHash(*h)
}

/// Control-plane messages (JSON over HTTP): enrolment, invites, revocation.
pub mod control {
    use super::*;

    /// How far the time in a control request's nonce may be from the relay's clock
    /// ([`nonce_time`]); the same window as blob requests'.
    pub const MAX_NONCE_SKEW_MS: i64 = super::blob::MAX_AUTH_SKEW_MS;

    /// A nonce for a signed control request (invite, revoke, rotate) made at `now`:
    /// `t<ms>.<random>`. The time is inside what the device signs, so the relay refuses
    /// the request once it is older than [`MAX_NONCE_SKEW_MS`] and may forget the
    /// nonces of requests older than that: a replay of one is refused by its time.
    /// (Apps before this sent a bare random nonce; the relay keeps those for good.)
    pub fn fresh_nonce(now: i64) -> String {
        format!("t{now}.{}", crate::ids::new_id())
    }

    /// The time a nonce made by [`fresh_nonce`] carries; `None` for an older app's
    /// nonce, which has none.
    pub fn nonce_time(nonce: &str) -> Option<i64> {
        let (t, rest) = nonce.strip_prefix('t')?.split_once('.')?;
        if rest.len() < 16 {
            return None;
        }
        t.parse().ok()
    }

    /// Whether a nonce is of the timed form's shape without parsing as one (`t…` or
    /// `T…`): refused, since the relay forgets nonces of that shape
    /// (`Storage::prune_nonces`) and one without a readable time could then be replayed.
    pub fn looks_timed(nonce: &str) -> bool {
        nonce.starts_with(['t', 'T']) && nonce_time(nonce).is_none()
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct EnrollRequest {
        pub invite: String,
        pub device_key: String,
        pub name: String,
        /// Device signature (hex) over `enroll_message(invite, device_key, name)`.
        pub signature: String,
    }

    pub fn enroll_message(invite: &str, device_key: &str, name: &str) -> Vec<u8> {
        format!("cunwu-enroll-v1\0{invite}\0{device_key}\0{name}").into_bytes()
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct EnrollResponse {
        pub space_id: String,
        pub space_name: String,
        pub member_id: String,
        pub role: crate::roster::Role,
        pub relay_key: String,
        pub roster: SignedRoster,
    }

    /// Who an invite enrols, beyond role, household and group: the person on the
    /// village register it is for, and whether they are a migrant and where they live.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct InviteFor {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub person: Option<String>,
        #[serde(default)]
        pub migrant: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub lives_in: Option<String>,
    }

    impl InviteFor {
        pub fn is_empty(&self) -> bool {
            *self == InviteFor::default()
        }
    }

    /// A cadre asks the relay for an invite; signed by the cadre's device.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct InviteRequest {
        pub space_id: String,
        pub device_key: String,
        pub role: crate::roster::Role,
        pub household: String,
        pub group: String,
        /// Unique per request; the relay refuses a nonce it has seen.
        pub nonce: String,
        pub signature: String,
        /// Absent in requests from apps before the register (signed as `v1`).
        #[serde(default, skip_serializing_if = "InviteFor::is_empty")]
        pub enrols: InviteFor,
    }

    /// What the cadre's device signs: `v1` when the invite names no person (what older
    /// apps sign), else `v2` with the person, the migrant flag and the residence.
    pub fn invite_message(r: &InviteRequest) -> Vec<u8> {
        let base = format!(
            "\0{}\0{}\0{}\0{}\0{}\0{}",
            r.space_id,
            r.device_key,
            r.role.as_str(),
            r.household,
            r.group,
            r.nonce
        );
        if r.enrols.is_empty() {
            format!("cunwu-invite-v1{base}").into_bytes()
        } else {
            format!(
                "cunwu-invite-v2{base}\0{}\0{}\0{}",
                r.enrols.person.as_deref().unwrap_or(""),
                r.enrols.migrant,
                r.enrols.lives_in.as_deref().unwrap_or("")
            )
            .into_bytes()
        }
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct InviteResponse {
        pub invite: String,
        pub expires_at: i64,
    }

    /// A cadre revokes a device (by key) or a member (by id, all their devices).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RevokeRequest {
        pub space_id: String,
        pub device_key: String,
        pub target: String,
        pub nonce: String,
        pub signature: String,
    }

    pub fn revoke_message(r: &RevokeRequest) -> Vec<u8> {
        format!(
            "cunwu-revoke-v1\0{}\0{}\0{}\0{}",
            r.space_id, r.device_key, r.target, r.nonce
        )
        .into_bytes()
    }

    /// A device replaces its key (a phone moved to new hardware, a key that may have
    /// leaked). Signed by BOTH keys over `rotate_message`: the old key shows the
    /// request comes from the enrolled device, the new key that its holder has it.
    /// The relay marks the old key revoked from the next log position (what it signed
    /// before stays valid), adds the new key for the same member and bumps the roster
    /// version. `nonce` is unique per request; the relay refuses one it has seen.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RotateRequest {
        pub space_id: String,
        /// Hex of the enrolled (old) device key.
        pub old_key: String,
        /// Hex of the key that replaces it.
        pub new_key: String,
        pub nonce: String,
        /// Old key's signature (hex) over `rotate_message`.
        pub old_signature: String,
        /// New key's signature (hex) over `rotate_message`.
        pub new_signature: String,
    }

    pub fn rotate_message(r: &RotateRequest) -> Vec<u8> {
        format!(
            "cunwu-rotate-v1\0{}\0{}\0{}\0{}",
            r.space_id, r.old_key, r.new_key, r.nonce
        )
        .into_bytes()
    }

    /// The relay's answer to a rotation: the roster naming the new key.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RotateResponse {
        pub roster: SignedRoster,
    }

    /// The body of every 4xx/5xx answer from the relay.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ErrorBody {
        pub error: String,
        /// On a refused sync counter (409): the lowest counter the relay will accept
        /// from this device in this space. Absent otherwise (and from older relays);
        /// older clients ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expected_counter: Option<u64>,
        /// On a control request whose nonce carries a time too far from the relay's
        /// clock (409, [`nonce_time`]): the relay's clock, so the device signs the
        /// request again with a nonce of that time. Older clients ignore it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub relay_time: Option<i64>,
    }
}

/// The attachment lane (`/v1/blobs`): how a device proves who it is on a blob request,
/// and what the relay answers. The bytes themselves are raw HTTP bodies of at most
/// `attachment::MAX_TRANSFER_BYTES`, cut at piece boundaries
/// (`model::attachment::PIECE_BYTES`) and verified piece by piece against the piece
/// list, which is verified against the attachment's content address. See WIRE.md.
///
/// | request | auth op | body | answer |
/// |---|---|---|---|
/// | `GET /v1/blobs/{hash}` | `status` | — | JSON [`blob::BlobStatus`] |
/// | `PUT /v1/blobs/{hash}/pieces` | `put-pieces` | the piece list (32 bytes a piece) | `BlobStatus` |
/// | `GET /v1/blobs/{hash}/pieces` | `get-pieces` | — | the piece list |
/// | `PUT /v1/blobs/{hash}?offset=N` | `put` (offset N) | bytes from N, whole pieces but the last | `BlobStatus` |
/// | `GET /v1/blobs/{hash}?offset=N&len=L` | `get` (offset N) | — | bytes N..N+L (L ≤ 1 MiB) |
pub mod blob {
    use crate::error::{Error, Result};
    use crate::identity::DeviceKey;
    use serde::{Deserialize, Serialize};

    /// The header every blob request carries: `space.device.at.signature` (hex, the
    /// time in UTC ms), signed over [`auth_message`].
    pub const AUTH_HEADER: &str = "cunwu-blob-auth";
    /// How far a blob request's time may be from the relay's clock. A replay inside it
    /// only repeats an idempotent request of the same device.
    pub const MAX_AUTH_SKEW_MS: i64 = 15 * 60 * 1000;

    /// What a blob request does, as signed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Op {
        Status,
        PutPieces,
        GetPieces,
        Put,
        Get,
    }

    impl Op {
        pub fn as_str(self) -> &'static str {
            match self {
                Op::Status => "status",
                Op::PutPieces => "put-pieces",
                Op::GetPieces => "get-pieces",
                Op::Put => "put",
                Op::Get => "get",
            }
        }
    }

    /// The signed message of a blob request.
    pub fn auth_message(
        space: &str,
        device: &str,
        op: Op,
        hash: &str,
        offset: u64,
        at: i64,
    ) -> Vec<u8> {
        format!(
            "cunwu-blob-v1\0{space}\0{device}\0{}\0{hash}\0{offset}\0{at}",
            op.as_str()
        )
        .into_bytes()
    }

    /// A blob request's proof of its device, parsed from [`AUTH_HEADER`].
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct BlobAuth {
        pub space: String,
        /// Hex of the device key.
        pub device: String,
        pub at: i64,
        pub signature: Vec<u8>,
    }

    impl BlobAuth {
        /// The header value for a request by `key` in `space`.
        pub fn header(
            space: &str,
            key: &DeviceKey,
            op: Op,
            hash: &str,
            offset: u64,
            at: i64,
        ) -> String {
            let device = hex::encode(key.public());
            let sig = key.sign(&auth_message(space, &device, op, hash, offset, at));
            format!("{space}.{device}.{at}.{}", hex::encode(sig))
        }

        /// Parse a header value (shape only: the relay then checks the device is in the
        /// space's roster and calls [`BlobAuth::verify`]).
        pub fn parse(value: &str) -> Result<BlobAuth> {
            let bad = || {
                Error::Malformed(format!(
                    "the {AUTH_HEADER} header must be space.device.time.signature in hex"
                ))
            };
            if value.len() > 400 {
                return Err(bad());
            }
            let mut it = value.split('.');
            let (Some(space), Some(device), Some(at), Some(sig), None) =
                (it.next(), it.next(), it.next(), it.next(), it.next())
            else {
                return Err(bad());
            };
            if !crate::ids::is_id(space) || device.len() != 64 || hex::decode(device).is_err() {
                return Err(bad());
            }
            let at: i64 = at.parse().map_err(|_| bad())?;
            let signature = hex::decode(sig).map_err(|_| bad())?;
            if signature.len() != 64 {
                return Err(bad());
            }
            Ok(BlobAuth {
                space: space.into(),
                device: device.into(),
                at,
                signature,
            })
        }

        /// The signature is the device's over this request, made within
        /// [`MAX_AUTH_SKEW_MS`] of `now`.
        pub fn verify(&self, op: Op, hash: &str, offset: u64, now: i64) -> Result<()> {
            if (self.at - now).abs() > MAX_AUTH_SKEW_MS {
                return Err(Error::NotAllowed(format!(
                    "the blob request was signed at {} but the relay's clock says {now}; check this phone's clock",
                    self.at
                )));
            }
            let key = hex::decode(&self.device).map_err(|e| Error::Malformed(e.to_string()))?;
            crate::identity::verify(
                &key,
                &auth_message(&self.space, &self.device, op, hash, offset, self.at),
                &self.signature,
            )
        }
    }

    /// What the relay says of one attachment, to the device that asked.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct BlobStatus {
        pub hash: String,
        /// The size the signed references give it.
        pub size: u64,
        /// For an uploader: the bytes from the start this device's uploads have
        /// delivered and the relay holds durably (upload resumes here). For a reader:
        /// the bytes the relay holds.
        pub have: u64,
        /// Whether the relay holds the piece list.
        pub pieces: bool,
        /// Whether the relay holds every byte.
        pub complete: bool,
        /// Whether this member may fetch it (the read rule of an entity referencing it).
        pub readable: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_pairs_are_stored_as_the_signed_message_lists_them() {
        let pairs = BatchPairs::new(vec![([1; 16], [2; 32]), ([3; 16], [4; 32])]);
        let bytes = pairs.to_bytes();
        assert_eq!(bytes.len(), 2 * BatchPairs::PAIR_BYTES);
        assert_eq!(BatchPairs::from_bytes(&bytes).unwrap(), pairs);
        assert!(pairs.covers(&[4; 32]) && !pairs.covers(&[1; 32]));
        // the signed message is the header then exactly the stored form
        let m = SignedBatch::message(&[9; 32], 7, &pairs);
        assert!(m.ends_with(&bytes));
        assert!(matches!(
            BatchPairs::from_bytes(&bytes[..47]),
            Err(Error::Malformed(_))
        ));
        assert_eq!(BatchPairs::from_bytes(&[]).unwrap(), BatchPairs::default());
    }

    fn frame_of(body: &[u8], checksum: bool) -> Vec<u8> {
        let mut out = b"CWU".to_vec();
        out.push(WIRE_VERSION);
        out.push(FrameKind::Bundle as u8);
        let mut enc = zstd::stream::Encoder::new(&mut out, 3).unwrap();
        enc.include_checksum(checksum).unwrap();
        std::io::Write::write_all(&mut enc, body).unwrap();
        enc.finish().unwrap();
        out
    }

    #[test]
    fn compression_bombs_are_refused_cheaply() {
        let bomb = frame_of(&vec![0u8; 64 * 1024 * 1024], true);
        assert!(bomb.len() < 10_000);
        // a bundle may inflate to 256 MiB, so this one decodes as far as its body...
        let e = decode::<Bundle>(FrameKind::Bundle, &bomb)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not decode") || e.contains("unexpected bytes"),
            "{e}"
        );
        // ...while a relay answer of the same bytes is refused at its absolute bound
        let mut as_response = bomb.clone();
        as_response[4] = FrameKind::SyncResponse as u8;
        let bomb = frame_of(&vec![0u8; MAX_RESPONSE_DECODED_BYTES + 1], true);
        let mut as_response2 = bomb.clone();
        as_response2[4] = FrameKind::SyncResponse as u8;
        let e = SyncResponse::decode(&as_response2).unwrap_err();
        assert!(
            matches!(e, Error::TooLarge(_)) && e.to_string().contains("inflates beyond"),
            "{e}"
        );
        assert!(SyncResponse::decode(&as_response).is_err());
    }

    /// A device that did not ask for version 4 gets the version-3 layout, which older
    /// builds read; a version-4 answer carries arrival times and what remains.
    #[test]
    fn sync_responses_are_written_in_the_version_the_device_reads() {
        let (e, c1, _) = notice_changes();
        let key = DeviceKey::generate();
        let resp = SyncResponse {
            acks: vec![[3; 32]],
            rejections: vec![],
            entries: vec![LogEntry::Batch {
                seq: 7,
                batch: SignedBatch::sign(&key, 11, &[(e, c1)]),
                arrived_at: Some(12),
            }],
            cursor: 7,
            more: true,
            roster: None,
            server_time: 13,
            remaining: Remaining {
                entries: 2,
                changes: 5,
                bytes: 900,
            },
            epoch: 77,
            roster_delta: Some(SignedRosterDelta {
                delta_json: b"{}".to_vec(),
                signature: vec![9; 64],
            }),
        };
        let v6 = resp.encode(6);
        let newest = v6.clone();
        assert_eq!(newest[3], 6);
        assert_eq!(SyncResponse::decode(&newest).unwrap(), resp);
        assert_eq!(resp.encode(WIRE_VERSION), newest);
        // a version-5 answer is the same but for the roster delta, which it does not carry
        let resp = SyncResponse {
            roster_delta: None,
            ..resp
        };
        let v5 = resp.encode(5);
        assert_eq!(v5[3], 5);
        assert_eq!(SyncResponse::decode(&v5).unwrap(), resp);
        assert!(v5.len() < newest.len());
        let newest = v5;
        // a version-4 answer is the same but for the epoch, which it does not carry
        let new = resp.encode(4);
        assert_eq!(new[3], 4);
        assert_eq!(
            SyncResponse::decode(&new).unwrap(),
            SyncResponse {
                epoch: 0,
                ..resp.clone()
            }
        );
        assert!(new.len() < newest.len());
        let old = resp.encode(3);
        assert_eq!(old[3], 3);
        let read = SyncResponse::decode(&old).unwrap();
        assert_eq!(read.entries[0].arrived_at(), None);
        assert_eq!(read.remaining, Remaining::default());
        assert_eq!((read.cursor, read.more, &read.acks), (7, true, &resp.acks));
        // the version-3 bytes are exactly what a version-3 build wrote
        #[derive(Serialize)]
        enum OldEntry<'a> {
            Batch { seq: u64, batch: &'a SignedBatch },
        }
        let LogEntry::Batch { batch, .. } = &resp.entries[0] else {
            unreachable!()
        };
        let by_hand = postcard::to_allocvec(&(
            &resp.acks,
            &resp.rejections,
            vec![OldEntry::Batch { seq: 7, batch }],
            7u64,
            true,
            None::<SignedRoster>,
            13i64,
        ))
        .unwrap();
        assert_eq!(inflate(&old[5..], 1 << 20).unwrap(), by_hand);
        assert_eq!(
            decode::<SyncResponse>(FrameKind::SyncResponse, &v6)
                .unwrap()
                .roster_delta
                .map(|d| d.signature),
            Some(vec![9; 64])
        );
        // the generic decoder reads only the newest layout
        assert!(decode::<SyncResponse>(FrameKind::SyncResponse, &newest).is_err());
        assert!(decode::<SyncResponse>(FrameKind::SyncResponse, &new).is_err());
        assert!(decode::<SyncResponse>(FrameKind::SyncResponse, &old).is_err());
    }

    #[test]
    fn frames_without_a_checksum_or_of_another_version_are_refused() {
        let b = Bundle {
            space: [1; 16],
            created_at: 5,
            roster: None,
            batches: vec![],
            tallies: vec![],
        };
        let ok = encode(FrameKind::Bundle, &b);
        assert_eq!(decode::<Bundle>(FrameKind::Bundle, &ok).unwrap(), b);
        let no_sum = frame_of(&postcard::to_allocvec(&b).unwrap(), false);
        assert!(decode::<Bundle>(FrameKind::Bundle, &no_sum)
            .unwrap_err()
            .to_string()
            .contains("checksummed"));
        let mut v3 = ok.clone();
        v3[3] = WIRE_VERSION + 1;
        assert!(matches!(
            decode::<Bundle>(FrameKind::Bundle, &v3),
            Err(Error::UnsupportedVersion { found, .. }) if found == WIRE_VERSION + 1
        ));
        // a version 1 message (no created items) still reads
        let mut v1 = ok.clone();
        v1[3] = 1;
        assert_eq!(decode::<Bundle>(FrameKind::Bundle, &v1).unwrap(), b);
        assert!(
            decode::<Bundle>(FrameKind::Bundle, &ok[..ok.len() - 3]).is_err(),
            "truncated"
        );
        assert!(decode::<Have>(FrameKind::Have, &ok)
            .unwrap_err()
            .to_string()
            .contains("kind"));
    }

    fn notice_changes() -> (EntityId, Change, Change) {
        use crate::doc::EntityDoc;
        use crate::model::EntityKind;
        let id = "0123456789abcdef0123456789abcdef";
        let first = serde_json::json!({"id": "e1", "type": "posted", "title": "修路公示", "body": "村道硬化"});
        let (mut doc, created) =
            EntityDoc::create(&[7; 32], EntityKind::Notice, id, &first, 1_700_000_000_000).unwrap();
        let next = doc
            .append(
                &[7; 32],
                &serde_json::json!({"id": "e2", "type": "read"}),
                1_700_000_000_001,
            )
            .unwrap();
        (entity_bytes(id).unwrap(), created, next)
    }

    fn item_body(it: &Item) -> Vec<u8> {
        postcard::to_allocvec(it).unwrap()
    }

    #[test]
    fn creation_changes_travel_without_their_entity_id() {
        let (entity, created, next) = notice_changes();
        assert_eq!(created_entity(created.raw_bytes()), Some(entity));
        assert_eq!(
            created_entity(next.raw_bytes()),
            None,
            "a change with dependencies creates nothing"
        );
        let c = Item::Change {
            entity,
            bytes: created.raw_bytes().to_vec(),
        };
        let body = item_body(&c);
        assert_eq!(body[0], 2, "written as the Created form");
        assert!(
            body.len() < created.raw_bytes().len() + 4,
            "no 16-byte entity id on the wire"
        );
        assert_eq!(
            postcard::from_bytes::<Item>(&body).unwrap(),
            c,
            "read back as a change to the same entity"
        );
        let n = Item::Change {
            entity,
            bytes: next.raw_bytes().to_vec(),
        };
        assert_eq!(item_body(&n)[0], 0, "a later change keeps its entity id");
        assert_eq!(postcard::from_bytes::<Item>(&item_body(&n)).unwrap(), n);
        // a change sent for another entity than the one it creates keeps the claimed id,
        // so the signature and the policy judge exactly what the sender claimed
        let lie = Item::Change {
            entity: [9; 16],
            bytes: created.raw_bytes().to_vec(),
        };
        assert_eq!(item_body(&lie)[0], 0);
        assert_eq!(postcard::from_bytes::<Item>(&item_body(&lie)).unwrap(), lie);
    }

    #[test]
    fn a_created_item_that_creates_nothing_is_refused_with_the_reason() {
        let (_, _, next) = notice_changes();
        // a bundle written by hand, with a Created item holding a change with dependencies
        #[derive(Serialize)]
        struct RawBatch<'a> {
            author: [u8; 32],
            signed_at: i64,
            items: Vec<ItemOut<'a>>,
            signature: Vec<u8>,
        }
        #[derive(Serialize)]
        struct RawBundle<'a> {
            space: EntityId,
            created_at: i64,
            roster: Option<SignedRoster>,
            batches: Vec<RawBatch<'a>>,
            tallies: Vec<SignedTally>,
        }
        let items = vec![ItemOut::Created {
            bytes: next.raw_bytes(),
        }];
        let raw = RawBundle {
            space: [1; 16],
            created_at: 5,
            roster: None,
            batches: vec![RawBatch {
                author: [7; 32],
                signed_at: 1,
                items,
                signature: vec![0; 64],
            }],
            tallies: vec![],
        };
        let body = postcard::to_allocvec(&raw).unwrap();
        let e = decode::<Bundle>(FrameKind::Bundle, &frame_of(&body, true)).unwrap_err();
        assert!(
            e.to_string()
                .contains("created item is not a change that creates a document"),
            "{e}"
        );
    }
}
