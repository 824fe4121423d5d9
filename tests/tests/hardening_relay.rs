//! Issue 9, principles 8 and 9, against a real relay process on a real socket:
//!
//! - Connections are bounded: idle and slow-header connections are closed within the
//!   header timeout, a trickled body within the body timeout, connections over the cap
//!   wait their turn, and an honest phone syncs (and `/healthz` answers) meanwhile.
//! - Replay protection cannot lock a device out: a counter far beyond the relay's
//!   clock is refused without being recorded, a refusal names the counter the relay
//!   expects and the client continues from it (a phone restored from a backup, one
//!   whose clock once ran years ahead), counters are kept per (space, device), and a
//!   device can rotate its key (the old key refused, its old changes still valid).
//!
//! Every loop is bounded in count and time; all traffic is on loopback.

use cunwu_core::ids::{now_ms, DAY_MS};
use cunwu_core::model::notice::{Category, Period, Subtype};
use cunwu_core::store::{NewNotice, NoticeFilter};
use cunwu_core::sync::{SyncClient, SyncReport};
use cunwu_core::wire::control::ErrorBody;
use cunwu_core::{Role, Store};
use cunwu_tests::harness::{
    http_get, post_raw, post_sync, signed_sync_body, HttpReply, RelayProcess,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const YEAR_MS: i64 = 365 * DAY_MS;

// ---- a phone whose SQLite file the test can back up, restore and reopen ------------

struct Phone {
    name: String,
    dir: tempfile::TempDir,
    store: Option<Store>,
    client: SyncClient,
}

impl Phone {
    fn new(name: &str) -> Phone {
        let dir = tempfile::tempdir().expect("phone dir");
        let store = Store::open(dir.path().join("store.db")).expect("open store");
        Phone {
            name: name.into(),
            dir,
            store: Some(store),
            client: SyncClient::new(Duration::from_secs(30)),
        }
    }

    /// A fresh phone that holds the same device key as `other` (one key enrolled in
    /// two spaces).
    fn with_key_of(name: &str, other: &Phone) -> Phone {
        let mut p = Phone::new(name);
        let secret = cunwu_core::sync::device_key_of(other.store()).secret_bytes();
        p.store = None;
        let c = rusqlite::Connection::open(p.path()).expect("open phone db");
        c.execute(
            "UPDATE local SET value = ?1 WHERE key = 'device_secret'",
            [&secret[..]],
        )
        .expect("set key");
        drop(c);
        p.reopen();
        assert_eq!(p.store().device_id(), other.store().device_id());
        p
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("store open")
    }

    fn reopen(&mut self) {
        self.store = None;
        self.store = Some(Store::open(self.path()).expect("reopen store"));
    }

    async fn enroll(&self, relay: &RelayProcess, invite: &str) {
        self.client
            .enroll(self.store(), &relay.url(), invite, &self.name)
            .await
            .unwrap_or_else(|e| panic!("enrol {}: {e}", self.name));
    }

    async fn sync(&self) -> cunwu_core::Result<SyncReport> {
        self.client.sync_once(self.store(), None).await
    }

    /// A consistent copy of the phone's database (what a phone backup holds).
    fn backup(&self) -> PathBuf {
        let to = self.dir.path().join("backup.db");
        let c = rusqlite::Connection::open(self.path()).expect("open phone db");
        c.execute("VACUUM INTO ?1", [to.to_str().expect("utf-8 path")])
            .expect("back up");
        to
    }

    /// Put the backup back in place of the phone's database, and reopen it.
    fn restore(&mut self, backup: &PathBuf) {
        self.store = None;
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path().display()));
        }
        std::fs::copy(backup, self.path()).expect("restore backup");
        self.reopen();
    }

    fn post_notice(&self, title: &str) -> String {
        self.store()
            .post_notice(NewNotice {
                category: Category::Village,
                subtype: Subtype::Other,
                period: Period::default(),
                title: title.into(),
                body: "村委会".into(),
                opening_balance_fen: None,
                lines: vec![],
                publish: true,
            })
            .expect("post notice")
    }

    /// A raw sync request from this phone's key with a chosen counter.
    async fn post_with_counter(&self, relay: &RelayProcess, counter: u64) -> HttpReply {
        let s = self.store();
        let key = cunwu_core::sync::device_key_of(s);
        let space = s.membership().unwrap().unwrap().space_id;
        let body = signed_sync_body(
            key,
            &space,
            counter,
            s.cursor().unwrap(),
            s.roster().unwrap().version,
            vec![],
        );
        post_sync(&relay.url(), body).await
    }
}

