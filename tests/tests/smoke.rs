//! The basic round trip through an in-process relay: enrol, act, sync, see each other's work.

use cunwu_core::model::notice::{Category, Period, Subtype};
use cunwu_core::store::{NewNotice, NewRequest, NoticeFilter, RequestFilter};
use cunwu_core::sync::SyncClient;
use cunwu_core::{Role, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cadre_and_resident_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let relay = cunwu_relay::spawn(&dir.path().join("relay.db"))
        .await
        .unwrap();
    let (space, cadre_invite) = relay.relay.create_space("青石村").unwrap();
    let resident_invite = relay
        .relay
        .admin_invite(&space, Role::Resident, "H05", "二组")
        .unwrap();
    let client = SyncClient::default();
    let cadre = Store::open(dir.path().join("cadre.db")).unwrap();
    let resident = Store::open(dir.path().join("resident.db")).unwrap();
    client
        .enroll(&cadre, &relay.url(), &cadre_invite, "陈建国")
        .await
        .unwrap();
    client
        .enroll(&resident, &relay.url(), &resident_invite, "王秀英")
        .await
        .unwrap();
    let nid = cadre
        .post_notice(NewNotice {
            category: Category::Village,
            subtype: Subtype::Other,
            period: Period::default(),
            title: "关于修路的通知".into(),
            body: "下周一开始修路".into(),
            opening_balance_fen: None,
            lines: vec![],
            publish: true,
        })
        .unwrap();
    let rid = resident
        .file_request(NewRequest {
            kind: "social_assistance".into(),
            title: "申请低保".into(),
            description: "家中困难".into(),
            place: None,
            on_behalf_of: None,
            materials: vec![],
            attachments: vec![],
        })
        .unwrap();
    let r1 = client.sync_once(&cadre, None).await.unwrap();
    assert_eq!(r1.acked, 1, "{r1:?}");
    let r2 = client.sync_once(&resident, None).await.unwrap();
    assert_eq!(r2.acked, 1, "{r2:?}");
    assert_eq!(r2.received, 1, "{r2:?}");
    let r3 = client.sync_once(&cadre, None).await.unwrap();
    assert_eq!(r3.received, 1, "{r3:?}");
    assert_eq!(r3.round_trips, 1);
    let notices = resident.list_notices(&NoticeFilter::default()).unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].id, nid);
    assert_eq!(notices[0].title, "关于修路的通知");
    let reqs = cadre.list_requests(&RequestFilter::default()).unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].id, rid);
    assert_eq!(cadre.search("低保", 10).unwrap()[0].id, rid);
    // the resident's phone can show who published the notice, and check it offline
    let p = resident.provenance(&nid).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].member_name.as_deref(), Some("陈建国"));
    assert_eq!(p[0].role, Some(Role::Cadre));
    assert!(p[0].signature_verified, "{p:?}");
    assert!(
        cadre.provenance(&nid).unwrap()[0].signature_verified,
        "own changes"
    );
    // a stored signature altered on disk no longer verifies
    relay.stop().await;
    drop(resident);
    let conn = rusqlite::Connection::open(dir.path().join("resident.db")).unwrap();
    conn.execute("UPDATE batches SET signature = zeroblob(64)", [])
        .unwrap();
    drop(conn);
    let resident = Store::open(dir.path().join("resident.db")).unwrap();
    let p = resident.provenance(&nid).unwrap();
    assert!(!p[0].signature_verified);
    assert!(
        p[0].problem.as_deref().unwrap_or("").contains("signature"),
        "{p:?}"
    );
}
