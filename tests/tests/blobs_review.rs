//! The attachment lane (issue 12) read as an attacker would: a resident with a tampered
//! phone who learned a hash, a village that happens to hold the same bytes as another
//! village on the same relay, a bundle handed over by a cadre. Each test states what must
//! hold and drives a REAL relay process, real SQLite files and real signatures; each one
//! failed when it was written (the review of branch `blobs-lead`), see the report of
//! session 19.
//!
//! Forged references are made the way `blobs_relay.rs` makes them: an automerge change
//! signed with the device's own key (what a tampered app on that phone can do).

use cunwu_core::doc::EntityDoc;
use cunwu_core::ids::{new_event_id, new_id, now_ms};
use cunwu_core::model::attachment::{Attachment, PieceList, PIECE_BYTES};
use cunwu_core::model::request::RequestEvent;
use cunwu_core::store::NewRequest;
use cunwu_core::wire::blob::{BlobAuth, BlobStatus, Op, AUTH_HEADER};
use cunwu_core::wire::{entity_bytes, SignedBatch};
use cunwu_core::{EntityKind, Role};
use cunwu_tests::harness::{Device, RelayProcess};
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

// ---- test-only helpers ------------------------------------------------------------------------

fn relay() -> RelayProcess {
    RelayProcess::start_with(&["--rate-per-minute", "1000000"])
}

const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0";

/// `len` bytes of a JPEG that differ with `seed`.
fn jpeg(len: usize, seed: u32) -> Vec<u8> {
    let mut b = JPEG.to_vec();
    let mut x = seed * 2 + 1;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(x as u8);
    }
    b
}

