//! The device sync client: one HTTP exchange carries the device's unsent signed
//! changes and its cursor; the answer carries acks, rejections with reasons, the
//! changes after the cursor this member may read, and the new cursor. Large answers
//! come in pages; the cursor is stored after each page is applied, so after a cut
//! connection the next attempt resumes from the last applied page. Changes are
//! content-addressed, so resending after a cut connection doubles nothing.
//! reqwest with rustls (no OpenSSL), behind the default feature `http`: without it
//! this module keeps only what needs no network (reports, `split_uploads`).

use crate::wire::{Item, SignedBatch, MAX_UPLOAD_BYTES, MAX_UPLOAD_OPS};
use serde::Serialize;
use std::collections::VecDeque;

#[cfg(feature = "http")]
use crate::error::{Error, Result};
#[cfg(feature = "http")]
use crate::ids::now_ms;
#[cfg(feature = "http")]
use crate::store::{Membership, Store};
#[cfg(feature = "http")]
use crate::wire::control::{
    enroll_message, fresh_nonce, invite_message, revoke_message, rotate_message, EnrollRequest,
    EnrollResponse, ErrorBody, InviteFor, InviteRequest, InviteResponse, RevokeRequest,
    RotateRequest, RotateResponse,
};
#[cfg(feature = "http")]
use crate::wire::{self, entity_bytes, SealedRequest, SyncRequest, SyncResponse};
#[cfg(feature = "http")]
use crate::Role;
#[cfg(feature = "http")]
use std::sync::Arc;
#[cfg(feature = "http")]
use std::time::Duration;

/// Bytes of changes asked for per response page (before compression). Large pages
/// compress better (zstd sees more of the village at once: the bytes on the wire for a
/// new phone); a cut connection costs at most one page, since the cursor is stored
/// after each page is applied.
pub const PAGE_BYTES: u32 = 4 * 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// Local changes sent in this sync.
    pub sent: u32,
    /// Local changes the relay acknowledged.
    pub acked: u32,
    /// Changes from others applied here.
    pub received: u32,
    /// Local changes the relay rejected (see `Store::local_changes` for reasons).
    pub rejected: u32,
    /// Incoming changes this device refused (signature or policy).
    pub refused_incoming: u32,
    pub round_trips: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub cursor: u64,
    pub rejections: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncProgress {
    pub page: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub received: u32,
    pub done: bool,
    /// Change bytes (uncompressed, as the relay stores them) received so far.
    pub change_bytes_received: u64,
    /// What the relay says is left after this page (an upper bound: it counts changes
    /// this member may not receive; 0 from a relay older than wire version 4).
    pub remaining_changes: u64,
    pub remaining_change_bytes: u64,
    /// How much of the download is done, 0 to 100 (100 when done).
    pub percent: u8,
    /// The time left at the rate of the pages so far, in ms (`None` until a page has
    /// come, and when done).
    pub eta_ms: Option<u64>,
}

impl SyncProgress {
    /// Percent done and the time left, from the change bytes received in `elapsed_ms`
    /// and what the relay says remains.
    pub fn estimate(
        received: u64,
        remaining: u64,
        elapsed_ms: u64,
        done: bool,
    ) -> (u8, Option<u64>) {
        if done || remaining == 0 {
            return (100, None);
        }
        // a relay's figures are not trusted to be sane: no overflow, no division by zero
        let whole = received.saturating_add(remaining).max(1) as u128;
        let percent = (received as u128 * 100 / whole).min(99) as u8;
        let eta = (received > 0).then(|| {
            (remaining as u128 * elapsed_ms.max(1) as u128 / received as u128).min(u64::MAX as u128)
                as u64
        });
        (percent, eta)
    }
}

pub trait ProgressObserver: Send + Sync {
    fn progress(&self, p: &SyncProgress);
}

/// How far the relay's time may be from the phone's for the phone to sign a control
/// request again with it (`SyncClient::post_control`).
#[cfg(feature = "http")]
const MAX_RELAY_TIME_GAP_MS: u64 = 7 * 24 * 3_600_000;

/// Why `SyncClient::sync_once` makes a second pass.
#[cfg(feature = "http")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// The relay's log is another than the one this phone synced with.
    Restarted,
    /// A roster update did not verify: ask for the whole roster.
    WholeRoster,
}

#[cfg(feature = "http")]
#[derive(Clone)]
pub struct SyncClient {
    pub(crate) http: reqwest::Client,
    page_bytes: u32,
}

