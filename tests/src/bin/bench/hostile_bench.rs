//! `hostile`: what hostile input costs at each decoding entry point, against honest
//! input of the same size, in one run (issue 9, "a resource test").
//!
//! Entry points: a sync request and a control request (enrolment) to a real relay
//! process, whose CPU time is read from /proc/PID/stat and whose peak memory is
//! VmHWM after resetting it (`/proc/PID/clear_refs`); and a bundle import on a phone,
//! in this process, measured the same way on /proc/self. Each case sends inputs of at
//! most 1 MiB (most are far smaller) and reports CPU per input and the peak resident
//! memory above the level before the case.

use cunwu_core::doc::EntityDoc;
use cunwu_core::identity::DeviceKey;
use cunwu_core::ids::{new_event_id, now_ms};
use cunwu_core::model::notice::{Category, NoticeEvent, Period, Subtype};
use cunwu_core::store::NewNotice;
use cunwu_core::wire::{self, entity_bytes, Bundle, FrameKind, SealedRequest, SignedBatch};
use cunwu_core::Role;
use cunwu_tests::harness::{post_raw, post_sync, signed_sync_body, Device, RelayProcess};
use serde_json::{json, Value};
use std::time::Duration;

/// xorshift64: reproducible bytes that do not compress.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = &stat[stat.rfind(") ").map(|i| i + 2).unwrap_or(0)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // CLK_TCK is 100 on Linux
}

/// CPU per input (ms) and peak RSS above the level before (MiB) of `pid` while `f` runs.
async fn measure<F: std::future::Future<Output = ()>>(pid: &str, n: usize, f: F) -> (f64, f64) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let base = status_kib(pid, "VmRSS:");
    let c0 = cpu(pid);
    f.await;
    let c1 = cpu(pid);
    let peak = status_kib(pid, "VmHWM:").saturating_sub(base);
    (
        (c1 - c0).as_secs_f64() * 1000.0 / n as f64,
        peak as f64 / 1024.0,
    )
}

fn ev(body: &impl serde::Serialize, by: &str) -> Value {
    let mut v = serde_json::to_value(body).unwrap();
    let m = v.as_object_mut().unwrap();
    m.insert("id".into(), json!(new_event_id()));
    m.insert("by".into(), json!(by));
    m.insert("at".into(), json!(now_ms()));
    v
}

/// A question on `doc` by `dev`, built by hand, with `extra` nested `depth` maps deep
/// or carrying a list of `ints` integers.
fn question(
    doc: &EntityDoc,
    dev: &Device,
    text: &str,
    depth: usize,
    ints: usize,
) -> automerge::Change {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType, ReadDoc, ROOT};
    let mut d = doc
        .automerge()
        .fork()
        .with_actor(ActorId::from(&dev.key().public()[..]));
    let list = match d.get(ROOT, "events").unwrap() {
        Some((automerge::Value::Object(ObjType::List), id)) => id,
        _ => panic!("no event list"),
    };
    let mut tx = d.transaction();
    let n = tx.length(&list);
    let e = tx.insert_object(&list, n, ObjType::Map).unwrap();
    for (k, v) in ev(&NoticeEvent::Ask { text: text.into() }, &dev.member_id())
        .as_object()
        .unwrap()
    {
        match v {
            Value::String(s) => tx.put(&e, k.as_str(), s.as_str()).unwrap(),
            Value::Number(x) => tx.put(&e, k.as_str(), x.as_i64().unwrap()).unwrap(),
            _ => {}
        }
    }
    let mut obj = e.clone();
    for _ in 0..depth {
        obj = tx.put_object(&obj, "x", ObjType::Map).unwrap();
    }
    if ints > 0 {
        let l = tx.put_object(&e, "l", ObjType::List).unwrap();
        for i in 0..ints {
            tx.insert(&l, i, 1_000_000_007i64 * (i as i64 + 1)).unwrap();
        }
    }
    let (h, _) = tx.commit();
    d.get_change_by_hash(&h.unwrap()).cloned().unwrap()
}

