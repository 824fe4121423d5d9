//! A process writing in a loop is killed with SIGKILL; reopening the store shows every
//! operation whose call returned, and SQLite's integrity check passes.

use cunwu_core::local_space::LocalSpace;
use cunwu_core::model::notice::{Category, Period, Subtype};
use cunwu_core::store::{NewNotice, NewRequest, NoticeFilter, RequestFilter};
use cunwu_core::{Role, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The child: writes until killed, printing the id of each operation once its call returned.
#[test]
#[ignore = "run by crash_loses_nothing_that_returned as a child process"]
fn crash_child() {
    let Ok(path) = std::env::var("CUNWU_CRASH_DB") else {
        return;
    };
    let store = Store::open(&path).unwrap();
    let out = std::io::stdout();
    for i in 0.. {
        let line = if i % 2 == 0 {
            let id = store
                .post_notice(NewNotice {
                    category: Category::Village,
                    subtype: Subtype::Other,
                    period: Period::default(),
                    title: format!("停电通知{i}"),
                    body: "明天上午停电".repeat(20),
                    opening_balance_fen: None,
                    lines: vec![],
                    publish: true,
                })
                .unwrap();
            format!("notice {id}")
        } else {
            let id = store
                .file_request(NewRequest {
                    kind: "certificate".into(),
                    title: format!("开证明{i}"),
                    description: "需要开具居住证明".into(),
                    place: None,
                    on_behalf_of: None,
                    materials: vec![],
                    attachments: vec![],
                })
                .unwrap();
            format!("request {id}")
        };
        let mut o = out.lock();
        writeln!(o, "{line}").unwrap();
        o.flush().unwrap();
    }
}

#[test]
fn crash_loses_nothing_that_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    {
        let store = Store::open(&path).unwrap();
        let mut space = LocalSpace::new("青石村");
        space.join(&store, "陈建国", Role::Cadre).unwrap();
    }
    let mut confirmed: Vec<(String, String)> = vec![];
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CUNWU_CRASH_DB", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let mut seen = 0;
        // let it write for a while (at least 20 operations), then kill it mid-loop
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                if let Some((k, id)) = line.split_once(' ') {
                    if k == "notice" || k == "request" {
                        confirmed.push((k.to_string(), id.to_string()));
                        seen += 1;
                    }
                }
            }
            if seen >= 20 + round * 7 {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // lines already written before the kill are confirmed too
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some((k, id)) = line.split_once(' ') {
                confirmed.push((k.to_string(), id.to_string()));
            }
        }
        assert!(
            seen >= 20,
            "the child wrote only {seen} operations in round {round}"
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let notices: Vec<String> = store
        .list_notices(&NoticeFilter {
            limit: 500,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    let requests: Vec<String> = store
        .list_requests(&RequestFilter {
            limit: 500,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    for (k, id) in &confirmed {
        let present = if k == "notice" {
            notices.contains(id)
        } else {
            requests.contains(id)
        };
        assert!(
            present,
            "{k} {id} returned before the crash but is missing after it"
        );
        if k == "notice" {
            store.notice(id).unwrap();
        } else {
            store.request(id).unwrap();
        }
    }
    // every stored change is also in the outbox, still waiting to be sent
    let pending = store.local_changes(None, 10_000).unwrap();
    assert!(pending.len() >= confirmed.len());
}
