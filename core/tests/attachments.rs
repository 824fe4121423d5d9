//! The device's attachment store (issue 12) on real SQLite files and real folders:
//! preparing and attaching files (type by content, limits before reading, dedup), the
//! state of each attachment, others' attachments arriving, the budget (never evicting
//! what has not been uploaded), and exporting verified bytes.

use cunwu_core::local_space::LocalSpace;
use cunwu_core::model::attachment::{PieceList, PIECE_BYTES};
use cunwu_core::store::{AttachmentState, EntityChange, NewRequest, Origin};
use cunwu_core::{Error, Role, Store};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn bytes_of(head: &[u8], len: usize, seed: u8) -> Vec<u8> {
    let mut b = head.to_vec();
    let mut x = seed as u32 * 2 + 1;
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

fn png(w: u32, h: u32, len: usize, seed: u8) -> Vec<u8> {
    let mut head = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    head.extend(w.to_be_bytes());
    head.extend(h.to_be_bytes());
    bytes_of(&head, len, seed)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn request(title: &str, attachments: Vec<PathBuf>) -> NewRequest {
    NewRequest {
        kind: "public_facility_repair".into(),
        title: title.into(),
        description: String::new(),
        place: None,
        on_behalf_of: None,
        materials: vec![],
        attachments,
    }
}

/// A cadre's and a resident's phone in one village.
fn village(dir: &Path) -> (Store, Store) {
    let cadre = Store::open(dir.join("cadre.db")).unwrap();
    let resident = Store::open(dir.join("resident.db")).unwrap();
    let mut v = LocalSpace::new("青石村");
    v.join(&cadre, "陈建国", Role::Cadre).unwrap();
    v.join(&resident, "王秀英", Role::Resident).unwrap();
    v.publish(&[&cadre, &resident]).unwrap();
    (cadre, resident)
}

/// `to` takes what `from` holds and `to` lacks (a bundle, as phones exchange them).
fn carry(from: &Store, to: &Store) {
    to.import_bundle(&from.export_bundle(Some(&to.have().unwrap())).unwrap())
        .unwrap();
}

#[test]
fn a_request_filed_with_only_a_voice_note_holds_it_pending_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (_cadre, resident) = village(dir.path());
    let voice = bytes_of(AMR, 600 * 1024, 1);
    let path = write(dir.path(), "低保申请.amr", &voice);
    let id = resident.file_request(request("", vec![path])).unwrap();

    let r = resident.request(&id).unwrap();
    assert_eq!(r.title, "");
    assert_eq!(r.attachments.len(), 1, "the file event itself carries it");
    let list = resident.attachments(&id).unwrap();
    assert_eq!(list.len(), 1);
    let a = &list[0];
    assert_eq!(a.attachment.mime, "audio/amr");
    assert_eq!(a.attachment.name, "低保申请.amr");
    assert_eq!(a.attachment.size, voice.len() as u64);
    assert_eq!(a.attachment.hash, PieceList::of(&voice).hash());
    assert_eq!(
        (a.state, a.done, a.error.as_deref()),
        (AttachmentState::Pending, 0, None)
    );
    assert_eq!(a.entity, id);
    assert_eq!(a.state.as_str(), "pending");
    // the bytes are in the store's folder under their hash, whole
    let held = PathBuf::from(a.path.as_deref().expect("held whole"));
    assert_eq!(held, resident.blob_dir().join(&a.attachment.hash));
    assert_eq!(std::fs::read(&held).unwrap(), voice);
    assert_eq!(resident.blobs_pending().unwrap(), (1, voice.len() as u64));
    assert_eq!(resident.attachment(&a.attachment.hash).unwrap(), *a);
}

#[test]
fn types_are_known_by_content_and_limits_are_checked_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (_cadre, resident) = village(dir.path());
    // a program named like a photo is refused, by what it is
    let exe = write(
        dir.path(),
        "水管.jpg",
        &bytes_of(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0", 4000, 2),
    );
    let e = resident.prepare_attachment(&exe).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(e.to_string().contains("by its content"), "{e}");
    // a photo named like a PDF is a photo
    let photo = write(dir.path(), "scan.pdf", &png(800, 600, 5000, 3));
    let a = resident.prepare_attachment(&photo).unwrap();
    assert_eq!(a.mime, "image/png");
    assert_eq!((a.width, a.height), (Some(800), Some(600)));
    assert_eq!(
        resident.blobs_pending().unwrap(),
        (0, 0),
        "prepared, attached to nothing: not on the way"
    );
    // over the largest size: refused from the metadata (a sparse file: no byte is read)
    let huge = dir.path().join("huge.pdf");
    std::fs::write(&huge, b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj").unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(25 * 1024 * 1024)
        .unwrap();
    let e = resident.prepare_attachment(&huge).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    // over its kind's limit: a photo of 11 MiB (documents may have 20)
    let big = dir.path().join("big.jpg");
    std::fs::write(&big, JPEG).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(11 * 1024 * 1024)
        .unwrap();
    let e = resident.prepare_attachment(&big).unwrap_err();
    assert!(
        matches!(e, Error::TooLarge(_)) && e.to_string().contains("photo"),
        "{e}"
    );
    let empty = write(dir.path(), "empty.jpg", b"");
    assert!(resident.prepare_attachment(&empty).is_err());
    // nothing refused left a file behind
    let held: Vec<_> = std::fs::read_dir(resident.blob_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(held, vec![a.hash]);
}

#[test]
fn the_same_bytes_are_stored_once_whatever_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let (cadre, resident) = village(dir.path());
    let bytes = bytes_of(JPEG, 3 * PIECE_BYTES + 5, 4);
    let one = write(dir.path(), "水管1.jpg", &bytes);
    let two = write(dir.path(), "水管-副本.jpg", &bytes);
    let r1 = resident
        .file_request(request("水管爆了", vec![one]))
        .unwrap();
    let r2 = resident.file_request(request("又爆了", vec![])).unwrap();
    let added = resident.attach(&r2, &[two], None, None).unwrap();
    let a1 = &resident.attachments(&r1).unwrap()[0];
    let a2 = &resident.attachments(&r2).unwrap()[0];
    assert_eq!(a1.attachment.hash, a2.attachment.hash);
    assert_eq!(added[0].hash, a1.attachment.hash);
    assert_eq!(
        (a1.attachment.name.as_str(), a2.attachment.name.as_str()),
        ("水管1.jpg", "水管-副本.jpg")
    );
    assert_eq!(std::fs::read_dir(resident.blob_dir()).unwrap().count(), 1);
    // one blob on the way, not two
    assert_eq!(resident.blobs_pending().unwrap(), (1, bytes.len() as u64));
    // attaching to something that cannot carry attachments, or a line of a request, is refused
    let photo = write(dir.path(), "p.jpg", &bytes_of(JPEG, 100, 5));
    assert!(resident
        .attach(&r2, std::slice::from_ref(&photo), None, Some(0))
        .is_err());
    assert!(matches!(
        resident.attach("0123456789abcdef0123456789abcdef", &[photo], None, None),
        Err(Error::NotFound(_))
    ));
    drop(cadre);
}

#[test]
fn others_attachments_arrive_as_not_downloaded_and_only_their_bytes_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let (cadre, resident) = village(dir.path());
    let photo = bytes_of(JPEG, 2 * PIECE_BYTES + 100, 6);
    let pdf = bytes_of(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0", 40_000, 7);
    let id = resident
        .file_request(request(
            "水管爆了",
            vec![
                write(dir.path(), "水管.jpg", &photo),
                write(dir.path(), "户口簿.pdf", &pdf),
            ],
        ))
        .unwrap();
    carry(&resident, &cadre);
    let seen = cadre.attachments(&id).unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|a| a.state == AttachmentState::NotDownloaded && a.path.is_none() && a.done == 0));
    assert_eq!(seen[0].by, resident.me().unwrap().id);
    // photos are on the way without asking; documents wait until opened
    assert_eq!(cadre.blobs_pending().unwrap(), (1, photo.len() as u64));
    let hash = PieceList::of(&photo).hash();
    assert!(cadre
        .export_attachment(&hash, &dir.path().join("x.jpg"))
        .is_err());

    let heard: Arc<Mutex<Vec<EntityChange>>> = Arc::default();
    let h = heard.clone();
    cadre.subscribe(Arc::new(move |c: &[EntityChange]| {
        h.lock().extend_from_slice(c)
    }));
    // bytes that do not hash to the reference are refused and change nothing
    let mut bad = photo.clone();
    bad[PIECE_BYTES + 3] ^= 1;
    assert!(matches!(
        cadre.receive_blob(&hash, &bad),
        Err(Error::BadSignature(_))
    ));
    assert!(heard.lock().is_empty());
    // bytes nobody here references are refused
    let stray = bytes_of(JPEG, 500, 8);
    assert!(cadre
        .receive_blob(&PieceList::of(&stray).hash(), &stray)
        .is_err());
    assert!(cadre.receive_blob(&hash, &photo).unwrap());
    let a = cadre.attachment(&hash).unwrap();
    assert_eq!(
        (a.state, a.done),
        (AttachmentState::Downloaded, photo.len() as u64)
    );
    assert!(a.path.is_some());
    let heard = heard.lock().clone();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(
        (heard[0].id.as_str(), heard[0].origin),
        (id.as_str(), Origin::Remote)
    );
    let out = dir.path().join("out.jpg");
    cadre.export_attachment(&hash, &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), photo);
    assert_eq!(cadre.blobs_pending().unwrap(), (0, 0));
    // the projection is rebuilt from the documents, the states kept
    cadre.rebuild_projections().unwrap();
    assert_eq!(cadre.attachment(&hash).unwrap(), a);
}