/// The document of `id` as `dev`'s phone stores it (what a tampered app works with).
fn held(dev: &Device, id: &str) -> EntityDoc {
    let c = dev.sql();
    let snapshot: Option<Vec<u8>> = c
        .query_row("SELECT snapshot FROM entities WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    let mut st = c
        .prepare("SELECT bytes FROM changes WHERE entity_id = ?1 ORDER BY rowid")
        .unwrap();
    let changes: Vec<Vec<u8>> = st
        .query_map([id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    EntityDoc::load(snapshot.as_deref(), changes.iter().map(|b| b.as_slice())).unwrap()
}

fn zstd_bomb(gib: usize) -> Vec<u8> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    enc.include_checksum(true).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..gib * 1024 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    enc.finish().unwrap()
}

fn row(
    table: &mut Vec<(String, String, usize, f64, f64)>,
    entry: &str,
    case: &str,
    bytes: usize,
    (ms, mib): (f64, f64),
) {
    eprintln!("{entry:8} {case:44} {bytes:>9} B  {ms:8.2} ms  {mib:7.1} MiB");
    table.push((entry.into(), case.into(), bytes, ms, mib));
}

pub fn run(args: &[String]) {
    let n = super::arg(args, "--repeat", 10);
    rt().block_on(async move {
        let relay = RelayProcess::start_with(&["--rate-per-minute", "1000000"]);
        let pid = relay.pid().expect("relay pid").to_string();
        let (space, invite) = relay.create_space("青石村");
        let cadre = Device::enroll(&relay, &invite, "陈建国").await;
        let attacker = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "赵四").await;
        let mut notices = vec![];
        for i in 0..(8 * n + 8) {
            notices.push(
                cadre
                    .store
                    .post_notice(NewNotice {
                        category: Category::Village,
                        subtype: Subtype::Other,
                        period: Period::default(),
                        title: format!("通知{i}"),
                        body: "村道硬化".into(),
                        opening_balance_fen: None,
                        lines: vec![],
                        publish: true,
                    })
                    .unwrap(),
            );
        }
        cadre.sync().await.unwrap();
        attacker.sync().await.unwrap();
        let space_b = entity_bytes(&space).unwrap();
        let mut table = vec![];
        let mut next = notices.clone().into_iter();
        let counter = || attacker.store.next_counter().unwrap();
        let body_of = |batches: Vec<SignedBatch>| {
            signed_sync_body(attacker.key(), &space, counter(), 0, 0, batches)
        };

        // ---- sync requests ----
        // honest: about 1 MiB of questions (17 of 20,000 characters), accepted
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut cjk = |n: usize| -> String {
            (0..n)
                .map(|_| char::from_u32(0x4e00 + (rng.next() % 20_000) as u32).unwrap())
                .collect()
        };
        let texts: Vec<String> = (0..17 * n).map(|_| cjk(20_000)).collect();
        let mut texts = texts.into_iter();
        let mut honest = vec![];
        for _ in 0..n {
            let id = next.next().unwrap();
            let doc = held(&attacker, &id);
            let cs: Vec<_> = (0..17)
                .map(|_| {
                    (
                        entity_bytes(&id).unwrap(),
                        question(&doc, &attacker, &texts.next().unwrap(), 0, 0),
                    )
                })
                .collect();
            // independent questions on one notice: each its own batch of one
            honest.push(body_of(
                cs.into_iter()
                    .map(|c| SignedBatch::sign(attacker.key(), now_ms(), &[c]))
                    .collect(),
            ));
        }
        let size = honest[0].len();
        let r = measure(&pid, n, async {
            for b in honest.drain(..) {
                assert_eq!(post_sync(&relay.url(), b).await.status, 200);
            }
        })
        .await;
        row(
            &mut table,
            "sync",
            "honest: 17 questions of 20,000 characters",
            size,
            r,
        );

        let bomb = zstd_bomb(2);
        let stranger = DeviceKey::generate();
        let mut unsigned =
            SealedRequest::seal_body(&space_b, attacker.key(), b"x")[..5 + 16 + 32].to_vec();
        unsigned.extend_from_slice(&stranger.sign(b"not this"));
        unsigned.extend_from_slice(&bomb);
        let r = measure(&pid, n, async {
            for _ in 0..n {
                assert_eq!(post_sync(&relay.url(), unsigned.clone()).await.status, 401);
            }
        })
        .await;
        row(
            &mut table,
            "sync",
            "zstd bomb (2 GiB of zeros), bad signature",
            unsigned.len(),
            r,
        );

        let mut msg = b"cunwu-sync-v3\0".to_vec();
        msg.extend_from_slice(&space_b);
        msg.extend_from_slice(&attacker.key().public());
        msg.extend_from_slice(&bomb);
        let mut signed = unsigned[..5 + 16 + 32].to_vec();
        signed.extend_from_slice(&attacker.key().sign(&msg));
        signed.extend_from_slice(&bomb);
        let r = measure(&pid, n, async {
            for _ in 0..n {
                assert_eq!(post_sync(&relay.url(), signed.clone()).await.status, 413);
            }
        })
        .await;
        row(
            &mut table,
            "sync",
            "zstd bomb (2 GiB of zeros), signed",
            signed.len(),
            r,
        );

        let garbage: Vec<u8> = (0..1_000_000).map(|_| rng.next() as u8).collect();
        let junk = SealedRequest::seal_body(&space_b, attacker.key(), &garbage);
        let r = measure(&pid, n, async {
            for _ in 0..n {
                assert_eq!(post_sync(&relay.url(), junk.clone()).await.status, 400);
            }
        })
        .await;
        row(
            &mut table,
            "sync",
            "1 MB of random bytes, signed",
            junk.len(),
            r,
        );

        // 170 changes nested 3,000 maps deep, each its own batch (about 1 MiB)
        let mut deep = vec![];
        for _ in 0..n {
            let id = next.next().unwrap();
            let doc = held(&attacker, &id);
            let c = question(&doc, &attacker, "问", 3000, 0);
            let e = entity_bytes(&id).unwrap();
            let per = (1 << 20) / c.raw_bytes().len();
            deep.push(body_of(
                (0..per)
                    .map(|_| SignedBatch::sign(attacker.key(), now_ms(), &[(e, c.clone())]))
                    .collect(),
            ));
        }
        let size = deep[0].len();
        let r = measure(&pid, n, async {
            for b in deep.drain(..) {
                // over the request's operation budget: refused whole (413) before any
                // change is judged; under it, every change refused
                let r = post_sync(&relay.url(), b).await;
                assert!(
                    r.status == 413 || (r.status == 200 && r.sync_response().acks.is_empty()),
                    "{}",
                    r.status
                );
            }
        })
        .await;
        row(
            &mut table,
            "sync",
            "changes nested 3,000 deep (refused)",
            size,
            r,
        );

        // changes at the operation budget (20,000 operations each), accepted
        let mut wide = vec![];
        for _ in 0..n {
            let id = next.next().unwrap();
            let doc = held(&attacker, &id);
            let c = question(
                &doc,
                &attacker,
                "问",
                0,
                cunwu_core::model::MAX_OPS_PER_CHANGE - 20,
            );
            let e = entity_bytes(&id).unwrap();
            wide.push(body_of(vec![SignedBatch::sign(
                attacker.key(),
                now_ms(),
                &[(e, c)],
            )]));
        }
        let size = wide[0].len();
        let r = measure(&pid, n, async {
            for b in wide.drain(..) {
                let resp = post_sync(&relay.url(), b).await.sync_response();
                assert!(resp.rejections.is_empty(), "{:?}", resp.rejections);
            }
        })
        .await;
        row(
            &mut table,
            "sync",
            "one change at the 20,000-operation budget (accepted)",
            size,
            r,
        );

        // ---- control requests (enrolment JSON) ----
        let key = DeviceKey::generate();
        let name = "名".repeat(340_000);
        let dk = hex::encode(key.public());
        let sig =
            hex::encode(key.sign(&wire::control::enroll_message("AAAA-BBBB-CCCC", &dk, &name)));
        let honest_json = serde_json::to_vec(
            &json!({"invite": "AAAA-BBBB-CCCC", "device_key": dk, "name": name, "signature": sig}),
        )
        .unwrap();
        let r = measure(&pid, n, async {
            for _ in 0..n {
                assert_eq!(
                    post_raw(
                        &relay.url(),
                        "/v1/enroll",
                        "application/json",
                        honest_json.clone()
                    )
                    .await
                    .status,
                    400
                );
            }
        })
        .await;
        row(
            &mut table,
            "control",
            "signed enrolment, 1 MB name (refused)",
            honest_json.len(),
            r,
        );
        let nested = "[".repeat(1 << 20).into_bytes();
        let r = measure(&pid, n, async {
            for _ in 0..n {
                assert!(
                    post_raw(
                        &relay.url(),
                        "/v1/enroll",
                        "application/json",
                        nested.clone()
                    )
                    .await
                    .status
                        >= 400
                );
            }
        })
        .await;
        row(
            &mut table,
            "control",
            "1 MiB of nested JSON arrays",
            nested.len(),
            r,
        );

        // ---- bundle import (this process) ----
        let me = std::process::id().to_string();
        let phone = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
        let village = cadre.store.export_bundle(None).unwrap();
        let honest_bundle = wire::encode(FrameKind::Bundle, &village);
        let r = measure(&me, n, async {
            for _ in 0..n {
                let b = cunwu_core::bundle::decode(&honest_bundle).unwrap();
                phone.store.import_bundle(&b).unwrap();
            }
        })
        .await;
        row(
            &mut table,
            "bundle",
            "honest: the village's notices",
            honest_bundle.len(),
            r,
        );
        let mut bomb_bundle = b"CWU".to_vec();
        bomb_bundle.extend([wire::WIRE_VERSION, FrameKind::Bundle as u8]);
        bomb_bundle.extend_from_slice(&bomb);
        let r = measure(&me, n, async {
            for _ in 0..n {
                assert!(cunwu_core::bundle::decode(&bomb_bundle).is_err());
            }
        })
        .await;
        row(
            &mut table,
            "bundle",
            "zstd bomb (2 GiB of zeros)",
            bomb_bundle.len(),
            r,
        );
        let id = next.next().unwrap();
        let doc = held(&attacker, &id);
        let c = question(&doc, &attacker, "问", 3000, 0);
        let e = entity_bytes(&id).unwrap();
        let per = (1 << 20) / c.raw_bytes().len();
        let deep_bundle = wire::encode(
            FrameKind::Bundle,
            &Bundle {
                space: space_b,
                created_at: now_ms(),
                roster: None,
                batches: (0..per)
                    .map(|_| SignedBatch::sign(attacker.key(), now_ms(), &[(e, c.clone())]))
                    .collect(),
                tallies: vec![],
            },
        );
        let r = measure(&me, n, async {
            for _ in 0..n {
                let b = cunwu_core::bundle::decode(&deep_bundle).unwrap();
                let rep = phone.store.import_bundle(&b).unwrap();
                assert_eq!(rep.merge.applied, 0);
            }
        })
        .await;
        row(
            &mut table,
            "bundle",
            "changes nested 3,000 deep (refused)",
            deep_bundle.len(),
            r,
        );

        println!("| entry | input | bytes | CPU per input | peak memory above before |");
        println!("|---|---|---|---|---|");
        for (entry, case, bytes, ms, mib) in &table {
            println!("| {entry} | {case} | {bytes} | {ms:.2} ms | {mib:.1} MiB |");
        }
        concurrent_view(n);
    });
}

/// Judging a change made concurrently with the newest events of a long document (a
/// device that was offline for the last few): the author's view computed on the merged
/// document (`EntityDoc::author_view`, what the policy does now) against rebuilding the
/// document at the change's dependencies and applying it (`fork_at`, what it did
/// before), CPU of this process from /proc. `bench -- concurrent-view --repeat N`, or
/// the last table of `bench -- hostile`.
pub fn concurrent_view(n: usize) {
    let me = std::process::id().to_string();
    println!();
    println!("| events in the document | author_view | fork_at and apply (before) | ratio |");
    println!("|---|---|---|---|");
    let (a, b) = ([1u8; 32], [2u8; 32]);
    for events in [1_000usize, 8_000] {
        let ev = |i: usize| json!({"id": format!("e{i}"), "by": "m", "at": i, "type": "comment", "text": format!("第{i}条意见")});
        let (mut doc, _) = EntityDoc::create(
            &a,
            cunwu_core::EntityKind::Deliberation,
            "0123456789abcdef0123456789abcdef",
            &ev(0),
            1,
        )
        .unwrap();
        for i in 1..events - 2 {
            doc.append(&a, &ev(i), 1).unwrap();
        }
        // the other device missed the last two events
        let mut other = EntityDoc::empty();
        other.apply(doc.all_changes()).unwrap();
        for i in events - 2..events {
            doc.append(&a, &ev(i), 1).unwrap();
        }
        let change = other.append(&b, &ev(events), 1).unwrap();
        let unseen: Vec<automerge::Change> = doc
            .automerge()
            .get_changes(change.deps())
            .into_iter()
            .cloned()
            .collect();
        let unseen: Vec<&automerge::Change> = unseen.iter().collect();
        let mut after = EntityDoc::empty();
        after.apply(doc.all_changes()).unwrap();
        after.apply(vec![change.clone()]).unwrap();
        let reps = 5 * n.max(1);
        let c0 = cpu(&me);
        for _ in 0..reps {
            std::hint::black_box(after.author_view(&unseen, &change));
        }
        let ours = (cpu(&me) - c0).as_secs_f64() * 1000.0 / reps as f64;
        let c0 = cpu(&me);
        for _ in 0..reps {
            let mut view = EntityDoc::empty();
            *view.automerge_mut() = doc.automerge().fork_at(change.deps()).unwrap();
            let seen = view.to_json();
            view.apply(vec![change.clone()]).unwrap();
            std::hint::black_box((seen, view.to_json()));
        }
        let before = (cpu(&me) - c0).as_secs_f64() * 1000.0 / reps as f64;
        println!(
            "| {events} | {ours:.2} ms | {before:.2} ms | {:.1}x |",
            before / ours.max(0.01)
        );
    }
}
