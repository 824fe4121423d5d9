//! The attachment lane (`/v1/blobs`, `wire::blob`): who sent a blob request, who may
//! fetch which bytes ([`may_fetch`], the one place that says it), and the steps of an
//! upload — the piece list, then pieces verified one by one as they stream in, each
//! stored durably before anyone is told it is held.
//!
//! Why it is apart from the sync path: photos and scans are megabytes over a weak
//! signal, and document sync must never wait for them. Nothing here takes the space
//! lock `accept.rs` holds; the only shared state is the storage, whose blob tables
//! (`blob_refs`, `blobs`, `blob_holders`) the sync path writes only the references of.

use super::{Relay, RelayLookup, Result};
use crate::db::{BlobRecord, BlobRef};
use crate::error::RelayError;
use cunwu_protocol::model::attachment::{
    is_hash, piece_count, piece_len, PieceList, MAX_TRANSFER_BYTES, PIECE_BYTES,
};
use cunwu_protocol::policy::{self, Audience};
use cunwu_protocol::roster::{Member, Roster};
use cunwu_protocol::wire::blob::{BlobAuth, BlobStatus, Op};
use std::collections::{HashMap, HashSet};

/// Who sent a blob request: the space, and the member its device belongs to (enrolled,
/// not revoked, its signature over this very request verified).
#[derive(Debug, Clone)]
pub struct BlobCaller {
    pub space: String,
    pub member: Member,
    roster: std::sync::Arc<Roster>,
}

/// What the relay knows of one attachment in one space when a request comes in.
struct Known {
    refs: Vec<BlobRef>,
    blob: Option<BlobRecord>,
    holders: Vec<(String, u64)>,
}

impl Known {
    fn size(&self) -> u64 {
        self.blob
            .as_ref()
            .map(|b| b.size)
            .or_else(|| self.refs.first().map(|r| r.size))
            .unwrap_or(0)
    }
    /// Every byte is here *for this village*: stored, and delivered whole by a member of
    /// this space. The bytes are kept once whatever the space, but what one village sent
    /// neither spares another village's uploader nor is told to it (a hash shared by two
    /// villages reveals nothing of the other).
    fn complete(&self) -> bool {
        self.blob
            .as_ref()
            .is_some_and(|b| b.have == b.size && self.holders.iter().any(|(_, h)| *h == b.size))
    }
    /// Whether this village has begun to send the bytes (the piece list is told only then).
    fn begun_here(&self) -> bool {
        !self.holders.is_empty()
    }
    fn held_by(&self, member: &str) -> u64 {
        self.holders
            .iter()
            .find(|(m, _)| m == member)
            .map_or(0, |(_, h)| *h)
    }
    fn authored_by(&self, member: &str) -> Option<&BlobRef> {
        self.refs.iter().find(|r| r.author == member)
    }
}

/// An upload the relay has agreed to take: the verified piece list and where it starts.
pub struct Upload {
    pub hash: String,
    pub list: PieceList,
    /// The first piece the body starts with.
    pub first_piece: usize,
}

/// What a `PUT /v1/blobs/{hash}?offset=N` is answered before its body is read.
pub enum PutPlan {
    /// Nothing to send: this member may fetch the complete bytes already.
    Done(BlobStatus),
    Take(Upload),
}