#[cfg(feature = "http")]
impl Default for SyncClient {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

#[cfg(feature = "http")]
fn net(e: reqwest::Error) -> Error {
    let mut msg = if e.is_timeout() {
        format!("timed out: {e}")
    } else {
        e.to_string()
    };
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    Error::Network(msg)
}

#[cfg(feature = "http")]
async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
    refusal(resp).await.map_err(|(status, body)| Error::Relay {
        status,
        reason: body.error,
    })
}

/// A successful answer, or the relay's status and error body (its text as `error`
/// when it is not an `ErrorBody`).
#[cfg(feature = "http")]
async fn refusal(
    resp: reqwest::Response,
) -> std::result::Result<reqwest::Response, (u16, ErrorBody)> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or(ErrorBody {
        error: text,
        ..ErrorBody::default()
    });
    Err((status, body))
}

#[cfg(feature = "http")]
fn base(url: &str) -> Result<String> {
    let u = url.trim_end_matches('/');
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(Error::invalid(format!(
            "relay url {url:?} must start with http:// or https://"
        )));
    }
    Ok(u.to_string())
}

#[cfg(feature = "http")]
impl SyncClient {
    pub fn new(timeout: Duration) -> SyncClient {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(15))
            // below the relay's header timeout (10 s by default), after which it
            // closes idle connections: a pooled connection is not reused as it closes
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("http client builds");
        SyncClient {
            http,
            page_bytes: PAGE_BYTES,
        }
    }

    /// Ask for smaller (or larger) response pages than `PAGE_BYTES`.
    pub fn with_page_bytes(mut self, page_bytes: u32) -> SyncClient {
        self.page_bytes = page_bytes.max(16 * 1024);
        self
    }

    /// Redeem an invite: registers this device's key with the relay and pins the relay key.
    pub async fn enroll(
        &self,
        store: &Store,
        relay_url: &str,
        invite: &str,
        name: &str,
    ) -> Result<Membership> {
        let url = base(relay_url)?;
        // the relay's rule, checked before anything is sent
        crate::model::check_name("name", name)?;
        let device_key = store.device_id();
        let signature = hex::encode(store.key.sign(&enroll_message(invite, &device_key, name)));
        let req = EnrollRequest {
            invite: invite.into(),
            device_key,
            name: name.into(),
            signature,
        };
        let resp = check(
            self.http
                .post(format!("{url}/v1/enroll"))
                .json(&req)
                .send()
                .await
                .map_err(net)?,
        )
        .await?;
        let r: EnrollResponse = resp
            .json()
            .await
            .map_err(|e| Error::Malformed(format!("enroll answer: {e}")))?;
        let relay_key = crate::identity::decode_key_hex(&r.relay_key)?;
        let m = Membership {
            space_id: r.space_id,
            space_name: r.space_name,
            member_id: r.member_id,
            relay_url: url,
            relay_key,
        };
        store.set_membership(&m, &r.roster)?;
        Ok(m)
    }

    /// A cadre asks the relay for an invite for a new member with `role`.
    pub async fn create_invite(
        &self,
        store: &Store,
        role: Role,
        household: &str,
        group: &str,
    ) -> Result<InviteResponse> {
        self.create_invite_for(store, role, household, group, InviteFor::default())
            .await
    }

    /// An invite that names the person on the village register it enrols (the member
    /// is linked to them in the roster), and whether they are a migrant and where
    /// they live.
    pub async fn create_invite_for(
        &self,
        store: &Store,
        role: Role,
        household: &str,
        group: &str,
        enrols: InviteFor,
    ) -> Result<InviteResponse> {
        if let Some(city) = &enrols.lives_in {
            crate::model::check_name("lives_in", city)?;
        }
        if let Some(p) = &enrols.person {
            if !store.register()?.person(p).is_some_and(|p| p.active()) {
                return Err(Error::NotFound(format!(
                    "person {p} on this phone's register (add them, or sync first)"
                )));
            }
        }
        let m = store.membership()?.ok_or(Error::NotEnrolled)?;
        let sign = |at: i64| {
            let mut req = InviteRequest {
                space_id: m.space_id.clone(),
                device_key: store.device_id(),
                role,
                household: household.into(),
                group: group.into(),
                nonce: fresh_nonce(at),
                signature: String::new(),
                enrols: enrols.clone(),
            };
            req.signature = hex::encode(store.key.sign(&invite_message(&req)));
            req
        };
        let resp = self
            .post_control(format!("{}/v1/invites", m.relay_url), sign)
            .await?;
        resp.json()
            .await
            .map_err(|e| Error::Malformed(format!("invite answer: {e}")))
    }

    /// A cadre revokes a device (hex key) or a member (id) with all their devices.
    pub async fn revoke(&self, store: &Store, target: &str) -> Result<()> {
        let m = store.membership()?.ok_or(Error::NotEnrolled)?;
        let sign = |at: i64| {
            let mut req = RevokeRequest {
                space_id: m.space_id.clone(),
                device_key: store.device_id(),
                target: target.into(),
                nonce: fresh_nonce(at),
                signature: String::new(),
            };
            req.signature = hex::encode(store.key.sign(&revoke_message(&req)));
            req
        };
        self.post_control(format!("{}/v1/revoke", m.relay_url), sign)
            .await?;
        Ok(())
    }

    /// POST a signed control request made by `sign` at this phone's time. A relay whose
    /// clock is far from the phone's refuses it and says its time (`relay_time`): the
    /// request is signed again with that time and sent once more.
    async fn post_control<T: serde::Serialize>(
        &self,
        url: String,
        sign: impl Fn(i64) -> T,
    ) -> Result<reqwest::Response> {
        let send = |req: T| self.http.post(&url).json(&req).send();
        match refusal(send(sign(now_ms())).await.map_err(net)?).await {
            Ok(r) => Ok(r),
            // the error body is not signed: a time more than a week from the phone's is
            // not taken (an on-path forger could otherwise have the phone sign a request
            // valid far in the future)
            Err((
                409,
                ErrorBody {
                    relay_time: Some(t),
                    ..
                },
            )) if t.abs_diff(now_ms()) <= MAX_RELAY_TIME_GAP_MS => {
                tracing::info!(
                    phone_ms = now_ms(),
                    relay_ms = t,
                    "the phone's clock is far from the relay's: signing the request again with the relay's time"
                );
                check(send(sign(t)).await.map_err(net)?).await
            }
            Err((status, body)) => Err(Error::Relay {
                status,
                reason: body.error,
            }),
        }
    }

    /// One sync: push the outbox, pull every page after the cursor.
    ///
    /// When the relay's log is not the one this phone last synced with (restored from
    /// a backup: the answer names another epoch, or goes back before this phone's
    /// cursor), the phone starts over within this sync: it pulls the log from the start
    /// and sends again its changes the relay had acked (`Store::restart_relay_log`), so
    /// nothing the phone holds is lost to the restore.
    pub async fn sync_once(
        &self,
        store: &Store,
        observer: Option<Arc<dyn ProgressObserver>>,
    ) -> Result<SyncReport> {
        // overlapping syncs of one store would send the outbox twice and could move
        // the cursor backwards; the second waits for the first
        let _one_at_a_time = store.sync_lock.lock().await;
        let mut report = SyncReport::default();
        if let Some(again) = self
            .sync_pass(store, observer.clone(), &mut report, true, false)
            .await?
        {
            self.sync_pass(
                store,
                observer,
                &mut report,
                false,
                again == Again::WholeRoster,
            )
            .await?;
        }
        Ok(report)
    }

    /// One pass of `sync_once`, adding to `report`. Returns why a second pass is needed
    /// (only when `may_restart`): the relay's log turned out to be another than the one
    /// this phone synced with and the phone was set to start over, or a roster update
    /// did not verify and the whole roster is asked for (`whole_roster`: the request
    /// says the phone holds no roster version, so the relay sends it whole).
    async fn sync_pass(
        &self,
        store: &Store,
        observer: Option<Arc<dyn ProgressObserver>>,
        report: &mut SyncReport,
        may_restart: bool,
        whole_roster: bool,
    ) -> Result<Option<Again>> {
        let ask_whole_roster = std::sync::atomic::AtomicBool::new(whole_roster);
        if !store.key_is_current()? {
            return Err(Error::invalid(
                "this device's key was rotated: reopen the store to sign with the new key",
            ));
        }
        let m = store.membership()?.ok_or(Error::NotEnrolled)?;
        let space = entity_bytes(&m.space_id)?;
        let batches = store.outgoing_batches()?;
        report.sent += batches.iter().map(|b| b.items.len() as u32).sum::<u32>();
        // no request carries more than MAX_UPLOAD_BYTES of changes (the relay's cap on a
        // request is twice that): the rest rides on the following requests of this sync
        let mut uploads = split_uploads(batches);
        let request = |cursor: u64, batches, counter: Option<u64>| -> Result<Vec<u8>> {
            let req = SyncRequest {
                space,
                device: store.key.public(),
                counter: match counter {
                    Some(c) => c,
                    None => store.next_counter()?,
                },
                sent_at: now_ms(),
                cursor,
                roster_version: match ask_whole_roster.load(std::sync::atomic::Ordering::Relaxed) {
                    true => 0,
                    false => store.roster()?.version,
                },
                max_page_bytes: self.page_bytes,
                batches,
            };
            Ok(SealedRequest::seal(&req, &store.key))
        };
        let url = format!("{}/v1/sync", m.relay_url);
        let cursor = store.cursor()?;
        let first_upload = uploads.pop_front().unwrap_or_default();
        let body = request(cursor, first_upload.clone(), None)?;
        report.bytes_sent += body.len() as u64;
        let first = match Self::post_sync_raw(self.http.clone(), url.clone(), body).await? {
            Ok(bytes) => bytes,
            // the relay refused the counter (this phone was restored from a backup, or
            // its clock once ran ahead) and says which it expects: continue from
            // there, once; a second refusal is returned
            Err((
                409,
                ErrorBody {
                    expected_counter: Some(expected),
                    ..
                },
            )) => {
                let body = request(cursor, first_upload, Some(store.adopt_counter(expected)?))?;
                report.bytes_sent += body.len() as u64;
                Self::post_sync(self.http.clone(), url.clone(), body).await?
            }
            // the relay cannot store anything now (its disk is full or read-only): receive
            // what there is; this phone's changes stay in its outbox for the next sync
            Err((507, body)) if !first_upload.is_empty() => {
                tracing::warn!(reason = %body.error, "the relay cannot store changes now; receiving only");
                uploads.clear();
                let body = request(cursor, vec![], None)?;
                report.bytes_sent += body.len() as u64;
                Self::post_sync(self.http.clone(), url.clone(), body).await?
            }
            Err((status, body)) => {
                return Err(Error::Relay {
                    status,
                    reason: body.error,
                })
            }
        };
        let mut in_flight = tokio::spawn(async move { Ok(first) });
        let mut page = 0;
        let started = std::time::Instant::now();
        let mut change_bytes: u64 = 0;
        loop {
            page += 1;
            let bytes = in_flight
                .await
                .map_err(|e| Error::Network(format!("sync task failed: {e}")))??;
            report.round_trips += 1;
            report.bytes_received += bytes.len() as u64;
            let resp = SyncResponse::decode(&bytes)?;
            if page == 1 {
                let known = store.relay_epoch()?;
                // a relay never answers before the cursor it was sent, unless that
                // cursor is beyond the end of its log
                let went_back = resp.cursor < cursor;
                let new_epoch = resp.epoch != 0 && known != 0 && resp.epoch != known;
                if may_restart && (went_back || new_epoch) {
                    // the changes this answer acks were stored by the relay: acked
                    // again on the next pass, with everything else
                    let resend = store.restart_relay_log(resp.epoch)?;
                    tracing::warn!(
                        cursor,
                        answered = resp.cursor,
                        known_epoch = known,
                        epoch = resp.epoch,
                        resend,
                        "the relay's log is not the one this phone synced with (restored from a backup?): pulling it again and re-sending acked changes"
                    );
                    return Ok(Some(Again::Restarted));
                }
                if resp.epoch != 0 && resp.epoch != known {
                    store.set_relay_epoch(resp.epoch)?;
                }
            }
            // ask for the next page now, so the network works while this page is applied
            let next = if resp.more || !uploads.is_empty() {
                let body = request(resp.cursor, uploads.pop_front().unwrap_or_default(), None)?;
                report.bytes_sent += body.len() as u64;
                Some(tokio::spawn(Self::post_sync(
                    self.http.clone(),
                    url.clone(),
                    body,
                )))
            } else {
                None
            };
            if let Some(r) = &resp.roster {
                store.install_roster(r)?;
                ask_whole_roster.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            if let Some(d) = &resp.roster_delta {
                if let Err(e) = store.apply_roster_delta(d) {
                    // nothing of this answer is applied: its entries may be signed by
                    // members only the new roster names
                    if !may_restart {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, "a roster update did not verify: asking for the whole roster");
                    if let Some(next) = next {
                        next.abort();
                    }
                    return Ok(Some(Again::WholeRoster));
                }
            }
            store.apply_acks(&resp.acks, resp.server_time)?;
            report.acked += resp.acks.len() as u32;
            // a change whose dependencies the relay lacks (lost to a restore, to come
            // back with their authors' phones) is kept and sent again next time
            let (rejections, waiting) = wire::Rejection::waits(&resp.rejections);
            if !waiting.is_empty() {
                tracing::info!(
                    waiting = waiting.len(),
                    "changes wait for dependencies the relay does not hold yet; sent again next sync"
                );
            }
            store.apply_rejections(&rejections)?;
            report.rejected += rejections.len() as u32;
            report
                .rejections
                .extend(rejections.iter().map(|r| r.reason.clone()));
            let rec = store.receive(&resp.entries)?;
            report.received += rec.merge.applied as u32;
            report.refused_incoming += (rec.merge.rejected.len() + rec.bad_batches.len()) as u32;
            // the cursor moves only once the page is applied: a cut resumes from here
            store.set_cursor(resp.cursor)?;
            report.cursor = resp.cursor;
            change_bytes += resp
                .entries
                .iter()
                .map(|e| match e {
                    wire::LogEntry::Batch { batch, .. } => batch
                        .items
                        .iter()
                        .map(|it| match it {
                            wire::Item::Change { bytes, .. } => bytes.len() as u64,
                            wire::Item::Withheld { .. } => 0,
                        })
                        .sum(),
                    wire::LogEntry::Tally { .. } => 0,
                })
                .sum::<u64>();
            if let Some(o) = &observer {
                let done = !resp.more;
                let (percent, eta_ms) = SyncProgress::estimate(
                    change_bytes,
                    resp.remaining.bytes,
                    started.elapsed().as_millis() as u64,
                    done,
                );
                o.progress(&SyncProgress {
                    page,
                    bytes_sent: report.bytes_sent,
                    bytes_received: report.bytes_received,
                    received: report.received,
                    done,
                    change_bytes_received: change_bytes,
                    remaining_changes: resp.remaining.changes,
                    remaining_change_bytes: resp.remaining.bytes,
                    percent,
                    eta_ms,
                });
            }
            match next {
                Some(n) => in_flight = n,
                None => break,
            }
        }
        Ok(None)
    }

    /// One POST of a framed sync request; the answer's body, or the relay's refusal.
    async fn post_sync(http: reqwest::Client, url: String, body: Vec<u8>) -> Result<Vec<u8>> {
        Self::post_sync_raw(http, url, body)
            .await?
            .map_err(|(status, body)| Error::Relay {
                status,
                reason: body.error,
            })
    }

    /// One POST of a framed sync request: Ok(answer body), or Ok(Err(the relay's
    /// status and error body)); Err on a network failure.
    async fn post_sync_raw(
        http: reqwest::Client,
        url: String,
        body: Vec<u8>,
    ) -> Result<std::result::Result<Vec<u8>, (u16, ErrorBody)>> {
        let resp = http
            .post(url)
            .header("content-type", "application/x-cunwu")
            .header(
                wire::RESPONSE_VERSION_HEADER,
                wire::WIRE_VERSION.to_string(),
            )
            .body(body)
            .send()
            .await
            .map_err(net)?;
        match refusal(resp).await {
            Ok(r) => Ok(Ok(r.bytes().await.map_err(net)?.to_vec())),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Replace this device's key: the relay revokes the old key from its next log
    /// position (changes it signed before stay valid everywhere) and enrols the new
    /// key for the same member. Local changes are synced first (they name the old key
    /// as their author, so they must reach the relay before it is revoked). The new
    /// key is kept in the store before the request is sent, so a lost answer is
    /// recovered by calling this again. Returns the new device id; reopen the store
    /// (`Store::open`) to sign with it.
    pub async fn rotate_key(&self, store: &Store) -> Result<String> {
        let m = store.membership()?.ok_or(Error::NotEnrolled)?;
        let new = match store.pending_device_key()? {
            // begun before: the relay may already have revoked the old key, so no sync
            // with it first (the outbox was empty when the rotation began)
            Some(k) => k,
            None => {
                self.sync_once(store, None).await?;
                let unsent = store.unsent_changes()?;
                if unsent > 0 {
                    return Err(Error::invalid(format!(
                        "{unsent} local change(s) are not acknowledged by the relay yet; sync until they are, then rotate the key"
                    )));
                }
                store.begin_key_rotation()?
            }
        };
        let sign = |at: i64| {
            let mut req = RotateRequest {
                space_id: m.space_id.clone(),
                old_key: store.device_id(),
                new_key: new.id(),
                nonce: fresh_nonce(at),
                old_signature: String::new(),
                new_signature: String::new(),
            };
            let msg = rotate_message(&req);
            req.old_signature = hex::encode(store.key.sign(&msg));
            req.new_signature = hex::encode(new.sign(&msg));
            req
        };
        let resp = self
            .post_control(format!("{}/v1/rotate", m.relay_url), sign)
            .await?;
        let r: RotateResponse = resp
            .json()
            .await
            .map_err(|e| Error::Malformed(format!("rotate answer: {e}")))?;
        store.install_roster(&r.roster)?;
        let roster = store.roster()?;
        if !matches!(roster.device(&new.id()), Some(d) if d.revoked_at_seq.is_none()) {
            return Err(Error::Malformed(
                "the relay's roster does not name the new key".into(),
            ));
        }
        store.replace_device_key(&new)?;
        Ok(new.id())
    }

    /// `sync_once`, retried with exponential backoff on network errors (not on a
    /// refusal by the relay, which would only be refused again).
    pub async fn sync_with_retry(
        &self,
        store: &Store,
        attempts: u32,
        observer: Option<Arc<dyn ProgressObserver>>,
    ) -> Result<SyncReport> {
        let mut delay = Duration::from_millis(200);
        let mut last = None;
        for _ in 0..attempts.max(1) {
            match self.sync_once(store, observer.clone()).await {
                Ok(r) => return Ok(r),
                Err(e @ (Error::Network(_) | Error::Malformed(_))) => {
                    last = Some(e);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(Error::Relay { status, reason }) if status == 429 || status >= 500 => {
                    last = Some(Error::Relay { status, reason });
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::Network("no attempt made".into())))
    }
}

/// Group signed batches into the uploads of successive requests, in order, each
/// holding at most [`MAX_UPLOAD_BYTES`] of change bytes (a larger batch goes alone).
pub fn split_uploads(batches: Vec<SignedBatch>) -> VecDeque<Vec<SignedBatch>> {
    // (bytes, operations) of a batch
    let size = |b: &SignedBatch| -> (usize, u64) {
        b.items.iter().fold((0, 0), |(n, ops), i| match i {
            Item::Change { bytes, .. } => (
                n + bytes.len() + 16,
                ops + crate::doc::change_ops(bytes).unwrap_or(0),
            ),
            Item::Withheld { .. } => (n + 48, ops),
        })
    };
    let mut out: VecDeque<Vec<SignedBatch>> = VecDeque::new();
    let (mut used, mut used_ops) = (0, 0);
    for b in batches {
        let (n, ops) = size(&b);
        match out.back_mut() {
            Some(last) if used + n <= MAX_UPLOAD_BYTES && used_ops + ops <= MAX_UPLOAD_OPS => {
                last.push(b)
            }
            _ => {
                out.push_back(vec![b]);
                (used, used_ops) = (0, 0);
            }
        }
        used += n;
        used_ops += ops;
    }
    out
}

/// For tests: sign arbitrary bytes with a store's device key (used by attack tests to
/// build forged traffic from a real enrolled device). Feature `testing`: an app has
/// no business holding its device's secret key outside the store.
#[cfg(feature = "testing")]
pub fn device_key_of(store: &crate::store::Store) -> &crate::identity::DeviceKey {
    &store.key
}

#[cfg(test)]
mod progress_tests {
    use super::SyncProgress;

    #[test]
    fn progress_has_a_total_and_a_time_left() {
        // 1 MB in 2 s, 3 MB left: a quarter done, 6 s to go
        assert_eq!(
            SyncProgress::estimate(1_000_000, 3_000_000, 2_000, false),
            (25, Some(6_000))
        );
        assert_eq!(SyncProgress::estimate(0, 5_000, 100, false), (0, None));
        assert_eq!(SyncProgress::estimate(10, 0, 100, true), (100, None));
        // never 100 before the last page, even when almost nothing remains
        assert_eq!(SyncProgress::estimate(1_000_000, 1, 100, false).0, 99);
        // a hostile relay's figures cost nothing
        assert_eq!(
            SyncProgress::estimate(u64::MAX, u64::MAX, u64::MAX, false).0,
            99
        );
        assert_eq!(
            SyncProgress::estimate(1, u64::MAX, 1, false),
            (0, Some(u64::MAX))
        );
    }
}
