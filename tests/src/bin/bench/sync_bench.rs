//! Sync benchmarks (issue: relay and sync), against a real relay process.
//!
//! `sync`: a village built from the corpus (2,000 notices, 5,000 requests, 200
//! deliberations by default) is uploaded by its devices; then a new phone syncs it,
//! directly and through the impairment proxy at 2G settings, and a returning phone
//! syncs 20 new changes. Bytes on the wire are compared with the zstd-compressed
//! size of the raw automerge changes the phone receives; the same work through
//! automerge's own per-document sync protocol (`automerge::sync`) is the baseline.
//!
//! `relay-load`: N devices (default 1,000) each sync M new changes (default 5) against
//! one relay process, 64 at a time: syncs per second, p50 and p99 latency. With
//! `--settled` every phone syncs once more after all have enrolled, so the measured sync
//! is a steady small one (the roster current), and with `--replay` as well each phone's
//! measured request is signed before the clock starts and only sent then (a light load
//! generator: one HTTP client, no phone stores); without `--settled` a phone is as many members
//! behind as enrolled after it, and its sync carries that roster delta.
//! `relay-load --county`: a county-shaped load instead: `--spaces` villages (default 20)
//! of `--devices-per-space` phones each (default 30, one a cadre), `--rounds` rounds
//! (default 4) in which every phone syncs with 0 to 3 new changes, and a tenth of the
//! phones far behind (they sync only in the last round). `--json` prints one JSON object:
//! `syncs_per_s`, `p50_ms`, `p99_ms`, `relay_cpu_ms_per_sync` (the relay process's CPU,
//! user + system, from /proc/<pid>/stat, over the measured syncs).
//!
//! Both `relay-load` shapes take `--postgres URL` (relay storage on the PostgreSQL server
//! at URL, in a fresh database made for the run and dropped after it; without it, an
//! SQLite file, or `CUNWU_TEST_POSTGRES` when set) and `--nodes N` (default 1: N relay
//! processes on that one database, as behind a load balancer; each phone enrols with,
//! and syncs through, node `i % N`; N > 1 needs PostgreSQL). The relay CPU then adds up
//! every node's.

use super::{arg, flag};
use automerge::sync::{self as amsync, SyncDoc};
use automerge::Automerge;
use cunwu_core::Role;
use cunwu_protocol::wire;
use cunwu_tests::corpus;
use cunwu_tests::harness::{Device, RelayProcess};
use cunwu_tests::proxy::{Impairment, Proxy};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const TWO_G_BYTES_PER_SEC: f64 = 32_000.0;
const TWO_G_RTT: f64 = 0.4;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Village {
    relay: RelayProcess,
    space: String,
    cadre: Device,
    residents: Vec<Device>,
}

async fn build_village(notices: usize, requests: usize, deliberations: usize) -> Village {
    let relay = RelayProcess::start_with(&["--rate-per-minute", "1000000"]);
    let (space, invite) = relay.create_space("青石村");
    let c = corpus::load();
    let cadre = Device::enroll(&relay, &invite, "陈建国").await;
    let mut residents = vec![];
    for m in c
        .members
        .iter()
        .filter(|m| m.role == "resident" || m.role == "villager_rep")
        .take(10)
    {
        let inv = relay.invite_with(
            &space,
            Role::parse(&m.role).unwrap(),
            &m.household,
            &m.group,
        );
        residents.push(Device::enroll(&relay, &inv, &m.name).await);
    }
    let now = cunwu_core::ids::now_ms();
    for i in 0..notices {
        cadre.store.post_notice(c.notice(i)).unwrap();
    }
    for i in 0..deliberations {
        cadre
            .store
            .create_deliberation(c.deliberation(i, now))
            .unwrap();
    }
    for i in 0..requests {
        residents[i % residents.len()]
            .store
            .file_request(c.request(i))
            .unwrap();
    }
    cadre.sync().await.unwrap();
    for r in &residents {
        r.sync().await.unwrap();
    }
    cadre.sync().await.unwrap();
    Village {
        relay,
        space,
        cadre,
        residents,
    }
}