fn write(d: &Device, name: &str, bytes: &[u8]) -> PathBuf {
    let p = d.dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A request filed through the device API with `files` attached.
fn file_with(d: &Device, title: &str, files: Vec<PathBuf>) -> String {
    d.store
        .file_request(NewRequest {
            kind: "social_assistance".into(),
            title: title.into(),
            description: "户口簿和身份证扫描件".into(),
            place: None,
            on_behalf_of: None,
            materials: vec![],
            attachments: files,
        })
        .unwrap()
}

/// A village: its space, a cadre and one resident, all synced once.
async fn village(relay: &RelayProcess, name: &str) -> (String, Device, Device) {
    let (space, cadre_invite) = relay.create_space(name);
    let cadre = Device::enroll(relay, &cadre_invite, "村干部").await;
    let resident = Device::enroll(relay, &relay.invite(&space, Role::Resident), "村民").await;
    cadre.sync().await.unwrap();
    resident.sync().await.unwrap();
    (space, cadre, resident)
}

fn reference(bytes: &[u8], name: &str) -> Attachment {
    Attachment {
        hash: PieceList::of(bytes).hash(),
        size: bytes.len() as u64,
        mime: "image/jpeg".into(),
        name: name.into(),
        duration_ms: None,
        width: None,
        height: None,
        preview: None,
    }
}

/// An event as the app writes it: the body plus id, author and time.
fn ev<B: Serialize>(body: &B, by: &str) -> Value {
    let mut v = serde_json::to_value(body).unwrap();
    let m = v.as_object_mut().unwrap();
    m.insert("id".into(), Value::String(new_event_id()));
    m.insert("by".into(), Value::String(by.into()));
    m.insert("at".into(), Value::from(now_ms()));
    v
}

/// A tampered phone files a request of its own that references `attachments` (it knows
/// their hashes, not their bytes), straight to the relay; the relay must accept it.
async fn forge_request_with(
    relay: &RelayProcess,
    dev: &Device,
    attachments: Vec<Attachment>,
) -> String {
    let id = new_id();
    let file = RequestEvent::File {
        kind: "social_assistance".into(),
        title: "低保申请".into(),
        description: "材料见附件".into(),
        place: None,
        filer: dev.member_id(),
        materials: vec![],
        attachments,
    };
    let (_, change) = EntityDoc::create(
        &dev.key().public(),
        EntityKind::Request,
        &id,
        &ev(&file, &dev.member_id()),
        now_ms(),
    )
    .unwrap();
    let batch = SignedBatch::sign(
        dev.key(),
        now_ms(),
        &[(entity_bytes(&id).unwrap(), change.clone())],
    );
    let resp = dev.push_raw(relay, vec![batch]).await.sync_response();
    assert!(
        resp.acks.contains(&change.hash().0),
        "the relay refused the forged reference: {:?}",
        resp.rejections
    );
    id
}

/// `GET /v1/blobs/{hash}` signed by `dev` for `space`.
async fn status(relay: &RelayProcess, space: &str, dev: &Device, hash: &str) -> (u16, Value) {
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{}/v1/blobs/{hash}", relay.url()))
        .header(
            AUTH_HEADER,
            BlobAuth::header(space, dev.key(), Op::Status, hash, 0, now_ms()),
        )
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

// ---- finding 1: dedup across villages makes an upload look done that never happened ----------

/// Two villages on one relay (a county relay) hold the same bytes: the same scanned form,
/// the same photo forwarded in a chat group. Village A's resident uploads them; village B's
/// resident attaches the same file to her own request. The relay's status for her says
/// `complete: true` (the bytes are complete *somewhere* on the relay: `Known::complete`
/// reads the global `blobs` row), and the device lane (`core::blobs::upload`) takes
/// `status.complete` as "uploaded" — so she never sends a byte, her phone marks the
/// attachment uploaded (and may evict it), and in village B nobody is a holder: her cadre
/// is refused the bytes (403) for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_whose_bytes_another_village_uploaded_still_reaches_readers_in_this_one() {
    let relay = relay();
    let (_, _cadre_a, res_a) = village(&relay, "青石村").await;
    let (_, cadre_b, res_b) = village(&relay, "白水村").await;
    let form = jpeg(3 * PIECE_BYTES + 123, 7);

    file_with(&res_a, "低保申请", vec![write(&res_a, "申请表.jpg", &form)]);
    res_a.sync().await.unwrap();
    let up_a = res_a.client.sync_blobs(&res_a.store, None).await.unwrap();
    assert_eq!(up_a.blob_bytes_sent, form.len() as u64, "{up_a:?}");

    let id_b = file_with(&res_b, "低保申请", vec![write(&res_b, "申请表.jpg", &form)]);
    res_b.sync().await.unwrap();
    let up_b = res_b.client.sync_blobs(&res_b.store, None).await.unwrap();
    assert!(up_b.failed.is_empty(), "{up_b:?}");

    cadre_b.sync().await.unwrap();
    assert_eq!(cadre_b.store.request(&id_b).unwrap().attachments.len(), 1);
    let down = cadre_b
        .client
        .sync_blobs(&cadre_b.store, None)
        .await
        .unwrap();
    assert!(
        down.failed.is_empty() && down.blobs_received == 1,
        "village B's cadre must receive the form village B's resident attached \
         (her lane reported {} bytes sent of {}): {down:?}",
        up_b.blob_bytes_sent,
        form.len()
    );
}

// ---- finding 2: the status answers what other villages hold ----------------------------------

/// A member of village B who learned a hash (never the bytes) references it in a request
/// of her own; the relay's status must say nothing about bytes uploaded in village A (the
/// blob storage is shared across spaces for dedup, the knowledge must not be): today it
/// answers `complete: true, pieces: true` to her and `have: <size>` to her cadre, a
/// confirmation oracle for "does anyone on this relay hold this document".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_in_one_village_reveals_nothing_of_bytes_uploaded_in_another() {
    let relay = relay();
    let (_, _cadre_a, res_a) = village(&relay, "青石村").await;
    let (space_b, cadre_b, res_b) = village(&relay, "白水村").await;
    let scan = jpeg(2 * PIECE_BYTES + 9, 11);
    file_with(&res_a, "低保申请", vec![write(&res_a, "户口簿.jpg", &scan)]);
    res_a.sync().await.unwrap();
    res_a.client.sync_blobs(&res_a.store, None).await.unwrap();

    let att = reference(&scan, "猜的.jpg");
    forge_request_with(&relay, &res_b, vec![att.clone()]).await;
    let (code, body) = status(&relay, &space_b, &res_b, &att.hash).await;
    assert_eq!(code, 200, "{body}");
    let st: BlobStatus = serde_json::from_value(body).unwrap();
    let (code, body) = status(&relay, &space_b, &cadre_b, &att.hash).await;
    assert_eq!(code, 200, "{body}");
    let cadre_st: BlobStatus = serde_json::from_value(body).unwrap();
    assert!(
        !st.complete && !st.pieces && st.have == 0 && cadre_st.have == 0 && !cadre_st.complete,
        "nobody in village B sent a byte, yet the relay tells village B: {st:?} / {cadre_st:?}"
    );
}

