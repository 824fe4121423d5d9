//! A relay for a county (issue 13), against a real relay process: every small sync is
//! one HTTP round trip, for every role, and the answer says there is more only when
//! there is; a restore from a backup never splits the village.

use cunwu_core::model::notice::{Category, Period, Subtype};
use cunwu_core::store::{NewNotice, NewRequest};
use cunwu_core::Role;
use cunwu_tests::harness::{http_get, Device, RelayProcess};
use std::time::Duration;

/// Sync requests the relay has answered so far, refusals included (`/metrics`).
fn posts(relay: &RelayProcess) -> u64 {
    let (status, body) =
        http_get(relay.addr(), "/metrics", Duration::from_secs(10)).expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    ["cunwu_syncs_total ", "cunwu_sync_errors_total "]
        .iter()
        .map(|name| {
            body.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in /metrics: {body}"))
                .trim()
                .parse::<u64>()
                .expect("a counter")
        })
        .sum()
}

fn notice(title: &str) -> NewNotice {
    NewNotice {
        category: Category::Village,
        subtype: Subtype::Other,
        period: Period::default(),
        title: title.into(),
        body: "下周一开始修路，请沿线村民配合。".into(),
        opening_balance_fen: None,
        lines: vec![],
        publish: true,
    }
}

fn request(title: &str) -> NewRequest {
    NewRequest {
        kind: "social_assistance".into(),
        title: title.into(),
        description: "家中困难".into(),
        place: None,
        on_behalf_of: None,
        materials: vec![],
        attachments: vec![],
    }
}

