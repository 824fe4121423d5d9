//! Store benchmark (issue: core): a phone holding 10,000 notices, 20,000 requests and
//! 500 deliberations built from the corpus. Building happens in this process; the
//! measurements run in a fresh child process so peak RSS is the phone's, not the builder's.

use super::{arg, median, ms, peak_rss_kib};
use cunwu_core::local_space::LocalSpace;
use cunwu_core::store::{NoticeFilter, RequestFilter};
use cunwu_core::{Role, Store};
use cunwu_tests::corpus;
use std::io::Read;
use std::time::Instant;

pub fn run(args: &[String]) {
    let notices = arg(args, "--notices", 10_000);
    let requests = arg(args, "--requests", 20_000);
    let deliberations = arg(args, "--deliberations", 500);
    let dir = tempfile::tempdir().unwrap();
    let phone_path = dir.path().join("phone.db");
    let c = corpus::load();
    let mut space = LocalSpace::new(&c.space.name);
    let phone = Store::open(&phone_path).unwrap();
    let me = space.join(&phone, "陈建国", Role::Cadre).unwrap();
    let residents: Vec<String> = c
        .members
        .iter()
        .filter(|m| m.role != "cadre" && m.role != "township")
        .map(|m| {
            space.add_member(
                &m.name,
                Role::parse(&m.role).unwrap_or(Role::Resident),
                &m.household,
                &m.group,
            )
        })
        .collect();
    let other = Store::open(dir.path().join("other.db")).unwrap();
    space.join(&other, "刘芳", Role::Cadre).unwrap();
    space.publish(&[&phone, &other]).unwrap();
    let t = Instant::now();
    let now = cunwu_core::ids::now_ms();
    let mut notice_ids = vec![];
    for i in 0..notices {
        notice_ids.push(phone.post_notice(c.notice(i)).unwrap());
    }
    for i in 0..requests {
        let mut r = c.request(i);
        r.on_behalf_of = Some(residents[i % residents.len()].clone());
        phone.file_request(r).unwrap();
    }
    for i in 0..deliberations {
        phone.create_deliberation(c.deliberation(i, now)).unwrap();
    }
    for id in notice_ids.iter().step_by(3) {
        phone.mark_read(id).unwrap();
    }
    let _ = me;
    eprintln!(
        "built {notices} notices, {requests} requests, {deliberations} deliberations in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // 1,000 changes made elsewhere, to be applied as one remote merge
    other
        .import_bundle(&phone.export_bundle(Some(&other.have().unwrap())).unwrap())
        .unwrap();
    for (i, id) in notice_ids.iter().take(500).enumerate() {
        other
            .ask_question(id, &format!("请问第{i}项支出的明细在哪里可以查看？"))
            .unwrap();
    }
    for i in 0..500 {
        other.file_request(c.request(i)).unwrap();
    }
    let remote = other.export_bundle(Some(&phone.have().unwrap())).unwrap();
    let remote_path = dir.path().join("remote.bundle");
    std::fs::write(
        &remote_path,
        cunwu_core::wire::encode(cunwu_core::wire::FrameKind::Bundle, &remote),
    )
    .unwrap();
    drop(phone);
    drop(other);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "store-measure",
            phone_path.to_str().unwrap(),
            remote_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
}

pub fn measure(args: &[String]) {
    let path = &args[0];
    let remote_path = &args[1];
    let open = median(5, || Store::open(path).unwrap());
    let store = Store::open(path).unwrap();
    let first_page = median(21, || {
        store
            .list_notices(&NoticeFilter {
                limit: 50,
                ..Default::default()
            })
            .unwrap()
    });
    let first_requests = median(21, || {
        store
            .list_requests(&RequestFilter {
                limit: 50,
                ..Default::default()
            })
            .unwrap()
    });
    let unread = median(21, || store.counts().unwrap());
    let search = median(21, || store.search("低保", 20).unwrap());
    let search2 = median(21, || store.search("修路", 20).unwrap());
    let hits = store.search("低保", 20).unwrap().len();
    let counts = store.counts().unwrap();
    // bytes on disk per entity against the zstd-compressed JSON of each entity
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let disk = std::fs::metadata(path).unwrap().len();
    let ids = store.entity_ids().unwrap();
    let mut json_zstd = 0usize;
    let mut json_raw = 0usize;
    for (id, kind) in &ids {
        let v = match kind {
            cunwu_core::EntityKind::Notice => {
                serde_json::to_vec(&store.notice(id).unwrap()).unwrap()
            }
            cunwu_core::EntityKind::Request => {
                serde_json::to_vec(&store.request(id).unwrap()).unwrap()
            }
            cunwu_core::EntityKind::Deliberation => {
                serde_json::to_vec(&store.deliberation(id).unwrap()).unwrap()
            }
            _ => continue,
        };
        json_raw += v.len();
        json_zstd += zstd::bulk::compress(&v, 3).unwrap().len();
    }
    let n = ids.len();
    let mut bytes = vec![];
    std::fs::File::open(remote_path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let bundle: cunwu_core::wire::Bundle =
        cunwu_core::wire::decode(cunwu_core::wire::FrameKind::Bundle, &bytes).unwrap();
    let changes: usize = bundle
        .batches
        .iter()
        .map(|b| {
            b.items
                .iter()
                .filter(|i| matches!(i, cunwu_core::wire::Item::Change { .. }))
                .count()
        })
        .sum();
    let t = Instant::now();
    let report = store.import_bundle(&bundle).unwrap();
    let apply = t.elapsed();
    assert_eq!(report.merge.applied, 1000, "{report:?}");
    let rss = peak_rss_kib();
    let ok = |d: std::time::Duration, limit_ms: f64| {
        if d.as_secs_f64() * 1000.0 < limit_ms {
            "met"
        } else {
            "NOT met"
        }
    };
    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!("| entities in the store | {n} | |");
    println!(
        "| open the store | {} | < 200 ms: {} |",
        ms(open),
        ok(open, 200.0)
    );
    println!(
        "| first page of 50 notices | {} | < 5 ms: {} |",
        ms(first_page),
        ok(first_page, 5.0)
    );
    println!(
        "| first page of 50 requests | {} | < 5 ms: {} |",
        ms(first_requests),
        ok(first_requests, 5.0)
    );
    println!(
        "| badge counts (unread notices = {}) | {} | |",
        counts.unread_notices,
        ms(unread)
    );
    println!(
        "| search 低保 ({hits} hits, top 20) | {} | < 20 ms: {} |",
        ms(search),
        ok(search, 20.0)
    );
    println!(
        "| search 修路 | {} | < 20 ms: {} |",
        ms(search2),
        ok(search2, 20.0)
    );
    println!(
        "| apply {changes} remote changes (one merge) | {} | |",
        ms(apply)
    );
    println!(
        "| bytes on disk per entity | {:.0} B (file {:.1} MB) | |",
        disk as f64 / n as f64,
        disk as f64 / 1e6
    );
    println!(
        "| zstd(JSON) per entity | {:.0} B (raw JSON {:.0} B); disk / zstd(JSON) = {:.2}x | |",
        json_zstd as f64 / n as f64,
        json_raw as f64 / n as f64,
        disk as f64 / json_zstd as f64
    );
    println!(
        "| peak RSS of the measuring process | {:.1} MB | < 80 MB: {} |",
        rss as f64 / 1024.0,
        if rss < 80 * 1024 { "met" } else { "NOT met" }
    );
}
