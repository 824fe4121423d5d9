//! Sync over bad networks and through relay crashes (issue 3, "how we will know").
//!
//! Every test runs a REAL relay process (`cunwu_tests::harness::RelayProcess`) on
//! loopback and real devices (`Device`: a `cunwu_core::Store` + `SyncClient`). Devices
//! reach the relay through the userspace impairment proxy (`cunwu_tests::proxy`) when
//! the link matters: latency, bandwidth caps, responses cut mid-way, stalls, offline
//! periods. The relay is SIGKILLed and SIGTERMed mid-traffic and restarted on the same
//! database file and port.
//!
//! What is asserted is always an outcome, never a duration:
//! * convergence: every device holds exactly the documents its member may read, each
//!   equal (as JSON) to the document the relay's changes make;
//! * nothing lost: every change a device saw acked is in the relay's database, and
//!   every successful local operation ends acked (nothing pending, nothing rejected);
//! * nothing doubled: the relay holds each change once (`count(*)` = distinct hashes)
//!   and exactly as many changes as the devices made.
//!
//! `randomized_offline_edits_converge_through_a_bad_link` is driven by a seeded RNG; it
//! prints the seed, and `CUNWU_SEED=<n>` replays a run.

use cunwu_core::doc::EntityDoc;
use cunwu_core::model::request::{actor_may_transition, lifecycle_allows, Status};
use cunwu_core::policy::{may_read, Audience};
use cunwu_core::roster::SignedRoster;
use cunwu_core::store::{ChangeState, NewNotice, NoticeFilter, RequestFilter};
use cunwu_core::sync::SyncReport;
use cunwu_core::{EntityKind, Role};
use cunwu_tests::corpus::{self, Corpus};
use cunwu_tests::harness::{Device, RelayProcess};
use cunwu_tests::proxy::{Impairment, Proxy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- helpers -------------------------------------------------------------------------------

/// A relay for these tests: the per-device rate limit is lifted (the tests sync in
/// tight loops; rate limiting has its own tests).
fn relay() -> RelayProcess {
    RelayProcess::start_with(&["--rate-per-minute", "1000000"])
}

/// The signed roster the device holds (what `set_membership` wants back).
fn signed_roster_of(d: &Device) -> SignedRoster {
    let raw: Vec<u8> = d
        .sql()
        .query_row("SELECT value FROM local WHERE key = 'roster'", [], |r| {
            r.get(0)
        })
        .expect("stored roster");
    serde_json::from_slice(&raw).expect("stored roster parses")
}

/// Point the device at `url` (a proxy in front of the relay) instead of the relay.
fn route(d: &Device, url: &str) {
    let mut m = d.membership();
    m.relay_url = url.to_string();
    d.store
        .set_membership(&m, &signed_roster_of(d))
        .expect("re-route the device");
}

/// A device enrolled at the relay and routed through a fresh proxy with `link`.
async fn enroll_behind_proxy(
    relay: &RelayProcess,
    invite: &str,
    name: &str,
    link: Impairment,
) -> (Device, Proxy) {
    let d = Device::enroll(relay, invite, name).await;
    let p = Proxy::start(relay.addr(), link).await;
    route(&d, &p.url());
    (d, p)
}

/// What the relay's database holds: each entity's document (built from its changes,
/// in log order), kind and audience, and the change rows.
struct RelayView {
    docs: BTreeMap<String, Value>,
    kinds: BTreeMap<String, String>,
    audiences: BTreeMap<String, Audience>,
    /// hex change hash → number of rows with it
    hashes: BTreeMap<String, usize>,
    rows: usize,
}

fn relay_view(relay: &RelayProcess, space: &str) -> RelayView {
    let rows = relay.change_rows(space);
    let mut by_entity: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut hashes: BTreeMap<String, usize> = BTreeMap::new();
    for (e, h, b) in &rows {
        by_entity.entry(e.clone()).or_default().push(b.clone());
        *hashes.entry(hex::encode(h)).or_default() += 1;
    }
    let docs = by_entity
        .iter()
        .map(|(e, bs)| {
            let d = EntityDoc::load(None, bs.iter().map(|b| b.as_slice()))
                .unwrap_or_else(|err| panic!("the relay's changes of {e} do not load: {err}"));
            (e.clone(), d.to_json())
        })
        .collect();
    let ents = relay.entity_rows(space);
    let mut kinds = BTreeMap::new();
    let mut audiences = BTreeMap::new();
    for (id, kind, aud) in ents {
        kinds.insert(id.clone(), kind);
        audiences.insert(
            id,
            serde_json::from_str::<Audience>(&aud).expect("stored audience parses"),
        );
    }
    RelayView {
        docs,
        kinds,
        audiences,
        hashes,
        rows: rows.len(),
    }
}

/// Total change rows and distinct hashes in the relay (all spaces).
fn relay_change_counts(relay: &RelayProcess) -> (i64, i64) {
    (
        relay.query_i64("SELECT count(*) FROM changes"),
        relay.query_i64("SELECT count(DISTINCT hash) FROM changes"),
    )
}

fn relay_has_change(relay: &RelayProcess, hash_hex: &str) -> bool {
    relay.has_change(&hex::decode(hash_hex).unwrap())
}

fn acked_hashes(d: &Device) -> Vec<String> {
    d.store
        .local_changes(Some(ChangeState::Acked), 10_000)
        .unwrap()
        .into_iter()
        .map(|c| c.hash)
        .collect()
}

/// The device holds exactly what its member may read on the relay, and each of those
/// documents equals the relay's.
fn assert_matches_relay(d: &Device, view: &RelayView) {
    let me = d.store.me().unwrap();
    let expected: BTreeSet<String> = view
        .audiences
        .iter()
        .filter(|(_, a)| may_read(a, &me))
        .map(|(id, _)| id.clone())
        .collect();
    let held: BTreeSet<String> = d
        .store
        .entity_ids()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let missing: Vec<_> = expected.difference(&held).collect();
    let extra: Vec<_> = held.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} ({}) holds the wrong documents: missing {missing:?}, extra (unreadable or unknown to the relay) {extra:?}",
        d.name,
        me.role.as_str()
    );
    for id in &held {
        let mine = d.store.document_json(id).unwrap();
        let theirs = view
            .docs
            .get(id)
            .unwrap_or_else(|| panic!("the relay has no changes for {id}"));
        assert_eq!(
            &mine, theirs,
            "{}'s document {id} differs from the relay's",
            d.name
        );
    }
}

