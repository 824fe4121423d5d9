//! `bench relay-blobs`: what the relay's attachment lane costs, on loopback against the
//! release relay: relay CPU per MiB uploaded (verified piece by piece, fsynced) and
//! downloaded, the bytes on the wire per attachment beyond its own (piece list, HTTP
//! heads, JSON answers: every byte of every request and answer is counted, the client
//! writes them by hand), the bytes on disk beyond the attachment's, and a second
//! uploader of the same bytes (dedup: verified, not written again).
//!
//! Why: the bar is "bytes sent ≤ file size plus one chunk per cut plus headers";
//! this is the relay's share of it with no cut, and the CPU a village relay spends.

use cunwu_core::doc::EntityDoc;
use cunwu_core::ids::{new_event_id, new_id, now_ms};
use cunwu_core::model::attachment::{Attachment, PieceList, MAX_TRANSFER_BYTES};
use cunwu_core::model::request::RequestEvent;
use cunwu_core::wire::blob::{BlobAuth, Op, AUTH_HEADER};
use cunwu_core::wire::{entity_bytes, SignedBatch};
use cunwu_core::{EntityKind, Role};
use cunwu_tests::harness::{Device, RelayProcess};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 exchange written by hand: (status, answer body, bytes sent, bytes read).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: &str,
    body: &[u8],
) -> (u16, Vec<u8>, usize, usize) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: relay\r\n{AUTH_HEADER}: {auth}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    let mut out = vec![];
    s.read_to_end(&mut out).await.unwrap();
    let status: u16 = String::from_utf8_lossy(&out[9..12]).parse().unwrap();
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (status, out[head_end..].to_vec(), req.len(), out.len())
}

struct Wire {
    requests: usize,
    sent: usize,
    read: usize,
}

fn ev(body: &RequestEvent, by: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(body).unwrap();
    let m = v.as_object_mut().unwrap();
    m.insert("id".into(), new_event_id().into());
    m.insert("by".into(), by.into());
    m.insert("at".into(), now_ms().into());
    v
}

async fn reference(relay: &RelayProcess, dev: &Device, att: &Attachment) {
    let id = new_id();
    let file = RequestEvent::File {
        kind: "social_assistance".into(),
        title: "低保申请".into(),
        description: "附件".into(),
        place: None,
        filer: dev.member_id(),
        materials: vec![],
        attachments: vec![att.clone()],
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
        "{:?}",
        resp.rejections
    );
}

async fn upload(relay: &RelayProcess, space: &str, dev: &Device, bytes: &[u8]) -> Wire {
    let list = PieceList::of(bytes);
    let hash = list.hash();
    let auth = |op, off| BlobAuth::header(space, dev.key(), op, &hash, off, now_ms());
    let mut w = Wire {
        requests: 0,
        sent: 0,
        read: 0,
    };
    let (code, _, s, r) = http(
        relay.addr(),
        "PUT",
        &format!("/v1/blobs/{hash}/pieces"),
        &auth(Op::PutPieces, 0),
        &list.to_bytes(),
    )
    .await;
    assert_eq!(code, 200);
    (w.requests, w.sent, w.read) = (1, s, r);
    let mut from = 0usize;
    while from < bytes.len() {
        let to = (from + MAX_TRANSFER_BYTES).min(bytes.len());
        let (code, body, s, r) = http(
            relay.addr(),
            "PUT",
            &format!("/v1/blobs/{hash}?offset={from}"),
            &auth(Op::Put, from as u64),
            &bytes[from..to],
        )
        .await;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        w.requests += 1;
        w.sent += s;
        w.read += r;
        let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
        from = st["have"].as_u64().unwrap() as usize;
        if st["complete"] == true && st["readable"] == true {
            break;
        }
    }
    w
}

async fn download(
    relay: &RelayProcess,
    space: &str,
    dev: &Device,
    hash: &str,
    size: usize,
) -> Wire {
    let auth = |op, off| BlobAuth::header(space, dev.key(), op, hash, off, now_ms());
    let (code, list, s, r) = http(
        relay.addr(),
        "GET",
        &format!("/v1/blobs/{hash}/pieces"),
        &auth(Op::GetPieces, 0),
        &[],
    )
    .await;
    assert_eq!(code, 200);
    let list = PieceList::verify(hash, size as u64, &list).unwrap();
    let mut w = Wire {
        requests: 1,
        sent: s,
        read: r,
    };
    let mut got = 0usize;
    while got < size {
        let (code, body, s, r) = http(
            relay.addr(),
            "GET",
            &format!("/v1/blobs/{hash}?offset={got}&len={MAX_TRANSFER_BYTES}"),
            &auth(Op::Get, got as u64),
            &[],
        )
        .await;
        assert_eq!(code, 200);
        for (i, p) in body
            .chunks(cunwu_core::model::attachment::PIECE_BYTES)
            .enumerate()
        {
            list.check_piece(got / cunwu_core::model::attachment::PIECE_BYTES + i, p)
                .unwrap();
        }
        got += body.len();
        w.requests += 1;
        w.sent += s;
        w.read += r;
    }
    w
}

