//! The device's attachment lane (`core::blobs`) against a real relay process: the text
//! of a request goes first and alone, its photo and voice note follow in their own lane
//! and arrive whole; downloads and uploads cut by the impairment proxy resume from what
//! the other side holds, never from 0. (The cross-crate suite with SIGKILL and the 2G
//! figures is the lead's `tests/tests/attachments.rs`.)

use cunwu_core::model::attachment::{PieceList, MAX_TRANSFER_BYTES, PIECE_BYTES};
use cunwu_core::roster::SignedRoster;
use cunwu_core::store::{AttachmentState, BlobObserver, BlobProgress, EntityChange, NewRequest};
use cunwu_core::{EntityKind, Role};
use cunwu_tests::harness::{Device, RelayProcess};
use cunwu_tests::proxy::{Impairment, Proxy};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn relay() -> RelayProcess {
    RelayProcess::start_with(&["--rate-per-minute", "1000000"])
}

fn bytes_of(head: &[u8], len: usize, seed: u32) -> Vec<u8> {
    let mut b = head.to_vec();
    let mut x = seed * 2 + 1;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(x as u8);
    }
    b
}

const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0";
const AMR: &[u8] = b"#!AMR\n\x3c\0\0\0\0\0\0\0\0\0";

fn write(d: &Device, name: &str, bytes: &[u8]) -> PathBuf {
    let p = d.dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn signed_roster_of(d: &Device) -> SignedRoster {
    let raw: Vec<u8> = d
        .sql()
        .query_row("SELECT value FROM local WHERE key = 'roster'", [], |r| {
            r.get(0)
        })
        .expect("stored roster");
    serde_json::from_slice(&raw).expect("stored roster parses")
}

/// Point the device at `url` (a proxy in front of the relay).
fn route(d: &Device, url: &str) {
    let mut m = d.membership();
    m.relay_url = url.to_string();
    d.store
        .set_membership(&m, &signed_roster_of(d))
        .expect("re-route the device");
}

#[derive(Default)]
struct Seen(Mutex<Vec<BlobProgress>>);

impl BlobObserver for Seen {
    fn progress(&self, p: &BlobProgress) {
        self.0.lock().unwrap().push(p.clone());
    }
}

async fn village(relay: &RelayProcess) -> (Device, Device) {
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(relay, &cadre_invite, "陈建国").await;
    let resident = Device::enroll(relay, &relay.invite(&space, Role::Resident), "王秀英").await;
    cadre.sync().await.unwrap();
    (cadre, resident)
}

fn file_with(resident: &Device, files: Vec<PathBuf>) -> String {
    resident
        .store
        .file_request(NewRequest {
            kind: "public_facility_repair".into(),
            title: "水管爆了".into(),
            description: "村口的水管爆了".into(),
            place: None,
            on_behalf_of: None,
            materials: vec![],
            attachments: files,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_goes_first_and_the_photo_and_voice_note_follow_whole() {
    let relay = relay();
    let (cadre, resident) = village(&relay).await;
    let photo = bytes_of(JPEG, 2 * MAX_TRANSFER_BYTES + 3 * PIECE_BYTES + 17, 1);
    let voice = bytes_of(AMR, 300_000, 2);
    let id = file_with(
        &resident,
        vec![
            write(&resident, "水管.jpg", &photo),
            write(&resident, "说明.amr", &voice),
        ],
    );
    // documents only, in one round trip, though 2.5 MB wait to go
    let r = resident.sync().await.unwrap();
    assert_eq!((r.acked, r.round_trips), (1, 1), "{r:?}");
    let c = cadre.sync().await.unwrap();
    assert_eq!(c.received, 1);
    assert_eq!(cadre.store.request(&id).unwrap().attachments.len(), 2);
    assert_eq!(
        cadre.store.blobs_pending().unwrap(),
        (2, (photo.len() + voice.len()) as u64),
        "2 on the way, their bytes left"
    );
    // before its bytes are uploaded, the cadre's lane fetches nothing and fails nothing
    let early = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(early.blobs_received, 0, "{early:?}");

    let seen = Arc::new(Seen::default());
    let up = resident
        .client
        .sync_blobs(&resident.store, Some(seen.clone()))
        .await
        .unwrap();
    assert_eq!(up.blobs_sent, 2, "{up:?}");
    assert!(up.failed.is_empty(), "{up:?}");
    assert_eq!(up.blob_bytes_sent, (photo.len() + voice.len()) as u64);
    assert_eq!((up.pending, up.pending_bytes), (0, 0));
    for a in resident.store.attachments(&id).unwrap() {
        assert_eq!(
            (a.state, a.done),
            (AttachmentState::Uploaded, a.attachment.size)
        );
    }
    assert!(seen
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.upload && p.done == photo.len() as u64 && p.name == "水管.jpg"));
    // a second pass sends nothing again
    let again = resident
        .client
        .sync_blobs(&resident.store, None)
        .await
        .unwrap();
    assert_eq!(
        (again.blobs_sent, again.blob_bytes_sent),
        (0, 0),
        "{again:?}"
    );

    let heard: Arc<Mutex<Vec<EntityChange>>> = Arc::default();
    let h = heard.clone();
    cadre.store.subscribe(Arc::new(move |c: &[EntityChange]| {
        h.lock().unwrap().extend_from_slice(c)
    }));
    let down = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(down.blobs_received, 2, "{down:?}");
    assert!(down.failed.is_empty(), "{down:?}");
    let list = cadre.store.attachments(&id).unwrap();
    // in the order they were attached
    for (a, want) in list.iter().zip([&photo, &voice]) {
        assert_eq!(a.state, AttachmentState::Downloaded);
        assert_eq!(&std::fs::read(a.path.as_deref().unwrap()).unwrap(), want);
    }
    let heard = heard.lock().unwrap().clone();
    assert!(
        heard
            .iter()
            .all(|c| c.id == id && c.kind == EntityKind::Request)
            && heard.len() == 2,
        "one change heard per attachment that arrived: {heard:?}"
    );
    let out = cadre.dir().join("out.jpg");
    cadre
        .store
        .export_attachment(&PieceList::of(&photo).hash(), &out)
        .unwrap();
    assert_eq!(std::fs::read(out).unwrap(), photo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_every_100_kb_resumes_and_arrives_whole() {
    let relay = relay();
    let (cadre, resident) = village(&relay).await;
    let pdf = bytes_of(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0", 1_500_000, 3);
    let id = file_with(&resident, vec![write(&resident, "户口簿.pdf", &pdf)]);
    resident.sync().await.unwrap();
    let up = resident
        .client
        .sync_blobs(&resident.store, None)
        .await
        .unwrap();
    assert_eq!(up.blobs_sent, 1, "{up:?}");
    cadre.sync().await.unwrap();
    // documents wait until opened
    let lane = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(lane.blobs_received, 0);
    assert_eq!(
        cadre.store.attachments(&id).unwrap()[0].state,
        AttachmentState::NotDownloaded
    );
    let proxy = Proxy::start(relay.addr(), Impairment::none().with_cut_after(100_000)).await;
    route(&cadre, &proxy.url());
    let hash = PieceList::of(&pdf).hash();
    let mut tries = 0;
    let path = loop {
        tries += 1;
        match cadre
            .client
            .fetch_attachment(&cadre.store, &hash, None)
            .await
        {
            Ok(p) => break p,
            Err(e) => {
                let a = cadre.store.attachment(&hash).unwrap();
                eprintln!("try {tries}: {e}; {} bytes held", a.done);
                assert!(tries < 10, "no progress: {e}");
            }
        }
    };
    assert_eq!(std::fs::read(&path).unwrap(), pdf);
    let stats = proxy.stats();
    // every exchange is cut after 100 kB: what was sent is the file, the piece in flight
    // at each cut, and headers (after the first cut, requests carry one piece and get through)
    let limit = pdf.len() as u64 + stats.cuts * PIECE_BYTES as u64 + stats.connections * 2_000;
    eprintln!(
        "1.5 MB through cuts every 100 kB: {} bytes down over {} connections, {} cuts (ratio {:.3})",
        stats.bytes_down,
        stats.connections,
        stats.cuts,
        stats.bytes_down as f64 / pdf.len() as f64
    );
    assert!(stats.cuts >= 1, "{stats:?}");
    assert!(stats.bytes_down <= limit, "{stats:?} > {limit}");
    // after the first cut, requests carry what got through: the cuts stop costing
    assert!(
        stats.bytes_down as f64 <= pdf.len() as f64 * 1.1,
        "{} bytes down for {} ({stats:?})",
        stats.bytes_down,
        pdf.len()
    );
    assert_eq!(
        cadre.store.attachment(&hash).unwrap().state,
        AttachmentState::Downloaded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_answers_are_cut_resumes_from_the_relays_have() {
    let relay = relay();
    let (cadre, resident) = village(&relay).await;
    let photo = bytes_of(JPEG, 3 * MAX_TRANSFER_BYTES + 1000, 4);
    let id = file_with(&resident, vec![write(&resident, "村道.jpg", &photo)]);
    resident.sync().await.unwrap();
    // the relay takes each chunk, but its answer is lost 40 % of the time: the device
    // asks where the relay stands and goes on from there
    let link = Impairment {
        cut_probability: 0.4,
        ..Impairment::none().with_cut_after(5).with_seed(7)
    };
    let proxy = Proxy::start(relay.addr(), link).await;
    route(&resident, &proxy.url());
    let mut sent = 0;
    for _ in 0..10 {
        let r = resident
            .client
            .sync_blobs(&resident.store, None)
            .await
            .unwrap();
        sent += r.blobs_sent;
        if sent == 1 {
            break;
        }
        eprintln!("pass: {r:?}");
    }
    assert_eq!(sent, 1);
    let stats = proxy.stats();
    eprintln!("3 MB up through lost answers: {stats:?}");
    assert!(stats.cuts > 0, "{stats:?}");
    assert!(
        stats.bytes_up < photo.len() as u64 + 4 * MAX_TRANSFER_BYTES as u64,
        "{stats:?}"
    );
    cadre.sync().await.unwrap();
    cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    let a = &cadre.store.attachments(&id).unwrap()[0];
    assert_eq!(a.state, AttachmentState::Downloaded, "{a:?}");
    assert_eq!(std::fs::read(a.path.as_deref().unwrap()).unwrap(), photo);
}

/// Flip one byte of the bytes an SQLite relay holds for `hash` (`<db>.blobs/ab/<hash>`).
fn flip_on_relay(relay: &RelayProcess, hash: &str, at: u64) {
    let mut name = relay.db_path().file_name().unwrap().to_os_string();
    name.push(".blobs");
    let file = relay
        .db_path()
        .with_file_name(name)
        .join(&hash[..2])
        .join(hash);
    let mut bytes = std::fs::read(&file).expect("the relay holds the attachment's bytes");
    bytes[at as usize] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_piece_is_never_stored_and_fails_only_its_own_attachment() {
    let relay = relay();
    if relay.backend() != "sqlite" {
        return; // the bytes are flipped in the SQLite relay's files
    }
    let (cadre, resident) = village(&relay).await;
    let photo = bytes_of(JPEG, 5 * PIECE_BYTES + 99, 5);
    let voice = bytes_of(AMR, 80_000, 6);
    let id = file_with(
        &resident,
        vec![
            write(&resident, "坏.jpg", &photo),
            write(&resident, "好.amr", &voice),
        ],
    );
    resident.sync().await.unwrap();
    assert_eq!(
        resident
            .client
            .sync_blobs(&resident.store, None)
            .await
            .unwrap()
            .blobs_sent,
        2
    );
    let hash = PieceList::of(&photo).hash();
    // the relay's disk rots in the photo's third piece
    let at = 2 * PIECE_BYTES as u64 + 1234;
    flip_on_relay(&relay, &hash, at);
    cadre.sync().await.unwrap();
    let r = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(
        r.blobs_received, 1,
        "the voice note is not held back: {r:?}"
    );
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(
        r.failed[0].starts_with(&hash) && r.failed[0].contains("corrupt"),
        "{r:?}"
    );
    let a = cadre.store.attachment(&hash).unwrap();
    assert_eq!(a.state, AttachmentState::Failed);
    assert!(a.error.as_deref().unwrap().contains("piece 2"), "{a:?}");
    assert_eq!(
        a.done,
        2 * PIECE_BYTES as u64,
        "the pieces before it are kept"
    );
    assert!(a.path.is_none());
    let part = cadre.store.blob_dir().join(format!("{hash}.part"));
    assert_eq!(
        std::fs::read(&part).unwrap(),
        photo[..2 * PIECE_BYTES],
        "nothing corrupt stored"
    );
    assert_eq!(
        cadre.store.attachments(&id).unwrap()[1].state,
        AttachmentState::Downloaded
    );
    // mended: the next sync tries again and fetches only what is missing
    flip_on_relay(&relay, &hash, at);
    let r = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(r.blobs_received, 1, "{r:?}");
    assert_eq!(
        r.blob_bytes_received,
        (photo.len() - 2 * PIECE_BYTES) as u64
    );
    let a = cadre.store.attachment(&hash).unwrap();
    assert_eq!(
        (a.state, a.error.as_deref()),
        (AttachmentState::Downloaded, None)
    );
    assert_eq!(std::fs::read(a.path.unwrap()).unwrap(), photo);
}

/// Figures for docs/BENCHMARKS.md (not a timed assertion): a 600 kB voice note up and
/// down at 2G (32 kB/s each way, 200 ms one way), then down again with the connection
/// cut every 100 kB, each against the physical limit (size ÷ bandwidth).
/// `cargo test -p cunwu-tests --test attachments_device -- --ignored --nocapture two_g`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: about a minute at 2G"]
async fn two_g_figures() {
    use std::time::Instant;
    let relay = relay();
    let (cadre, resident) = village(&relay).await;
    let voice = bytes_of(AMR, 600 * 1024, 9);
    let id = file_with(&resident, vec![write(&resident, "低保申请.amr", &voice)]);
    resident.sync().await.unwrap();
    cadre.sync().await.unwrap();
    let link = Impairment::two_g();
    let limit = voice.len() as f64 / link.bandwidth_bytes_per_sec.unwrap() as f64;
    let (pr, pc) = (
        Proxy::start(relay.addr(), link).await,
        Proxy::start(relay.addr(), link).await,
    );
    route(&resident, &pr.url());
    route(&cadre, &pc.url());
    let t = Instant::now();
    let up = resident
        .client
        .sync_blobs(&resident.store, None)
        .await
        .unwrap();
    let up_s = t.elapsed().as_secs_f64();
    assert_eq!(up.blobs_sent, 1);
    let t = Instant::now();
    let down = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    let down_s = t.elapsed().as_secs_f64();
    assert_eq!(down.blobs_received, 1);
    let (su, sd) = (pr.stats(), pc.stats());
    println!(
        "2G 600 KiB voice: up {up_s:.1} s ({:.2}× the {limit:.1} s limit), {} B up / {} B down on the wire ({:.4}× the file); down {down_s:.1} s ({:.2}×), {} B down ({:.4}×)",
        up_s / limit,
        su.bytes_up,
        su.bytes_down,
        su.bytes_up as f64 / voice.len() as f64,
        down_s / limit,
        sd.bytes_down,
        sd.bytes_down as f64 / voice.len() as f64
    );
    // again, cut every 100 kB
    let hash = PieceList::of(&voice).hash();
    cadre.store.set_blob_budget(0).unwrap();
    cadre.store.set_blob_budget(1 << 30).unwrap();
    assert_eq!(
        cadre.store.attachments(&id).unwrap()[0].state,
        AttachmentState::NotDownloaded
    );
    let cut = Proxy::start(relay.addr(), link.with_cut_after(100_000)).await;
    route(&cadre, &cut.url());
    let t = Instant::now();
    let mut passes = 0;
    while cadre.store.attachment(&hash).unwrap().state != AttachmentState::Downloaded {
        passes += 1;
        assert!(passes < 20);
        let _ = cadre.client.sync_blobs(&cadre.store, None).await;
    }
    let cut_s = t.elapsed().as_secs_f64();
    let sc = cut.stats();
    println!(
        "2G 600 KiB voice cut every 100 kB: down {cut_s:.1} s ({:.2}× the limit) in {passes} pass(es), {} B down ({:.3}× the file), {} cuts",
        cut_s / limit,
        sc.bytes_down,
        sc.bytes_down as f64 / voice.len() as f64,
        sc.cuts
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_off_resumes_after_the_phone_restarts_without_starting_over() {
    let relay = relay();
    let (cadre, mut resident) = village(&relay).await;
    let scan = bytes_of(
        b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0",
        3 * MAX_TRANSFER_BYTES + 4321,
        8,
    );
    let id = file_with(&resident, vec![write(&resident, "户口簿.pdf", &scan)]);
    resident.sync().await.unwrap();
    let proxy = Arc::new(Proxy::start(relay.addr(), Impairment::none()).await);
    route(&resident, &proxy.url());
    // the signal goes once 1.5 MB are through
    let p = proxy.clone();
    let watcher = tokio::spawn(async move {
        while p.stats().bytes_up < 1_500_000 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        p.set_impairment(Impairment::none().with_offline(true));
    });
    let r = resident
        .client
        .sync_blobs(&resident.store, None)
        .await
        .unwrap();
    watcher.await.unwrap();
    assert_eq!(r.blobs_sent, 0, "{r:?}");
    assert_eq!(r.failed.len(), 1, "{r:?}");
    let a = &resident.store.attachments(&id).unwrap()[0];
    assert_eq!(a.state, AttachmentState::Failed, "{a:?}");
    let held = a.done;
    // requests are paced by the link (the first 256 KiB, then twice as much): some
    // whole requests were answered before the signal went
    assert!(held > 0 && held < scan.len() as u64, "{a:?}");
    let up_before = proxy.stats().bytes_up;
    // the phone restarts: a new store on the same file; the signal comes back
    let path = resident.db_path();
    resident.store = cunwu_core::Store::open(&path).unwrap();
    proxy.set_impairment(Impairment::none());
    let r = resident
        .client
        .sync_blobs(&resident.store, None)
        .await
        .unwrap();
    assert_eq!(r.blobs_sent, 1, "{r:?}");
    let resent = proxy.stats().bytes_up - up_before;
    assert!(
        resent < scan.len() as u64 - held + 10_000,
        "only what the relay lacked went again: {resent} bytes for {} missing",
        scan.len() as u64 - held
    );
    // the relay's have is the truth: it may hold pieces of the cut request the phone
    // never heard acknowledged, and those are not sent again either
    assert!(r.blob_bytes_sent <= scan.len() as u64 - held, "{r:?}");
    assert!(
        r.blob_bytes_sent < scan.len() as u64 - MAX_TRANSFER_BYTES as u64,
        "{r:?}"
    );
    cadre.sync().await.unwrap();
    let got = cadre
        .client
        .fetch_attachment(&cadre.store, &PieceList::of(&scan).hash(), None)
        .await
        .unwrap();
    assert_eq!(std::fs::read(got).unwrap(), scan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_damaged_on_the_phone_are_refused_by_the_relay_and_fail_only_their_upload() {
    let relay = relay();
    let (cadre, resident) = village(&relay).await;
    let photo = bytes_of(JPEG, 4 * PIECE_BYTES + 5, 10);
    let voice = bytes_of(AMR, 50_000, 11);
    let id = file_with(
        &resident,
        vec![
            write(&resident, "坏.jpg", &photo),
            write(&resident, "好.amr", &voice),
        ],
    );
    resident.sync().await.unwrap();
    let hash = PieceList::of(&photo).hash();
    // the phone's copy rots in its second piece before it is uploaded
    let file = resident.store.blob_dir().join(&hash);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[PIECE_BYTES + 10] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let r = resident
        .client
        .sync_blobs(&resident.store, None)
        .await
        .unwrap();
    assert_eq!(r.blobs_sent, 1, "the voice note still goes: {r:?}");
    assert_eq!(r.failed.len(), 1, "{r:?}");
    assert!(
        r.failed[0].starts_with(&hash)
            && r.failed[0].contains(&format!("damaged at byte {PIECE_BYTES}")),
        "{r:?}"
    );
    let a = &resident.store.attachments(&id).unwrap()[0];
    assert_eq!(a.state, AttachmentState::Failed);
    assert_eq!(
        a.done, PIECE_BYTES as u64,
        "the relay kept the piece before the damage"
    );
    // the cadre gets the voice note, and nothing corrupt of the photo
    cadre.sync().await.unwrap();
    let c = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(c.blobs_received, 1, "{c:?}");
    let seen = cadre.store.attachment(&hash).unwrap();
    assert_ne!(seen.state, AttachmentState::Downloaded);
    assert!(seen.done <= PIECE_BYTES as u64, "{seen:?}");
}