/// Every local change of the device is acked, there are `ops` of them, and the relay
/// holds each of them exactly once.
fn assert_all_acked(d: &Device, ops: usize, view: &RelayView) {
    let all = d.store.local_changes(None, 10_000).unwrap();
    let not_acked: Vec<_> = all
        .iter()
        .filter(|c| c.state != ChangeState::Acked)
        .collect();
    assert!(
        not_acked.is_empty(),
        "{} has changes that are not acked: {not_acked:#?}",
        d.name
    );
    assert_eq!(
        all.len(),
        ops,
        "{}: {} local changes for {ops} successful operations",
        d.name,
        all.len()
    );
    let acked = d
        .store
        .local_changes(Some(ChangeState::Acked), 10_000)
        .unwrap();
    assert_eq!(
        acked.len(),
        ops,
        "{}: {} acked changes for {ops} successful operations",
        d.name,
        acked.len()
    );
    let counts = d.store.counts().unwrap();
    assert_eq!(
        (counts.pending_changes, counts.rejected_changes),
        (0, 0),
        "{}: {counts:?}",
        d.name
    );
    for c in &all {
        assert_eq!(
            view.hashes.get(&c.hash).copied(),
            Some(1),
            "{}'s acked change {} ({}) is not in the relay exactly once",
            d.name,
            c.hash,
            c.summary
        );
    }
}

/// The relay holds no change twice and exactly `total_ops` changes.
fn assert_nothing_doubled(relay: &RelayProcess, view: &RelayView, total_ops: usize) {
    let (rows, distinct) = relay_change_counts(relay);
    assert_eq!(rows, distinct, "the relay holds some change more than once");
    assert_eq!(rows as usize, view.rows);
    assert_eq!(
        rows as usize, total_ops,
        "the relay holds {rows} changes; the devices made {total_ops}"
    );
}

/// Sync every device (on a healed link) until a whole round moves nothing.
async fn sync_until_quiet(devices: &[&Device], max_rounds: usize) {
    for round in 1..=max_rounds {
        let mut quiet = true;
        for d in devices {
            let r = d.sync().await.unwrap_or_else(|e| {
                panic!(
                    "{}: sync on a healed link failed in round {round}: {e}",
                    d.name
                )
            });
            assert_eq!(
                r.rejected, 0,
                "{}: the relay rejected changes: {:?}",
                d.name, r.rejections
            );
            assert_eq!(
                r.refused_incoming, 0,
                "{}: refused incoming changes: {r:?}",
                d.name
            );
            if r.sent > 0 || r.received > 0 {
                quiet = false;
            }
        }
        if quiet {
            return;
        }
    }
    panic!("devices still exchanged changes after {max_rounds} rounds on healed links");
}

fn notice_filter() -> NoticeFilter {
    NoticeFilter {
        limit: 500,
        ..Default::default()
    }
}

fn small_notice(i: usize) -> NewNotice {
    let mut n = corpus::load().notice(i);
    n.body = format!("第{i}号通知：本周六上午在村委会召开会议，请各户派代表参加。");
    n.lines.clear();
    n.opening_balance_fen = None;
    n.category = cunwu_core::model::notice::Category::Village;
    n.subtype = cunwu_core::model::notice::Subtype::Other;
    n
}

// ---- 1. randomized offline edits through a bad link ----------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Cadre,
    Resident,
}

struct Phone {
    dev: Device,
    proxy: Proxy,
    who: Who,
    online: bool,
    /// Local operations that returned Ok (each writes exactly one change).
    ops: usize,
    /// Requests this phone filed.
    filed: Vec<String>,
    /// Extra latency of this phone's link (the migrant worker is far away).
    base_latency: u64,
}

/// A random bad link: latency, maybe a bandwidth cap, maybe cuts mid-response (at a
/// random point, FIN or reset), maybe a stall.
fn random_link(rng: &mut StdRng, base_latency: u64) -> Impairment {
    let mut imp = Impairment::none()
        .with_latency(Duration::from_millis(base_latency + rng.gen_range(0..40)))
        .with_seed(rng.gen());
    if rng.gen_bool(0.4) {
        imp = imp.with_bandwidth(Some(rng.gen_range(16_000..400_000)));
    }
    if rng.gen_bool(0.5) {
        // responses here are a few hundred bytes to a few KB: cut in the headers or the body
        imp.cut_after_bytes_down = Some(rng.gen_range(1..3_000));
        imp.cut_probability = rng.gen_range(0.3..1.0);
        imp.randomize_cut_point = rng.gen_bool(0.7);
        imp.cut_with_reset = rng.gen_bool(0.3);
    }
    if rng.gen_bool(0.25) {
        imp = imp.with_stall(
            Duration::from_millis(rng.gen_range(50..300)),
            rng.gen_range(0..4096),
        );
    }
    imp
}