/// The read rule for attachment bytes. Member `reader` may fetch `hash` in a space iff
///
/// 1. the reader is a full holder (delivered every verified byte themselves), or
/// 2. some reference (entity E, author A) of the hash in the space has E readable by
///    the reader (`readable(E, reader)`: `policy::may_read` on E's stored audience,
///    drafts included as `read.rs` serves them) **and** A holds the bytes: A is a full
///    holder, or A may read an entity E2 whose reference's author is a full holder (one
///    hop: a cadre re-attaching a resident's photo to a notice without uploading it).
///
/// Why: the bytes belong to whoever may read the entity that carries them (a 低保
/// applicant's scans go to those who may read her request, nobody else), and a reference
/// is only worth the bytes its author could show. Knowing a hash is not enough: a
/// reference by someone who never had the bytes, and could not read them, grants nothing,
/// so a resident who learns the hash of another's private scan cannot make it readable by
/// attaching it to a request of their own.
pub fn may_fetch(
    reader: &Member,
    refs: &[BlobRef],
    full_holders: &HashSet<&str>,
    member: &dyn Fn(&str) -> Option<Member>,
    readable: &mut dyn FnMut(&str, &Member) -> bool,
) -> bool {
    if full_holders.contains(reader.id.as_str()) {
        return true;
    }
    // entities whose reference was made by a full holder: reading one is holding
    let vouched: Vec<&str> = refs
        .iter()
        .filter(|r| full_holders.contains(r.author.as_str()))
        .map(|r| r.entity.as_str())
        .collect();
    let holds = |author: &str, readable: &mut dyn FnMut(&str, &Member) -> bool| {
        full_holders.contains(author)
            || member(author).is_some_and(|a| vouched.iter().any(|e| readable(e, &a)))
    };
    refs.iter()
        .any(|r| readable(&r.entity, reader) && holds(&r.author, readable))
}

impl Relay {
    /// Authenticate a blob request before any body is read: the header's shape (400),
    /// the signature over this op, hash and offset within the clock skew (401), then the
    /// device in the space's roster (401 unknown, 403 revoked).
    pub fn blob_caller(
        &self,
        header: Option<&str>,
        op: Op,
        hash: &str,
        offset: u64,
        now: i64,
    ) -> Result<BlobCaller> {
        if !is_hash(hash) {
            return Err(RelayError::BadRequest(format!(
                "{hash:?} is not an attachment hash (64 lowercase hex characters)"
            )));
        }
        let value = header.ok_or_else(|| {
            RelayError::Unauthorized(format!(
                "a blob request must carry the {} header (wire::blob::BlobAuth::header)",
                cunwu_protocol::wire::blob::AUTH_HEADER
            ))
        })?;
        let auth = BlobAuth::parse(value).map_err(|e| RelayError::BadRequest(e.to_string()))?;
        auth.verify(op, hash, offset, now)
            .map_err(|e| RelayError::Unauthorized(e.to_string()))?;
        let rec = self.storage.space(&auth.space)?.ok_or_else(|| {
            RelayError::NotFound(format!("no space {} on this relay", auth.space))
        })?;
        let member = match rec.roster.signer(&auth.device, None) {
            Ok(m) => m.clone(),
            Err(cunwu_protocol::Error::BadSignature(m)) => return Err(RelayError::Unauthorized(m)),
            Err(e) => return Err(RelayError::Forbidden(e.to_string())),
        };
        self.metrics.blob_requests.inc();
        Ok(BlobCaller {
            space: auth.space,
            member,
            roster: rec.roster,
        })
    }

    fn known(&self, c: &BlobCaller, hash: &str) -> Result<Known> {
        let refs = self.storage.blob_refs(&c.space, hash)?;
        if refs.is_empty() {
            return Err(RelayError::NotFound(format!(
                "no accepted change in this space references the attachment {hash}; sync the document that attaches it first"
            )));
        }
        Ok(Known {
            refs,
            blob: self.storage.blob(hash)?,
            holders: self.storage.blob_holders(&c.space, hash)?,
        })
    }

    /// Whether `member` may read `entity` as the relay serves it (`read.rs`): its stored
    /// audience, and for a draft the supervision committee too.
    fn entity_readable(
        &self,
        space: &str,
        entity: &str,
        member: &Member,
        register: &mut Option<Option<cunwu_protocol::model::register::Register>>,
    ) -> bool {
        let Some(a) = self
            .storage
            .entity(space, entity)
            .ok()
            .flatten()
            .and_then(|r| serde_json::from_str::<Audience>(&r.audience).ok())
        else {
            return false;
        };
        policy::may_read(&a, member)
            || (matches!(a, Audience::Draft { .. }) && {
                let reg = register.get_or_insert_with(|| {
                    policy::Lookup::register(&RelayLookup { relay: self, space }, None)
                });
                policy::may_read_in(&a, member, reg.as_ref())
            })
    }

