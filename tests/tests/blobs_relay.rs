//! The relay's attachment lane (issue 12) against a REAL relay process over real HTTP:
//! references synced in signed changes, piece lists, uploads verified piece by piece
//! (cut mid-body, corrupt, killed mid-way), downloads checked against the content
//! address, and the read rule (`service::blobs::may_fetch`): a hash alone, or a
//! reference by someone who never had the bytes, grants nothing; a draft's attachment
//! waits for its publication; a revoked device gets nothing.
//!
//! The references are forged the way `attacks.rs` forges changes (the device API that
//! attaches files is written in parallel): automerge changes made with the device's own
//! key and signed into batches with `SignedBatch::sign`. Runs on SQLite and, with
//! `CUNWU_TEST_POSTGRES`, on PostgreSQL.

use cunwu_core::doc::EntityDoc;
use cunwu_core::ids::{new_event_id, new_id, now_ms};
use cunwu_core::model::attachment::{Attachment, PieceList, MAX_TRANSFER_BYTES, PIECE_BYTES};
use cunwu_core::model::notice::{Category, NoticeEvent, Period, Subtype};
use cunwu_core::model::request::RequestEvent;
use cunwu_core::store::NewNotice;
use cunwu_core::wire::blob::{BlobAuth, BlobStatus, Op, AUTH_HEADER};
use cunwu_core::wire::{entity_bytes, SignedBatch};
use cunwu_core::{EntityKind, Role};
use cunwu_tests::harness::{Device, RelayProcess};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

// ---- the village and its traffic -------------------------------------------------------------

struct Village {
    relay: RelayProcess,
    space: String,
    cadre: Device,
    /// A resident with a private request and its photo.
    owner: Device,
    /// Another resident, who learns the photo's hash.
    snoop: Device,
    http: reqwest::Client,
}

impl Village {
    async fn new() -> Village {
        let relay = RelayProcess::start();
        let (space, cadre_invite) = relay.create_space("青石村");
        let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
        let owner = Device::enroll(
            &relay,
            &relay.invite_with(&space, Role::Resident, "H05", "二组"),
            "王秀英",
        )
        .await;
        let snoop = Device::enroll(
            &relay,
            &relay.invite_with(&space, Role::Resident, "H07", "三组"),
            "赵四",
        )
        .await;
        for d in [&cadre, &owner, &snoop] {
            d.sync().await.unwrap();
        }
        Village {
            relay,
            space,
            cadre,
            owner,
            snoop,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.relay.url())
    }

    fn auth(&self, dev: &Device, op: Op, hash: &str, offset: u64) -> String {
        BlobAuth::header(&self.space, dev.key(), op, hash, offset, now_ms())
    }