/// Raw automerge change bytes a cadre may read (everything), zstd-compressed the way
/// the wire compresses (level 9), and the documents they make.
fn raw_changes(relay: &RelayProcess, space: &str) -> (usize, usize, HashMap<String, Automerge>) {
    let rows = relay.change_rows(space);
    let mut all = vec![];
    let mut docs: HashMap<String, Automerge> = HashMap::new();
    for (e, _, b) in &rows {
        all.extend_from_slice(b);
        docs.entry(e.clone())
            .or_default()
            .apply_changes([automerge::Change::from_bytes(b.clone()).unwrap()])
            .unwrap();
    }
    (
        all.len(),
        zstd::bulk::compress(&all, 9).unwrap().len(),
        docs,
    )
}

/// automerge's per-document sync protocol between `full` and `have`: (messages, bytes, rounds).
fn am_sync(full: &Automerge, have: &Automerge) -> (usize, usize, usize) {
    let mut a = full.clone();
    let mut b = have.clone();
    let (mut sa, mut sb) = (amsync::State::new(), amsync::State::new());
    let (mut msgs, mut bytes, mut rounds) = (0, 0, 0);
    loop {
        let mut progressed = false;
        if let Some(m) = b.generate_sync_message(&mut sb) {
            let e = m.encode();
            bytes += e.len();
            msgs += 1;
            a.receive_sync_message(&mut sa, amsync::Message::decode(&e).unwrap())
                .unwrap();
            progressed = true;
        }
        if let Some(m) = a.generate_sync_message(&mut sa) {
            let e = m.encode();
            bytes += e.len();
            msgs += 1;
            b.receive_sync_message(&mut sb, amsync::Message::decode(&e).unwrap())
                .unwrap();
            progressed = true;
        }
        if !progressed {
            break;
        }
        rounds += 1;
    }
    assert_eq!(a.get_heads(), b.get_heads());
    (msgs, bytes, rounds)
}

fn baseline(
    docs: &HashMap<String, Automerge>,
    have: &HashMap<String, Automerge>,
) -> (usize, usize, usize) {
    let empty = Automerge::new();
    let (mut m, mut b, mut r) = (0, 0, 0);
    for (id, d) in docs {
        let (mm, bb, rr) = am_sync(d, have.get(id).unwrap_or(&empty));
        m += mm;
        b += bb;
        r = r.max(rr);
    }
    (m, b, r)
}

fn kb(n: u64) -> String {
    format!("{:.1} KB", n as f64 / 1000.0)
}