/// One random edit by this phone's member. Returns a description, or None when the
/// operation was refused locally (not counted).
fn random_edit(p: &mut Phone, rng: &mut StdRng, c: &Corpus, serial: &mut usize) -> String {
    *serial += 1;
    let n = *serial;
    let s = &p.dev.store;
    let notices = s.list_notices(&notice_filter()).unwrap();
    let result: Result<String, cunwu_core::Error> = match p.who {
        Who::Cadre => {
            let requests = s
                .list_requests(&RequestFilter {
                    limit: 500,
                    ..Default::default()
                })
                .unwrap();
            let movable: Vec<(String, Vec<Status>)> = requests
                .iter()
                .filter_map(|r| {
                    let from = r.status;
                    let to: Vec<Status> = Status::ALL
                        .into_iter()
                        .filter(|t| {
                            lifecycle_allows(from, *t)
                                && actor_may_transition(*t, false, Role::Cadre)
                        })
                        .collect();
                    (!to.is_empty()).then(|| (r.id.clone(), to))
                })
                .collect();
            let questions: Vec<(String, String)> = notices
                .iter()
                .filter(|n| n.open_questions > 0)
                .flat_map(|n| {
                    let full = s.notice(&n.id).unwrap();
                    full.questions
                        .into_iter()
                        .filter(|q| q.answers.is_empty())
                        .map(move |q| (n.id.clone(), q.id))
                })
                .collect();
            match rng.gen_range(0..10) {
                0..=2 if !movable.is_empty() => {
                    let (id, to) = &movable[rng.gen_range(0..movable.len())];
                    let to = to[rng.gen_range(0..to.len())];
                    s.transition_request(id, to, &format!("第{n}次处理"))
                        .map(|_| format!("transition {id} → {}", to.as_str()))
                }
                3..=4 if !questions.is_empty() => {
                    let (nid, qid) = &questions[rng.gen_range(0..questions.len())];
                    s.answer_question(nid, qid, &format!("答复{n}：请到村委会咨询。"))
                        .map(|_| format!("answer {qid} on {nid}"))
                }
                5 => s
                    .create_deliberation(c.deliberation(n, cunwu_core::ids::now_ms()))
                    .map(|id| format!("create deliberation {id}")),
                _ => s
                    .post_notice(small_notice(n))
                    .map(|id| format!("post notice {id}")),
            }
        }
        Who::Resident => {
            let unread: Vec<_> = notices
                .iter()
                .filter(|n| !n.read && n.revision > 0)
                .collect();
            let delibs = s.list_deliberations(500, 0).unwrap();
            match rng.gen_range(0..10) {
                0..=2 if !unread.is_empty() => {
                    let id = &unread[rng.gen_range(0..unread.len())].id;
                    s.mark_read(id)
                        .map(|rev| format!("mark read {id} rev {rev}"))
                }
                3..=4 if !notices.is_empty() => {
                    let id = &notices[rng.gen_range(0..notices.len())].id;
                    s.ask_question(id, &format!("问题{n}：这件事什么时候办？"))
                        .map(|q| format!("ask {q} on {id}"))
                }
                5 if !delibs.is_empty() => {
                    let id = &delibs[rng.gen_range(0..delibs.len())].id;
                    s.comment_deliberation(id, &format!("意见{n}：同意。"))
                        .map(|_| format!("comment on deliberation {id}"))
                }
                _ => {
                    let mut r = c.request(n);
                    r.title = format!("{}（{n}）", r.title);
                    s.file_request(r).map(|id| {
                        p.filed.push(id.clone());
                        format!("file request {id}")
                    })
                }
            }
        }
    };
    match result {
        Ok(what) => {
            p.ops += 1;
            what
        }
        Err(e) => format!("refused locally (not counted): {e}"),
    }
}

