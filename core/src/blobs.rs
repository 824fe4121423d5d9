//! The attachment lane: the bytes of photos, voice notes and scans between this device
//! and the relay (`/v1/blobs`, the API table in `wire::blob`), apart from document sync.
//!
//! Why this module exists: a request must reach the cadre at once while its photos
//! follow over a weak signal, and one stuck upload must never hold anything else back.
//! So `sync_once` stays documents-only, and this lane runs after it:
//!
//! - **Upload** (this device's attachments whose referencing change the relay acked):
//!   ask the relay's `have` (the resume point: what this member's uploads delivered and
//!   the relay holds durably), send the piece list if the relay lacks it, then chunks
//!   of at most `MAX_TRANSFER_BYTES` from `have`. After a cut, ask again and continue
//!   from the new `have` — never from 0. The relay's `have` is the truth; the row in
//!   `blobs` is for the UI, so a device killed mid-upload resumes after restart.
//! - **Download** (what this member may read and lacks): voice notes, then photos,
//!   documents only on demand (`fetch_attachment`); the piece list first (checked
//!   against the hash), then chunks from the verified length of the `.part`, each piece
//!   checked (`PieceList::check_piece`) before it is written; a corrupt piece is fetched
//!   again (bounded), then the attachment is marked failed. Written, fsynced, then
//!   counted.
//! - **After a cut** a request carries what got through before it (whole pieces, at
//!   least one) for the rest of that attachment's pass, so a link that cuts every
//!   100 kB stops losing the piece in flight on every request.
//! - **One failing blob never stops the others**: it is recorded as failed with the
//!   reason and tried again at the next sync.
//!
//! When an attachment arrives whole, the store's observers hear an `EntityChange`
//! (origin `Remote`) for each entity that references it.