    /// (may fetch, may read an entity referencing it) for the caller.
    fn access(&self, c: &BlobCaller, k: &Known) -> (bool, bool) {
        let size = k.size();
        let full: HashSet<&str> = if k.complete() {
            k.holders
                .iter()
                .filter(|(_, h)| *h >= size)
                .map(|(m, _)| m.as_str())
                .collect()
        } else {
            HashSet::new()
        };
        let mut register = None;
        let mut seen: HashMap<(String, String), bool> = HashMap::new();
        let mut readable = |e: &str, m: &Member| -> bool {
            *seen
                .entry((e.to_string(), m.id.clone()))
                .or_insert_with(|| self.entity_readable(&c.space, e, m, &mut register))
        };
        let roster = &c.roster;
        let member = |id: &str| roster.member(id).cloned();
        let fetch = may_fetch(&c.member, &k.refs, &full, &member, &mut readable);
        let reads = fetch || k.refs.iter().any(|r| readable(&r.entity, &c.member));
        (fetch, reads)
    }

    fn status_of(&self, c: &BlobCaller, hash: &str, k: &Known, fetch: bool) -> BlobStatus {
        let size = k.size();
        let complete = k.complete();
        let have = if k.authored_by(&c.member.id).is_some() {
            if complete && fetch {
                size
            } else {
                k.held_by(&c.member.id)
            }
        } else if complete {
            size
        } else {
            // what this village's uploads delivered so far (never another village's)
            k.holders.iter().map(|(_, h)| *h).max().unwrap_or(0)
        };
        BlobStatus {
            hash: hash.to_string(),
            size,
            have,
            pieces: k.begun_here() && k.blob.as_ref().is_some_and(|b| b.pieces.is_some()),
            complete,
            readable: fetch,
        }
    }

    fn not_readable(hash: &str) -> RelayError {
        RelayError::Forbidden(format!(
            "this member may not read any entity that references the attachment {hash} (or no one who may has sent its bytes yet)"
        ))
    }

    /// `GET /v1/blobs/{hash}`: for a member who referenced it or may read an entity that
    /// does.
    pub fn blob_status(&self, c: &BlobCaller, hash: &str) -> Result<BlobStatus> {
        let k = self.known(c, hash)?;
        let (fetch, reads) = self.access(c, &k);
        if !reads && k.authored_by(&c.member.id).is_none() {
            return Err(Self::not_readable(hash));
        }
        Ok(self.status_of(c, hash, &k, fetch))
    }