fn short(r: &Result<SyncReport, cunwu_core::Error>) -> String {
    match r {
        Ok(r) => {
            format!(
                "ok sent {} acked {} received {} trips {} cursor {}",
                r.sent, r.acked, r.received, r.round_trips, r.cursor
            )
        }
        Err(e) => format!("error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_offline_edits_converge_through_a_bad_link() {
    let seed: u64 = match std::env::var("CUNWU_SEED") {
        Ok(s) => s.trim().parse().expect("CUNWU_SEED must be an integer"),
        Err(_) => rand::random::<u32>() as u64,
    };
    eprintln!("randomized_offline_edits_converge_through_a_bad_link: CUNWU_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let c = corpus::load();
    let relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    let mut phones = vec![];
    let (d, p) = enroll_behind_proxy(&relay, &cadre_invite, "陈建国", Impairment::none()).await;
    phones.push(Phone {
        dev: d,
        proxy: p,
        who: Who::Cadre,
        online: true,
        ops: 0,
        filed: vec![],
        base_latency: 5,
    });
    let inv = relay.invite_with(&space, Role::Resident, "H03", "一组");
    let (d, p) = enroll_behind_proxy(&relay, &inv, "林国栋", Impairment::none()).await;
    phones.push(Phone {
        dev: d,
        proxy: p,
        who: Who::Resident,
        online: true,
        ops: 0,
        filed: vec![],
        base_latency: 20,
    });
    // a migrant worker in a city far away: a longer link
    let inv = relay.invite_with(&space, Role::Resident, "H09", "三组");
    let (d, p) = enroll_behind_proxy(&relay, &inv, "马文军", Impairment::none()).await;
    phones.push(Phone {
        dev: d,
        proxy: p,
        who: Who::Resident,
        online: true,
        ops: 0,
        filed: vec![],
        base_latency: 80,
    });

    let mut serial = 0usize;
    let mut trace: Vec<String> = vec![];
    let (mut ok_syncs, mut failed_syncs) = (0, 0);
    for step in 0..40 {
        let i = rng.gen_range(0..phones.len());
        let action = rng.gen_range(0..10);
        let p = &mut phones[i];
        let line = match action {
            0 => {
                p.online = !p.online;
                if p.online {
                    p.proxy
                        .set_impairment(random_link(&mut rng, p.base_latency));
                    "goes online".to_string()
                } else {
                    p.proxy.set_impairment(Impairment::offline());
                    "goes offline".to_string()
                }
            }
            1..=4 => random_edit(p, &mut rng, &c, &mut serial),
            _ => {
                let link = if p.online {
                    random_link(&mut rng, p.base_latency)
                } else {
                    Impairment::offline()
                };
                p.proxy.set_impairment(link);
                let r = p.dev.sync().await;
                if r.is_ok() {
                    ok_syncs += 1;
                } else {
                    failed_syncs += 1;
                }
                if let Ok(rep) = &r {
                    assert_eq!(
                        rep.rejected, 0,
                        "{}: the relay rejected changes: {:?}",
                        p.dev.name, rep.rejections
                    );
                }
                format!("sync via {link:?}: {}", short(&r))
            }
        };
        let line = format!("step {step:2} {}: {line}", p.dev.name);
        eprintln!("{line}");
        trace.push(line);
    }
    // Every device makes one more edit and then syncs through a link that is sure to
    // cut the relay's answer (every answer is longer than 140 bytes: status line and
    // headers alone are over 100), so every run exercises a lost ack.
    for p in phones.iter_mut() {
        let what = random_edit(p, &mut rng, &c, &mut serial);
        let cut = rng.gen_range(0..140);
        let imp = Impairment {
            cut_with_reset: rng.gen_bool(0.5),
            ..Impairment::none().with_cut_after(cut)
        };
        p.proxy
            .set_impairment(imp.with_latency(Duration::from_millis(p.base_latency)));
        let r = p.dev.sync().await;
        eprintln!(
            "final cut {} after {cut} bytes: {what}; sync: {}",
            p.dev.name,
            short(&r)
        );
        assert!(
            r.is_err(),
            "{}: a sync whose answer was cut after {cut} bytes succeeded",
            p.dev.name
        );
    }
    eprintln!("{ok_syncs} syncs succeeded, {failed_syncs} failed during the random phase");

    // heal every link and sync until nothing moves
    for p in &phones {
        p.proxy.set_impairment(Impairment::none());
    }
    let devs: Vec<&Device> = phones.iter().map(|p| &p.dev).collect();
    sync_until_quiet(&devs, 6).await;

    let view = relay_view(&relay, &space);
    let total: usize = phones.iter().map(|p| p.ops).sum();
    assert!(total > 0, "the run made no edits (seed {seed})");
    assert_nothing_doubled(&relay, &view, total);
    for p in &phones {
        assert_all_acked(&p.dev, p.ops, &view);
        assert_matches_relay(&p.dev, &view);
        // the rule spelled out: cadres hold everything, residents every notice and
        // deliberation and only their own requests
        let held: BTreeSet<String> = p
            .dev
            .store
            .entity_ids()
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let expected: BTreeSet<String> = match p.who {
            Who::Cadre => view.kinds.keys().cloned().collect(),
            Who::Resident => view
                .kinds
                .iter()
                .filter(|(id, k)| {
                    k.as_str() != EntityKind::Request.as_str() || p.filed.contains(id)
                })
                .map(|(id, _)| id.clone())
                .collect(),
        };
        assert_eq!(held, expected, "{} (seed {seed})", p.dev.name);
        let mine: BTreeSet<String> = p
            .dev
            .store
            .list_requests(&RequestFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        if p.who == Who::Resident {
            assert_eq!(
                mine,
                p.filed.iter().cloned().collect(),
                "{} lists other people's requests",
                p.dev.name
            );
        }
    }
    let stats: Vec<_> = phones
        .iter()
        .map(|p| (p.dev.name.clone(), p.proxy.stats()))
        .collect();
    eprintln!("proxy stats: {stats:?}");
    assert!(
        stats.iter().map(|(_, s)| s.cuts).sum::<u64>() > 0,
        "no connection was cut (seed {seed})"
    );
}

// ---- 2. SIGKILL of the relay mid-traffic ---------------------------------------------------

#[derive(Default)]
struct ChurnStats {
    /// Local operations that returned Ok (each writes exactly one change).
    ops: AtomicUsize,
    ok: AtomicUsize,
    failed: AtomicUsize,
    /// A sync of this device is under way.
    in_flight: AtomicBool,
}

/// What a churning device edits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Churn {
    /// Only documents that existed before the churn started: questions and read
    /// receipts on notices, comments on requests.
    ExistingDocuments,
    /// Also new documents: notices (cadres) and requests (residents).
    NewDocuments,
}

/// Edit and sync in a loop until `stop`; sync errors (the relay is down) are expected.
async fn churn(
    d: Arc<Device>,
    who: Who,
    what: Churn,
    stop: Arc<AtomicBool>,
    stats: Arc<ChurnStats>,
    c: Arc<Corpus>,
    base: usize,
) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let n = base + i;
        let s = &d.store;
        let notices = s.list_notices(&notice_filter()).unwrap();
        let requests = s
            .list_requests(&RequestFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap();
        let mut results: Vec<Result<(), cunwu_core::Error>> = vec![];
        match (who, what) {
            (Who::Cadre, Churn::NewDocuments) => {
                results.push(s.post_notice(small_notice(n)).map(|_| ()))
            }
            (Who::Resident, Churn::NewDocuments) => {
                let mut r = c.request(n);
                r.title = format!("{}（{n}）", r.title);
                results.push(s.file_request(r).map(|_| ()));
            }
            (Who::Cadre, Churn::ExistingDocuments) => {
                if let Some(r) = requests.get(i % requests.len().max(1)) {
                    results.push(s.comment_request(
                        &r.id,
                        &format!("回复{n}：已收到，正在处理。"),
                        false,
                    ));
                }
            }
            (Who::Resident, Churn::ExistingDocuments) => {
                if let Some(r) = requests.get(i % requests.len().max(1)) {
                    results.push(s.comment_request(
                        &r.id,
                        &format!("补充{n}：请尽快处理。"),
                        false,
                    ));
                }
                if let Some(nt) = notices.iter().find(|n| !n.read) {
                    results.push(s.mark_read(&nt.id).map(|_| ()));
                }
            }
        }
        if let Some(nt) = notices.get(i % notices.len().max(1)) {
            results.push(
                s.ask_question(&nt.id, &format!("问题{n}：什么时候开始？"))
                    .map(|_| ()),
            );
        }
        for r in results {
            r.unwrap_or_else(|e| panic!("{}: a local edit failed: {e}", d.name));
            stats.ops.fetch_add(1, Ordering::Relaxed);
        }
        stats.in_flight.store(true, Ordering::SeqCst);
        let r = d.sync().await;
        stats.in_flight.store(false, Ordering::SeqCst);
        match r {
            Ok(r) => {
                assert_eq!(r.rejected, 0, "{}: rejected: {:?}", d.name, r.rejections);
                stats.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// Every device churns (device `k` does `what(k)`) for `how_long`, all at once; the
/// stats of each, counting its `setup_ops` too.
async fn churn_all(
    devices: &[(Arc<Device>, Who, usize)],
    c: &Arc<Corpus>,
    how_long: Duration,
    what: impl Fn(usize) -> Churn,
) -> Vec<Arc<ChurnStats>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![];
    let mut stats = vec![];
    for (k, (d, who, setup_ops)) in devices.iter().enumerate() {
        let s = Arc::new(ChurnStats::default());
        s.ops.store(*setup_ops, Ordering::Relaxed);
        stats.push(s.clone());
        tasks.push(tokio::spawn(churn(
            d.clone(),
            *who,
            what(k),
            stop.clone(),
            s,
            c.clone(),
            k * 10_000,
        )));
    }
    tokio::time::sleep(how_long).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a churn task panicked");
    }
    stats
}

/// A cadre and two residents with notices and requests already synced everywhere.
async fn churn_village(
    relay: &RelayProcess,
    c: &Corpus,
) -> (String, Vec<(Arc<Device>, Who, usize)>) {
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(relay, &cadre_invite, "陈建国").await;
    let r1 = Device::enroll(
        relay,
        &relay.invite_with(&space, Role::Resident, "H03", "一组"),
        "林国栋",
    )
    .await;
    let r2 = Device::enroll(
        relay,
        &relay.invite_with(&space, Role::Resident, "H09", "三组"),
        "马文军",
    )
    .await;
    for i in 0..4 {
        cadre.store.post_notice(small_notice(i)).unwrap();
    }
    for (k, r) in [&r1, &r2].into_iter().enumerate() {
        for i in 0..2 {
            r.store.file_request(c.request(k * 2 + i)).unwrap();
        }
    }
    for d in [&cadre, &r1, &r2, &cadre, &r1, &r2] {
        d.sync().await.unwrap();
    }
    (
        space,
        vec![
            (Arc::new(cadre), Who::Cadre, 4),
            (Arc::new(r1), Who::Resident, 2),
            (Arc::new(r2), Who::Resident, 2),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_sigkill_mid_traffic_loses_nothing_acked() {
    let c = Arc::new(corpus::load());
    let mut relay = relay();
    // The churn edits documents that exist before it starts: new documents created
    // while other devices read hit the relay bug that
    // `concurrent_new_documents_reach_every_reader` shows, which is not what this test
    // is about.
    let (space, devices) = churn_village(&relay, &c).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![];
    let mut stats = vec![];
    for (k, (d, who, setup_ops)) in devices.iter().enumerate() {
        let s = Arc::new(ChurnStats::default());
        s.ops.store(*setup_ops, Ordering::Relaxed);
        stats.push(s.clone());
        tasks.push(tokio::spawn(churn(
            d.clone(),
            *who,
            Churn::ExistingDocuments,
            stop.clone(),
            s,
            c.clone(),
            k * 10_000,
        )));
    }

    let mut acked_before_kills: BTreeMap<String, String> = BTreeMap::new();
    for kill in 1..=3 {
        // let traffic flow until every device has synced twice since the last restart
        let t0 = Instant::now();
        let ok_at_start: Vec<usize> = stats.iter().map(|s| s.ok.load(Ordering::Relaxed)).collect();
        while stats
            .iter()
            .zip(&ok_at_start)
            .any(|(s, o)| s.ok.load(Ordering::Relaxed) < o + 2)
        {
            if tasks.iter().any(|t| t.is_finished()) {
                break; // a churn task panicked: the join below reports it
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "devices made no progress with the relay up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // SIGKILL while some device has a sync under way
        let t0 = Instant::now();
        while !stats.iter().any(|s| s.in_flight.load(Ordering::SeqCst))
            && !tasks.iter().any(|t| t.is_finished())
        {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "no sync was ever in flight"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::task::block_in_place(|| relay.kill_hard());
        // everything acked so far was acked by the relay that just died
        let mut snapshot = 0;
        for (d, _, _) in &devices {
            for h in acked_hashes(d) {
                snapshot += 1;
                acked_before_kills.insert(h, d.name.clone());
            }
        }
        eprintln!("kill {kill}: {snapshot} changes acked before the SIGKILL");
        tokio::time::sleep(Duration::from_millis(200)).await; // devices hit a dead relay
        tokio::task::block_in_place(|| relay.restart());
        let lost: Vec<_> = acked_before_kills
            .iter()
            .filter(|(h, _)| !relay_has_change(&relay, h))
            .collect();
        assert!(
            lost.is_empty(),
            "after SIGKILL {kill} the relay lost acked changes: {lost:?}"
        );
    }
    // a last stretch of traffic on the restarted relay
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a churn task panicked");
    }
    let failed: usize = stats.iter().map(|s| s.failed.load(Ordering::Relaxed)).sum();
    let ok: usize = stats.iter().map(|s| s.ok.load(Ordering::Relaxed)).sum();
    eprintln!(
        "{ok} syncs succeeded, {failed} failed; {} acked changes checked",
        acked_before_kills.len()
    );
    assert!(failed > 0, "no sync ever hit the dead relay");

    let devs: Vec<&Device> = devices.iter().map(|(d, _, _)| d.as_ref()).collect();
    sync_until_quiet(&devs, 6).await;
    let view = relay_view(&relay, &space);
    for h in acked_before_kills.keys() {
        assert_eq!(
            view.hashes.get(h).copied(),
            Some(1),
            "acked change {h} is not in the relay exactly once"
        );
    }
    let total: usize = stats.iter().map(|s| s.ops.load(Ordering::Relaxed)).sum();
    assert_nothing_doubled(&relay, &view, total);
    for ((d, _, _), s) in devices.iter().zip(&stats) {
        assert_all_acked(d, s.ops.load(Ordering::Relaxed), &view);
        assert_matches_relay(d, &view);
    }
    assert!(relay.integrity_ok(), "relay database integrity");
}

// ---- 3. a cut download resumes from the last page --------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_resumes_from_last_page() {
    let c = corpus::load();
    let relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let n = 1500;
    let t = Instant::now();
    for i in 0..n {
        cadre.store.post_notice(c.notice(i)).unwrap();
    }
    let up = cadre.sync().await.unwrap();
    assert_eq!(up.acked as usize, n, "{up:?}");
    eprintln!(
        "{n} notices posted and uploaded in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // a fresh phone for reference: the whole village from scratch, straight to the relay
    // pages of 512 KiB (the default is larger) so that this village needs several: the
    // next page is requested while one is applied, so the cut must hit a later page
    let mut reference =
        Device::enroll(&relay, &relay.invite(&space, Role::Resident), "何玉珍").await;
    reference.client = reference.client.clone().with_page_bytes(512 << 10);
    let full = reference.sync().await.unwrap();
    eprintln!("full sync from scratch: {full:?}");
    assert!(
        full.round_trips >= 2,
        "the village should need several pages: {full:?}"
    );
    assert_eq!(full.received as usize, n);

    // the new phone on a capped link; once its first page is applied, the link cuts the
    // response in flight (once)
    // slow enough that the next page (requested while this one is applied) is still in flight
    let link = Impairment::none()
        .with_bandwidth(Some(30_000))
        .with_latency(Duration::from_millis(100));
    let (mut phone, proxy) = enroll_behind_proxy(
        &relay,
        &relay.invite(&space, Role::Resident),
        "罗翠花",
        link,
    )
    .await;
    phone.client = phone.client.clone().with_page_bytes(512 << 10);
    // the monitor runs on a thread of its own: polled in the sync's task, it would not
    // run while pages that had already arrived were applied one after another
    let done = AtomicBool::new(false);
    let (first, armed) = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let monitor = s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if phone.store.cursor().unwrap() > 0 {
                        proxy.set_impairment(link.with_cut_after(2_000));
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                false
            });
            let r = tokio::runtime::Handle::current().block_on(phone.sync());
            done.store(true, Ordering::SeqCst);
            (r, monitor.join().expect("monitor thread"))
        })
    });
    assert!(
        armed,
        "the sync finished before its first page was applied: {first:?}"
    );
    let err = first.expect_err("the cut sync should fail");
    let cursor = phone.store.cursor().unwrap();
    eprintln!(
        "cut sync: {err}; cursor {cursor} of {}; proxy {:?}",
        full.cursor,
        proxy.stats()
    );
    assert!(
        cursor > 0 && cursor < full.cursor,
        "cursor after the cut: {cursor} (full: {})",
        full.cursor
    );
    let partial = phone.store.entity_ids().unwrap().len();
    assert!(
        partial > 0 && partial < n,
        "the phone holds {partial} of {n} notices after the cut"
    );

    proxy.set_impairment(link);
    let resumed = phone.sync().await.unwrap();
    eprintln!("resumed sync: {resumed:?}");
    assert!(
        resumed.round_trips < full.round_trips,
        "resumed {resumed:?} vs full {full:?}"
    );
    assert!(
        resumed.bytes_received < full.bytes_received,
        "resumed {resumed:?} vs full {full:?}"
    );
    assert_eq!(
        resumed.received as usize + partial,
        n,
        "every notice arrives once across the two syncs"
    );
    assert_eq!(resumed.cursor, full.cursor);

    let view = relay_view(&relay, &space);
    assert_matches_relay(&phone, &view);
    assert_matches_relay(&reference, &view);
    assert_eq!(
        phone
            .store
            .list_notices(&NoticeFilter {
                limit: 500,
                ..Default::default()
            })
            .unwrap()
            .len(),
        500
    );
}

// ---- 4. a retry after a cut ack doubles nothing ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_cut_doubles_nothing() {
    let relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    let (cadre, proxy) =
        enroll_behind_proxy(&relay, &cadre_invite, "陈建国", Impairment::none()).await;
    let resident = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
    let mut made = 0;
    // cut points: before the status line, inside the headers, inside the body; FIN and reset
    for (round, (cut, reset)) in [(0u64, false), (12, false), (130, true), (200, false)]
        .into_iter()
        .enumerate()
    {
        for k in 0..5 {
            cadre
                .store
                .post_notice(small_notice(round * 10 + k))
                .unwrap();
            made += 1;
        }
        let ids: Vec<String> = cadre
            .store
            .local_changes(None, 10_000)
            .unwrap()
            .into_iter()
            .map(|c| c.hash)
            .collect();
        proxy.set_impairment(Impairment {
            cut_with_reset: reset,
            ..Impairment::none().with_cut_after(cut)
        });
        let r = cadre.sync().await;
        assert!(r.is_err(), "round {round}: the cut sync succeeded: {r:?}");
        // the relay took the changes; the device never saw the ack
        for h in &ids {
            assert!(
                relay_has_change(&relay, h),
                "round {round}: change {h} did not reach the relay"
            );
        }
        let unacked = cadre
            .store
            .local_changes(Some(ChangeState::Sent), 10_000)
            .unwrap();
        assert_eq!(
            unacked.len(),
            5,
            "round {round}: the new changes should be sent but unacked"
        );
        // the retry on a good link
        proxy.set_impairment(Impairment::none());
        let r = cadre.sync().await.unwrap();
        assert_eq!(
            (r.sent, r.acked, r.rejected),
            (5, 5, 0),
            "round {round}: {r:?}"
        );
        let (rows, distinct) = relay_change_counts(&relay);
        assert_eq!(
            (rows, distinct),
            (made as i64, made as i64),
            "round {round}"
        );
    }
    resident.sync().await.unwrap();
    let view = relay_view(&relay, &space);
    assert_nothing_doubled(&relay, &view, made);
    assert_all_acked(&cadre, made, &view);
    assert_matches_relay(&cadre, &view);
    assert_matches_relay(&resident, &view);
    // the log has one batch per accepted upload, not one per attempt
    let batches = relay.query_i64("SELECT count(*) FROM log WHERE type = 'batch'");
    assert_eq!(batches, 4);
}

// ---- 5. 2G with a stall ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_and_2g_link_still_syncs() {
    let c = corpus::load();
    let relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    let link = Impairment::two_g().with_stall(Duration::from_millis(1500), 600);
    let (cadre, pc) = enroll_behind_proxy(&relay, &cadre_invite, "陈建国", link).await;
    let (resident, pr) = enroll_behind_proxy(
        &relay,
        &relay.invite(&space, Role::Resident),
        "黄小燕",
        link,
    )
    .await;
    for i in 0..4 {
        cadre.store.post_notice(c.notice(i)).unwrap();
    }
    for i in 0..2 {
        resident.store.file_request(c.request(i)).unwrap();
    }
    let a = cadre
        .client
        .sync_with_retry(&cadre.store, 4, None)
        .await
        .unwrap();
    assert_eq!(a.acked, 4, "{a:?}");
    let b = resident
        .client
        .sync_with_retry(&resident.store, 4, None)
        .await
        .unwrap();
    assert_eq!((b.acked, b.received), (2, 4), "{b:?}");
    let id = resident.store.list_notices(&notice_filter()).unwrap()[0]
        .id
        .clone();
    resident.store.mark_read(&id).unwrap();
    let b2 = resident
        .client
        .sync_with_retry(&resident.store, 4, None)
        .await
        .unwrap();
    assert_eq!(b2.acked, 1, "{b2:?}");
    let a2 = cadre
        .client
        .sync_with_retry(&cadre.store, 4, None)
        .await
        .unwrap();
    assert_eq!(a2.received, 3, "{a2:?}");
    let view = relay_view(&relay, &space);
    assert_nothing_doubled(&relay, &view, 7);
    assert_all_acked(&cadre, 4, &view);
    assert_all_acked(&resident, 3, &view);
    assert_matches_relay(&cadre, &view);
    assert_matches_relay(&resident, &view);
    assert!(
        pc.stats().bytes_down > 0 && pr.stats().bytes_down > 0,
        "the devices synced around the proxy"
    );
}

// ---- 6. SIGTERM with a sync in flight ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_sync() {
    let c = corpus::load();
    let mut relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    // a slow uplink: the upload takes a while
    let link = Impairment::none()
        .with_bandwidth(Some(20_000))
        .with_latency(Duration::from_millis(20));
    let (cadre, proxy) = enroll_behind_proxy(&relay, &cadre_invite, "陈建国", link).await;
    let n = 200;
    for i in 0..n {
        cadre.store.post_notice(c.notice(i)).unwrap();
    }
    let cadre = Arc::new(cadre);
    let d = cadre.clone();
    let sync = tokio::spawn(async move { d.sync().await });
    // SIGTERM once the upload is under way
    let t0 = Instant::now();
    while proxy.stats().bytes_up < 4_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the upload did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let up_at_term = proxy.stats().bytes_up;
    tokio::task::block_in_place(|| relay.stop());
    let outcome = sync.await.unwrap();
    eprintln!(
        "SIGTERM after {up_at_term} bytes up; the sync: {}; proxy {:?}",
        short(&outcome),
        proxy.stats()
    );

    // the database is whole, and holds every change the device saw acked
    assert!(relay.integrity_ok(), "relay database integrity");
    let orphans = relay
        .query_i64("SELECT count(*) FROM changes c WHERE NOT EXISTS (SELECT 1 FROM log l WHERE l.space_id = c.space_id AND l.seq = c.seq)");
    assert_eq!(orphans, 0, "changes without their log batch");
    let acked = acked_hashes(&cadre);
    for h in &acked {
        assert!(
            relay_has_change(&relay, h),
            "acked change {h} is missing after SIGTERM"
        );
    }
    let (rows, _) = relay_change_counts(&relay);
    match &outcome {
        Ok(r) => {
            assert_eq!(r.acked as usize, n, "{r:?}");
            assert_eq!(acked.len(), n);
            assert_eq!(rows as usize, n);
        }
        Err(_) => {
            assert!(
                acked.is_empty(),
                "the sync failed, yet {} changes are acked",
                acked.len()
            );
            assert_eq!(cadre.store.counts().unwrap().pending_changes as usize, n);
            // one upload: all its changes or none
            assert!(
                rows == 0 || rows as usize == n,
                "the relay holds {rows} of {n} changes of one upload"
            );
        }
    }

    tokio::task::block_in_place(|| relay.restart());
    let r = cadre.sync().await.unwrap();
    assert_eq!(r.rejected, 0);
    let resident = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
    resident.sync().await.unwrap();
    let view = relay_view(&relay, &space);
    assert_nothing_doubled(&relay, &view, n);
    assert_all_acked(&cadre, n, &view);
    assert_matches_relay(&cadre, &view);
    assert_matches_relay(&resident, &view);
}

// ---- 7. documents created while another device reads ----------------------------------------

/// Devices creating notices and requests while the others sync: after healing, every
/// device holds every document its member may read.
///
/// Fails today (4 runs in 5): `Relay::read_for` (relay/src/service.rs) takes its
/// snapshot of the entities' audiences, then reads `last_seq` and the log, without the
/// space lock (the `sync` handler drops it before calling `read_for`). A document
/// created by an upload that another request appends in between is absent from the
/// snapshot, so `may` answers "unreadable": the reader gets nothing of it (or a
/// `Withheld` item) and its cursor moves past the creating change. Later changes to the
/// document park on the phone for want of that change; the phone never gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_new_documents_reach_every_reader() {
    let c = Arc::new(corpus::load());
    let relay = relay();
    let (space, mut devices) = churn_village(&relay, &c).await;
    for k in 0..2 {
        let d = Device::enroll(
            &relay,
            &relay.invite(&space, Role::Cadre),
            &format!("干部{k}"),
        )
        .await;
        d.sync().await.unwrap();
        devices.push((Arc::new(d), Who::Cadre, 0));
    }
    let stats = churn_all(&devices, &c, Duration::from_secs(3), |_| {
        Churn::NewDocuments
    })
    .await;
    let devs: Vec<&Device> = devices.iter().map(|(d, _, _)| d.as_ref()).collect();
    sync_until_quiet(&devs, 6).await;
    let view = relay_view(&relay, &space);
    let total: usize = stats.iter().map(|s| s.ops.load(Ordering::Relaxed)).sum();
    assert_nothing_doubled(&relay, &view, total);
    for ((d, _, _), s) in devices.iter().zip(&stats) {
        assert_all_acked(d, s.ops.load(Ordering::Relaxed), &view);
    }
    for d in &devs {
        assert_matches_relay(d, &view);
    }
}

