//! Photos, voice notes and scans that get through a weak signal (issue 12), end to end:
//! phones (`Device`, and the `cunwu` binary as a process that can be killed) and a real
//! relay process, through the userspace proxy that cuts the link every ~100 KB.
//!
//! What the relay alone guarantees (the read rule, corrupt pieces, a relay killed
//! mid-upload) is in `blobs_relay.rs`; the store alone in `core/tests/attachments.rs`.

use cunwu_core::model::attachment::PIECE_BYTES;
use cunwu_core::store::{AttachmentState, NewRequest};
use cunwu_core::Role;
use cunwu_tests::harness::{cli_binary, noise_file, Device, RelayProcess};
use cunwu_tests::proxy::{Impairment, Proxy};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
const AMR: &[u8] = b"#!AMR\n";
const PDF: &[u8] = b"%PDF-1.7\n";

fn sha(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).expect("read")))
}

fn request(title: &str, attach: Vec<PathBuf>) -> NewRequest {
    NewRequest {
        kind: "public_facility_repair".into(),
        title: title.into(),
        description: "村东头水管爆裂，水漫到路上。".into(),
        place: None,
        on_behalf_of: None,
        materials: vec![],
        attachments: attach,
    }
}

/// Sync the attachment lane until nothing is left to move or `limit` passes (a cut
/// link fails syncs; each one resumes where the last stopped).
async fn blobs_until_done(d: &Device, limit: Duration) -> (u32, u32) {
    let start = Instant::now();
    let (mut sent, mut received) = (0, 0);
    loop {
        match d.client.sync_blobs(&d.store, None).await {
            Ok(r) => {
                sent += r.blobs_sent;
                received += r.blobs_received;
                if r.failed.is_empty() && d.store.blobs_pending().expect("pending").0 == 0 {
                    return (sent, received);
                }
            }
            Err(e) => eprintln!("{}: attachment lane: {e}", d.name),
        }
        assert!(
            start.elapsed() < limit,
            "{}: attachments still on the way after {limit:?}",
            d.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_a_voice_note_and_a_scan_arrive_whole_through_a_link_cut_every_100_kb() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "王书记").await;
    let resident = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "李秀英").await;
    let dir = tempfile::tempdir().unwrap();
    let photo = noise_file(dir.path(), "水管.jpg", JPEG, 3_000_000, 1);
    let voice = noise_file(dir.path(), "说明.amr", AMR, 600_000, 2);
    let scan = noise_file(dir.path(), "低保申请.pdf", PDF, 5_000_000, 3);
    let total = (3_000_000 + 600_000 + 5_000_000) as u64;

    let id = resident
        .store
        .file_request(request(
            "水管爆了",
            vec![photo.clone(), voice.clone(), scan.clone()],
        ))
        .expect("file with three attachments");
    resident.sync().await.expect("the request syncs");
    cadre.sync().await.expect("the cadre has the request");

    // the link drops every ~100 KB, whichever way the bytes go; latency as on a bad link
    let cut = 100_000;
    let link = Impairment::none()
        .with_latency(Duration::from_millis(20))
        .with_cut_every(cut);
    let up = Proxy::start(relay.addr(), link).await;
    resident.reroute(&up.url());
    let (sent, _) = blobs_until_done(&resident, Duration::from_secs(600)).await;
    assert_eq!(sent, 3, "three attachments uploaded");
    let s = up.stats();
    // every cut costs at most the piece in flight, plus the requests' headers
    let bound = total + s.cuts * (PIECE_BYTES as u64 + 2048) + 64 * 1024;
    eprintln!(
        "upload: {} B through the proxy for {total} B of files, {} cuts: {:.3}× the files (bound {bound})",
        s.bytes_up,
        s.cuts,
        s.bytes_up as f64 / total as f64
    );
    assert!(s.cuts >= 50, "the link was cut ({} cuts)", s.cuts);
    assert!(s.bytes_up <= bound, "{} B up > {bound} B", s.bytes_up);

    // the cadre fetches what it lacks (the scan on demand), through its own bad link
    let down = Proxy::start(relay.addr(), link).await;
    cadre.reroute(&down.url());
    blobs_until_done(&cadre, Duration::from_secs(600)).await;
    let views = cadre.store.attachments(&id).expect("attachments");
    assert_eq!(views.len(), 3);
    let pdf = views
        .iter()
        .find(|v| v.attachment.mime == "application/pdf")
        .expect("the scan is listed");
    assert_eq!(
        pdf.state,
        AttachmentState::NotDownloaded,
        "a document waits to be opened"
    );
    let mut fetched = None;
    for _ in 0..200 {
        match cadre
            .client
            .fetch_attachment(&cadre.store, &pdf.attachment.hash, None)
            .await
        {
            Ok(p) => {
                fetched = Some(p);
                break;
            }
            Err(e) => eprintln!("fetch the scan: {e}"),
        }
    }
    fetched.expect("the scan arrives despite the cuts");
    let s = down.stats();
    eprintln!(
        "download: {} B through the proxy for {total} B of files, {} cuts: {:.3}×",
        s.bytes_down,
        s.cuts,
        s.bytes_down as f64 / total as f64
    );
    assert!(s.bytes_down <= total + s.cuts * (PIECE_BYTES as u64 + 2048) + 64 * 1024);
    for (file, v) in
        [&photo, &voice, &scan]
            .iter()
            .zip(["image/jpeg", "audio/amr", "application/pdf"])
    {
        let view = views.iter().find(|x| x.attachment.mime == v).unwrap();
        let out = dir.path().join(format!("out-{}", view.attachment.name));
        cadre
            .store
            .export_attachment(&view.attachment.hash, &out)
            .expect("held whole");
        assert_eq!(
            sha(&out),
            sha(file),
            "{} arrived whole",
            view.attachment.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_upload_never_holds_the_request_back() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "王书记").await;
    let resident = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "李秀英").await;
    let dir = tempfile::tempdir().unwrap();
    let scan = noise_file(dir.path(), "户口簿.pdf", PDF, 5_000_000, 4);
    let photos = [
        noise_file(dir.path(), "一.jpg", JPEG, 700_000, 5),
        noise_file(dir.path(), "二.jpg", JPEG, 600_000, 6),
    ];
    let id = resident
        .store
        .file_request(request(
            "申请低保",
            vec![scan, photos[0].clone(), photos[1].clone()],
        ))
        .expect("filed");
    let (n, left) = resident.store.blobs_pending().expect("pending");
    assert_eq!((n, left), (3, 6_300_000), "three on the way, 6.3 MB left");

    // documents only: one round trip, and the cadre has the request and knows what follows
    let r = resident.sync().await.expect("sync");
    assert_eq!(r.round_trips, 1, "{r:?}");
    assert!(
        r.bytes_sent < 16 * 1024,
        "the text alone went up: {} B",
        r.bytes_sent
    );
    cadre.sync().await.expect("cadre sync");
    assert_eq!(cadre.store.request(&id).expect("request").title, "申请低保");
    let on_the_way: Vec<_> = cadre.store.attachments(&id).expect("list");
    assert_eq!(on_the_way.len(), 3);
    assert!(on_the_way
        .iter()
        .all(|v| v.state == AttachmentState::NotDownloaded));
    assert!(resident
        .store
        .attachments(&id)
        .unwrap()
        .iter()
        .all(|v| v.state == AttachmentState::Pending));
}