/// One sync of `d`, which must take exactly one HTTP request and report one round trip.
async fn one_trip(relay: &RelayProcess, d: &Device, what: &str) -> cunwu_core::sync::SyncReport {
    let before = posts(relay);
    let r = d.sync().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let requests = posts(relay) - before;
    assert_eq!(
        (requests, r.round_trips),
        (1, 1),
        "{what}: a small sync of {} took {requests} HTTP request(s), {} round trip(s): {r:?}",
        d.name,
        r.round_trips
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_small_sync_is_one_round_trip_for_every_role() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let mut others = vec![];
    for (role, name) in [
        (Role::Resident, "王秀英"),
        (Role::VillagerRep, "李明"),
        (Role::PartyMember, "赵刚"),
        (Role::Township, "乡镇干部"),
    ] {
        let invite = relay.invite_with(&space, role, "H05", "二组");
        others.push(Device::enroll(&relay, &invite, name).await);
    }
    // everyone's first sync: the roster and nothing else
    one_trip(&relay, &cadre, "first sync").await;
    for d in &others {
        one_trip(&relay, d, "first sync").await;
    }
    // the cadre publishes; every other role files a request; each sync carries a
    // change up or down, or both, and still fits one page
    let nid = cadre.store.post_notice(notice("关于修路的通知")).unwrap();
    let r = one_trip(&relay, &cadre, "cadre publishes").await;
    assert_eq!(r.acked, 1, "{r:?}");
    for (i, d) in others.iter().enumerate() {
        if d.store.me().unwrap().role != Role::Township {
            d.store.file_request(request(&format!("申请{i}"))).unwrap();
        }
        let r = one_trip(&relay, d, "a member files and receives").await;
        assert!(r.received >= 1, "{}: {r:?}", d.name);
    }
    let r = one_trip(&relay, &cadre, "cadre receives the requests").await;
    assert!(r.received >= 3, "{r:?}");
    for d in &others {
        d.store.mark_read(&nid).unwrap();
        one_trip(&relay, d, "a member reads").await;
    }
    // steady state: nothing new either way costs one small request and answer
    for d in std::iter::once(&cadre).chain(&others) {
        let r = one_trip(&relay, d, "nothing new").await;
        let r2 = one_trip(&relay, d, "nothing new, again").await;
        assert_eq!((r2.sent, r2.received), (0, 0), "{r2:?}");
        assert!(
            r2.bytes_sent < 400 && r2.bytes_received < 400,
            "{}: an empty sync sent {} B and received {} B ({r:?})",
            d.name,
            r2.bytes_sent,
            r2.bytes_received
        );
    }
}

/// Every change `d` made, as the relay would hold them (hash bytes).
fn own_changes(d: &Device) -> Vec<Vec<u8>> {
    d.store
        .local_changes(None, 10_000)
        .unwrap()
        .into_iter()
        .map(|c| hex::decode(c.hash).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_from_a_backup_never_splits_the_village() {
    if cunwu_tests::harness::postgres_server().is_some() {
        eprintln!("skipped on PostgreSQL: `cunwu-relay backup` is SQLite's online backup; a PostgreSQL relay is backed up with pg_dump and restored with pg_restore then `cunwu-relay restore --db postgres://…` (docs/ARCHITECTURE.md)");
        return;
    }
    let mut relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let wang = Device::enroll(
        &relay,
        &relay.invite_with(&space, Role::Resident, "H05", "二组"),
        "王秀英",
    )
    .await;
    let li = Device::enroll(
        &relay,
        &relay.invite_with(&space, Role::Resident, "H07", "三组"),
        "李明",
    )
    .await;
    let all = [&cadre, &wang, &li];
    let sync_all = || async {
        for _ in 0..2 {
            for d in all {
                d.sync().await.unwrap_or_else(|e| panic!("{}: {e}", d.name));
            }
        }
    };
    // before the backup
    let n1 = cadre.store.post_notice(notice("关于修路的通知")).unwrap();
    let r1 = wang.store.file_request(request("申请低保")).unwrap();
    sync_all().await;
    let backup = relay.dir().join("backup.db");
    let out = relay.admin(&["backup", "--out", backup.to_str().unwrap()]);
    assert!(out["pages"].as_i64().unwrap() > 0, "{out}");
    // after it: acked by the relay, then lost to the restore
    let n2 = cadre.store.post_notice(notice("关于停水的通知")).unwrap();
    let r2 = li
        .store
        .file_request(request("在外务工被拖欠工资"))
        .unwrap();
    wang.store.mark_read(&n1).unwrap();
    sync_all().await;
    let before_restore: Vec<u64> = all.iter().map(|d| d.store.cursor().unwrap()).collect();
    for d in all {
        assert_eq!(d.store.unsent_changes().unwrap(), 0, "{}", d.name);
    }
    relay.stop();
    let out = relay.admin(&["restore", "--from", backup.to_str().unwrap()]);
    assert_eq!(out["restored"], true, "{out}");
    relay.restart();
    let lost: Vec<Vec<u8>> = all.iter().flat_map(|d| own_changes(d)).collect();
    assert!(
        lost.iter().any(|h| !relay.has_change(h)),
        "the restored relay should lack the changes acked after the backup"
    );
    // the log grows again from the backup before the others come back: their cursors
    // then point into another history than the one they synced with
    li.store.mark_read(&n1).unwrap();
    li.store.ask_question(&n1, "修路期间怎么走？").unwrap();
    li.sync().await.unwrap();
    sync_all().await;
    sync_all().await;
    // nothing any phone made is lost, and every phone converged on the same village
    for d in all {
        assert_eq!(d.store.unsent_changes().unwrap(), 0, "{}", d.name);
        for h in own_changes(d) {
            assert!(
                relay.has_change(&h),
                "{}'s change {} is not on the restored relay: {:?}",
                d.name,
                hex::encode(&h),
                d.store.change_state(&hex::encode(&h))
            );
        }
    }
    let last = relay.query_i64(&format!(
        "SELECT next_seq - 1 FROM spaces WHERE id = '{space}'"
    )) as u64;
    for (d, old) in all.iter().zip(&before_restore) {
        let cur = d.store.cursor().unwrap();
        assert!(
            cur <= last,
            "{}: cursor {cur} beyond the log's end {last} (was {old})",
            d.name
        );
    }
    for id in [&n1, &n2] {
        let reference = cadre.store.document_json(id).unwrap();
        for d in [&wang, &li] {
            assert_eq!(
                d.store.document_json(id).unwrap(),
                reference,
                "{} sees notice {id} otherwise than the cadre",
                d.name
            );
        }
    }
    for (id, filer) in [(&r1, &wang), (&r2, &li)] {
        assert_eq!(
            cadre.store.document_json(id).unwrap(),
            filer.store.document_json(id).unwrap(),
            "the cadre sees request {id} as its filer does"
        );
    }
}

/// A small filesystem mounted for the test (tmpfs; needs root), unmounted on drop.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_changes_clearly_and_pull_only_syncs_still_work() {
    if cunwu_tests::harness::postgres_server().is_some() {
        eprintln!("skipped on PostgreSQL: this test fills the small filesystem an SQLite relay file lives on; the PostgreSQL server's disk is not the test's to fill");
        return;
    }
    let mut relay = RelayProcess::start();
    let Some(disk) = SmallDisk::mount(8 * 1024 * 1024) else {
        eprintln!("skipped: cannot mount a small filesystem (needs root)");
        return;
    };
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let wang = Device::enroll(
        &relay,
        &relay.invite_with(&space, Role::Resident, "H05", "二组"),
        "王秀英",
    )
    .await;
    cadre.store.post_notice(notice("关于修路的通知")).unwrap();
    cadre.sync().await.unwrap();
    wang.sync().await.unwrap();
    // the relay moves to the small disk (stopped cleanly, its WAL is folded in)
    relay.stop();
    let db = disk.0.path().join("relay.db");
    std::fs::copy(relay.db_path(), &db).unwrap();
    relay.move_db(db);
    relay.restart();
    let n2 = cadre.store.post_notice(notice("关于停水的通知")).unwrap();
    assert_eq!(cadre.sync().await.unwrap().acked, 1);
    let filler = disk.fill();
    // a change cannot be stored: refused with a clear reason, nothing acked
    wang.store.file_request(request("申请低保")).unwrap();
    let raw = wang
        .push_raw(&relay, wang.store.outgoing_batches().unwrap())
        .await;
    assert_eq!(raw.status, 507, "{}", raw.error());
    assert!(
        raw.error().contains("disk is full or read-only"),
        "{}",
        raw.error()
    );
    // the app's sync still receives, and keeps its change for later
    let r = wang.sync().await.unwrap();
    assert_eq!((r.acked, r.rejected), (0, 0), "{r:?}");
    assert!(
        r.received >= 1,
        "the new notice still reaches the phone: {r:?}"
    );
    assert!(wang.store.document_json(&n2).is_ok());
    assert_eq!(wang.store.unsent_changes().unwrap(), 1);
    // a pull-only sync is still protected against replay
    let body = wang.sync_body(vec![], 0);
    assert_eq!(
        cunwu_tests::harness::post_sync(&relay.url(), body.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        cunwu_tests::harness::post_sync(&relay.url(), body)
            .await
            .status,
        409,
        "a replayed pull-only request is refused while the disk is full"
    );
    // room again: the change goes up
    std::fs::remove_file(filler).unwrap();
    let r = wang.sync().await.unwrap();
    assert_eq!(r.acked, 1, "{r:?}");
    assert_eq!(wang.store.unsent_changes().unwrap(), 0);
    assert!(cadre.sync().await.unwrap().received >= 1);
    relay.stop();
}

/// A phone whose roster is behind receives what changed since its version (an
/// enrolment, a revocation), checks it against the relay's signature of the whole
/// roster and keeps a whole signed roster, which it can still hand to another phone
/// in a bundle; an app from before roster deltas gets the whole roster as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_a_member_behind_receives_that_member_not_the_whole_roster() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let _cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let mut villagers = vec![];
    for i in 0..60 {
        let invite = relay.invite_with(&space, Role::Resident, &format!("H{i:02}"), "二组");
        villagers.push(Device::enroll(&relay, &invite, &format!("村民{i}")).await);
    }
    let wang = &villagers[0];
    wang.sync().await.unwrap();
    let whole = serde_json::to_vec(&wang.store.roster().unwrap())
        .unwrap()
        .len();
    assert!(wang.store.roster().unwrap().members.len() == 61);

    // one member joins: the next sync brings that member and nothing of the other 61
    let li = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "李新来").await;
    let r = one_trip(&relay, wang, "one member behind").await;
    let roster = wang.store.roster().unwrap();
    assert!(
        roster.member(&li.member_id()).is_some(),
        "the new member arrived"
    );
    assert!(
        (r.bytes_received as usize) < whole / 8,
        "a sync one member behind received {} B; the whole roster is {whole} B of JSON",
        r.bytes_received
    );

    // a revocation arrives the same way, and the revoked member's changes stop counting
    relay.revoke(&space, &villagers[5].member_id());
    let r = one_trip(&relay, wang, "one revocation behind").await;
    assert!((r.bytes_received as usize) < whole / 8, "{r:?}");
    let roster = wang.store.roster().unwrap();
    assert!(roster.member(&villagers[5].member_id()).unwrap().revoked);

    // the roster the phone pieced together verifies as the relay's own: a phone that was
    // never told of 李新来 takes it from 王's bundle
    let zhao = &villagers[1];
    let bundle = wang.store.export_bundle(None).unwrap();
    zhao.store.import_bundle(&bundle).unwrap();
    assert!(zhao
        .store
        .roster()
        .unwrap()
        .member(&li.member_id())
        .is_some());

    // an app that reads only wire version 5 still gets the whole roster
    let behind = &villagers[2];
    let body = behind.sync_body(vec![], behind.store.cursor().unwrap());
    let v5 = cunwu_tests::harness::post_sync_as(&relay.url(), body, Some(5))
        .await
        .sync_response();
    assert!(v5.roster.is_some() && v5.roster_delta.is_none());
    let body = behind.sync_body(vec![], behind.store.cursor().unwrap());
    let v6 = cunwu_tests::harness::post_sync_as(&relay.url(), body, Some(6))
        .await
        .sync_response();
    assert!(v6.roster.is_none() && v6.roster_delta.is_some(), "{v6:?}");
}

/// Control requests (invite, revoke, rotate) carry the time they were signed in their
/// nonce: the relay refuses one signed more than 15 minutes from its clock and says its
/// time, so a phone whose clock is off signs again with it; and the relay forgets the
/// nonces of timed requests older than that (at start), since a replay of one is
/// refused by its time. An older app's untimed nonce is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_nonces_carry_a_time_and_old_ones_are_pruned() {
    use cunwu_core::wire::control::{fresh_nonce, revoke_message, ErrorBody, RevokeRequest};
    use cunwu_tests::harness::post_raw;
    let mut relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let wang = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;
    let revoke_at = |at: i64| {
        let mut req = RevokeRequest {
            space_id: space.clone(),
            device_key: cadre.device_id(),
            target: wang.member_id(),
            nonce: fresh_nonce(at),
            signature: String::new(),
        };
        req.signature = hex::encode(cadre.key().sign(&revoke_message(&req)));
        serde_json::to_vec(&req).unwrap()
    };
    let now = cunwu_core::ids::now_ms();
    // signed by a phone whose clock is 20 minutes behind: refused, with the relay's time
    let stale = revoke_at(now - 20 * 60_000);
    let r = post_raw(
        &relay.url(),
        "/v1/revoke",
        "application/json",
        stale.clone(),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.error());
    let body: ErrorBody = serde_json::from_slice(&r.body).unwrap();
    let relay_time = body.relay_time.expect("the relay says its time");
    assert!((relay_time - now).abs() < 60_000, "{relay_time} vs {now}");
    assert!(body.error.contains("sign it again"), "{}", body.error);
    assert!(wang.sync().await.is_ok(), "nothing was revoked");
    // signed again with the relay's time: taken, once
    let fresh = revoke_at(relay_time);
    let r = post_raw(
        &relay.url(),
        "/v1/revoke",
        "application/json",
        fresh.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.error());
    let r = post_raw(
        &relay.url(),
        "/v1/revoke",
        "application/json",
        fresh.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.error().contains("replayed")),
        (409, true),
        "{}",
        r.error()
    );

    // nonces two days old: a timed one is forgotten at start, an older app's is kept
    let old = format!(
        "t{}.{}",
        now - 86_400_000,
        "00112233445566778899aabbccddeeff"
    );
    relay.execute(&format!(
        "INSERT INTO nonces(nonce, at) VALUES ('{old}', {}), ('00112233445566778899aabbccddeeff', {})",
        now - 2 * 86_400_000,
        now - 2 * 86_400_000
    ));
    assert_eq!(relay.query_i64("SELECT count(*) FROM nonces"), 3);
    relay.restart();
    let left = relay.query_i64(&format!(
        "SELECT count(*) FROM nonces WHERE nonce = '{old}'"
    ));
    assert_eq!(left, 0, "the old timed nonce is pruned");
    assert_eq!(
        relay.query_i64("SELECT count(*) FROM nonces"),
        2,
        "the fresh one and the untimed one stay"
    );
    // and a replay of the stale request is still refused, by its time
    let r = post_raw(&relay.url(), "/v1/revoke", "application/json", stale).await;
    assert_eq!(r.status, 409, "{}", r.error());
    assert!(cadre.sync().await.is_ok());
}