/// Two relay processes on one PostgreSQL database (nodes behind a load balancer): a
/// cadre and a resident on each, posting, filing and commenting on the same documents
/// at once. Every change is accepted (a node judging against a document the other node
/// has extended would refuse it as missing dependencies), nothing is doubled, and every
/// device ends with exactly what it may read. Runs when `CUNWU_TEST_POSTGRES` is set
/// (`scripts/test.sh` sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relay_nodes_on_one_postgres_database_converge() {
    if cunwu_tests::harness::postgres_server().is_none() {
        eprintln!("skipped: CUNWU_TEST_POSTGRES is not set (scripts/test.sh sets it)");
        return;
    }
    let c = Arc::new(corpus::load());
    let a = relay();
    assert_eq!(a.backend(), "postgres");
    let b = a.second_node();
    let (space, mut devices) = churn_village(&a, &c).await;
    // the second resident and a new cadre (enrolled at node B) use node B
    route(&devices[2].0, &b.url());
    let cadre_b = Device::enroll(&b, &b.invite(&space, Role::Cadre), "干部乙").await;
    cadre_b.sync().await.unwrap();
    devices.push((Arc::new(cadre_b), Who::Cadre, 0));
    let what = |k: usize| {
        if k & 1 == 0 {
            Churn::NewDocuments
        } else {
            Churn::ExistingDocuments
        }
    };
    let stats = churn_all(&devices, &c, Duration::from_secs(4), what).await;
    for s in &stats {
        assert_eq!(
            s.failed.load(Ordering::Relaxed),
            0,
            "a sync failed on a healthy link"
        );
    }
    let devs: Vec<&Device> = devices.iter().map(|(d, _, _)| d.as_ref()).collect();
    sync_until_quiet(&devs, 6).await;
    let view = relay_view(&a, &space);
    let total: usize = stats.iter().map(|s| s.ops.load(Ordering::Relaxed)).sum();
    assert!(
        total > 40,
        "too little traffic to mean anything: {total} changes"
    );
    assert_nothing_doubled(&a, &view, total);
    for ((d, _, _), s) in devices.iter().zip(&stats) {
        assert_all_acked(d, s.ops.load(Ordering::Relaxed), &view);
    }
    for d in &devs {
        assert_matches_relay(d, &view);
    }
}