    fn my_reference<'a>(c: &BlobCaller, k: &'a Known) -> Result<&'a BlobRef> {
        k.authored_by(&c.member.id).ok_or_else(|| {
            RelayError::Forbidden(
                "no accepted change of yours references this attachment; sync the document first"
                    .into(),
            )
        })
    }

    /// `PUT /v1/blobs/{hash}/pieces`: the piece list, checked against the content
    /// address with the size from the caller's own reference.
    pub fn blob_put_pieces(&self, c: &BlobCaller, hash: &str, body: &[u8]) -> Result<BlobStatus> {
        let k = self.known(c, hash)?;
        let mine = Self::my_reference(c, &k)?;
        if k.blob.as_ref().is_none_or(|b| b.pieces.is_none()) {
            PieceList::verify(hash, mine.size, body).map_err(|e| {
                RelayError::Unprocessable(format!(
                    "{e}; the piece list is the SHA-256 of each {PIECE_BYTES}-byte piece in order (PieceList::to_bytes)"
                ))
            })?;
            self.storage.put_blob_pieces(hash, mine.size, body)?;
        } else if !k.begun_here() {
            // another village sent the list: this village's uploader must still show it
            // holds the same list (and then the bytes) before anything is told
            PieceList::verify(hash, mine.size, body)
                .map_err(|e| RelayError::Unprocessable(e.to_string()))?;
        }
        // this member has begun: the list is told to this village from now on
        self.storage
            .set_blob_holder(&c.space, hash, &c.member.id, 0)?;
        let k = self.known(c, hash)?;
        let (fetch, _) = self.access(c, &k);
        Ok(self.status_of(c, hash, &k, fetch))
    }

    /// `PUT /v1/blobs/{hash}?offset=N`, before its body is read: only from a member who
    /// referenced it, after the piece list, at this member's resume point.
    pub fn blob_begin_put(&self, c: &BlobCaller, hash: &str, offset: u64) -> Result<PutPlan> {
        let k = self.known(c, hash)?;
        Self::my_reference(c, &k)?;
        let Some(BlobRecord {
            size,
            pieces: Some(pieces),
            ..
        }) = &k.blob
        else {
            return Err(RelayError::Conflict(format!(
                "the relay has no piece list for {hash} yet; PUT /v1/blobs/{hash}/pieces first"
            )));
        };
        let (fetch, _) = self.access(c, &k);
        if fetch && k.complete() {
            return Ok(PutPlan::Done(self.status_of(c, hash, &k, fetch)));
        }
        let resume = k.held_by(&c.member.id);
        if offset != resume {
            return Err(RelayError::Conflict(format!(
                "this upload of {hash} resumes at byte {resume}, not {offset} (GET /v1/blobs/{hash} says where)"
            )));
        }
        let list = PieceList::verify(hash, *size, pieces)
            .map_err(|e| RelayError::Storage(format!("the stored piece list of {hash}: {e}")))?;
        Ok(PutPlan::Take(Upload {
            hash: hash.to_string(),
            list,
            first_piece: (offset as usize) / PIECE_BYTES,
        }))
    }

    /// One whole piece of an upload: verified against the piece list, stored durably
    /// when the relay lacks it (bytes it holds already are not written again), then
    /// counted as delivered by the caller. A corrupt piece changes nothing.
    pub fn blob_take_piece(
        &self,
        c: &BlobCaller,
        up: &Upload,
        piece: usize,
        bytes: &[u8],
    ) -> Result<()> {
        up.list.check_piece(piece, bytes).map_err(|e| {
            RelayError::Unprocessable(format!(
                "{e}; piece {piece} was refused and not stored, the pieces before it are kept: resume from byte {}",
                piece * PIECE_BYTES
            ))
        })?;
        if piece == 0 {
            // the type by the bytes, as the attaching phone judged it: a program declared
            // a photo is refused before anything of it is stored
            let declared = Self::my_reference(c, &self.known(c, &up.hash)?)?
                .mime
                .clone();
            let found = cunwu_protocol::model::attachment::sniff(bytes);
            if found != Some(declared.as_str()) {
                return Err(RelayError::Unprocessable(format!(
                    "the bytes of {} are not the {declared} its reference declares ({}); nothing was stored",
                    up.hash,
                    found.unwrap_or("an unknown type")
                )));
            }
        }
        let start = (piece * PIECE_BYTES) as u64;
        self.storage.append_blob(&up.hash, start, bytes)?;
        self.storage.set_blob_holder(
            &c.space,
            &up.hash,
            &c.member.id,
            start + bytes.len() as u64,
        )?;
        self.metrics.blob_bytes_in.add(bytes.len() as u64);
        Ok(())
    }

    /// The status after an upload request.
    pub fn blob_status_after(&self, c: &BlobCaller, hash: &str) -> Result<BlobStatus> {
        let k = self.known(c, hash)?;
        let (fetch, _) = self.access(c, &k);
        Ok(self.status_of(c, hash, &k, fetch))
    }

    /// `GET /v1/blobs/{hash}/pieces`.
    pub fn blob_get_pieces(&self, c: &BlobCaller, hash: &str) -> Result<Vec<u8>> {
        let k = self.known(c, hash)?;
        if !self.access(c, &k).0 {
            return Err(Self::not_readable(hash));
        }
        k.blob.and_then(|b| b.pieces).ok_or_else(|| {
            RelayError::NotFound(format!("the relay holds no piece list for {hash}"))
        })
    }

    /// `GET /v1/blobs/{hash}?offset=N&len=L`.
    pub fn blob_get(&self, c: &BlobCaller, hash: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        if len > MAX_TRANSFER_BYTES as u64 {
            return Err(RelayError::TooLarge(format!(
                "a blob request reads at most {MAX_TRANSFER_BYTES} bytes; this one asks for {len}"
            )));
        }
        if !offset.is_multiple_of(PIECE_BYTES as u64) {
            return Err(RelayError::BadRequest(format!(
                "offset {offset} is not a multiple of the piece size {PIECE_BYTES}"
            )));
        }
        let k = self.known(c, hash)?;
        if !self.access(c, &k).0 {
            return Err(Self::not_readable(hash));
        }
        let size = k.size();
        if offset >= size {
            return Err(RelayError::BadRequest(format!(
                "offset {offset} is past the end of {hash} ({size} bytes)"
            )));
        }
        let bytes = self
            .storage
            .read_blob(hash, offset, len.min(size - offset))?;
        self.metrics.blob_bytes_out.add(bytes.len() as u64);
        Ok(bytes)
    }
}

