//! The device's attachment store: the bytes of photos, voice notes and scans, beside
//! the SQLite file, and what this device knows of each.
//!
//! Why this module exists: an attachment's reference travels inside a signed change
//! (`model::attachment`), but its bytes live outside automerge and travel in their own
//! lane (`core::blobs`), so a request reaches the cadre at once and its photos follow.
//! This module keeps, for every content address this device has heard of, its state
//! (pending upload, uploading, uploaded, not downloaded, downloading, downloaded,
//! failed with a reason), how many bytes are done, its verified piece list, and the
//! bytes themselves:
//!
//! - files in `<store file>.blobs/`: `<hash>` when held whole (verified), `<hash>.part`
//!   for a download under way, holding only whole verified pieces from the start (a
//!   partial is cut back to its last verified piece whenever it is opened);
//! - table `blobs` (local state, never rebuilt) and table `blob_refs` (a projection:
//!   which entity references which hash, filled from `attachment::referenced` in the
//!   transaction that stores the entity's change).
//!
//! Budget: others' downloaded attachments and this device's uploaded ones can be
//! fetched again, so they are evicted least recently used beyond the budget; an
//! attachment made here and not yet held whole by the relay is never evicted.

use super::{EntityChange, Origin, Store};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::model::attachment::{
    self, kind_of, piece_count, piece_len, sniff, Attached, Attachment, Kind, PieceList,
    MAX_NAME_CHARS, PIECE_BYTES,
};
use crate::model::deliberation::DeliberationEvent;
use crate::model::notice::NoticeEvent;
use crate::model::request::RequestEvent;
use crate::model::EntityKind;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most bytes of attachments that can be fetched again a device keeps, unless set.
pub const DEFAULT_BLOB_BUDGET: u64 = 200 * 1024 * 1024;

/// Where an attachment stands on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum AttachmentState {
    /// Attached here; the relay does not hold it yet.
    Pending,
    /// Attached here; part of it is at the relay (`done` bytes).
    Uploading,
    /// Attached here; the relay holds it whole.
    Uploaded,
    /// Someone else's; not on this device.
    NotDownloaded,
    /// Someone else's; `done` bytes are here, verified.
    Downloading,
    /// On this device whole, verified.
    Downloaded,
    /// The last transfer failed (`error` says why); tried again at the next sync.
    Failed,
}

impl AttachmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentState::Pending => "pending",
            AttachmentState::Uploading => "uploading",
            AttachmentState::Uploaded => "uploaded",
            AttachmentState::NotDownloaded => "not_downloaded",
            AttachmentState::Downloading => "downloading",
            AttachmentState::Downloaded => "downloaded",
            AttachmentState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<AttachmentState> {
        Ok(match s {
            "pending" => AttachmentState::Pending,
            "uploading" => AttachmentState::Uploading,
            "uploaded" => AttachmentState::Uploaded,
            "not_downloaded" => AttachmentState::NotDownloaded,
            "downloading" => AttachmentState::Downloading,
            "downloaded" => AttachmentState::Downloaded,
            "failed" => AttachmentState::Failed,
            other => {
                return Err(Error::Database(format!(
                    "stored attachment state {other:?} is not one this build knows"
                )))
            }
        })
    }
}

/// One attachment of an entity, with where it stands on this device.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AttachmentView {
    pub attachment: Attachment,
    /// The entity that references it.
    pub entity: String,
    pub by: String,
    pub at: i64,
    pub to: Option<String>,
    pub line: Option<u32>,
    pub state: AttachmentState,
    /// Bytes uploaded or downloaded so far.
    pub done: u64,
    /// Why it failed (state `Failed`).
    pub error: Option<String>,
    /// The file on this device when held whole.
    pub path: Option<String>,
}

/// What one attachment lane pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BlobReport {
    pub blobs_sent: u32,
    pub blobs_received: u32,
    pub blob_bytes_sent: u64,
    pub blob_bytes_received: u64,
    /// `"hash: reason"` for each attachment that failed in this pass.
    pub failed: Vec<String>,
    /// What is still on the way after the pass (`Store::blobs_pending`).
    pub pending: u32,
    pub pending_bytes: u64,
}

/// Progress of one attachment's transfer.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BlobProgress {
    pub hash: String,
    pub name: String,
    pub upload: bool,
    pub done: u64,
    pub size: u64,
}

