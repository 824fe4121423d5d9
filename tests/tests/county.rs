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