pub fn run(args: &[String]) {
    let notices = arg(args, "--notices", 2000);
    let requests = arg(args, "--requests", 5000);
    let deliberations = arg(args, "--deliberations", 200);
    let with_2g = !flag(args, "--no-2g");
    rt().block_on(async move {
        let t = Instant::now();
        let v = build_village(notices, requests, deliberations).await;
        eprintln!("village uploaded in {:.1} s", t.elapsed().as_secs_f64());
        let (raw, raw_zstd, docs) = raw_changes(&v.relay, &v.space);

        // a new phone (a cadre's second device: may read everything)
        let phone = Device::enroll(&v.relay, &v.relay.invite(&v.space, Role::Cadre), "新手机").await;
        let t = Instant::now();
        let first = phone.sync().await.unwrap();
        let loopback_new = t.elapsed();
        assert_eq!(phone.store.entity_ids().unwrap().len(), docs.len(), "the new phone holds every document");

        let mut two_g_new = None;
        let mut phone2g = None;
        if with_2g {
            let p2 = Device::enroll(&v.relay, &v.relay.invite(&v.space, Role::Cadre), "2G手机").await;
            let proxy = Proxy::start(v.relay.addr(), Impairment::two_g()).await;
            let mut m = p2.store.membership().unwrap().unwrap();
            m.relay_url = proxy.url();
            p2.store.set_membership(&m, &signed_roster_of(&p2)).unwrap();
            let t = Instant::now();
            let r = p2.sync().await.unwrap();
            two_g_new = Some((t.elapsed(), r));
            phone2g = Some((p2, proxy));
        }

        // 20 changes by others, then the returning phones sync
        let ids: Vec<String> = v.cadre.store.list_notices(&Default::default()).unwrap().into_iter().map(|n| n.id).collect();
        for (i, r) in v.residents.iter().enumerate().take(10) {
            r.sync().await.unwrap();
            r.store.ask_question(&ids[i], "这笔钱什么时候发放？").unwrap();
            r.store.mark_read(&ids[i]).unwrap();
            r.sync().await.unwrap();
        }
        let before: HashMap<String, Automerge> = docs;
        let t = Instant::now();
        let steady = phone.sync().await.unwrap();
        let loopback_steady = t.elapsed();
        let mut two_g_steady = None;
        if let Some((p2, _proxy)) = &phone2g {
            let t = Instant::now();
            let r = p2.sync().await.unwrap();
            two_g_steady = Some((t.elapsed(), r));
        }
        let (_, _, after) = raw_changes(&v.relay, &v.space);
        let (bm_new, bb_new, br_new) = baseline(&before, &HashMap::new());
        let (bm_st, bb_st, br_st) = baseline(&after, &before);
        let n_docs = before.len();

        println!("Village: {notices} notices, {requests} requests, {deliberations} deliberations = {n_docs} documents; raw automerge changes {:.2} MB, zstd -9 {:.2} MB", raw as f64 / 1e6, raw_zstd as f64 / 1e6);
        println!();
        println!("| new phone | Cunwu | automerge::sync (per document) |");
        println!("|---|---|---|");
        println!("| bytes on the wire | {} ({:.2}x zstd of raw changes) | {} ({:.2}x) |", kb(first.bytes_sent + first.bytes_received), (first.bytes_sent + first.bytes_received) as f64 / raw_zstd as f64, kb(bb_new as u64), bb_new as f64 / raw_zstd as f64);
        println!("| HTTP round trips / messages | {} | {bm_new} messages, {br_new} rounds per document |", first.round_trips);
        println!("| time on loopback | {:.2} s | |", loopback_new.as_secs_f64());
        if let Some((d, r)) = &two_g_new {
            let floor = (r.bytes_sent + r.bytes_received) as f64 / TWO_G_BYTES_PER_SEC + TWO_G_RTT;
            let base = bb_new as f64 / TWO_G_BYTES_PER_SEC + br_new as f64 * TWO_G_RTT;
            let raw_floor = raw_zstd as f64 / TWO_G_BYTES_PER_SEC + TWO_G_RTT;
            println!("| time at 2G (256 kbit/s, 400 ms RTT) through the proxy | {:.1} s = {:.2}x its own floor ({floor:.1} s), {:.2}x the floor for zstd(raw) ({raw_floor:.1} s) | ≥ {base:.1} s (computed: bytes ÷ bandwidth + rounds × RTT) |", d.as_secs_f64(), d.as_secs_f64() / floor, d.as_secs_f64() / raw_floor);
        }
        println!();
        println!("| returning phone, 20 new changes | Cunwu | automerge::sync (per document) |");
        println!("|---|---|---|");
        println!("| bytes on the wire | {} | {} |", kb(steady.bytes_sent + steady.bytes_received), kb(bb_st as u64));
        println!("| round trips / messages | {} | {bm_st} messages over {n_docs} documents, {br_st} rounds |", steady.round_trips);
        println!("| changes received | {} | |", steady.received);
        println!("| time on loopback | {:.1} ms | |", loopback_steady.as_secs_f64() * 1000.0);
        if let Some((d, r)) = &two_g_steady {
            println!("| time at 2G through the proxy | {:.2} s ({} round trip) | ≥ {:.1} s (computed) |", d.as_secs_f64(), r.round_trips, bb_st as f64 / TWO_G_BYTES_PER_SEC + br_st as f64 * TWO_G_RTT);
        }
    });
}