// ---- finding 3: a bundle hands over what the relay refuses ------------------------------------

/// The relay refuses a resident who references another resident's private scan by hash
/// (`a_hash_alone_or_a_reference_without_the_bytes_grants_nothing`), but a cadre's bundle
/// does not: `Store::bundle_blobs` carries every held attachment referenced by *an entity
/// the peer may read*, and the tampered phone's own request is one. So the snoop forges a
/// request referencing the hash, hands the cadre a `Have` file, and the cadre's bundle
/// delivers the 低保 applicant's scan. The bundle must follow the relay's read rule (a
/// reference counts only if its author held or could read the bytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cadres_bundle_does_not_carry_a_private_scan_to_a_resident_who_only_knows_its_hash() {
    let relay = relay();
    let (space, cadre, owner) = village(&relay, "青石村").await;
    let snoop = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "赵四").await;
    snoop.sync().await.unwrap();
    let scan = jpeg(PIECE_BYTES + 500, 13);
    let hash = PieceList::of(&scan).hash();
    file_with(&owner, "低保申请", vec![write(&owner, "身份证.jpg", &scan)]);
    owner.sync().await.unwrap();
    owner.client.sync_blobs(&owner.store, None).await.unwrap();
    cadre.sync().await.unwrap();
    let got = cadre.client.sync_blobs(&cadre.store, None).await.unwrap();
    assert_eq!(got.blobs_received, 1, "the cadre holds the scan: {got:?}");

    // the relay's rule holds: the snoop's reference grants nothing there
    forge_request_with(&relay, &snoop, vec![reference(&scan, "随便.jpg")]).await;
    assert_eq!(
        status(&relay, &space, &snoop, &hash).await.1["readable"],
        false
    );

    // the cadre syncs (receives the snoop's request) and makes a bundle for the snoop
    cadre.sync().await.unwrap();
    snoop.sync().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let have = dir.path().join("snoop.have");
    cunwu_core::bundle::write_have(&snoop.store, &have).unwrap();
    let (summary, holds) = cunwu_core::bundle::read_have_holding(&have).unwrap();
    let file = dir.path().join("for-snoop.cunwu");
    cunwu_core::bundle::export_for(&cadre.store, &file, Some(&summary), &holds).unwrap();
    let r = cunwu_core::bundle::import(&snoop.store, &file).unwrap();
    let leaked = snoop.store.blob_dir().join(&hash);
    assert!(
        r.attachments == 0 && !leaked.is_file(),
        "the cadre's bundle carried the applicant's scan to a resident who only knew its hash \
         ({} attachment(s) taken, {} on the snoop's phone: {})",
        r.attachments,
        if leaked.is_file() {
            "the bytes are"
        } else {
            "nothing"
        },
        leaked.display()
    );
}

// ---- finding 4: the relay never looks at the bytes' type -----------------------------------