/// Defect 12 of issue 14: a long sync says how much is left after each page and how
/// long the rest should take, to any observer (the CLI draws it on a terminal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_sync_reports_what_is_left_and_the_time_it_should_take() {
    use cunwu_core::sync::{ProgressObserver, SyncProgress};
    struct Pages(std::sync::Mutex<Vec<SyncProgress>>);
    impl ProgressObserver for Pages {
        fn progress(&self, p: &SyncProgress) {
            self.0.lock().unwrap().push(p.clone());
        }
    }
    let c = corpus::load();
    let relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    for i in 0..600 {
        cadre.store.post_notice(c.notice(i)).unwrap();
    }
    cadre.sync().await.unwrap();
    let mut phone = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "何玉珍").await;
    phone.client = phone.client.clone().with_page_bytes(64 << 10);
    let pages = Arc::new(Pages(std::sync::Mutex::new(vec![])));
    let report = phone
        .client
        .sync_once(
            &phone.store,
            Some(pages.clone() as Arc<dyn ProgressObserver>),
        )
        .await
        .unwrap();
    assert_eq!(report.received, 600);
    let pages = pages.0.lock().unwrap().clone();
    assert!(pages.len() >= 4, "several pages: {}", pages.len());
    let (last, rest) = pages.split_last().unwrap();
    assert!(last.done && last.percent == 100 && last.remaining_change_bytes == 0);
    let first = &rest[0];
    assert!(
        first.remaining_changes > 0 && first.remaining_change_bytes > 0,
        "the relay says what is left after the first page: {first:?}"
    );
    // what is left shrinks, what is done grows, and every page but the last has an estimate
    for w in rest.windows(2) {
        assert!(
            w[1].remaining_change_bytes < w[0].remaining_change_bytes,
            "{w:?}"
        );
        assert!(w[1].percent >= w[0].percent, "{w:?}");
    }
    assert!(
        rest.iter().all(|p| p.eta_ms.is_some() && p.percent < 100),
        "{rest:?}"
    );
    // the first page's count of what is left plus what it brought is the whole village
    let total = first.remaining_change_bytes + first.change_bytes_received;
    assert_eq!(total, last.change_bytes_received, "{first:?} {last:?}");
}