fn signed_roster_of(d: &Device) -> cunwu_core::roster::SignedRoster {
    let conn = d.sql();
    let raw: Vec<u8> = conn
        .query_row("SELECT value FROM local WHERE key = 'roster'", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// The relay nodes of a `relay-load` run (`--postgres URL`, `--nodes N`: see the top of
/// this file); the first one also serves the admin commands.
fn load_nodes(args: &[String]) -> Vec<RelayProcess> {
    let nodes = arg(args, "--nodes", 1).max(1);
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .map(|i| args.get(i + 1).cloned().unwrap_or_default());
    if let Some(url) = &postgres {
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            eprintln!("--postgres takes a server URL such as postgres://user@127.0.0.1:5432/postgres, not {url:?}");
            std::process::exit(2);
        }
        // the harness makes (and drops) a fresh database on this server per relay
        std::env::set_var("CUNWU_TEST_POSTGRES", url);
    }
    if nodes > 1 && cunwu_tests::harness::postgres_server().is_none() {
        eprintln!(
            "--nodes {nodes} needs --postgres URL: an SQLite relay file is served by one process"
        );
        std::process::exit(2);
    }
    let first = RelayProcess::start_with(&["--rate-per-minute", "1000000"]);
    let mut all: Vec<RelayProcess> = (1..nodes).map(|_| first.second_node()).collect();
    all.insert(0, first);
    all
}

/// Which storage and how many nodes served a run (the table's title).
fn storage_line(nodes: &[RelayProcess]) -> String {
    match nodes.len() {
        1 => format!("relay on {}", nodes[0].backend()),
        n => format!("{n} relay nodes on one {} database", nodes[0].backend()),
    }
}

/// CPU time (user + system) every node has used so far, added up.
fn nodes_cpu(nodes: &[RelayProcess]) -> Option<std::time::Duration> {
    nodes.iter().map(|n| n.cpu_time()).sum()
}

/// The figures of a load run, as `--json` prints them.
fn load_figures(
    shape: &str,
    syncs: usize,
    changes: u64,
    wall: std::time::Duration,
    lat: &mut [std::time::Duration],
    relay_cpu: Option<std::time::Duration>,
) -> serde_json::Value {
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    serde_json::json!({
        "shape": shape,
        "syncs": syncs,
        "changes_up": changes,
        "wall_s": wall.as_secs_f64(),
        "syncs_per_s": syncs as f64 / wall.as_secs_f64(),
        "p50_ms": p(0.5).as_secs_f64() * 1000.0,
        "p99_ms": p(0.99).as_secs_f64() * 1000.0,
        "relay_cpu_ms_per_sync": relay_cpu.map(|c| c.as_secs_f64() * 1000.0 / syncs as f64),
    })
}

/// `relay-load --county`: many villages, tens of phones each, most syncs carrying 0
/// to 3 changes, some phones far behind.
fn county_load(args: &[String]) {
    use rand::{Rng, SeedableRng};
    let spaces = arg(args, "--spaces", 20);
    let per_space = arg(args, "--devices-per-space", 30).max(2);
    let rounds = arg(args, "--rounds", 4).max(1);
    let concurrency = arg(args, "--concurrency", 64);
    let json = flag(args, "--json");
    let nodes = load_nodes(args);
    rt().block_on(async move {
        let relay = &nodes[0];
        let node = |k: usize| &nodes[k % nodes.len()];
        let c = corpus::load();
        let t = Instant::now();
        // (phone, far behind)
        let mut phones: Vec<(Arc<Device>, bool)> = vec![];
        let mut n = 0usize;
        for s in 0..spaces {
            let (space, invite) = relay.create_space(&format!("村{s}"));
            let cadre = Device::enroll(node(phones.len()), &invite, "村干部").await;
            for i in 0..10 {
                cadre.store.post_notice(c.notice(s * 10 + i)).unwrap();
            }
            cadre.sync().await.unwrap();
            phones.push((Arc::new(cadre), false));
            for i in 1..per_space {
                let d = Device::enroll(node(phones.len()), &relay.invite(&space, Role::Resident), &format!("村民{i}")).await;
                d.sync().await.unwrap();
                phones.push((Arc::new(d), i % 10 == 0));
                n += 1;
            }
        }
        eprintln!("{spaces} spaces, {} phones enrolled and primed in {:.1} s", phones.len(), t.elapsed().as_secs_f64());
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut lat = vec![];
        let mut changes_up = 0u64;
        let mut syncs = 0usize;
        let mut wall = std::time::Duration::ZERO;
        let mut cpu = std::time::Duration::ZERO;
        for round in 0..rounds {
            // the phones' changes are made before the clock runs: only syncs are timed
            let mut order = vec![];
            for (d, behind) in &phones {
                if *behind && round + 1 < rounds {
                    continue;
                }
                for _ in 0..rng.gen_range(0..=3) {
                    n += 1;
                    if d.store.me().unwrap().role == Role::Cadre {
                        d.store.post_notice(c.notice(n)).unwrap();
                    } else {
                        d.store.file_request(c.request(n)).unwrap();
                    }
                }
                order.push(d.clone());
            }
            // arrival order mixes the villages
            for i in (1..order.len()).rev() {
                order.swap(i, rng.gen_range(0..=i));
            }
            let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
            let cpu_before = nodes_cpu(&nodes);
            let t = Instant::now();
            let tasks: Vec<_> = order
                .into_iter()
                .map(|d| {
                    let sem = sem.clone();
                    tokio::spawn(async move {
                        let _p = sem.acquire().await.unwrap();
                        let s = Instant::now();
                        let r = d.sync().await.unwrap();
                        (s.elapsed(), r.acked)
                    })
                })
                .collect();
            for task in tasks {
                let (d, a) = task.await.unwrap();
                lat.push(d);
                changes_up += a as u64;
                syncs += 1;
            }
            wall += t.elapsed();
            if let Some(c) = nodes_cpu(&nodes).zip(cpu_before).map(|(a, b)| a.saturating_sub(b)) {
                cpu += c;
            }
        }
        let v = load_figures("county", syncs, changes_up, wall, &mut lat, Some(cpu).filter(|c| !c.is_zero()));
        if json {
            println!("{v}");
        } else {
            println!("| county-shaped relay load: {spaces} spaces × {per_space} phones, {rounds} rounds of 0–3 changes per sync, a tenth far behind, {concurrency} at a time, {} | |", storage_line(&nodes));
            println!("|---|---|");
            println!("| syncs | {syncs} ({changes_up} changes up) |");
            println!("| syncs per second | {:.0} |", v["syncs_per_s"].as_f64().unwrap());
            println!("| p50 / p99 sync latency | {:.1} ms / {:.1} ms |", v["p50_ms"].as_f64().unwrap(), v["p99_ms"].as_f64().unwrap());
            if let Some(c) = v["relay_cpu_ms_per_sync"].as_f64() {
                println!("| relay CPU per sync | {c:.2} ms |");
            }
        }
    });
}

pub fn relay_load(args: &[String]) {
    if flag(args, "--county") {
        return county_load(args);
    }
    let json = flag(args, "--json");
    let devices = arg(args, "--devices", 1000);
    let changes = arg(args, "--changes", 5);
    let concurrency = arg(args, "--concurrency", 64);
    let settled = flag(args, "--settled");
    let nodes = load_nodes(args);
    rt().block_on(async move {
        let relay = &nodes[0];
        let (space, invite) = relay.create_space("青石村");
        let cadre = Device::enroll(relay, &invite, "陈建国").await;
        let c = corpus::load();
        for i in 0..20 {
            cadre.store.post_notice(c.notice(i)).unwrap();
        }
        cadre.sync().await.unwrap();
        let t = Instant::now();
        let mut phones = vec![];
        for i in 0..devices {
            let d = Device::enroll(&nodes[i % nodes.len()], &relay.invite(&space, Role::Resident), &format!("村民{i}")).await;
            d.sync().await.unwrap();
            phones.push(Arc::new(d));
        }
        // `--settled`: every phone syncs once more, so each holds the roster as it is and
        // the measured sync is a steady small one (else a phone is as many members behind
        // as enrolled after it)
        if settled {
            for d in &phones {
                d.sync().await.unwrap();
            }
        }
        for (i, d) in phones.iter().enumerate() {
            for k in 0..changes {
                d.store.file_request(c.request(i * changes + k)).unwrap();
            }
        }
        // `--replay`: every phone's sync request is signed now, as each phone would on its
        // own CPU, and the measured part only sends them (one HTTP client, keep-alive)
        // and reads the acks: the load generator's share of the 2 cores is then small
        let replay: Option<Vec<(String, Vec<u8>)>> = flag(args, "--replay").then(|| {
            phones
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let batches = d.store.outgoing_batches().unwrap();
                    let body = d.sync_body(batches, d.store.cursor().unwrap());
                    (nodes[i % nodes.len()].url(), body)
                })
                .collect()
        });
        eprintln!("{devices} devices enrolled and primed in {:.1} s", t.elapsed().as_secs_f64());
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let client = reqwest::Client::new();
        let cpu_before = nodes_cpu(&nodes);
        let t = Instant::now();
        let mut tasks = vec![];
        match replay {
            Some(bodies) => {
                for (url, body) in bodies {
                    let sem = sem.clone();
                    let client = client.clone();
                    tasks.push(tokio::spawn(async move {
                        let _p = sem.acquire().await.unwrap();
                        let s = Instant::now();
                        let reply = client
                            .post(format!("{url}/v1/sync"))
                            .header("content-type", "application/x-cunwu")
                            .header(wire::RESPONSE_VERSION_HEADER, wire::WIRE_VERSION.to_string())
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(reply.status().as_u16(), 200, "a replayed sync is answered");
                        let bytes = reply.bytes().await.unwrap();
                        let acked = wire::SyncResponse::decode(&bytes).unwrap().acks.len() as u32;
                        (s.elapsed(), acked)
                    }));
                }
            }
            None => {
                for d in phones.clone() {
                    let sem = sem.clone();
                    tasks.push(tokio::spawn(async move {
                        let _p = sem.acquire().await.unwrap();
                        let s = Instant::now();
                        let r = d.sync().await.unwrap();
                        (s.elapsed(), r.acked)
                    }));
                }
            }
        }
        let mut lat = vec![];
        let mut acked = 0;
        for t in tasks {
            let (d, a) = t.await.unwrap();
            lat.push(d);
            acked += a;
        }
        let total = t.elapsed();
        let relay_cpu = nodes_cpu(&nodes).zip(cpu_before).map(|(a, b)| a.saturating_sub(b));
        if json {
            assert_eq!(acked as usize, devices * changes, "every change acked");
            let shape = if flag(args, "--replay") { "steady-replay" } else { "steady" };
            println!("{}", load_figures(shape, devices, acked as u64, total, &mut lat, relay_cpu));
            return;
        }
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        assert_eq!(acked as usize, devices * changes, "every change acked");
        println!("| relay load: {devices} devices × {changes} changes, {concurrency} at a time, relay and load generator on one 2-core machine, {} | |", storage_line(&nodes));
        println!("|---|---|");
        println!("| syncs per second | {:.0} |", devices as f64 / total.as_secs_f64());
        println!("| changes accepted per second | {:.0} |", (devices * changes) as f64 / total.as_secs_f64());
        println!("| p50 sync latency | {:.1} ms |", p(0.5).as_secs_f64() * 1000.0);
        println!("| p99 sync latency | {:.1} ms |", p(0.99).as_secs_f64() * 1000.0);
        println!("| wall time | {:.1} s |", total.as_secs_f64());
        if let Some(cpu) = relay_cpu {
            let per_sync = cpu.as_secs_f64() / devices as f64;
            println!("| relay process CPU (user + system) | {:.1} s = {:.1} ms per sync ({:.0}% of the wall time on one core) |", cpu.as_secs_f64(), per_sync * 1000.0, 100.0 * cpu.as_secs_f64() / total.as_secs_f64());
            println!("| syncs per second one relay core could serve at that cost (computed) | {:.0} |", 1.0 / per_sync);
        }
    });
}