fn bytes_of(n: usize, seed: u64, magic: &[u8]) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005) | 1;
    let mut b: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    b[..magic.len()].copy_from_slice(magic);
    b
}

/// The bytes the relay's storage holds of `hash` (the file beside an SQLite database,
/// or the piece rows in PostgreSQL).
fn stored(relay: &RelayProcess, hash: &str) -> u64 {
    if relay.backend() == "sqlite" {
        let f = cunwu_relay::db::blob_dir_of(relay.db_path())
            .join(&hash[..2])
            .join(hash);
        std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)
    } else {
        relay.query_i64(&format!(
            "SELECT coalesce(sum(octet_length(bytes)), 0)::BIGINT FROM blob_pieces WHERE hash = '{hash}'"
        )) as u64
    }
}

fn cpu(relay: &RelayProcess) -> Duration {
    relay.cpu_time().unwrap_or_default()
}

pub fn run(args: &[String]) {
    let repeat = crate::arg(args, "--repeat", 10).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let relay = RelayProcess::start_with(&["--rate-per-minute", "1000000"]);
        let (space, invite) = relay.create_space("青石村");
        let cadre = Device::enroll(&relay, &invite, "陈建国").await;
        let a = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
        let b = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "李大山").await;
        println!("relay attachment lane, loopback, release relay ({}):", relay.backend());
        println!(
            "| attachment | size | upload: relay CPU per MiB | wire sent / size | download: relay CPU per MiB | wire read / size | requests up/down | on disk / size | 2nd uploader of the same bytes (dedup): relay CPU, bytes written |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let cases: [(&str, &str, usize, &[u8]); 3] = [
            ("voice note", "audio/ogg", 600 * 1000, b"OggS"),
            ("photo", "image/jpeg", 3 * 1000 * 1000, &[0xFF, 0xD8, 0xFF, 0xE0]),
            ("PDF scan", "application/pdf", 5 * 1000 * 1000, b"%PDF-"),
        ];
        for (i, (what, mime, size, magic)) in cases.into_iter().enumerate() {
            // `repeat` attachments of the kind, each different: CPU is read in 10 ms ticks
            let (mut up_cpu, mut down_cpu, mut dedup_cpu) =
                (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            let (mut up_wire, mut down_wire) = (0usize, 0usize);
            let (mut reqs_up, mut reqs_down) = (0usize, 0usize);
            let (mut disk, mut written_again) = (0u64, 0u64);
            let mut up_wall = Duration::ZERO;
            for k in 0..repeat {
                let bytes = bytes_of(size, (i * 1000 + k) as u64 + 1, magic);
                let att = Attachment {
                    hash: PieceList::of(&bytes).hash(),
                    size: size as u64,
                    mime: mime.into(),
                    name: format!("{what}.bin"),
                    duration_ms: None,
                    width: None,
                    height: None,
                    preview: None,
                };
                reference(&relay, &a, &att).await;
                reference(&relay, &b, &att).await;
                let c0 = cpu(&relay);
                let t = Instant::now();
                let up = upload(&relay, &space, &a, &bytes).await;
                up_wall += t.elapsed();
                let c1 = cpu(&relay);
                let down = download(&relay, &space, &cadre, &att.hash, size).await;
                let c2 = cpu(&relay);
                let held = stored(&relay, &att.hash);
                upload(&relay, &space, &b, &bytes).await;
                let c3 = cpu(&relay);
                up_cpu += c1 - c0;
                down_cpu += c2 - c1;
                dedup_cpu += c3 - c2;
                up_wire += up.sent;
                down_wire += down.read;
                reqs_up += up.requests;
                reqs_down += down.requests;
                disk += held;
                written_again += stored(&relay, &att.hash) - held;
            }
            let total = (size * repeat) as f64;
            let mib = total / (1024.0 * 1024.0);
            let msf = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "| {what} | {:.1} MB × {repeat} | {:.1} ms | {:.4} | {:.1} ms | {:.4} | {}/{} | {:.4} | {:.1} ms/MiB, {} bytes |",
                size as f64 / 1e6,
                msf(up_cpu) / mib,
                up_wire as f64 / total,
                msf(down_cpu) / mib,
                down_wire as f64 / total,
                reqs_up / repeat,
                reqs_down / repeat,
                disk as f64 / total,
                msf(dedup_cpu) / mib,
                written_again,
            );
            eprintln!(
                "  ({what}: upload wall {:.0} ms each on loopback)",
                msf(up_wall) / repeat as f64
            );
        }
    });
}