/// How many bytes piece `i` of an upload has (for the HTTP handler that cuts the body).
pub fn upload_piece_len(up: &Upload, i: usize) -> Option<usize> {
    (i < piece_count(up.list.size)).then(|| piece_len(up.list.size, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunwu_protocol::roster::Role;

    fn member(id: &str, role: Role) -> Member {
        Member {
            id: id.into(),
            name: id.into(),
            role,
            household: String::new(),
            group: String::new(),
            migrant: false,
            household_rep: false,
            party: false,
            revoked: false,
            joined_version: 1,
            person: None,
            lives_in: None,
            changed_version: 0,
        }
    }

    fn r(entity: &str, author: &str) -> BlobRef {
        BlobRef {
            entity: entity.into(),
            hash: "h".into(),
            author: author.into(),
            size: 10,
            mime: "image/jpeg".into(),
        }
    }

    /// Who reads what in this village: the resident `wang` her request `req`, `zhao`
    /// his request `req2`; the cadre both; everyone the notice `n`.
    fn reads(e: &str, m: &Member) -> bool {
        match e {
            "n" => true,
            "req" => m.id == "wang" || m.role == Role::Cadre,
            "req2" => m.id == "zhao" || m.role == Role::Cadre,
            _ => false,
        }
    }

    #[test]
    fn bytes_go_to_readers_of_an_entity_whose_reference_someone_can_vouch_for() {
        let roster = |id: &str| {
            Some(match id {
                "chen" => member("chen", Role::Cadre),
                other => member(other, Role::Resident),
            })
        };
        let wang = member("wang", Role::Resident);
        let zhao = member("zhao", Role::Resident);
        let chen = member("chen", Role::Cadre);
        let held: HashSet<&str> = ["wang"].into();
        let none: HashSet<&str> = HashSet::new();
        let mut rd = |e: &str, m: &Member| reads(e, m);
        // wang's request, nobody has sent the bytes: nobody may fetch
        let refs = vec![r("req", "wang")];
        assert!(!may_fetch(&chen, &refs, &none, &roster, &mut rd));
        // she sent them: she and the cadre may; zhao, who cannot read it, may not
        assert!(may_fetch(&wang, &refs, &held, &roster, &mut rd));
        assert!(may_fetch(&chen, &refs, &held, &roster, &mut rd));
        assert!(!may_fetch(&zhao, &refs, &held, &roster, &mut rd));
        // zhao references the hash in his own request and on the notice: he never had
        // the bytes and cannot read hers, so neither grants anything
        let refs = vec![r("req", "wang"), r("req2", "zhao"), r("n", "zhao")];
        assert!(!may_fetch(&zhao, &refs, &held, &roster, &mut rd));
        // the cadre re-attaches it to the notice: he reads her request, so he holds
        // it (one hop), and every reader of the notice may fetch it
        let refs = vec![r("req", "wang"), r("n", "chen")];
        assert!(may_fetch(&zhao, &refs, &held, &roster, &mut rd));
    }
}