/// Hears the progress of attachment transfers (a progress bar).
pub trait BlobObserver: Send + Sync {
    fn progress(&self, p: &BlobProgress);
}

/// One row of table `blobs`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlobRow {
    pub hash: String,
    pub size: u64,
    pub kind: Kind,
    pub own: bool,
    pub state: AttachmentState,
    pub done: u64,
    pub pieces: Option<Vec<u8>>,
}

fn kind_parse(s: &str) -> Kind {
    match s {
        "voice" => Kind::Voice,
        "photo" => Kind::Photo,
        _ => Kind::Document,
    }
}

/// The projection rows of an entity's references: every attachment its events
/// reference (`attachment::referenced`, the one rule), with what its fold says of
/// where and when (`attached`). Others' attachments get a `not_downloaded` row.
pub(crate) fn project_refs(
    tx: &Connection,
    kind: EntityKind,
    id: &str,
    events: &[Value],
    attached: &[Attached],
) -> Result<()> {
    tx.execute("DELETE FROM blob_refs WHERE entity_id = ?1", [id])?;
    let mut used = vec![false; attached.len()];
    let mut ins = tx.prepare_cached(
        "INSERT INTO blob_refs(hash, entity_id, position, by, at, to_event, line, attachment_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut blob = tx.prepare_cached(
        "INSERT OR IGNORE INTO blobs(hash, size, mime, kind, own, state, done, last_used)
         VALUES (?1, ?2, ?3, ?4, 0, 'not_downloaded', 0, 0)",
    )?;
    for (pos, (by, a)) in attachment::referenced(kind, events).into_iter().enumerate() {
        let found = attached
            .iter()
            .enumerate()
            .find(|(i, x)| !used[*i] && x.attachment.hash == a.hash && x.by == by);
        let (at, to, line) = match found {
            Some((i, x)) => {
                used[i] = true;
                (x.at, x.to.clone(), x.line)
            }
            None => (0, None, None),
        };
        ins.execute(params![
            a.hash,
            id,
            pos as i64,
            by,
            at,
            to,
            line,
            serde_json::to_string(&a).expect("attachment serializes"),
        ])?;
        blob.execute(params![a.hash, a.size, a.mime, a.kind().as_str()])?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    // the rename is durable once the folder is; best effort where folders cannot be opened
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A recording's length where its format tells it without decoding: AMR-NB (the
/// format of most feature phones and many voice-note apps) is frames of 20 ms, each
/// frame's size given by its first byte. Other formats: `None` (the app may say).
fn duration_ms(mime: &str, b: &[u8]) -> Option<u64> {
    const SIZES: [usize; 16] = [12, 13, 15, 17, 19, 20, 26, 31, 5, 0, 0, 0, 0, 0, 0, 0];
    if mime != "audio/amr" || !b.starts_with(b"#!AMR\n") {
        return None;
    }
    let (mut at, mut frames) = (6usize, 0u64);
    while at < b.len() {
        let ft = ((b[at] >> 3) & 0x0F) as usize;
        at += 1 + SIZES[ft];
        frames += 1;
    }
    let ms = frames * 20;
    (ms > 0 && ms <= crate::model::attachment::MAX_DURATION_MS).then_some(ms)
}

/// The pixel size of a PNG or JPEG picture from its header, when it
/// says so plainly.
fn pixel_size(mime: &str, b: &[u8]) -> Option<(u32, u32)> {
    let be =
        |i: usize| -> Option<u32> { Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?)) };
    let size = match mime {
        "image/png" if b.get(12..16) == Some(b"IHDR") => (be(16)?, be(20)?),
        "image/jpeg" => {
            // walk the markers to the first start-of-frame
            let mut i = 2;
            loop {
                if *b.get(i)? != 0xFF {
                    return None;
                }
                let m = *b.get(i + 1)?;
                let len = u16::from_be_bytes([*b.get(i + 2)?, *b.get(i + 3)?]) as usize;
                if matches!(m, 0xC0..=0xCF) && !matches!(m, 0xC4 | 0xC8 | 0xCC) {
                    let h = u16::from_be_bytes([*b.get(i + 5)?, *b.get(i + 6)?]) as u32;
                    let w = u16::from_be_bytes([*b.get(i + 7)?, *b.get(i + 8)?]) as u32;
                    break (w, h);
                }
                i += 2 + len;
            }
        }
        _ => return None,
    };
    let ok = |s: u32| (1..=attachment::MAX_PIXELS_SIDE).contains(&s);
    (ok(size.0) && ok(size.1)).then_some(size)
}