fn error_body(r: &HttpReply) -> ErrorBody {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "status {}: not an error body ({e}): {}",
            r.status,
            r.error()
        )
    })
}

/// The counter the relay recorded for `device` in `space` (0 if none).
fn recorded_counter(relay: &RelayProcess, space: &str, device: &str) -> i64 {
    relay.query_i64(&format!(
        "SELECT COALESCE(max(counter), 0) FROM sync_counters WHERE space_id = '{space}' AND device = '{device}'"
    ))
}

// ---- principle 8: connections are bounded ---------------------------------------------

/// Open `n` junk connections: every other one sends half a request line and stops.
fn open_junk(relay: &RelayProcess, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut s =
                TcpStream::connect_timeout(&relay.addr(), Duration::from_secs(5)).expect("connect");
            if i % 2 == 1 {
                s.write_all(b"POST /v1/sync HTTP/1.1\r\n")
                    .expect("write half a request");
            }
            s
        })
        .collect()
}

/// How many of `conns` the relay has closed (EOF or reset), waiting up to `deadline`.
fn count_closed(conns: &mut [TcpStream], deadline: Instant) -> usize {
    let mut closed = vec![false; conns.len()];
    loop {
        for (i, s) in conns.iter_mut().enumerate() {
            if closed[i] {
                continue;
            }
            s.set_read_timeout(Some(Duration::from_millis(5)))
                .expect("read timeout");
            let mut buf = [0u8; 512];
            match s.read(&mut buf) {
                Ok(0) => closed[i] = true,
                // an answer (e.g. 408) is fine: the close follows
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => closed[i] = true,
            }
        }
        let n = closed.iter().filter(|c| **c).count();
        if n == conns.len() || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn honest_village(relay: &RelayProcess) -> (String, Phone) {
    let (space, invite) = relay.create_space("青石村");
    let cadre = Phone::new("陈建国");
    cadre.enroll(relay, &invite).await;
    (space, cadre)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_header_connections_are_closed_while_honest_syncs_get_through() {
    let relay =
        RelayProcess::start_with(&["--header-timeout-secs", "2", "--max-connections", "400"]);
    let (_space, cadre) = honest_village(&relay).await;
    cadre.sync().await.expect("first sync");
    let opened = Instant::now();
    let mut junk = open_junk(&relay, 300);
    // while they are open, an honest phone syncs and the health check answers at once
    cadre.post_notice("停水通知");
    let t = Instant::now();
    let r = cadre
        .sync()
        .await
        .expect("honest sync among idle connections");
    assert_eq!(r.acked, 1, "{r:?}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "honest sync took {:?}",
        t.elapsed()
    );
    let (status, _) = http_get(relay.addr(), "/healthz", Duration::from_secs(2))
        .expect("healthz among idle connections");
    assert_eq!(status, 200);
    // every junk connection is closed by the relay within the header timeout (+ slack)
    let closed = count_closed(&mut junk, opened + Duration::from_secs(5));
    assert_eq!(
        closed,
        junk.len(),
        "{} of {} idle/slow-header connections still open after 5 s",
        junk.len() - closed,
        junk.len()
    );
    // and the relay is still up and serving
    let (status, _) =
        http_get(relay.addr(), "/healthz", Duration::from_secs(2)).expect("healthz after");
    assert_eq!(status, 200);
    cadre.sync().await.expect("sync after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_their_turn_and_an_honest_sync_still_gets_in() {
    let relay =
        RelayProcess::start_with(&["--header-timeout-secs", "2", "--max-connections", "64"]);
    let (_space, cadre) = honest_village(&relay).await;
    cadre.sync().await.expect("first sync");
    // more junk than the cap: 64 are served (and time out), the rest wait in the backlog
    let opened = Instant::now();
    let mut junk = open_junk(&relay, 150);
    cadre.post_notice("开会通知");
    let t = Instant::now();
    let r = cadre
        .sync()
        .await
        .expect("honest sync with the cap full of junk");
    assert_eq!(r.acked, 1, "{r:?}");
    // its connection waits at most for the slots held by junk to time out
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "honest sync took {:?}",
        t.elapsed()
    );
    let closed = count_closed(&mut junk, opened + Duration::from_secs(12));
    assert_eq!(
        closed,
        junk.len(),
        "{} junk connections still open",
        junk.len() - closed
    );
    let (status, _) =
        http_get(relay.addr(), "/healthz", Duration::from_secs(2)).expect("healthz after");
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_byte_by_byte_is_cut_off_at_the_body_timeout() {
    let relay = RelayProcess::start_with(&["--body-timeout-secs", "2"]);
    let (_space, cadre) = honest_village(&relay).await;
    let addr = relay.addr();
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        write!(s, "POST /v1/sync HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-cunwu\r\nContent-Length: 10000\r\n\r\n")
            .expect("headers");
        s.set_read_timeout(Some(Duration::from_millis(400))).expect("read timeout");
        let mut got = Vec::new();
        // one byte every 400 ms, for at most 12 s
        for _ in 0..30 {
            if s.write_all(b"x").is_err() {
                break;
            }
            let mut buf = [0u8; 1024];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    })
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "expected a 408 for the trickled body, got {answer:?} after {took:?}"
    );
    assert!(answer.contains("did not arrive within"), "{answer}");
    assert!(took < Duration::from_secs(5), "cut off only after {took:?}");
    cadre
        .sync()
        .await
        .expect("the relay still serves honest syncs");
}

// ---- principle 9: replay protection cannot lock a device out -------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_years_ahead_is_refused_unrecorded_and_the_phone_syncs_again() {
    let relay = RelayProcess::start();
    let (space, cadre) = honest_village(&relay).await;
    cadre.sync().await.expect("first sync");
    let device = cadre.store().device_id();
    let before = recorded_counter(&relay, &space, &device);
    assert!(before > 0);
    // one signed request from a phone whose clock ran five years ahead
    let ahead = (now_ms() + 5 * YEAR_MS) as u64;
    let r = cadre.post_with_counter(&relay, ahead).await;
    assert_eq!(
        r.status,
        409,
        "a counter five years ahead was taken: {}",
        r.error()
    );
    let body = error_body(&r);
    assert_eq!(body.expected_counter, Some(before as u64 + 1), "{body:?}");
    assert!(
        body.error.contains("beyond the relay's clock"),
        "{}",
        body.error
    );
    // nothing was recorded
    assert_eq!(recorded_counter(&relay, &space, &device), before);
    // the phone itself kept counting from that clock: it still syncs
    cadre.store().adopt_counter(ahead).unwrap();
    cadre.post_notice("五年后的时钟");
    let r = cadre
        .sync()
        .await
        .expect("the phone whose clock ran ahead syncs again");
    assert_eq!(r.acked, 1, "{r:?}");
    assert!(recorded_counter(&relay, &space, &device) < now_ms() + DAY_MS + 60_000);
    cadre.sync().await.expect("and keeps syncing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_restored_from_a_backup_syncs_again() {
    let relay = RelayProcess::start();
    let (space, mut cadre) = honest_village(&relay).await;
    cadre.sync().await.expect("first sync");
    let backup = cadre.backup();
    // after the backup: more syncs, one of them while the phone's clock ran an hour
    // ahead (within what the relay takes)
    cadre.post_notice("备份之后");
    cadre.sync().await.expect("sync after the backup");
    let hour_ahead = (now_ms() + 3_600_000) as u64;
    assert_eq!(
        cadre.post_with_counter(&relay, hour_ahead).await.status,
        200
    );
    assert_eq!(
        recorded_counter(&relay, &space, &cadre.store().device_id()),
        hour_ahead as i64
    );
    // the phone is restored from the backup: its counter went back
    cadre.restore(&backup);
    cadre.post_notice("恢复之后");
    let r = cadre.sync().await.expect("the restored phone syncs again");
    assert_eq!(r.acked, 1, "{r:?}");
    cadre.sync().await.expect("and keeps syncing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_refusal_names_the_counter_the_relay_expects() {
    let relay = RelayProcess::start();
    let (space, cadre) = honest_village(&relay).await;
    cadre.sync().await.expect("first sync");
    let last = recorded_counter(&relay, &space, &cadre.store().device_id());
    let r = cadre.post_with_counter(&relay, last as u64).await;
    assert_eq!(r.status, 409, "{}", r.error());
    let body = error_body(&r);
    assert_eq!(body.expected_counter, Some(last as u64 + 1), "{body:?}");
    assert!(
        body.error
            .contains(&format!("expects a counter from {}", last + 1)),
        "{}",
        body.error
    );
    // a replayed request is refused the same way and records nothing
    assert_eq!(
        recorded_counter(&relay, &space, &cadre.store().device_id()),
        last
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_enrolled_in_two_spaces_keeps_separate_counters() {
    let relay = RelayProcess::start();
    let (space_a, invite_a) = relay.create_space("青石村");
    let (space_b, invite_b) = relay.create_space("白水村");
    let in_a = Phone::new("陈建国");
    in_a.enroll(&relay, &invite_a).await;
    let in_b = Phone::with_key_of("陈建国", &in_a);
    in_b.enroll(&relay, &invite_b).await;
    let device = in_a.store().device_id();
    in_a.sync().await.expect("sync in A");
    let counter_a = recorded_counter(&relay, &space_a, &device);
    // in space B this key has sent nothing yet: a counter below A's is fresh there
    let r = in_b
        .post_with_counter(&relay, counter_a as u64 - 1000)
        .await;
    assert_eq!(
        r.status,
        200,
        "space B judged the counter by space A's: {}",
        r.error()
    );
    assert_eq!(
        recorded_counter(&relay, &space_b, &device),
        counter_a - 1000
    );
    assert_eq!(recorded_counter(&relay, &space_a, &device), counter_a);
    // roster floors are per space too
    let floors = relay.query_i64(&format!(
        "SELECT count(*) FROM roster_floors WHERE device = '{device}'"
    ));
    assert_eq!(floors, 2);
    in_a.sync().await.expect("A again");
    in_b.sync().await.expect("B again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_syncs_the_old_key_is_refused_and_old_changes_still_verify() {
    let relay = RelayProcess::start();
    let (space, mut cadre) = honest_village(&relay).await;
    let before = cadre.post_notice("换钥匙之前");
    cadre.sync().await.expect("sync before rotation");
    let old = cunwu_core::identity::DeviceKey::from_secret(
        &cunwu_core::sync::device_key_of(cadre.store()).secret_bytes(),
    )
    .unwrap();
    let member = cadre.store().membership().unwrap().unwrap().member_id;
    let new_id = cadre
        .client
        .rotate_key(cadre.store())
        .await
        .expect("rotate");
    assert_ne!(new_id, old.id());
    // until reopened, the store refuses to sign with the retired key
    let e = cadre.sync().await.unwrap_err();
    assert!(e.to_string().contains("reopen"), "{e}");
    cadre.reopen();
    assert_eq!(cadre.store().device_id(), new_id);
    let after = cadre.post_notice("换钥匙之后");
    let r = cadre.sync().await.expect("the new key syncs");
    assert_eq!(r.acked, 1, "{r:?}");
    let roster = cadre.store().roster().unwrap();
    let new_entry = roster.device(&new_id).expect("new key in the roster");
    assert_eq!(new_entry.member, member);
    assert!(roster.device(&old.id()).unwrap().revoked_at_seq.is_some());
    // the old key is refused
    let body = signed_sync_body(
        &old,
        &space,
        now_ms() as u64 + 10_000,
        0,
        roster.version,
        vec![],
    );
    let r = post_sync(&relay.url(), body).await;
    assert_eq!(r.status, 403, "the old key still syncs: {}", r.error());
    // a new phone pulls the village: both notices, the old one still verifying
    let resident = Phone::new("王秀英");
    resident
        .enroll(&relay, &relay.invite(&space, Role::Resident))
        .await;
    let r = resident.sync().await.expect("new phone syncs");
    assert_eq!(r.refused_incoming, 0, "{r:?}");
    let ids: Vec<String> = resident
        .store()
        .list_notices(&NoticeFilter::default())
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert!(ids.contains(&before) && ids.contains(&after), "{ids:?}");
    for id in [&before, &after] {
        let p = resident.store().provenance(id).unwrap();
        assert!(p.iter().all(|p| p.signature_verified), "{id}: {p:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_answer_was_lost_completes_when_asked_again_and_a_replay_changes_nothing()
{
    use cunwu_core::wire::control::{rotate_message, RotateRequest};
    let relay = RelayProcess::start();
    let (space, mut cadre) = honest_village(&relay).await;
    cadre.sync().await.expect("first sync");
    let store = cadre.store();
    let old = cunwu_core::sync::device_key_of(store);
    // the phone began a rotation and the relay took it, but the answer never came back
    let new = store.begin_key_rotation().unwrap();
    let mut req = RotateRequest {
        space_id: space.clone(),
        old_key: old.id(),
        new_key: new.id(),
        nonce: cunwu_core::ids::new_id(),
        old_signature: String::new(),
        new_signature: String::new(),
    };
    let msg = rotate_message(&req);
    req.old_signature = hex::encode(old.sign(&msg));
    req.new_signature = hex::encode(new.sign(&msg));
    let sent = serde_json::to_vec(&req).unwrap();
    let r = post_raw(&relay.url(), "/v1/rotate", "application/json", sent.clone()).await;
    assert_eq!(r.status, 200, "{}", r.error());
    // the same request again (a replay): refused, nothing changes
    let r = post_raw(&relay.url(), "/v1/rotate", "application/json", sent).await;
    assert_eq!(r.status, 409, "{}", r.error());
    // a rotation with a key of nobody's: refused
    let stranger = cunwu_core::identity::DeviceKey::generate();
    let other = cunwu_core::identity::DeviceKey::generate();
    let mut forged = RotateRequest {
        old_key: stranger.id(),
        new_key: other.id(),
        nonce: cunwu_core::ids::new_id(),
        ..req.clone()
    };
    let msg = rotate_message(&forged);
    forged.old_signature = hex::encode(stranger.sign(&msg));
    forged.new_signature = hex::encode(other.sign(&msg));
    let r = post_raw(
        &relay.url(),
        "/v1/rotate",
        "application/json",
        serde_json::to_vec(&forged).unwrap(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.error());
    // a request signed by the old key only: refused
    let mut half = RotateRequest {
        new_key: other.id(),
        nonce: cunwu_core::ids::new_id(),
        ..req.clone()
    };
    let msg = rotate_message(&half);
    half.old_signature = hex::encode(old.sign(&msg));
    half.new_signature = hex::encode(stranger.sign(&msg));
    let r = post_raw(
        &relay.url(),
        "/v1/rotate",
        "application/json",
        serde_json::to_vec(&half).unwrap(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.error());
    assert!(r.error().contains("new key"), "{}", r.error());
    // the phone asks again: the rotation completes with the key the relay took
    let id = cadre
        .client
        .rotate_key(cadre.store())
        .await
        .expect("rotation completes");
    assert_eq!(id, new.id());
    cadre.reopen();
    cadre.post_notice("新钥匙");
    let r = cadre.sync().await.expect("the new key syncs");
    assert_eq!(r.acked, 1, "{r:?}");
    let roster = cadre.store().roster().unwrap();
    assert_eq!(
        roster
            .devices
            .iter()
            .filter(|d| d.revoked_at_seq.is_none())
            .count(),
        1,
        "{roster:?}"
    );
}