    async fn status(&self, dev: &Device, hash: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(&format!("/v1/blobs/{hash}")))
            .header(AUTH_HEADER, self.auth(dev, Op::Status, hash, 0))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap())
    }

    async fn status_ok(&self, dev: &Device, hash: &str) -> BlobStatus {
        let (code, body) = self.status(dev, hash).await;
        assert_eq!(code, 200, "status of {hash} for {}: {body}", dev.name);
        serde_json::from_value(body).unwrap()
    }

    async fn put_pieces(&self, dev: &Device, list: &PieceList) -> (u16, Value) {
        let hash = list.hash();
        let r = self
            .http
            .put(self.url(&format!("/v1/blobs/{hash}/pieces")))
            .header(AUTH_HEADER, self.auth(dev, Op::PutPieces, &hash, 0))
            .body(list.to_bytes())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn put(&self, dev: &Device, hash: &str, offset: u64, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .http
            .put(self.url(&format!("/v1/blobs/{hash}?offset={offset}")))
            .header(AUTH_HEADER, self.auth(dev, Op::Put, hash, offset))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// The whole upload as a device does it: piece list, then ≤ 1 MiB requests from
    /// the relay's `have`.
    async fn upload(&self, dev: &Device, bytes: &[u8]) -> BlobStatus {
        let list = PieceList::of(bytes);
        let hash = list.hash();
        let (code, body) = self.put_pieces(dev, &list).await;
        assert_eq!(code, 200, "{body}");
        loop {
            let st = self.status_ok(dev, &hash).await;
            if st.have == st.size {
                return st;
            }
            let from = st.have as usize;
            let to = (from + MAX_TRANSFER_BYTES).min(bytes.len());
            let (code, body) = self
                .put(dev, &hash, from as u64, bytes[from..to].to_vec())
                .await;
            assert_eq!(code, 200, "upload from {from}: {body}");
        }
    }

    async fn get(&self, dev: &Device, hash: &str, offset: u64, len: u64) -> (u16, Vec<u8>) {
        let r = self
            .http
            .get(self.url(&format!("/v1/blobs/{hash}?offset={offset}&len={len}")))
            .header(AUTH_HEADER, self.auth(dev, Op::Get, hash, offset))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    /// The whole download as a device does it: piece list verified against the hash,
    /// then ≤ 1 MiB requests, each piece checked.
    async fn download(&self, dev: &Device, hash: &str, size: u64) -> Vec<u8> {
        let r = self
            .http
            .get(self.url(&format!("/v1/blobs/{hash}/pieces")))
            .header(AUTH_HEADER, self.auth(dev, Op::GetPieces, hash, 0))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let list = PieceList::verify(hash, size, &r.bytes().await.unwrap()).unwrap();
        let mut out = vec![];
        while (out.len() as u64) < size {
            let (code, bytes) = self
                .get(dev, hash, out.len() as u64, MAX_TRANSFER_BYTES as u64)
                .await;
            assert_eq!(code, 200, "{}", String::from_utf8_lossy(&bytes));
            assert!(!bytes.is_empty());
            out.extend_from_slice(&bytes);
        }
        for (i, p) in out.chunks(PIECE_BYTES).enumerate() {
            list.check_piece(i, p).unwrap();
        }
        out
    }

    /// Push one forged change as `dev` and require the relay to accept it.
    async fn push_change(&self, dev: &Device, entity: &str, change: &automerge::Change) {
        let batch = SignedBatch::sign(
            dev.key(),
            now_ms(),
            &[(entity_bytes(entity).unwrap(), change.clone())],
        );
        let resp = dev.push_raw(&self.relay, vec![batch]).await.sync_response();
        assert!(
            resp.acks.contains(&change.hash().0),
            "the relay refused the change: {:?}",
            resp.rejections
        );
    }

    /// A request filed by `dev` carrying `attachments` in its file event.
    async fn file_request_with(&self, dev: &Device, attachments: Vec<Attachment>) -> String {
        let id = new_id();
        let file = RequestEvent::File {
            kind: "social_assistance".into(),
            title: "低保申请".into(),
            description: "户口簿和身份证扫描件".into(),
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
        self.push_change(dev, &id, &change).await;
        id
    }

    /// How the relay's storage holds `hash`: (files or piece rows, stored bytes).
    fn stored(&self, hash: &str) -> (usize, u64) {
        if self.relay.backend() == "postgres" {
            let n = self.relay.query_i64(&format!(
                "SELECT count(*) FROM blob_pieces WHERE hash = '{hash}'"
            ));
            let b = self.relay.query_i64(&format!(
                "SELECT coalesce(sum(octet_length(bytes)), 0)::BIGINT FROM blob_pieces WHERE hash = '{hash}'"
            ));
            (n as usize, b as u64)
        } else {
            let dir = cunwu_relay::db::blob_dir_of(self.relay.db_path());
            let mut files = 0;
            let mut bytes = 0;
            if let Ok(subs) = std::fs::read_dir(&dir) {
                for sub in subs.flatten() {
                    for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
                        if f.file_name().to_string_lossy() == hash {
                            files += 1;
                            bytes += f.metadata().unwrap().len();
                        }
                    }
                }
            }
            (files, bytes)
        }
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

/// The document of `entity` as `holder`'s phone stores it (as `attacks.rs` reads it).
fn doc_held_by(holder: &Device, entity: &str) -> EntityDoc {
    let c = holder.sql();
    let snapshot: Option<Vec<u8>> = c
        .query_row(
            "SELECT snapshot FROM entities WHERE id = ?1",
            [entity],
            |r| r.get(0),
        )
        .unwrap();
    let mut st = c
        .prepare("SELECT bytes FROM changes WHERE entity_id = ?1 ORDER BY rowid")
        .unwrap();
    let changes: Vec<Vec<u8>> = st
        .query_map([entity], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    EntityDoc::load(snapshot.as_deref(), changes.iter().map(|b| b.as_slice())).unwrap()
}

/// `n` bytes of a JPEG (its signature, then bytes that differ with `seed`).
fn photo_bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut b: Vec<u8> = (0..n)
        .map(|i| ((i as u64 * 2_654_435_761 + seed as u64 * 97) >> 7) as u8)
        .collect();
    b[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    b
}

fn reference(bytes: &[u8], name: &str) -> Attachment {
    Attachment {
        hash: PieceList::of(bytes).hash(),
        size: bytes.len() as u64,
        mime: "image/jpeg".into(),
        name: name.into(),
        duration_ms: None,
        width: Some(1200),
        height: Some(900),
        preview: None,
    }
}

/// Send `head` then `bytes`, then drop the connection without finishing the body (a
/// cut signal), and wait until the relay reports at least `expect` bytes for `dev`.
async fn cut_upload(
    v: &Village,
    dev: &Device,
    hash: &str,
    offset: u64,
    declared: usize,
    bytes: &[u8],
) {
    let mut s = tokio::net::TcpStream::connect(v.relay.addr())
        .await
        .unwrap();
    let head = format!(
        "PUT /v1/blobs/{hash}?offset={offset} HTTP/1.1\r\nhost: relay\r\n{AUTH_HEADER}: {}\r\ncontent-length: {declared}\r\n\r\n",
        v.auth(dev, Op::Put, hash, offset)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
}

/// Poll the status until `have` reaches `want` (the relay stores pieces as they come).
async fn wait_have(v: &Village, dev: &Device, hash: &str, want: u64) -> BlobStatus {
    for _ in 0..100 {
        let st = v.status_ok(dev, hash).await;
        if st.have >= want {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    v.status_ok(dev, hash).await
}

// ---- the tests --------------------------------------------------------------------------------

/// The whole flow: a resident's request references a 1.3 MB photo; the piece list, an
/// upload cut mid-body that keeps every whole piece, the resume from `have`, the
/// download verified against the content address; the cadre may fetch it, another
/// resident may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_mid_body_resumes_from_what_the_relay_holds() {
    let v = Village::new().await;
    let bytes = photo_bytes(1_300_000, 1);
    let att = reference(&bytes, "水管.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    // before anything is sent: the owner may upload from 0; nobody may fetch
    let st = v.status_ok(&v.owner, &hash).await;
    assert_eq!(
        (st.size, st.have, st.pieces, st.complete, st.readable),
        (1_300_000, 0, false, false, false)
    );
    let (code, _) = v.get(&v.cadre, &hash, 0, 1000).await;
    assert_eq!(code, 403, "nothing is served before its bytes arrived");
    // bytes before the piece list: 409 naming what to send first
    let (code, body) = v
        .put(&v.owner, &hash, 0, bytes[..PIECE_BYTES].to_vec())
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("piece list"),
        "{body}"
    );
    let (code, body) = v.put_pieces(&v.owner, &PieceList::of(&bytes)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["pieces"], true);
    // the connection is cut after 2.5 pieces of a 1 MiB request: two pieces are kept
    let sent = 2 * PIECE_BYTES + PIECE_BYTES / 2;
    cut_upload(&v, &v.owner, &hash, 0, MAX_TRANSFER_BYTES, &bytes[..sent]).await;
    let st = wait_have(&v, &v.owner, &hash, 2 * PIECE_BYTES as u64).await;
    assert_eq!(
        st.have,
        2 * PIECE_BYTES as u64,
        "every whole piece before the cut is kept, the half one is not"
    );
    // resuming anywhere else is refused with the right offset
    let (code, body) = v
        .put(&v.owner, &hash, 0, bytes[..PIECE_BYTES].to_vec())
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{}", 2 * PIECE_BYTES)),
        "{body}"
    );
    // a body over 1 MiB is refused
    let (code, _) = v
        .put(
            &v.owner,
            &hash,
            st.have,
            bytes[st.have as usize..st.have as usize + MAX_TRANSFER_BYTES + 1].to_vec(),
        )
        .await;
    assert_eq!(code, 413);
    // the rest, from `have`
    let st = v.upload(&v.owner, &bytes).await;
    assert!(st.complete && st.readable && st.have == st.size, "{st:?}");
    assert_eq!(v.download(&v.owner, &hash, att.size).await, bytes);
    // the cadre reads every request: fetches it; the other resident does not
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
    let (code, body) = v.get(&v.snoop, &hash, 0, 1000).await;
    assert_eq!(code, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("may not read any entity"));
    let (code, _) = v.status(&v.snoop, &hash).await;
    assert_eq!(code, 403);
    // a last piece asked past the end is clamped to the size
    let last = (att.size as usize / PIECE_BYTES * PIECE_BYTES) as u64;
    let (code, tail) = v
        .get(&v.cadre, &hash, last, MAX_TRANSFER_BYTES as u64)
        .await;
    assert_eq!((code, tail.as_slice()), (200, &bytes[last as usize..]));
    // the lane is counted
    let (_, metrics) =
        cunwu_tests::harness::http_get(v.relay.addr(), "/metrics", Duration::from_secs(5)).unwrap();
    assert!(
        metrics.contains(&format!("cunwu_blob_bytes_in_total {}", att.size)),
        "{metrics}"
    );
}

/// A corrupt piece is refused (422, naming it) and not stored; the pieces before it are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_piece_is_refused_and_not_stored() {
    let v = Village::new().await;
    let bytes = photo_bytes(3 * PIECE_BYTES + 1000, 2);
    let att = reference(&bytes, "屋顶.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    // a piece list that does not hash to the attachment is refused
    let mut wrong = PieceList::of(&bytes);
    wrong.pieces[1][0] ^= 1;
    let r = v
        .http
        .put(v.url(&format!("/v1/blobs/{hash}/pieces")))
        .header(AUTH_HEADER, v.auth(&v.owner, Op::PutPieces, &hash, 0))
        .body(wrong.to_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(!v.status_ok(&v.owner, &hash).await.pieces);
    let (code, _) = v.put_pieces(&v.owner, &PieceList::of(&bytes)).await;
    assert_eq!(code, 200);
    let mut corrupt = bytes.clone();
    corrupt[PIECE_BYTES + 77] ^= 0x40;
    let (code, body) = v.put(&v.owner, &hash, 0, corrupt).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("piece 1"),
        "{body}"
    );
    let st = v.status_ok(&v.owner, &hash).await;
    assert_eq!(
        st.have, PIECE_BYTES as u64,
        "piece 0 is kept, piece 1 and after are not"
    );
    // one file (SQLite) or one piece row (PostgreSQL) of one piece's bytes
    assert_eq!(v.stored(&hash), (1, PIECE_BYTES as u64));
    // sent again whole, it arrives
    let st = v.upload(&v.owner, &bytes).await;
    assert!(st.complete);
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
}

/// Knowing the hash is not enough: another resident who learned it gets 403 by asking,
/// and also after referencing the hash in a request of their own (they never had the
/// bytes); they may not upload over it either way but as a referencer: sending the
/// right bytes proves they hold them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_alone_or_a_reference_without_the_bytes_grants_nothing() {
    let v = Village::new().await;
    let bytes = photo_bytes(200_000, 3);
    let att = reference(&bytes, "身份证.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    v.upload(&v.owner, &bytes).await;
    // by hash alone: status and bytes refused, upload refused
    assert_eq!(v.status(&v.snoop, &hash).await.0, 403);
    assert_eq!(v.get(&v.snoop, &hash, 0, 1000).await.0, 403);
    let (code, body) = v
        .put(&v.snoop, &hash, 0, bytes[..PIECE_BYTES].to_vec())
        .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no accepted change of yours"),
        "{body}"
    );
    // referencing the hash in a request of their own, without the bytes
    v.file_request_with(&v.snoop, vec![att.clone()]).await;
    let st = v.status_ok(&v.snoop, &hash).await;
    assert!(!st.readable && st.have == 0, "{st:?}");
    assert_eq!(v.get(&v.snoop, &hash, 0, 1000).await.0, 403);
    let r = v
        .http
        .get(v.url(&format!("/v1/blobs/{hash}/pieces")))
        .header(AUTH_HEADER, v.auth(&v.snoop, Op::GetPieces, &hash, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // the cadre reads the snoop's request too, but its reference vouches for nothing:
    // the cadre still fetches through the owner's request
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
    // wrong bytes do not make the snoop a holder
    let (code, _) = v.put(&v.snoop, &hash, 0, photo_bytes(PIECE_BYTES, 9)).await;
    assert_eq!(code, 422);
    assert_eq!(v.get(&v.snoop, &hash, 0, 1000).await.0, 403);
}

/// Dedup: two residents attach the same bytes; one copy is stored. The second uploader
/// is verified piece by piece without the bytes being written again, and a member who
/// may already fetch them is told they are complete (no byte sent twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_bytes_are_stored_once() {
    let v = Village::new().await;
    let bytes = photo_bytes(2 * PIECE_BYTES + 500, 4);
    let att = reference(&bytes, "通知.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    v.file_request_with(&v.snoop, vec![att.clone()]).await;
    v.upload(&v.owner, &bytes).await;
    assert_eq!(v.stored(&hash).1, bytes.len() as u64);
    // the second resident's own request: they must show the bytes
    let st = v.status_ok(&v.snoop, &hash).await;
    assert!(st.complete && !st.readable && st.have == 0, "{st:?}");
    let st = v.upload(&v.snoop, &bytes).await;
    assert!(st.readable && st.have == st.size, "{st:?}");
    let (n, stored) = v.stored(&hash);
    assert_eq!(stored, bytes.len() as u64, "one copy: {n} file(s) or rows");
    if v.relay.backend() == "sqlite" {
        assert_eq!(n, 1);
    }
    assert_eq!(v.relay.query_i64("SELECT count(*) FROM blobs"), 1);
    // a cadre re-attaching the owner's photo to their own request for the owner: the
    // cadre may fetch it already, so the status says complete and nothing is sent
    v.file_request_with(&v.cadre, vec![att.clone()]).await;
    let st = v.status_ok(&v.cadre, &hash).await;
    assert!(st.complete && st.readable && st.have == st.size, "{st:?}");
    let (code, body) = v.put(&v.cadre, &hash, 0, vec![]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["have"], st.size);
}

/// A draft notice's attachment is 403 to residents until the notice is published; the
/// cadre who attached it fetches it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_notices_attachment_waits_for_its_publication() {
    let v = Village::new().await;
    let nid = v
        .cadre
        .store
        .post_notice(NewNotice {
            category: Category::Village,
            subtype: Subtype::Other,
            period: Period::default(),
            title: "修路通知".into(),
            body: "下周一开工".into(),
            opening_balance_fen: None,
            lines: vec![],
            publish: false,
        })
        .unwrap();
    v.cadre.sync().await.unwrap();
    let bytes = photo_bytes(100_000, 5);
    let att = reference(&bytes, "路线图.jpg");
    let hash = att.hash.clone();
    let mut doc = doc_held_by(&v.cadre, &nid);
    let attach = NoticeEvent::Attach {
        attachments: vec![att.clone()],
        to: None,
        line: None,
    };
    let change = doc
        .append(
            &v.cadre.key().public(),
            &ev(&attach, &v.cadre.member_id()),
            now_ms(),
        )
        .unwrap();
    v.push_change(&v.cadre, &nid, &change).await;
    v.upload(&v.cadre, &bytes).await;
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
    assert_eq!(
        v.get(&v.owner, &hash, 0, 1000).await.0,
        403,
        "a draft is not the residents'"
    );
    assert_eq!(v.status(&v.owner, &hash).await.0, 403);
    // published on top of the attach change (the cadre's phone holds only its own
    // changes made through the store; this one is forged, so the publish is too)
    let publish = doc
        .append(
            &v.cadre.key().public(),
            &ev(&NoticeEvent::Publish {}, &v.cadre.member_id()),
            now_ms(),
        )
        .unwrap();
    v.push_change(&v.cadre, &nid, &publish).await;
    assert_eq!(v.download(&v.owner, &hash, att.size).await, bytes);
    assert_eq!(v.download(&v.snoop, &hash, att.size).await, bytes);
}

/// The relay killed (SIGKILL) mid-upload loses nothing it acknowledged: what the
/// status said before the kill is held after the restart, and the upload resumes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_killed_mid_upload_loses_nothing_it_acknowledged() {
    let mut v = Village::new().await;
    let bytes = photo_bytes(MAX_TRANSFER_BYTES + 3 * PIECE_BYTES, 6);
    let att = reference(&bytes, "账本.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    v.put_pieces(&v.owner, &PieceList::of(&bytes)).await;
    // stream most of a request, slowly, on a connection left open
    let mut s = tokio::net::TcpStream::connect(v.relay.addr())
        .await
        .unwrap();
    let head = format!(
        "PUT /v1/blobs/{hash}?offset=0 HTTP/1.1\r\nhost: relay\r\n{AUTH_HEADER}: {}\r\ncontent-length: {MAX_TRANSFER_BYTES}\r\n\r\n",
        v.auth(&v.owner, Op::Put, &hash, 0)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for p in 0..6 {
        s.write_all(&bytes[p * PIECE_BYTES..(p + 1) * PIECE_BYTES])
            .await
            .unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let acked = wait_have(&v, &v.owner, &hash, 3 * PIECE_BYTES as u64)
        .await
        .have;
    assert!(acked >= 3 * PIECE_BYTES as u64, "{acked}");
    // half a piece more, then the relay dies
    s.write_all(&bytes[6 * PIECE_BYTES..6 * PIECE_BYTES + 1000])
        .await
        .unwrap();
    s.flush().await.unwrap();
    v.relay.kill_hard();
    drop(s);
    v.relay.restart();
    let st = v.status_ok(&v.owner, &hash).await;
    assert!(
        st.have >= acked,
        "acknowledged {acked}, held after the restart {}",
        st.have
    );
    assert_eq!(st.have % PIECE_BYTES as u64, 0);
    if v.relay.backend() == "sqlite" {
        assert_eq!(
            v.stored(&hash).1,
            v.relay
                .query_i64(&format!("SELECT have FROM blobs WHERE hash = '{hash}'"))
                as u64,
            "the file holds exactly what was committed"
        );
    }
    let st = v.upload(&v.owner, &bytes).await;
    assert!(st.complete);
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
}

/// Who sent it is settled first: no header 401, a malformed one 400, a signature over
/// another request 401, an unknown hash 404, a revoked device 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_requests_are_authenticated_before_anything_else() {
    let v = Village::new().await;
    let bytes = photo_bytes(70_000, 7);
    let att = reference(&bytes, "发票.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    v.upload(&v.owner, &bytes).await;
    let get = |auth: Option<String>| {
        let mut r = v
            .http
            .get(v.url(&format!("/v1/blobs/{hash}?offset=0&len=100")));
        if let Some(a) = auth {
            r = r.header(AUTH_HEADER, a);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains(AUTH_HEADER),
        "{body}"
    );
    assert_eq!(
        get(Some("not.a.header".into()))
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    // signed for the status op, used for bytes
    let wrong_op = v.auth(&v.cadre, Op::Status, &hash, 0);
    assert_eq!(get(Some(wrong_op)).await.unwrap().status().as_u16(), 401);
    // signed an hour ago
    let old = BlobAuth::header(
        &v.space,
        v.cadre.key(),
        Op::Get,
        &hash,
        0,
        now_ms() - 3_600_000,
    );
    assert_eq!(get(Some(old)).await.unwrap().status().as_u16(), 401);
    // a key not enrolled in the space
    let stranger = cunwu_core::identity::DeviceKey::generate();
    let h = BlobAuth::header(&v.space, &stranger, Op::Get, &hash, 0, now_ms());
    assert_eq!(get(Some(h)).await.unwrap().status().as_u16(), 401);
    // a hash nothing references
    let other = PieceList::of(b"nothing").hash();
    assert_eq!(v.status(&v.cadre, &other).await.0, 404);
    // a revoked device
    assert_eq!(
        get(Some(v.auth(&v.cadre, Op::Get, &hash, 0)))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    v.relay.revoke(&v.space, &v.owner.device_id());
    assert_eq!(v.status(&v.owner, &hash).await.0, 403);
    assert_eq!(v.get(&v.owner, &hash, 0, 100).await.0, 403);
}

/// The one hop of the read rule: a cadre who may fetch a resident's photo (through her
/// request) re-attaches it to a published notice without sending it again, and every
/// member may then fetch it through the notice. A resident who never had another's
/// scan attaches its hash to a question on the same public notice: that grants nothing,
/// to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cadre_re_attaching_a_photo_shares_it_and_a_stranger_attaching_a_hash_does_not() {
    let v = Village::new().await;
    let photo = photo_bytes(150_000, 8);
    let shared = reference(&photo, "积水.jpg");
    let scan = photo_bytes(90_000, 9);
    let private = reference(&scan, "户口簿.jpg");
    v.file_request_with(&v.owner, vec![shared.clone(), private.clone()])
        .await;
    v.upload(&v.owner, &photo).await;
    v.upload(&v.owner, &scan).await;
    let nid = v
        .cadre
        .store
        .post_notice(NewNotice {
            category: Category::Village,
            subtype: Subtype::Other,
            period: Period::default(),
            title: "排水沟清理".into(),
            body: "请各户配合".into(),
            opening_balance_fen: None,
            lines: vec![],
            publish: true,
        })
        .unwrap();
    v.cadre.sync().await.unwrap();
    let mut doc = doc_held_by(&v.cadre, &nid);
    let attach = NoticeEvent::Attach {
        attachments: vec![shared.clone()],
        to: None,
        line: None,
    };
    let change = doc
        .append(
            &v.cadre.key().public(),
            &ev(&attach, &v.cadre.member_id()),
            now_ms(),
        )
        .unwrap();
    v.push_change(&v.cadre, &nid, &change).await;
    // the cadre sends nothing: the relay says complete
    let st = v.status_ok(&v.cadre, &shared.hash).await;
    assert!(st.complete && st.readable && st.have == st.size, "{st:?}");
    assert_eq!(v.download(&v.snoop, &shared.hash, shared.size).await, photo);
    // the snoop asks a question and attaches the private scan's hash to it
    v.snoop.sync().await.unwrap();
    v.snoop.store.ask_question(&nid, "清理费用谁出？").unwrap();
    v.snoop.sync().await.unwrap();
    let mut doc = doc_held_by(&v.snoop, &nid);
    let q = v.snoop.store.notice(&nid).unwrap().questions[0].id.clone();
    let attach = NoticeEvent::Attach {
        attachments: vec![private.clone()],
        to: Some(q),
        line: None,
    };
    let change = doc
        .append(
            &v.snoop.key().public(),
            &ev(&attach, &v.snoop.member_id()),
            now_ms(),
        )
        .unwrap();
    v.push_change(&v.snoop, &nid, &change).await;
    let st = v.status_ok(&v.snoop, &private.hash).await;
    assert!(!st.readable, "{st:?}");
    assert_eq!(v.get(&v.snoop, &private.hash, 0, 1000).await.0, 403);
    // the owner, who reads the notice too, still fetches her own scan
    assert_eq!(
        v.download(&v.owner, &private.hash, private.size).await,
        scan
    );
}

/// A small filesystem mounted for the test (tmpfs; needs root), unmounted on drop (as
/// `county.rs` mounts one).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: usize) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }

    /// Write a file until the filesystem has no room left.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.0.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).and_then(|_| f.sync_all()).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// On a full disk an upload is refused with 507 as a sync would be, nothing of it is
/// acknowledged, document sync goes on, and the upload succeeds once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_bytes_with_507_and_acknowledges_nothing() {
    let mut v = Village::new().await;
    if v.relay.backend() != "sqlite" {
        return;
    }
    let Some(disk) = SmallDisk::mount(8 * 1024 * 1024) else {
        eprintln!("skipped: cannot mount a small filesystem (needs root)");
        return;
    };
    v.relay.stop();
    let db = disk.0.path().join("relay.db");
    std::fs::copy(v.relay.db_path(), &db).unwrap();
    v.relay.move_db(db);
    v.relay.restart();
    let bytes = photo_bytes(600_000, 10);
    let att = reference(&bytes, "水表.jpg");
    let hash = att.hash.clone();
    v.file_request_with(&v.owner, vec![att.clone()]).await;
    assert_eq!(v.put_pieces(&v.owner, &PieceList::of(&bytes)).await.0, 200);
    let filler = disk.fill();
    let (code, body) = v.put(&v.owner, &hash, 0, bytes.clone()).await;
    assert_eq!(code, 507, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    assert_eq!(v.status_ok(&v.owner, &hash).await.have, 0);
    // documents still sync (receiving needs no room)
    v.cadre.sync().await.unwrap();
    std::fs::remove_file(filler).unwrap();
    v.upload(&v.owner, &bytes).await;
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
}

/// A separate lane: while an upload is stalled mid-body (a phone on a weak signal, the
/// relay waiting for its next bytes), the same phone and others sync documents as
/// usual, and a cadre reads the request the photo belongs to before its bytes arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_sync_never_waits_for_a_stalled_upload() {
    let v = Village::new().await;
    let bytes = photo_bytes(5 * PIECE_BYTES, 11);
    let att = reference(&bytes, "漏水.jpg");
    let hash = att.hash.clone();
    let rid = v.file_request_with(&v.owner, vec![att.clone()]).await;
    v.put_pieces(&v.owner, &PieceList::of(&bytes)).await;
    let mut s = tokio::net::TcpStream::connect(v.relay.addr())
        .await
        .unwrap();
    let head = format!(
        "PUT /v1/blobs/{hash}?offset=0 HTTP/1.1\r\nhost: relay\r\n{AUTH_HEADER}: {}\r\ncontent-length: {}\r\n\r\n",
        v.auth(&v.owner, Op::Put, &hash, 0),
        bytes.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&bytes[..PIECE_BYTES + 10]).await.unwrap();
    s.flush().await.unwrap();
    wait_have(&v, &v.owner, &hash, PIECE_BYTES as u64).await;
    // the upload is now waiting for bytes; documents go through meanwhile
    let filed = v
        .owner
        .store
        .file_request(cunwu_core::store::NewRequest {
            kind: "social_assistance".into(),
            title: "路灯坏了".into(),
            description: "村口路灯不亮".into(),
            place: None,
            on_behalf_of: None,
            materials: vec![],
            attachments: vec![],
        })
        .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), v.owner.sync())
        .await
        .expect("the sync does not wait for the upload")
        .unwrap();
    assert_eq!(r.acked, 1, "{r:?}");
    let r = v.cadre.sync().await.unwrap();
    assert!(r.received >= 2, "{r:?}");
    let held = v.cadre.store.request(&rid).unwrap();
    assert_eq!(
        held.attachments.len(),
        1,
        "the reference arrived with its request"
    );
    assert!(v.cadre.store.request(&filed).is_ok());
    // the stalled upload then finishes on the same connection
    s.write_all(&bytes[PIECE_BYTES + 10..]).await.unwrap();
    s.flush().await.unwrap();
    let st = wait_have(&v, &v.owner, &hash, bytes.len() as u64).await;
    assert!(st.complete, "{st:?}");
    drop(s);
    assert_eq!(v.download(&v.cadre, &hash, att.size).await, bytes);
}