fn cunwu(home: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(cli_binary())
        .arg("--home")
        .arg(home)
        .args(args)
        .env("CUNWU_LANG", "en")
        .output()
        .expect("run cunwu");
    assert!(
        out.status.success(),
        "cunwu {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_killed_mid_upload_resumes_after_restart_without_starting_over() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "王书记").await;
    let proxy = Proxy::start(relay.addr(), Impairment::none()).await;
    let home = tempfile::tempdir().unwrap();
    let invite = relay.invite(&space, Role::Resident);
    cunwu(
        home.path(),
        &[
            "enroll",
            "--relay",
            &proxy.url(),
            "--invite",
            &invite,
            "--name",
            "李秀英",
        ],
    );
    let size = 5_000_000u64;
    let scan = noise_file(home.path(), "scan.pdf", PDF, size as usize, 7);
    let filed = cunwu(
        home.path(),
        &[
            "--json",
            "request",
            "file",
            "--kind",
            "social_assistance",
            "--title",
            "申请低保",
            "--attach",
            scan.to_str().unwrap(),
        ],
    );
    let id = serde_json::from_slice::<serde_json::Value>(&filed.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // a slow link: the upload takes seconds, and the phone dies in the middle of it
    proxy.set_impairment(Impairment::none().with_bandwidth(Some(400_000)));
    let mut child = Command::new(cli_binary())
        .arg("--home")
        .arg(home.path())
        .args(["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cunwu sync");
    let start = Instant::now();
    while proxy.stats().bytes_up < 2_000_000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the upload never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync ended before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().unwrap();
    // the dead phone's connection drains what the proxy had already taken, then closes
    let drained = Instant::now();
    while proxy.stats().active > 0 {
        assert!(
            drained.elapsed() < Duration::from_secs(60),
            "the dead connection never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the relay ends that request
    let before = proxy.stats().bytes_up;
    // what the relay holds durably of this phone's upload (the bytes it had not yet read
    // from its socket when the phone died were never acknowledged, and are sent again)
    let kept = relay.query_i64("SELECT COALESCE(MAX(have), 0) FROM blob_holders") as u64;
    assert!(kept > 0, "the relay kept nothing of {before} B sent");

    // restart: the phone asks the relay how far it got and sends only the rest
    proxy.set_impairment(Impairment::none());
    let out = cunwu(home.path(), &["--json", "sync"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sync --json");
    assert_eq!(v["blobs_sent"], 1, "{v}");
    let after = proxy.stats().bytes_up - before;
    eprintln!(
        "killed after {before} B up, {kept} B of them kept by the relay; the restart sent {after} B of a {size} B file"
    );
    // the rest of the file and a few requests' headers: never the part the relay kept
    assert!(
        after <= size - kept + 64 * 1024,
        "the restart sent {after} B where {} B were missing: it started over",
        size - kept
    );

    // and what the cadre gets is the file
    cadre.sync().await.unwrap();
    let view = cadre.store.attachments(&id).unwrap().remove(0);
    cadre
        .client
        .fetch_attachment(&cadre.store, &view.attachment.hash, None)
        .await
        .expect("fetch");
    let out = home.path().join("got.pdf");
    cadre
        .store
        .export_attachment(&view.attachment.hash, &out)
        .unwrap();
    assert_eq!(sha(&out), sha(&scan));
    // the CLI's list is the contract: hash, name, mime, size, state
    let list = cunwu(home.path(), &["--json", "attachment", "list", &id]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["hash"], view.attachment.hash.as_str());
    assert_eq!(row["name"], "scan.pdf");
    assert_eq!(row["mime"], "application/pdf");
    assert_eq!(row["size"], size);
    assert_eq!(row["state"], "uploaded");
}