impl Store {
    /// The folder of this store's attachment bytes: `<store file>.blobs/`.
    pub fn blob_dir(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".blobs");
        PathBuf::from(p)
    }

    pub(crate) fn blob_path(&self, hash: &str) -> PathBuf {
        self.blob_dir().join(hash)
    }

    pub(crate) fn part_path(&self, hash: &str) -> PathBuf {
        self.blob_dir().join(format!("{hash}.part"))
    }

    /// Read a file (its size checked from its metadata before a byte is read; its type
    /// sniffed from its bytes, never its name; the limits of its kind), copy it into
    /// the store's blob folder (once per content), and record it as this device's: it
    /// is never evicted before the relay holds it. Returns the reference (its name is
    /// the file's name).
    pub fn prepare_attachment(&self, path: &Path) -> Result<Attachment> {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::invalid(format!("cannot read {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("{shown} is not a file")));
        }
        let len = meta.len();
        if len == 0 {
            return Err(Error::invalid(format!(
                "{shown} is empty; an attachment needs its bytes"
            )));
        }
        if len > Kind::LARGEST {
            return Err(Error::TooLarge(format!(
                "{shown} has {len} bytes; attachments may have at most {} bytes",
                Kind::LARGEST
            )));
        }
        let mut f = std::fs::File::open(path)?;
        let mut head = [0u8; 16];
        let n = f.read(&mut head)?;
        let Some(mime) = sniff(&head[..n]) else {
            return Err(Error::invalid(format!(
                "{shown} is not a photo (JPEG, PNG, WebP), a recording (AAC/M4A, Opus/Ogg, AMR) or a PDF by its content, whatever its name says"
            )));
        };
        let kind = kind_of(mime).expect("sniffed types have a kind");
        if len > kind.max_bytes() {
            return Err(Error::TooLarge(format!(
                "{shown} is a {} of {len} bytes; a {} may have at most {} bytes",
                kind.as_str(),
                kind.as_str(),
                kind.max_bytes()
            )));
        }
        f.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(len as usize);
        // a file that grows while it is read is cut at the size that was checked
        f.take(len).read_to_end(&mut bytes)?;
        let list = PieceList::of(&bytes);
        let hash = list.hash();
        let name: String = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME_CHARS)
            .collect();
        let (width, height) = match pixel_size(mime, &bytes) {
            Some((w, h)) => (Some(w), Some(h)),
            None => (None, None),
        };
        let a = Attachment {
            hash: hash.clone(),
            size: bytes.len() as u64,
            mime: mime.into(),
            name,
            duration_ms: duration_ms(mime, &bytes),
            width,
            height,
            preview: None,
        };
        a.check()?;
        let dir = self.blob_dir();
        std::fs::create_dir_all(&dir)?;
        let whole = self.blob_path(&hash);
        if !whole.exists() {
            let tmp = dir.join(format!("{hash}.tmp"));
            let mut out = std::fs::File::create(&tmp)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
            drop(out);
            std::fs::rename(&tmp, &whole)?;
            sync_dir(&dir);
        }
        let _ = std::fs::remove_file(self.part_path(&hash));
        self.conn.lock().execute(
            "INSERT INTO blobs(hash, size, mime, kind, own, state, done, error, pieces, last_used)
             VALUES (?1, ?2, ?3, ?4, 1, 'pending', 0, NULL, ?5, ?6)
             ON CONFLICT(hash) DO UPDATE SET
                own = 1, pieces = excluded.pieces, error = NULL, last_used = excluded.last_used,
                state = CASE WHEN blobs.own = 1 AND blobs.state != 'failed' THEN blobs.state ELSE 'pending' END,
                done = CASE WHEN blobs.own = 1 THEN blobs.done ELSE 0 END",
            params![hash, a.size, mime, kind.as_str(), list.to_bytes(), now_ms()],
        )?;
        Ok(a)
    }

    /// Prepare the files and append one attach event to a request, notice or
    /// deliberation: `to` names a comment or question within it, `line` a notice's
    /// finance line (as the model says).
    pub fn attach(
        &self,
        entity: &str,
        paths: &[PathBuf],
        to: Option<String>,
        line: Option<u32>,
    ) -> Result<Vec<Attachment>> {
        if paths.is_empty() {
            return Err(Error::invalid("attach at least one file"));
        }
        if paths.len() > attachment::MAX_PER_EVENT {
            return Err(Error::invalid(format!(
                "at most {} files may be attached at once; {} were given",
                attachment::MAX_PER_EVENT,
                paths.len()
            )));
        }
        let kind: Option<String> = self
            .conn
            .lock()
            .query_row("SELECT kind FROM entities WHERE id = ?1", [entity], |r| {
                r.get(0)
            })
            .optional()?;
        let kind = kind
            .map(|k| EntityKind::parse(&k))
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("entity {entity}")))?;
        if line.is_some() && kind != EntityKind::Notice {
            return Err(Error::invalid(
                "only a notice has finance lines to attach a voucher to",
            ));
        }
        let mut list = Vec::with_capacity(paths.len());
        for p in paths {
            let a = self.prepare_attachment(p)?;
            if !list.iter().any(|b: &Attachment| b.hash == a.hash) {
                list.push(a);
            }
        }
        attachment::check_all(&list)?;
        match kind {
            EntityKind::Request => self.request_event(
                entity,
                RequestEvent::Attach {
                    attachments: list.clone(),
                    to,
                },
            )?,
            EntityKind::Notice => self.notice_event(
                entity,
                NoticeEvent::Attach {
                    attachments: list.clone(),
                    to,
                    line,
                },
            )?,
            EntityKind::Deliberation => self.deliberation_event(
                entity,
                DeliberationEvent::Attach {
                    attachments: list.clone(),
                    to,
                },
            )?,
            other => {
                return Err(Error::invalid(format!(
                    "attachments belong to a request, a notice or a deliberation, not a {}",
                    other.as_str()
                )))
            }
        }
        Ok(list)
    }

    fn views(&self, sql_where: &str, arg: &str) -> Result<Vec<AttachmentView>> {
        let rows: Vec<_> = {
            let c = self.reader.lock();
            let mut s = c.prepare(&format!(
                "SELECT r.attachment_json, r.entity_id, r.by, r.at, r.to_event, r.line,
                        coalesce(b.state, 'not_downloaded'), coalesce(b.done, 0), b.error
                 FROM blob_refs r LEFT JOIN blobs b ON b.hash = r.hash
                 WHERE {sql_where} ORDER BY r.entity_id, r.position"
            ))?;
            let v = s
                .query_map([arg], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<u32>>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        rows.into_iter()
            .map(|(json, entity, by, at, to, line, state, done, error)| {
                let attachment: Attachment = serde_json::from_str(&json)
                    .map_err(|e| Error::Database(format!("stored attachment reference: {e}")))?;
                let state = AttachmentState::parse(&state)?;
                let file = self.blob_path(&attachment.hash);
                let path = (matches!(
                    state,
                    AttachmentState::Pending
                        | AttachmentState::Uploading
                        | AttachmentState::Uploaded
                        | AttachmentState::Downloaded
                        | AttachmentState::Failed
                ) && file.is_file())
                .then(|| file.display().to_string());
                Ok(AttachmentView {
                    attachment,
                    entity,
                    by,
                    at,
                    to,
                    line,
                    state,
                    done: done as u64,
                    error,
                    path,
                })
            })
            .collect()
    }

    /// Every attachment of an entity, with where it stands on this device.
    pub fn attachments(&self, entity: &str) -> Result<Vec<AttachmentView>> {
        self.views("r.entity_id = ?1", entity)
    }

    /// One attachment by its hash (as the first entity held here that references it).
    pub fn attachment(&self, hash: &str) -> Result<AttachmentView> {
        self.views("r.hash = ?1", hash)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("attachment {hash}")))
    }

    /// What is still to upload or to download (others' voice notes and photos that fit
    /// the budget; a document only once asked for): how many attachments and how many
    /// bytes are left. Only what an entity held here references counts (bytes prepared
    /// but never attached, or attached by a change the relay refused, do not).
    pub fn blobs_pending(&self) -> Result<(u32, u64)> {
        let budget = self.blob_budget()?.min(i64::MAX as u64) as i64;
        let c = self.reader.lock();
        let (n, bytes): (i64, i64) = c.query_row(
            "SELECT count(*), coalesce(sum(max(size - done, 0)), 0) FROM blobs
             WHERE EXISTS (SELECT 1 FROM blob_refs r WHERE r.hash = blobs.hash)
               AND ((own = 1 AND state IN ('pending', 'uploading', 'failed'))
                 OR (own = 0 AND state IN ('downloading', 'failed'))
                 OR (own = 0 AND state = 'not_downloaded' AND kind != 'document' AND size <= ?1))",
            [budget],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as u32, bytes as u64))
    }

    /// The budget for attachments that can be fetched again.
    pub fn blob_budget(&self) -> Result<u64> {
        Ok(super::local_get(&self.conn.lock(), "blob_budget")?
            .and_then(|v| v.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(DEFAULT_BLOB_BUDGET))
    }

    /// The most bytes of attachments that can be fetched again (others' downloaded
    /// ones, this device's uploaded ones) this device keeps; beyond it the least
    /// recently used are removed. One made here and not yet uploaded is never removed.
    pub fn set_blob_budget(&self, bytes: u64) -> Result<()> {
        super::local_set(&self.conn.lock(), "blob_budget", &bytes.to_le_bytes())?;
        self.evict_blobs(None)?;
        Ok(())
    }

    /// Remove what can be fetched again beyond the budget, least recently used first
    /// (never `keep`, the one just fetched: it stays even alone beyond the budget, until
    /// the next eviction). Returns how many were removed.
    pub(crate) fn evict_blobs(&self, keep: Option<&str>) -> Result<u32> {
        let budget = self.blob_budget()?;
        let held: Vec<(String, u64, bool)> = {
            let c = self.conn.lock();
            let mut s = c.prepare(
                "SELECT hash, size, own FROM blobs
                 WHERE state = 'downloaded' OR (own = 1 AND state = 'uploaded')
                 ORDER BY last_used DESC, hash",
            )?;
            let v = s
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        let mut total: u64 = held.iter().map(|h| h.1).sum();
        let mut removed = 0;
        // least recently used first; never the one just fetched (someone is opening it)
        for (hash, size, own) in held.iter().rev() {
            if total <= budget {
                break;
            }
            if keep == Some(hash.as_str()) {
                continue;
            }
            let c = self.conn.lock();
            let state = if *own { "uploaded" } else { "not_downloaded" };
            c.execute(
                "UPDATE blobs SET state = ?2, done = CASE WHEN own = 1 THEN done ELSE 0 END WHERE hash = ?1",
                params![hash, state],
            )?;
            drop(c);
            let _ = std::fs::remove_file(self.blob_path(hash));
            let _ = std::fs::remove_file(self.part_path(hash));
            total -= size;
            removed += 1;
        }
        Ok(removed)
    }

    /// Copy a held attachment to `out`, its bytes verified against its hash first.
    pub fn export_attachment(&self, hash: &str, out: &Path) -> Result<()> {
        let view = self.attachment(hash)?;
        let file = self.blob_path(hash);
        if !file.is_file() {
            return Err(Error::NotFound(format!(
                "attachment {hash} ({}) is not on this device yet; sync or fetch it first",
                view.attachment.name
            )));
        }
        let bytes = std::fs::read(&file)?;
        if bytes.len() as u64 != view.attachment.size || PieceList::of(&bytes).hash() != hash {
            return Err(Error::Database(format!(
                "the stored bytes of attachment {hash} do not match its hash (damaged on disk); they will be fetched again"
            )))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&file);
                let _ = self.conn.lock().execute(
                    "UPDATE blobs SET state = CASE WHEN own = 1 THEN 'failed' ELSE 'not_downloaded' END,
                        done = 0, error = 'stored bytes damaged' WHERE hash = ?1",
                    [hash],
                );
            });
        }
        let tmp = out.with_extension("partial");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, out)?;
        self.touch_blob(hash)?;
        Ok(())
    }

    pub(crate) fn touch_blob(&self, hash: &str) -> Result<()> {
        self.conn.lock().execute(
            "UPDATE blobs SET last_used = ?2 WHERE hash = ?1",
            params![hash, now_ms()],
        )?;
        Ok(())
    }

    /// Take an attachment's bytes held whole (from a bundle, or a test): refused unless
    /// an entity held here references the hash and the bytes hash to it. Returns
    /// whether it was new here.
    pub fn receive_blob(&self, hash: &str, bytes: &[u8]) -> Result<bool> {
        let row = self.blob_row(hash)?.ok_or_else(|| {
            Error::NotFound(format!("attachment {hash}: no entity here references it"))
        })?;
        if bytes.len() as u64 != row.size || PieceList::of(bytes).hash() != hash {
            return Err(Error::BadSignature(format!(
                "the bytes given for attachment {hash} do not hash to it"
            )));
        }
        if self.blob_path(hash).is_file() {
            return Ok(false);
        }
        let dir = self.blob_dir();
        std::fs::create_dir_all(&dir)?;
        let part = self.part_path(hash);
        {
            let mut f = std::fs::File::create(&part)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        self.set_blob_pieces(hash, &PieceList::of(bytes).to_bytes())?;
        self.finish_download(hash)?;
        Ok(true)
    }

    // ---- for bundles (`core::bundle`) ------------------------------------------

    /// The hashes of every attachment held whole here (what a `Have` file declares).
    pub fn held_blobs(&self) -> Result<Vec<String>> {
        let hashes = self.hashes(
            "SELECT hash FROM blobs WHERE state IN ('downloaded', 'pending', 'uploading', 'uploaded', 'failed') ORDER BY hash",
        )?;
        Ok(hashes
            .into_iter()
            .filter(|h| self.blob_path(h).is_file())
            .collect())
    }

    /// The attachments a bundle carries for a peer: held whole here, referenced by an
    /// entity the peer may read (`readable`, from `export_bundle`), not among what the
    /// peer says it holds; at most `max_bytes` of them, smaller first (voice, photos,
    /// then documents).
    pub(crate) fn bundle_blobs(
        &self,
        readable: &[String],
        holds: &[String],
        max_bytes: u64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let readable: std::collections::HashSet<&str> =
            readable.iter().map(String::as_str).collect();
        let holds: std::collections::HashSet<&str> = holds.iter().map(String::as_str).collect();
        // A reference carries the bytes to the peer only when its author vouches for
        // them: this phone's member (who holds them), or staff (who may read every
        // request anyway). A resident who learnt a hash and referenced it in their own
        // request or question gets nothing by it, from the relay or from a bundle
        // (the relay's rule is `service::blobs::may_fetch`).
        let me = self.me()?.id;
        let roster = self.roster()?;
        let vouches = |by: &str| by == me || roster.member(by).is_some_and(|m| m.role.is_staff());
        let refs: Vec<(String, String, String, i64, String)> = {
            let c = self.conn.lock();
            let mut s = c.prepare(
                "SELECT DISTINCT r.hash, r.entity_id, b.kind, b.size, r.by FROM blob_refs r JOIN blobs b ON b.hash = r.hash
                 ORDER BY CASE b.kind WHEN 'voice' THEN 0 WHEN 'photo' THEN 1 ELSE 2 END, b.size, r.hash",
            )?;
            let v = s
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v
        };
        let mut out: Vec<(String, Vec<u8>)> = vec![];
        let mut total = 0u64;
        for (hash, entity, _, size, by) in refs {
            if !readable.contains(entity.as_str())
                || !vouches(&by)
                || holds.contains(hash.as_str())
                || out.iter().any(|(h, _)| *h == hash)
                || total + size as u64 > max_bytes
            {
                continue;
            }
            let Ok(bytes) = std::fs::read(self.blob_path(&hash)) else {
                continue;
            };
            if bytes.len() as u64 != size as u64 || PieceList::of(&bytes).hash() != hash {
                continue; // damaged here: not passed on
            }
            total += size as u64;
            out.push((hash, bytes));
        }
        Ok(out)
    }

    // ---- for the lane (`core::blobs`) ------------------------------------------

    /// A whole file is already in the folder (left by an older build, or attached here
    /// before): take it if it verifies, remove it if not. Returns whether it is held.
    pub(crate) fn adopt_held_blob(&self, hash: &str) -> Result<bool> {
        let path = self.blob_path(hash);
        let ok = std::fs::read(&path).is_ok_and(|b| {
            self.blob_row(hash)
                .ok()
                .flatten()
                .is_some_and(|r| r.size == b.len() as u64)
                && PieceList::of(&b).hash() == hash
        });
        if !ok {
            let _ = std::fs::remove_file(&path);
            return Ok(false);
        }
        self.conn.lock().execute(
            "UPDATE blobs SET state = CASE WHEN own = 1 THEN state ELSE 'downloaded' END,
                done = size, error = NULL, last_used = ?2
             WHERE hash = ?1 AND state != 'downloaded'",
            params![hash, now_ms()],
        )?;
        Ok(true)
    }

    pub(crate) fn blob_row(&self, hash: &str) -> Result<Option<BlobRow>> {
        let c = self.conn.lock();
        c.query_row(
            "SELECT hash, size, kind, own, state, done, pieces FROM blobs WHERE hash = ?1",
            [hash],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<Vec<u8>>>(6)?,
                ))
            },
        )
        .optional()?
        .map(|(hash, size, kind, own, state, done, pieces)| {
            Ok::<_, Error>(BlobRow {
                hash,
                size: size as u64,
                kind: kind_parse(&kind),
                own,
                state: AttachmentState::parse(&state)?,
                done: done as u64,
                pieces,
            })
        })
        .transpose()
    }

    fn hashes(&self, sql: &str) -> Result<Vec<String>> {
        let c = self.conn.lock();
        let mut s = c.prepare(sql)?;
        let v = s
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(v)
    }

    /// This device's attachments to upload: not yet whole at the relay, referenced by
    /// an entity none of whose changes made here still waits for the relay's ack (the
    /// relay serves an upload only once it holds the signed reference).
    pub(crate) fn uploads_due(&self) -> Result<Vec<String>> {
        self.hashes(
            "SELECT b.hash FROM blobs b WHERE b.own = 1 AND b.state IN ('pending', 'uploading', 'failed')
               AND EXISTS (SELECT 1 FROM blob_refs r WHERE r.hash = b.hash
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity_id = r.entity_id
                                   AND o.state IN ('pending', 'sent')))
             ORDER BY CASE b.kind WHEN 'voice' THEN 0 WHEN 'photo' THEN 1 ELSE 2 END, b.size, b.hash",
        )
    }

    /// Others' attachments to download without being asked, by priority: voice notes,
    /// then photos, smaller first (documents wait until someone opens them).
    pub(crate) fn downloads_due(&self) -> Result<Vec<String>> {
        self.hashes(
            "SELECT b.hash FROM blobs b WHERE b.own = 0 AND b.kind != 'document'
               AND b.state IN ('not_downloaded', 'downloading', 'failed')
               AND EXISTS (SELECT 1 FROM blob_refs r WHERE r.hash = b.hash)
             ORDER BY CASE b.kind WHEN 'voice' THEN 0 ELSE 1 END, b.size, b.hash",
        )
    }

    /// The name people see of an attachment (for progress).
    pub(crate) fn blob_name(&self, hash: &str) -> String {
        self.attachment(hash)
            .map(|v| v.attachment.name)
            .unwrap_or_else(|_| hash[..12.min(hash.len())].to_string())
    }

    pub(crate) fn set_blob_state(
        &self,
        hash: &str,
        state: AttachmentState,
        done: u64,
        error: Option<&str>,
    ) -> Result<()> {
        self.conn.lock().execute(
            "UPDATE blobs SET state = ?2, done = ?3, error = ?4 WHERE hash = ?1",
            params![hash, state.as_str(), done as i64, error],
        )?;
        Ok(())
    }

    pub(crate) fn set_blob_pieces(&self, hash: &str, pieces: &[u8]) -> Result<()> {
        self.conn.lock().execute(
            "UPDATE blobs SET pieces = ?2 WHERE hash = ?1",
            params![hash, pieces],
        )?;
        Ok(())
    }

    /// Read `len` bytes at `offset` of a blob held whole here.
    pub(crate) fn read_blob_range(&self, hash: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut f = std::fs::File::open(self.blob_path(hash)).map_err(|e| {
            Error::NotFound(format!(
                "the bytes of attachment {hash} are not on this device ({e})"
            ))
        })?;
        f.seek(SeekFrom::Start(offset))?;
        let mut out = Vec::with_capacity(len);
        f.take(len as u64).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Open a download's `.part`, cut back to its last whole verified piece; returns
    /// the verified length (where the download resumes), recorded as `done`.
    pub(crate) fn open_part(&self, hash: &str, list: &PieceList) -> Result<u64> {
        std::fs::create_dir_all(self.blob_dir())?;
        let path = self.part_path(hash);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut verified = 0u64;
        let mut buf = vec![0u8; PIECE_BYTES];
        for i in 0..piece_count(list.size) {
            let want = piece_len(list.size, i);
            let mut got = 0;
            while got < want {
                let n = f.read(&mut buf[got..want])?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            if got < want || list.check_piece(i, &buf[..want]).is_err() {
                break;
            }
            verified += want as u64;
        }
        if f.metadata()?.len() != verified {
            f.set_len(verified)?;
            f.sync_all()?;
        }
        Ok(verified)
    }

    /// Append verified pieces to a download's `.part` at `offset` (its verified length),
    /// fsync, then record the new length: nothing is counted before it is durable.
    pub(crate) fn append_part(&self, hash: &str, offset: u64, bytes: &[u8]) -> Result<u64> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(self.part_path(hash))?;
        f.set_len(offset)?;
        f.seek(SeekFrom::Start(offset))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        let done = offset + bytes.len() as u64;
        self.set_blob_state(hash, AttachmentState::Downloading, done, None)?;
        Ok(done)
    }

    /// A download is whole: the `.part` becomes the blob, the state `downloaded`, the
    /// referencing entities' observers hear of it (`Origin::Remote`), and the budget is
    /// kept.
    pub(crate) fn finish_download(&self, hash: &str) -> Result<()> {
        let dir = self.blob_dir();
        // the bytes are what their reference says they are (a program declared a photo
        // is never kept, whoever sent it): the type by the bytes, as when attaching
        let mut head = [0u8; 16];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(self.part_path(hash))?;
            f.read(&mut head)?
        };
        let declared: String =
            self.conn
                .lock()
                .query_row("SELECT mime FROM blobs WHERE hash = ?1", [hash], |r| {
                    r.get(0)
                })?;
        let found = crate::model::attachment::sniff(&head[..n]);
        if found != Some(declared.as_str()) {
            let _ = std::fs::remove_file(self.part_path(hash));
            return Err(Error::invalid(format!(
                "the bytes of attachment {hash} are not the {declared} its reference declares ({}); they were not kept",
                found.unwrap_or("an unknown type")
            )));
        }
        std::fs::rename(self.part_path(hash), self.blob_path(hash))?;
        sync_dir(&dir);
        let row = self.blob_row(hash)?;
        let size = row.as_ref().map_or(0, |r| r.size);
        let own = row.is_some_and(|r| r.own);
        self.conn.lock().execute(
            "UPDATE blobs SET state = ?2, done = ?3, error = NULL, last_used = ?4 WHERE hash = ?1",
            params![
                hash,
                if own { "uploaded" } else { "downloaded" },
                size as i64,
                now_ms()
            ],
        )?;
        self.evict_blobs(Some(hash))?;
        let changes: Vec<EntityChange> = {
            let c = self.conn.lock();
            let mut s = c.prepare(
                "SELECT DISTINCT r.entity_id, e.kind FROM blob_refs r JOIN entities e ON e.id = r.entity_id
                 WHERE r.hash = ?1 ORDER BY r.entity_id",
            )?;
            let v = s
                .query_map([hash], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            v.into_iter()
                .filter_map(|(id, k)| {
                    EntityKind::parse(&k).ok().map(|kind| EntityChange {
                        id,
                        kind,
                        origin: Origin::Remote,
                    })
                })
                .collect()
        };
        self.notify(changes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_download_is_cut_back_to_its_last_verified_piece() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("phone.db")).unwrap();
        let bytes: Vec<u8> = (0..4 * PIECE_BYTES + 10).map(|i| (i % 253) as u8).collect();
        let list = PieceList::of(&bytes);
        let hash = list.hash();
        std::fs::create_dir_all(store.blob_dir()).unwrap();
        // two good pieces, a corrupt third, half of a fourth
        let mut part = bytes[..3 * PIECE_BYTES + PIECE_BYTES / 2].to_vec();
        part[2 * PIECE_BYTES + 9] ^= 0x10;
        std::fs::write(store.part_path(&hash), &part).unwrap();
        assert_eq!(
            store.open_part(&hash, &list).unwrap(),
            2 * PIECE_BYTES as u64
        );
        assert_eq!(
            std::fs::read(store.part_path(&hash)).unwrap(),
            bytes[..2 * PIECE_BYTES],
            "only whole verified pieces are kept"
        );
        // a clean half piece is dropped too: a partial holds whole pieces only
        std::fs::write(store.part_path(&hash), &bytes[..PIECE_BYTES + 100]).unwrap();
        assert_eq!(store.open_part(&hash, &list).unwrap(), PIECE_BYTES as u64);
        // and the last, short piece of a whole blob counts
        std::fs::write(store.part_path(&hash), &bytes).unwrap();
        assert_eq!(store.open_part(&hash, &list).unwrap(), bytes.len() as u64);
    }
}