use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::model::attachment::{
    piece_count, piece_len, PieceList, MAX_TRANSFER_BYTES, PIECE_BYTES,
};
use crate::store::{AttachmentState, BlobObserver, BlobProgress, BlobReport, Membership, Store};
use crate::sync::SyncClient;
use crate::wire::blob::{BlobAuth, BlobStatus, Op, AUTH_HEADER};
use crate::wire::control::ErrorBody;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Tries of one attachment in one pass that bring no new byte (cuts, refusals of the
/// resume point) before it is left failed until the next sync.
pub const MAX_FRUITLESS_TRIES: u32 = 4;
/// Times a corrupt piece is fetched again before the attachment is marked failed.
pub const MAX_CORRUPT_PIECES: u32 = 3;
/// The largest JSON answer of the blob API this client reads.
const MAX_STATUS_BYTES: usize = 16 * 1024;

type Obs = Option<Arc<dyn BlobObserver>>;

/// The bytes one request carries after a cut: what got through before it, in whole
/// pieces (at least one), so a link that cuts every N bytes stops cutting our requests
/// instead of losing the piece in flight each time. Kept for the rest of the
/// attachment's pass.
/// How long one request of the lane should take at the rate the last one went: long
/// enough that its round trip is a small part of it, short enough to end well inside the
/// client's timeout on a 2G link (where 1 MiB takes half a minute).
const REQUEST_SECS: f64 = 8.0;

/// The first request's size, before any rate is known: 8 s at 2G's 32 kB/s.
const FIRST_WINDOW: u64 = 256 * 1024;

/// The next request's size after one of `bytes` took `elapsed`: what the link carries in
/// `REQUEST_SECS`, in whole pieces, at most twice the last and at most 1 MiB.
fn window_at_rate(window: u64, bytes: u64, elapsed: Duration) -> u64 {
    let piece = PIECE_BYTES as u64;
    let secs = elapsed.as_secs_f64().max(0.001);
    let ideal = (bytes as f64 / secs * REQUEST_SECS) as u64;
    let next = ideal
        .min(window.saturating_mul(2))
        .min(MAX_TRANSFER_BYTES as u64);
    (next / piece * piece).max(piece)
}

fn window_after_cut(window: u64, got: u64) -> u64 {
    let piece = PIECE_BYTES as u64;
    let through = got / piece * piece;
    if through == 0 {
        (window / 2 / piece * piece).max(piece)
    } else {
        through.min(window).max(piece)
    }
}

/// What one request of the lane came back with.
enum Answer {
    Ok(reqwest::Response),
    Refused(u16, String),
}

fn refused(status: u16, reason: String) -> Error {
    Error::Relay { status, reason }
}

async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|l| l > max as u64) {
        return Err(Error::TooLarge(format!(
            "the relay answered {} bytes where at most {max} were expected",
            resp.content_length().unwrap_or(0)
        )));
    }
    let mut out = vec![];
    while let Some(c) = resp.chunk().await.map_err(net)? {
        if out.len() + c.len() > max {
            return Err(Error::TooLarge(format!(
                "the relay answered more than the {max} bytes expected"
            )));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

fn net(e: reqwest::Error) -> Error {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::Network(msg)
}

/// Whether an error is worth another try within this pass (a cut, a timeout, the
/// relay naming another resume point, a relay briefly unavailable).
fn transient(e: &Error) -> bool {
    match e {
        Error::Network(_) => true,
        Error::Relay { status, .. } => matches!(status, 409 | 429 | 500 | 502 | 503 | 504),
        _ => false,
    }
}

impl SyncClient {
    /// One signed request of the blob API (the arguments are the signed fields).
    #[allow(clippy::too_many_arguments)]
    async fn blob_call(
        &self,
        store: &Store,
        m: &Membership,
        method: reqwest::Method,
        path: &str,
        op: Op,
        hash: &str,
        offset: u64,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let url = format!(
            "{}/v1/blobs/{hash}{path}",
            m.relay_url.trim_end_matches('/')
        );
        let auth = BlobAuth::header(&m.space_id, &store.key, op, hash, offset, now_ms());
        let mut req = self.http.request(method, url).header(AUTH_HEADER, auth);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/octet-stream")
                .body(b);
        }
        let resp = req.send().await.map_err(net)?;
        if resp.status().is_success() {
            return Ok(Answer::Ok(resp));
        }
        let status = resp.status().as_u16();
        let text = read_bounded(resp, MAX_STATUS_BYTES)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let reason = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error)
            .unwrap_or(text);
        Ok(Answer::Refused(status, reason))
    }

    async fn status_of(answer: Answer, hash: &str) -> Result<BlobStatus> {
        match answer {
            Answer::Ok(resp) => {
                let bytes = read_bounded(resp, MAX_STATUS_BYTES).await?;
                let s: BlobStatus = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Malformed(format!("the relay's status of attachment {hash}: {e}"))
                })?;
                if s.hash != hash || s.have > s.size {
                    return Err(Error::Malformed(format!(
                        "the relay's status of attachment {hash} names {} with {} of {} bytes",
                        s.hash, s.have, s.size
                    )));
                }
                Ok(s)
            }
            Answer::Refused(status, reason) => Err(refused(status, reason)),
        }
    }

    /// The relay's status of one attachment (a few tries through cuts).
    async fn blob_status(&self, store: &Store, m: &Membership, hash: &str) -> Result<BlobStatus> {
        let mut tries = 0;
        loop {
            let r = async {
                let a = self
                    .blob_call(
                        store,
                        m,
                        reqwest::Method::GET,
                        "",
                        Op::Status,
                        hash,
                        0,
                        None,
                    )
                    .await?;
                Self::status_of(a, hash).await
            }
            .await;
            match r {
                Err(e) if transient(&e) && tries + 1 < MAX_FRUITLESS_TRIES => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200 * tries as u64)).await;
                }
                other => return other,
            }
        }
    }

    /// The attachment lane, after document sync: upload this device's attachments whose
    /// referencing change the relay has acked (resuming from the relay's `have`), then
    /// download, by priority (voice, then photos; documents only on demand), what this
    /// member may read and lacks, within the budget. One failing blob never stops the
    /// others (recorded as failed with the reason, tried again next sync).
    pub async fn sync_blobs(&self, store: &Store, observer: Obs) -> Result<BlobReport> {
        let _one_at_a_time = store.blob_lock.lock().await;
        let m = store.membership()?.ok_or(Error::NotEnrolled)?;
        let mut report = BlobReport::default();
        for hash in store.uploads_due()? {
            match self.upload(store, &m, &hash, &observer, &mut report).await {
                Ok(()) => report.blobs_sent += 1,
                Err(e) => {
                    let done = store.blob_row(&hash)?.map_or(0, |r| r.done);
                    let reason = e.to_string();
                    tracing::warn!(%hash, %reason, "attachment upload failed; tried again next sync");
                    store.set_blob_state(&hash, AttachmentState::Failed, done, Some(&reason))?;
                    report.failed.push(format!("{hash}: {reason}"));
                }
            }
        }
        let budget = store.blob_budget()?;
        for hash in store.downloads_due()? {
            let Some(row) = store.blob_row(&hash)? else {
                continue;
            };
            if row.size > budget {
                continue;
            }
            match self
                .download(store, &m, &hash, &observer, &mut report)
                .await
            {
                Ok(true) => report.blobs_received += 1,
                Ok(false) => {}
                Err(e) => {
                    let done = store.blob_row(&hash)?.map_or(0, |r| r.done);
                    let reason = e.to_string();
                    tracing::warn!(%hash, %reason, "attachment download failed; tried again next sync");
                    store.set_blob_state(&hash, AttachmentState::Failed, done, Some(&reason))?;
                    report.failed.push(format!("{hash}: {reason}"));
                }
            }
        }
        let (n, bytes) = store.blobs_pending()?;
        report.pending = n;
        report.pending_bytes = bytes;
        Ok(report)
    }

    /// Fetch one attachment now (a document someone opened), resuming a partial
    /// download; returns the path of the verified file.
    pub async fn fetch_attachment(
        &self,
        store: &Store,
        hash: &str,
        observer: Obs,
    ) -> Result<PathBuf> {
        let _one_at_a_time = store.blob_lock.lock().await;
        let m = store.membership()?.ok_or(Error::NotEnrolled)?;
        let view = store.attachment(hash)?;
        let path = store.blob_path(hash);
        if path.is_file() {
            store.touch_blob(hash)?;
            return Ok(path);
        }
        let mut report = BlobReport::default();
        match self.download(store, &m, hash, &observer, &mut report).await {
            Ok(true) => Ok(path),
            Ok(false) => {
                let done = store.blob_row(hash)?.map_or(0, |r| r.done);
                Err(Error::NotFound(format!(
                    "the relay does not hold all of {} yet ({done} of {} bytes here); try again after its author's phone has synced",
                    view.attachment.name, view.attachment.size
                )))
            }
            Err(e) => {
                let done = store.blob_row(hash)?.map_or(0, |r| r.done);
                let own = store.blob_row(hash)?.is_some_and(|r| r.own);
                if !own {
                    store.set_blob_state(
                        hash,
                        AttachmentState::Failed,
                        done,
                        Some(&e.to_string()),
                    )?;
                }
                Err(e)
            }
        }
    }

    async fn upload(
        &self,
        store: &Store,
        m: &Membership,
        hash: &str,
        observer: &Obs,
        report: &mut BlobReport,
    ) -> Result<()> {
        let row = store
            .blob_row(hash)?
            .ok_or_else(|| Error::NotFound(format!("attachment {hash}")))?;
        let pieces = row.pieces.clone().ok_or_else(|| {
            Error::Database(format!(
                "attachment {hash} was attached here without its piece list"
            ))
        })?;
        let name = store.blob_name(hash);
        let progress = |done: u64| {
            if let Some(o) = observer {
                o.progress(&BlobProgress {
                    hash: hash.into(),
                    name: name.clone(),
                    upload: true,
                    done,
                    size: row.size,
                });
            }
        };
        let list = PieceList::verify(hash, row.size, &pieces)?;
        let mut status = self.blob_status(store, m, hash).await?;
        let (mut fruitless, mut corrupt) = (0, 0u32);
        let mut window = FIRST_WINDOW;
        loop {
            // done when the relay says this member's bytes are all there (`have`):
            // `complete` alone may be another's upload
            if status.have >= row.size {
                store.set_blob_state(hash, AttachmentState::Uploaded, row.size, None)?;
                progress(row.size);
                store.evict_blobs(None)?;
                return Ok(());
            }
            if fruitless >= MAX_FRUITLESS_TRIES {
                return Err(Error::Network(format!(
                    "{MAX_FRUITLESS_TRIES} tries brought no new byte of {name} to the relay ({} of {} bytes there)",
                    status.have, row.size
                )));
            }
            let step = if !status.pieces {
                let a = self
                    .blob_call(
                        store,
                        m,
                        reqwest::Method::PUT,
                        "/pieces",
                        Op::PutPieces,
                        hash,
                        0,
                        Some(pieces.clone()),
                    )
                    .await;
                match a {
                    Ok(a) => Self::status_of(a, hash).await,
                    Err(e) => Err(e),
                }
            } else {
                let offset = status.have;
                if offset % PIECE_BYTES as u64 != 0 {
                    return Err(Error::Malformed(format!(
                        "the relay says it holds {offset} bytes of {name}, not a whole number of pieces"
                    )));
                }
                let len = (row.size - offset).min(window) as usize;
                let body = store.read_blob_range(hash, offset, len)?;
                if body.len() != len {
                    return Err(Error::Database(format!(
                        "the file of attachment {name} on this device is shorter than its {} bytes",
                        row.size
                    )));
                }
                let started = std::time::Instant::now();
                let a = self
                    .blob_call(
                        store,
                        m,
                        reqwest::Method::PUT,
                        &format!("?offset={offset}"),
                        Op::Put,
                        hash,
                        offset,
                        Some(body),
                    )
                    .await;
                let answer = match a {
                    Ok(a) => Self::status_of(a, hash).await,
                    Err(e) => Err(e),
                };
                if answer.is_ok() {
                    window = window_at_rate(window, len as u64, started.elapsed());
                }
                answer
            };
            let (before, had_pieces) = (status.have, status.pieces);
            match step {
                Ok(s) => status = s,
                // cut mid-way, or the relay names another resume point: ask where it
                // stands and go on from there
                Err(e) if transient(&e) => {
                    tracing::info!(%hash, error = %e, "attachment upload cut; resuming from the relay's have");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    status = self.blob_status(store, m, hash).await?;
                    if had_pieces && matches!(e, Error::Network(_)) {
                        window = window_after_cut(window, status.have.saturating_sub(before));
                    }
                }
                // the relay refused a piece as corrupt (the pieces before it are kept):
                // damaged here, or in transit — sent again, a bounded number of times
                Err(Error::Relay {
                    status: 422,
                    reason,
                }) if had_pieces => {
                    corrupt += 1;
                    status = self.blob_status(store, m, hash).await?;
                    store.set_blob_state(hash, AttachmentState::Uploading, status.have, None)?;
                    let from = status.have;
                    let len = (row.size - from).min(PIECE_BYTES as u64) as usize;
                    let here = store.read_blob_range(hash, from, len)?;
                    if list
                        .check_piece((from / PIECE_BYTES as u64) as usize, &here)
                        .is_err()
                    {
                        return Err(Error::Database(format!(
                            "the file of attachment {name} on this device is damaged at byte {from}; attach it again"
                        )));
                    }
                    if corrupt >= MAX_CORRUPT_PIECES {
                        return Err(Error::BadSignature(format!(
                            "{name}: the relay refused a piece as corrupt {corrupt} times ({reason})"
                        )));
                    }
                    tracing::warn!(%hash, %reason, "the relay refused a corrupt piece; sending it again");
                }
                Err(e) => return Err(e),
            }
            if status.have > before {
                report.blob_bytes_sent += status.have - before;
                fruitless = 0;
            } else if had_pieces || !status.pieces {
                fruitless += 1;
            }
            store.set_blob_state(hash, AttachmentState::Uploading, status.have, None)?;
            progress(status.have);
        }
    }

    /// Download one attachment as far as the relay holds it. Ok(true) once whole here.
    async fn download(
        &self,
        store: &Store,
        m: &Membership,
        hash: &str,
        observer: &Obs,
        report: &mut BlobReport,
    ) -> Result<bool> {
        let row = store
            .blob_row(hash)?
            .ok_or_else(|| Error::NotFound(format!("attachment {hash}")))?;
        if store.blob_path(hash).is_file() && store.adopt_held_blob(hash)? {
            return Ok(true);
        }
        let name = store.blob_name(hash);
        let mut status = self.blob_status(store, m, hash).await?;
        if !status.readable {
            return Err(Error::NotAllowed(format!(
                "the relay does not let this member read {name}"
            )));
        }
        if status.size != row.size {
            return Err(Error::Malformed(format!(
                "the relay gives {name} {} bytes; its reference says {}",
                status.size, row.size
            )));
        }
        let list = match row
            .pieces
            .as_deref()
            .map(|b| PieceList::verify(hash, row.size, b))
        {
            Some(Ok(l)) => l,
            _ => {
                if !status.pieces {
                    return Ok(false);
                }
                let a = self
                    .blob_call(
                        store,
                        m,
                        reqwest::Method::GET,
                        "/pieces",
                        Op::GetPieces,
                        hash,
                        0,
                        None,
                    )
                    .await?;
                let bytes = match a {
                    Answer::Ok(r) => read_bounded(r, piece_count(row.size) * 32).await?,
                    Answer::Refused(s, reason) => return Err(refused(s, reason)),
                };
                report.blob_bytes_received += bytes.len() as u64;
                let l = PieceList::verify(hash, row.size, &bytes)?;
                store.set_blob_pieces(hash, &bytes)?;
                l
            }
        };
        let mut offset = store.open_part(hash, &list)?;
        store.set_blob_state(hash, AttachmentState::Downloading, offset, None)?;
        let progress = |done: u64| {
            if let Some(o) = observer {
                o.progress(&BlobProgress {
                    hash: hash.into(),
                    name: name.clone(),
                    upload: false,
                    done,
                    size: row.size,
                });
            }
        };
        progress(offset);
        let (mut fruitless, mut corrupt) = (0u32, 0u32);
        let mut window = FIRST_WINDOW;
        while offset < row.size {
            let held = if status.complete {
                row.size
            } else {
                status.have
            };
            if offset >= held {
                status = self.blob_status(store, m, hash).await?;
                if offset
                    >= (if status.complete {
                        row.size
                    } else {
                        status.have
                    })
                {
                    return Ok(false);
                }
                continue;
            }
            if fruitless >= MAX_FRUITLESS_TRIES {
                return Err(Error::Network(format!(
                    "{MAX_FRUITLESS_TRIES} tries brought no new byte of {name} ({offset} of {} bytes here)",
                    row.size
                )));
            }
            let len = (held - offset).min(window);
            let started = std::time::Instant::now();
            let (got, outcome) = self.get_chunk(store, m, hash, &list, offset, len).await;
            if outcome.is_ok() && !got.is_empty() {
                window = window_at_rate(window, got.len() as u64, started.elapsed());
            }
            if !got.is_empty() {
                offset = store.append_part(hash, offset, &got)?;
                report.blob_bytes_received += got.len() as u64;
                progress(offset);
            }
            match outcome {
                Ok(()) if !got.is_empty() => fruitless = 0,
                Ok(()) => fruitless += 1,
                Err(Error::BadSignature(why)) => {
                    corrupt += 1;
                    tracing::warn!(%hash, %why, "corrupt piece refused; fetching it again");
                    if corrupt >= MAX_CORRUPT_PIECES {
                        return Err(Error::BadSignature(format!(
                            "{name}: a piece came corrupted {corrupt} times ({why})"
                        )));
                    }
                }
                Err(e) if transient(&e) => {
                    if got.is_empty() {
                        fruitless += 1;
                    } else {
                        fruitless = 0;
                    }
                    if matches!(e, Error::Network(_)) {
                        window = window_after_cut(window, got.len() as u64);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
        store.finish_download(hash)?;
        progress(row.size);
        Ok(true)
    }

    /// One GET of up to `len` bytes at `offset`: the whole verified pieces that came
    /// (to be written), and how it ended (a cut, a corrupt piece, a refusal).
    async fn get_chunk(
        &self,
        store: &Store,
        m: &Membership,
        hash: &str,
        list: &PieceList,
        offset: u64,
        len: u64,
    ) -> (Vec<u8>, Result<()>) {
        let mut good = vec![];
        let a = self
            .blob_call(
                store,
                m,
                reqwest::Method::GET,
                &format!("?offset={offset}&len={len}"),
                Op::Get,
                hash,
                offset,
                None,
            )
            .await;
        let mut resp = match a {
            Ok(Answer::Ok(r)) => r,
            Ok(Answer::Refused(s, reason)) => return (good, Err(refused(s, reason))),
            Err(e) => return (good, Err(e)),
        };
        let mut piece = (offset / PIECE_BYTES as u64) as usize;
        let mut buf: Vec<u8> = Vec::with_capacity(PIECE_BYTES);
        loop {
            loop {
                if piece >= piece_count(list.size) || good.len() as u64 >= len {
                    return (good, Ok(()));
                }
                let want = piece_len(list.size, piece);
                if buf.len() < want {
                    break;
                }
                let rest = buf.split_off(want);
                if let Err(e) = list.check_piece(piece, &buf) {
                    return (good, Err(Error::from(e)));
                }
                good.extend_from_slice(&buf);
                buf = rest;
                piece += 1;
            }
            match resp.chunk().await {
                Ok(Some(c)) => buf.extend_from_slice(&c),
                Ok(None) => {
                    return (
                        good,
                        if buf.is_empty() {
                            Ok(())
                        } else {
                            Err(Error::Network("the answer ended inside a piece".into()))
                        },
                    )
                }
                Err(e) => return (good, Err(net(e))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_cut_requests_carry_what_got_through_in_whole_pieces() {
        let p = PIECE_BYTES as u64;
        let max = MAX_TRANSFER_BYTES as u64;
        assert_eq!(
            window_after_cut(max, 100_000),
            100_000 / p * p,
            "100 kB through: the whole pieces of it"
        );
        assert_eq!(window_after_cut(max, 5 * p + 7), 5 * p);
        // paced by the last request: 8 s worth, never more than twice the last or 1 MiB
        let at_2g = window_at_rate(FIRST_WINDOW, 256_000, Duration::from_secs(8));
        assert_eq!(at_2g, 256_000 / p * p, "2G keeps 8 s requests");
        assert_eq!(
            window_at_rate(FIRST_WINDOW, FIRST_WINDOW, Duration::from_millis(50)),
            2 * FIRST_WINDOW
        );
        assert_eq!(window_at_rate(max, max, Duration::from_millis(5)), max);
        assert_eq!(
            window_at_rate(max, p, Duration::from_secs(60)),
            p,
            "never below one piece"
        );
        assert_eq!(window_after_cut(max, 0), max / 2, "nothing through: half");
        assert_eq!(window_after_cut(p, 0), p, "never below one piece");
        assert_eq!(
            window_after_cut(2 * p, 9 * p),
            2 * p,
            "never above the window"
        );
    }
}