#[test]
fn the_budget_evicts_least_recently_used_and_never_what_is_not_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let (cadre, resident) = village(dir.path());
    let own = bytes_of(JPEG, 300_000, 9);
    let own_req = cadre
        .file_request(request(
            "村道照片",
            vec![write(dir.path(), "村道.jpg", &own)],
        ))
        .unwrap();
    let photos: Vec<Vec<u8>> = (0..3).map(|i| bytes_of(JPEG, 100_000, 10 + i)).collect();
    let mut ids = vec![];
    for (i, p) in photos.iter().enumerate() {
        let path = write(dir.path(), &format!("{i}.jpg"), p);
        ids.push(resident.file_request(request("照片", vec![path])).unwrap());
    }
    carry(&resident, &cadre);
    let hashes: Vec<String> = photos.iter().map(|p| PieceList::of(p).hash()).collect();
    for (h, p) in hashes.iter().zip(&photos) {
        cadre.receive_blob(h, p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    // the first one received is opened again: now the most recently used
    cadre
        .export_attachment(&hashes[0], &dir.path().join("again.jpg"))
        .unwrap();
    // room for two of the others' photos; the cadre's own 300 kB photo is not counted
    cadre.set_blob_budget(250_000).unwrap();
    let state = |h: &str| cadre.attachment(h).unwrap().state;
    assert_eq!(
        state(&hashes[1]),
        AttachmentState::NotDownloaded,
        "least recently used"
    );
    assert!(!cadre.blob_dir().join(&hashes[1]).exists());
    assert_eq!(state(&hashes[0]), AttachmentState::Downloaded);
    assert_eq!(state(&hashes[2]), AttachmentState::Downloaded);
    // nothing at all: every downloaded one goes, the one not uploaded stays
    cadre.set_blob_budget(0).unwrap();
    for h in &hashes {
        assert_eq!(state(h), AttachmentState::NotDownloaded);
    }
    let mine = &cadre.attachments(&own_req).unwrap()[0];
    assert_eq!(mine.state, AttachmentState::Pending);
    assert_eq!(std::fs::read(mine.path.as_deref().unwrap()).unwrap(), own);
    // and it survives reopening the store (the outbox of bytes persists)
    drop(cadre);
    let cadre = Store::open(dir.path().join("cadre.db")).unwrap();
    assert_eq!(cadre.blob_budget().unwrap(), 0);
    assert_eq!(
        cadre.attachments(&own_req).unwrap()[0].state,
        AttachmentState::Pending
    );
    assert_eq!(
        cadre.blobs_pending().unwrap(),
        (1, own.len() as u64),
        "the own upload; nothing fits the budget to fetch again"
    );
    drop(ids);
}

#[test]
fn bundles_carry_the_attachments_the_peer_may_read_and_lacks_verified() {
    use cunwu_core::bundle;
    let dir = tempfile::tempdir().unwrap();
    let cadre = Store::open(dir.path().join("cadre.db")).unwrap();
    let resident = Store::open(dir.path().join("resident.db")).unwrap();
    let neighbour = Store::open(dir.path().join("neighbour.db")).unwrap();
    let mut v = LocalSpace::new("青石村");
    v.join(&cadre, "陈建国", Role::Cadre).unwrap();
    v.join(&resident, "王秀英", Role::Resident).unwrap();
    v.join(&neighbour, "李四", Role::Resident).unwrap();
    v.publish(&[&cadre, &resident, &neighbour]).unwrap();
    // a 低保 application's scan: only the applicant and the cadres may read it
    let scan = bytes_of(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0", 3 * PIECE_BYTES + 7, 20);
    let id = resident
        .file_request(NewRequest {
            kind: "social_assistance".into(),
            ..request("低保申请", vec![write(dir.path(), "户口簿.pdf", &scan)])
        })
        .unwrap();
    let hash = PieceList::of(&scan).hash();
    let have = dir.path().join("cadre.have");
    let file = dir.path().join("to-cadre.bundle");
    bundle::write_have(&cadre, &have).unwrap();
    let (summary, holds) = bundle::read_have_holding(&have).unwrap();
    assert!(holds.is_empty());
    bundle::export_for(&resident, &file, Some(&summary), &holds).unwrap();
    // a bundle whose attachment bytes were altered is refused whole
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &scan[PIECE_BYTES..PIECE_BYTES + 64])
        .expect("the bundle carries the scan");
    bytes[at] ^= 1;
    let tampered = dir.path().join("tampered.bundle");
    std::fs::write(&tampered, &bytes).unwrap();
    assert!(matches!(
        bundle::import(&cadre, &tampered),
        Err(Error::BadSignature(_))
    ));
    assert!(cadre.request(&id).is_err(), "nothing of it was imported");
    let r = bundle::import(&cadre, &file).unwrap();
    assert_eq!(r.attachments, 1);
    let a = cadre.attachment(&hash).unwrap();
    assert_eq!(a.state, AttachmentState::Downloaded);
    assert_eq!(std::fs::read(a.path.unwrap()).unwrap(), scan);
    // what the peer holds is not sent again
    bundle::write_have(&cadre, &have).unwrap();
    let (summary, holds) = bundle::read_have_holding(&have).unwrap();
    assert_eq!(holds, vec![hash.clone()]);
    let again = dir.path().join("again.bundle");
    bundle::export_for(&resident, &again, Some(&summary), &holds).unwrap();
    assert!(!std::fs::read(&again)
        .unwrap()
        .windows(64)
        .any(|w| w == &scan[PIECE_BYTES..PIECE_BYTES + 64]));
    // the cadre's bundle for a neighbour carries neither the application nor its scan
    let nh = dir.path().join("neighbour.have");
    bundle::write_have(&neighbour, &nh).unwrap();
    let to_neighbour = dir.path().join("to-neighbour.bundle");
    bundle::export(
        &cadre,
        &to_neighbour,
        Some(&bundle::read_have(&nh).unwrap()),
    )
    .unwrap();
    assert!(!std::fs::read(&to_neighbour)
        .unwrap()
        .windows(64)
        .any(|w| w == &scan[PIECE_BYTES..PIECE_BYTES + 64]));
    let r = bundle::import(&neighbour, &to_neighbour).unwrap();
    assert_eq!(r.attachments, 0);
    assert!(neighbour.attachment(&hash).is_err());
    assert!(!neighbour.blob_dir().join(&hash).exists());
}

#[test]
fn states_and_what_is_on_the_way_read_in_both_languages() {
    use cunwu_core::words::{label, text, Lang};
    assert_eq!(label(Lang::Zh, &AttachmentState::Uploading), "上传中");
    assert_eq!(
        label(Lang::En, &AttachmentState::NotDownloaded),
        "Not downloaded"
    );
    let args = [("count", 2u32.into()), ("left", "1.3 MB".into())];
    assert_eq!(
        text(Lang::Zh, "attachments-on-the-way", &args),
        "2 个附件正在传送（还剩 1.3 MB）"
    );
    assert_eq!(
        text(Lang::En, "attachments-on-the-way", &args),
        "2 attachments on the way (1.3 MB left)"
    );
}

#[test]
fn an_attachment_just_fetched_stays_even_beyond_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (cadre, resident) = village(dir.path());
    let pdf = bytes_of(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0", 300_000, 30);
    let photo = bytes_of(JPEG, 100_000, 31);
    resident
        .file_request(request(
            "申请",
            vec![
                write(dir.path(), "a.pdf", &pdf),
                write(dir.path(), "b.jpg", &photo),
            ],
        ))
        .unwrap();
    carry(&resident, &cadre);
    cadre.set_blob_budget(200_000).unwrap();
    let (hp, hj) = (PieceList::of(&pdf).hash(), PieceList::of(&photo).hash());
    cadre.receive_blob(&hj, &photo).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    // a document larger than the whole budget, opened now: kept, the older photo goes
    cadre.receive_blob(&hp, &pdf).unwrap();
    assert_eq!(
        cadre.attachment(&hp).unwrap().state,
        AttachmentState::Downloaded
    );
    assert!(cadre.blob_dir().join(&hp).is_file());
    assert_eq!(
        cadre.attachment(&hj).unwrap().state,
        AttachmentState::NotDownloaded
    );
}

#[test]
fn a_voice_note_says_how_long_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (_, resident) = village(dir.path());
    // 40 seconds of AMR-NB at 12.2 kbit/s: 2,000 frames of 20 ms, 32 bytes each
    let mut amr = b"#!AMR\n".to_vec();
    for i in 0..2000u32 {
        amr.push(0x3C);
        amr.extend((0..31).map(|j| (i as u8).wrapping_mul(31).wrapping_add(j)));
    }
    let a = resident
        .prepare_attachment(&write(dir.path(), "低保说明.amr", &amr))
        .unwrap();
    assert_eq!(a.mime, "audio/amr");
    assert_eq!(a.duration_ms, Some(40_000));
    // a photo has no duration
    let p = resident
        .prepare_attachment(&write(dir.path(), "a.png", &png(4, 3, 200, 1)))
        .unwrap();
    assert_eq!((p.duration_ms, p.width, p.height), (None, Some(4), Some(3)));
}