/// Found in review: what is left after a page counted every change after the cursor,
/// so a resident polling it learnt the number and size of other people's private
/// documents. It counts only what every member may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_left_says_nothing_of_private_documents() {
    use cunwu_core::store::NewRequest;
    use cunwu_core::sync::{ProgressObserver, SyncProgress};
    struct First(std::sync::Mutex<Option<SyncProgress>>);
    impl ProgressObserver for First {
        fn progress(&self, p: &SyncProgress) {
            self.0.lock().unwrap().get_or_insert_with(|| p.clone());
        }
    }
    let c = corpus::load();
    let relay = relay();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    for i in 0..200 {
        cadre.store.post_notice(c.notice(i)).unwrap();
    }
    cadre.sync().await.unwrap();
    let first_page = |name: &'static str| {
        let relay = &relay;
        let space = &space;
        async move {
            let mut d = Device::enroll(relay, &relay.invite(space, Role::Resident), name).await;
            d.client = d.client.clone().with_page_bytes(16 << 10);
            let seen = Arc::new(First(std::sync::Mutex::new(None)));
            d.client
                .sync_once(&d.store, Some(seen.clone() as Arc<dyn ProgressObserver>))
                .await
                .unwrap();
            let p = seen.0.lock().unwrap().clone().unwrap();
            (d, p)
        }
    };
    let (filer, before) = first_page("赵四").await;
    assert!(before.remaining_changes > 0, "{before:?}");
    // private documents: a resident's request, its internal note
    let rid = filer
        .store
        .file_request(NewRequest {
            kind: "other".into(),
            title: "邻里纠纷".into(),
            description: "详情见面谈".repeat(200),
            place: None,
            on_behalf_of: None,
            materials: vec![],
            attachments: vec![],
        })
        .unwrap();
    filer.sync().await.unwrap();
    cadre.sync().await.unwrap();
    cadre
        .store
        .comment_request(&rid, &"内部核实".repeat(100), true)
        .unwrap();
    cadre.sync().await.unwrap();
    let (_, after) = first_page("王秀英").await;
    assert_eq!(
        (after.remaining_changes, after.remaining_change_bytes),
        (before.remaining_changes, before.remaining_change_bytes),
        "the first page's count of what is left must not move with private documents"
    );
}