/// A blob request signed by `dev` for `space`: (status code, body bytes).
#[allow(clippy::too_many_arguments)]
async fn blob_call(
    relay: &RelayProcess,
    space: &str,
    dev: &Device,
    method: reqwest::Method,
    path_and_query: &str,
    op: Op,
    hash: &str,
    offset: u64,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let r = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .request(
            method,
            format!("{}/v1/blobs/{hash}{path_and_query}", relay.url()),
        )
        .header(
            AUTH_HEADER,
            BlobAuth::header(space, dev.key(), op, hash, offset, now_ms()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// The issue: "Limits per kind (size, type checked by content, not by file name)
/// enforced on the device and at the relay". Only the attaching phone sniffs
/// (`Store::prepare_attachment`); the relay takes any bytes that match the piece list.
/// A tampered phone declares `image/jpeg` for a Windows executable (`MZ…`), the relay
/// stores it and serves it to the cadre as a photo. The relay must refuse the first
/// piece when `sniff` of it is not the reference's `mime` (422, saying so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_bytes_that_are_not_of_the_type_their_reference_declares() {
    let relay = relay();
    let (space, cadre, resident) = village(&relay, "青石村").await;
    let mut exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0".to_vec();
    exe.extend(jpeg(PIECE_BYTES + 100, 5).into_iter().skip(JPEG.len()));
    assert_eq!(cunwu_core::model::attachment::sniff(&exe), None);
    let att = reference(&exe, "水管.jpg"); // declares image/jpeg
    let hash = att.hash.clone();
    forge_request_with(&relay, &resident, vec![att]).await;
    let list = PieceList::of(&exe);
    let (code, body) = blob_call(
        &relay,
        &space,
        &resident,
        reqwest::Method::PUT,
        "/pieces",
        Op::PutPieces,
        &hash,
        0,
        list.to_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let (code, body) = blob_call(
        &relay,
        &space,
        &resident,
        reqwest::Method::PUT,
        "?offset=0",
        Op::Put,
        &hash,
        0,
        exe.clone(),
    )
    .await;
    let (get, served) = blob_call(
        &relay,
        &space,
        &cadre,
        reqwest::Method::GET,
        "?offset=0&len=1048576",
        Op::Get,
        &hash,
        0,
        vec![],
    )
    .await;
    assert!(
        code == 422 && get != 200,
        "an executable declared as image/jpeg was taken ({code}: {}) and served to the cadre \
         ({get}, {} bytes starting {:?})",
        String::from_utf8_lossy(&body),
        served.len(),
        &served[..served.len().min(2)]
    );
}

// ---- finding 1, second consequence: eviction of bytes the village never got -------------------

/// "Never evict what has not been uploaded." Because the lane takes the relay's global
/// `complete` for "uploaded" (finding 1), a phone in village B under a small storage
/// budget deletes the only copy of an attachment its village never received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_never_evicts_an_attachment_its_own_village_has_not_received() {
    let relay = relay();
    let (_, _cadre_a, res_a) = village(&relay, "青石村").await;
    let (space_b, _cadre_b, res_b) = village(&relay, "白水村").await;
    let photo = jpeg(2 * PIECE_BYTES + 77, 21);
    let hash = PieceList::of(&photo).hash();
    file_with(&res_a, "水管爆了", vec![write(&res_a, "水管.jpg", &photo)]);
    res_a.sync().await.unwrap();
    res_a.client.sync_blobs(&res_a.store, None).await.unwrap();

    res_b.store.set_blob_budget(PIECE_BYTES as u64).unwrap();
    file_with(&res_b, "水管爆了", vec![write(&res_b, "水管.jpg", &photo)]);
    res_b.sync().await.unwrap();
    let up = res_b.client.sync_blobs(&res_b.store, None).await.unwrap();
    // evicting is fine once the bytes can be fetched again in this village
    let (code, st) = status(&relay, &space_b, &res_b, &hash).await;
    let fetchable_again = code == 200 && st["readable"] == true && st["have"] == photo.len();
    assert!(
        res_b.store.blob_dir().join(&hash).is_file() || fetchable_again,
        "village B's only copy of the photo was evicted though no byte of it reached the relay \
         from village B (relay: {code} {st}): {up:?}"
    );
}

// ---- finding 5: a blob file shorter than its committed `have` is zero-filled ----------------

/// `SqliteStorage::append_blob` creates `<db>.blobs/<xx>/<hash>` and fsyncs the file's
/// data, never the folders it created, so after a power cut the file (or its folder) can
/// be gone while `have` is committed. On open, `trim_blob_files` only cuts files that
/// are *longer* than `have`; a shorter one is left, the next append does
/// `set_len(offset)` — zeros where acknowledged bytes were — and the relay serves a
/// "complete" blob whose first pieces are zeros, forever (every reader's check_piece
/// refuses it). Simulated here by removing the file while the relay is down. The relay
/// must notice on open (or on append) and ask for those bytes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_lost_an_unsynced_blob_file_asks_for_the_bytes_again() {
    let mut relay = relay();
    if relay.backend() != "sqlite" {
        return;
    }
    let (space, cadre, resident) = village(&relay, "青石村").await;
    let photo = jpeg(3 * PIECE_BYTES + 10, 31);
    let att = reference(&photo, "水管.jpg");
    let hash = att.hash.clone();
    forge_request_with(&relay, &resident, vec![att]).await;
    let put = |offset: usize, body: Vec<u8>, relay: &RelayProcess| {
        let (space, resident, hash) = (space.clone(), &resident, hash.clone());
        let url = relay.url();
        async move {
            let r = reqwest::Client::new()
                .put(format!("{url}/v1/blobs/{hash}?offset={offset}"))
                .header(
                    AUTH_HEADER,
                    BlobAuth::header(
                        &space,
                        resident.key(),
                        Op::Put,
                        &hash,
                        offset as u64,
                        now_ms(),
                    ),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (code, body) = blob_call(
        &relay,
        &space,
        &resident,
        reqwest::Method::PUT,
        "/pieces",
        Op::PutPieces,
        &hash,
        0,
        PieceList::of(&photo).to_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    // two pieces acknowledged
    let (code, body) = put(0, photo[..2 * PIECE_BYTES].to_vec(), &relay).await;
    assert_eq!(code, 200, "{body}");
    // power cut: the unsynced file is gone, the committed `have` is not
    relay.kill_hard();
    let file = cunwu_relay::db::blob_file(&cunwu_relay::db::blob_dir_of(relay.db_path()), &hash);
    assert!(file.is_file(), "{}", file.display());
    std::fs::remove_file(&file).unwrap();
    relay.restart();
    // the device resumes where the relay says
    let (code, st) = status(&relay, &space, &resident, &hash).await;
    assert_eq!(code, 200, "{st}");
    let from = st["have"].as_u64().unwrap() as usize;
    let (code, body) = put(from, photo[from..].to_vec(), &relay).await;
    assert_eq!(code, 200, "{body}");
    let (code, served) = blob_call(
        &relay,
        &space,
        &cadre,
        reqwest::Method::GET,
        "?offset=0&len=1048576",
        Op::Get,
        &hash,
        0,
        vec![],
    )
    .await;
    assert!(
        code == 200 && served == photo,
        "after losing the file the relay resumed at byte {from} and serves {code}: {} bytes, \
         the first piece {}",
        served.len(),
        if served.len() >= PIECE_BYTES && served[JPEG.len()..PIECE_BYTES].iter().all(|b| *b == 0) {
            "all zeros"
        } else {
            "not zeros"
        }
    );
}

// ---- finding 6: names that display as something else ----------------------------------------

/// `Attachment::check` refuses slashes and control characters (`char::is_control`, the
/// Cc category) but not the bidirectional overrides and isolates (Cf: U+202A–U+202E,
/// U+2066–U+2069) nor zero-width characters: `发票\u{202E}gpj.exe` shows as
/// `发票exe.jpg` in the cadre's list. With finding 4 the bytes need not be a JPEG either.
/// The relay must refuse such a name (the policy calls `check_all`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_whose_name_reorders_itself_on_screen_is_refused() {
    let relay = relay();
    let (_, _cadre, resident) = village(&relay, "青石村").await;
    let bytes = jpeg(5000, 41);
    let att = reference(&bytes, "发票\u{202E}gpj.exe");
    let id = new_id();
    let file = RequestEvent::File {
        kind: "social_assistance".into(),
        title: "报销".into(),
        description: "发票见附件".into(),
        place: None,
        filer: resident.member_id(),
        materials: vec![],
        attachments: vec![att],
    };
    let (_, change) = EntityDoc::create(
        &resident.key().public(),
        EntityKind::Request,
        &id,
        &ev(&file, &resident.member_id()),
        now_ms(),
    )
    .unwrap();
    let batch = SignedBatch::sign(
        resident.key(),
        now_ms(),
        &[(entity_bytes(&id).unwrap(), change.clone())],
    );
    let resp = resident.push_raw(&relay, vec![batch]).await.sync_response();
    assert!(
        !resp.acks.contains(&change.hash().0),
        "the relay accepted an attachment named {:?} (shown as 发票exe.jpg)",
        "发票\u{202E}gpj.exe"
    );
}
