//! `bench -- attachments`: photos, voice notes and scans over a 2G link, against the
//! physical limit (size ÷ bandwidth), with and without a cut every ~100 KB; and the
//! overhead per attachment on disk (device and relay) and on the wire.
//!
//! One run measures everything against the same proxy settings, so the ratios compare
//! like with like on a shared machine. The link is the proxy's `two_g` preset
//! (32,000 B/s each way, 200 ms one way).

use cunwu_core::store::NewRequest;
use cunwu_core::Role;
use cunwu_tests::harness::{noise_file, Device, RelayProcess};
use cunwu_tests::proxy::{Impairment, Proxy};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

async fn lane(d: &Device, upload: bool, hash: Option<&str>) {
    let start = Instant::now();
    loop {
        let done = match hash {
            Some(h) if !upload => d.client.fetch_attachment(&d.store, h, None).await.is_ok(),
            _ => match d.client.sync_blobs(&d.store, None).await {
                Ok(r) => r.failed.is_empty() && d.store.blobs_pending().unwrap().0 == 0,
                Err(_) => false,
            },
        };
        if done {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(3600), "stuck");
    }
}

pub fn run(args: &[String]) {
    let cut = crate::arg(args, "--cut", 100_000) as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let files: [(&str, &[u8], usize); 3] = [
            ("photo.jpg", &[0xFF, 0xD8, 0xFF, 0xE0], 3_000_000),
            ("voice.amr", b"#!AMR\n", 600_000),
            ("scan.pdf", b"%PDF-1.7\n", 5_000_000),
        ];
        println!("attachments over 2G (32,000 B/s each way, 200 ms one way), one run");
        println!(
            "| file | size | link | direction | time | physical limit | time ÷ limit | bytes on the wire ÷ size | cuts |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        for (i, (name, magic, size)) in files.iter().enumerate() {
            for cuts in [None, Some(cut)] {
                let relay = RelayProcess::start();
                let (space, invite) = relay.create_space("青石村");
                let cadre = Device::enroll(&relay, &invite, "王书记").await;
                let resident =
                    Device::enroll(&relay, &relay.invite(&space, Role::Resident), "李秀英").await;
                let dir = tempfile::tempdir().unwrap();
                let file = noise_file(dir.path(), name, magic, *size, i as u64 + 1);
                let id = resident
                    .store
                    .file_request(NewRequest {
                        kind: "other".into(),
                        title: "附件".into(),
                        description: String::new(),
                        place: None,
                        on_behalf_of: None,
                        materials: vec![],
                        attachments: vec![file.clone()],
                    })
                    .unwrap();
                resident.sync().await.unwrap();
                cadre.sync().await.unwrap();
                let mut link = Impairment::two_g();
                if let Some(c) = cuts {
                    link = link.with_cut_every(c);
                }
                let label = if cuts.is_some() { "2G, cut every 100 KB" } else { "2G" };
                let limit = Duration::from_secs_f64(*size as f64 / 32_000.0);
                for upload in [true, false] {
                    let p = Proxy::start(relay.addr(), link).await;
                    let d = if upload { &resident } else { &cadre };
                    d.reroute(&p.url());
                    let hash = cadre.store.attachments(&id).unwrap()[0].attachment.hash.clone();
                    let t = Instant::now();
                    lane(d, upload, Some(&hash)).await;
                    let took = t.elapsed();
                    let s = p.stats();
                    let wire = if upload { s.bytes_up } else { s.bytes_down };
                    println!(
                        "| {name} | {size} B | {label} | {} | {:.1} s | {:.1} s | {:.3} | {:.4} | {} |",
                        if upload { "up" } else { "down" },
                        took.as_secs_f64(),
                        limit.as_secs_f64(),
                        took.as_secs_f64() / limit.as_secs_f64(),
                        wire as f64 / *size as f64,
                        s.cuts
                    );
                    d.reroute(&relay.url());
                }
                if cuts.is_none() {
                    // on disk: the device's blob folder and the relay's, against the file
                    let dev = dir_bytes(&resident.dir().join("store.db.blobs"));
                    let rel = dir_bytes(&PathBuf::from(format!(
                        "{}.blobs",
                        relay.db_path().display()
                    )));
                    println!(
                        "|   on disk | | | device {:.4}× · relay {:.4}× · cadre {:.4}× | | | | | |",
                        dev as f64 / *size as f64,
                        rel as f64 / *size as f64,
                        dir_bytes(&cadre.dir().join("store.db.blobs")) as f64 / *size as f64
                    );
                }
            }
        }
    });
}
