//! Rules stated once (issue 10), checked against a real relay process: the phone and
//! the relay refuse the same names, and no bad input — a refused transition, a
//! malformed or forged request, a control request the policy refuses — gets a 5xx.

use cunwu_core::doc::EntityDoc;
use cunwu_core::identity::DeviceKey;
use cunwu_core::ids::{new_event_id, now_ms};
use cunwu_core::model::request::Status;
use cunwu_core::model::MAX_NAME_CHARS;
use cunwu_core::store::NewRequest;
use cunwu_core::wire::control::{invite_message, rotate_message, InviteRequest, RotateRequest};
use cunwu_core::wire::{entity_bytes, SignedBatch};
use cunwu_core::{Error, Role};
use cunwu_tests::harness::{
    post_raw, post_sync, signed_sync_body, Device, HttpReply, RelayProcess,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_refuses_the_names_the_relay_refuses_before_sending_anything() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let _cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let invite = relay.invite(&space, Role::Resident);
    // one character over the limit: before, the phone allowed 200 characters and the
    // relay 100, so this went out and came back as the relay's 400
    let long = Device::new(&"王".repeat(MAX_NAME_CHARS + 1));
    match long.try_enroll(&relay, &invite).await {
        Err(Error::Invalid(reason)) => {
            assert!(reason.contains(&MAX_NAME_CHARS.to_string()), "{reason}")
        }
        other => panic!("a name over the limit was not refused on the phone: {other:?}"),
    }
    assert!(long.store.membership().unwrap().is_none());
    // the invite was not spent: a name at the limit enrols with it
    let at_limit = Device::enroll(&relay, &invite, &"王".repeat(MAX_NAME_CHARS)).await;
    assert_eq!(
        at_limit.store.me().unwrap().name.chars().count(),
        MAX_NAME_CHARS
    );
}

fn assert_4xx(what: &str, r: &HttpReply) {
    assert!(
        (400..500).contains(&r.status),
        "{what}: expected a 4xx with a reason, got {}: {}",
        r.status,
        r.error()
    );
    assert!(!r.error().is_empty(), "{what}: no reason given");
}

async fn post_json(relay: &RelayProcess, path: &str, v: &serde_json::Value) -> HttpReply {
    post_raw(
        &relay.url(),
        path,
        "application/json",
        serde_json::to_vec(v).unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_a_real_relay_gets_a_4xx_never_a_5xx() {
    let relay = RelayProcess::start();
    let (space, cadre_invite) = relay.create_space("青石村");
    let cadre = Device::enroll(&relay, &cadre_invite, "陈建国").await;
    let resident = Device::enroll(&relay, &relay.invite(&space, Role::Resident), "王秀英").await;

    // a refused transition rides in a sync: the sync succeeds, the change is rejected
    let id = resident
        .store
        .file_request(NewRequest {
            kind: "public_facility_repair".into(),
            title: "路灯坏了".into(),
            description: "三组路口".into(),
            place: None,
            on_behalf_of: None,
            materials: vec![],
            attachments: vec![],
        })
        .unwrap();
    resident.sync().await.unwrap();
    cadre.sync().await.unwrap();
    assert!(matches!(
        cadre
            .store
            .transition_request(&id, Status::Resolved, "")
            .unwrap_err(),
        Error::InvalidTransition(_)
    ));
    // the filer's phone is made to sign a move to "resolved" anyway (its app refuses):
    // the relay answers 200 and rejects the change with the policy's reason
    let forged = {
        let c = resident.sql();
        let changes: Vec<Vec<u8>> = c
            .prepare("SELECT bytes FROM changes WHERE entity_id = ?1 ORDER BY rowid")
            .unwrap()
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut doc = EntityDoc::load(None, changes.iter().map(|b| b.as_slice())).unwrap();
        let event = serde_json::json!({"id": new_event_id(), "by": resident.member_id(), "at": now_ms(),
                                       "type": "transition", "to": "resolved", "note": ""});
        doc.append(&resident.key().public(), &event, now_ms())
            .unwrap()
    };
    let batch = SignedBatch::sign(
        resident.key(),
        now_ms(),
        &[(entity_bytes(&id).unwrap(), forged.clone())],
    );
    let resp = resident.push_raw(&relay, vec![batch]).await.sync_response();
    assert!(!resp.acks.contains(&forged.hash().0));
    let why = &resp
        .rejections
        .iter()
        .find(|r| r.hash == forged.hash().0)
        .expect("the forged transition is rejected")
        .reason;
    assert!(why.contains("may not move a request"), "{why}");

    // sync bodies that are not sealed requests, or are sealed by nobody enrolled
    for (what, body) in [
        ("empty sync body", vec![]),
        ("garbage sync body", b"not a frame at all".to_vec()),
        (
            "a frame of an unknown version",
            b"CWU\x09\x01\x00\x00".to_vec(),
        ),
        ("a truncated sealed request", {
            let b = resident.sync_body(vec![], 0);
            b[..b.len() / 2].to_vec()
        }),
        (
            "a sealed request by an unknown device",
            signed_sync_body(
                &DeviceKey::generate(),
                &space,
                now_ms() as u64,
                0,
                0,
                vec![],
            ),
        ),
        (
            "a sealed request for a space the relay does not hold",
            signed_sync_body(
                resident.key(),
                &cunwu_core::ids::new_id(),
                now_ms() as u64,
                0,
                0,
                vec![],
            ),
        ),
    ] {
        assert_4xx(what, &post_sync(&relay.url(), body).await);
    }
    // a replayed sync request
    let body = resident.sync_body(vec![], 0);
    assert_eq!(post_sync(&relay.url(), body.clone()).await.status, 200);
    assert_4xx(
        "a replayed sync request",
        &post_sync(&relay.url(), body).await,
    );

    // enrolment
    let stranger = DeviceKey::generate();
    for (what, v) in [
        ("enrol: not JSON", serde_json::json!("nonsense")),
        (
            "enrol: a key that is not hex",
            serde_json::json!({"invite": "X", "device_key": "zz", "name": "李", "signature": "00"}),
        ),
        (
            "enrol: a signature that is not hex",
            serde_json::json!({"invite": "X", "device_key": stranger.id(), "name": "李", "signature": "zz"}),
        ),
        (
            "enrol: a signature that does not verify",
            serde_json::json!({"invite": "X", "device_key": stranger.id(), "name": "李", "signature": "00".repeat(64)}),
        ),
    ] {
        assert_4xx(what, &post_json(&relay, "/v1/enroll", &v).await);
    }

    // invites: a resident may not invite; a cadre may not invite township officials
    for (what, who, role) in [
        ("invite by a resident", &resident, Role::Resident),
        ("a township invite by a cadre", &cadre, Role::Township),
    ] {
        let mut req = InviteRequest {
            space_id: space.clone(),
            device_key: who.device_id(),
            role,
            household: String::new(),
            group: String::new(),
            nonce: cunwu_core::ids::new_id(),
            signature: String::new(),
            enrols: Default::default(),
        };
        req.signature = hex::encode(who.key().sign(&invite_message(&req)));
        let r = post_json(&relay, "/v1/invites", &serde_json::to_value(&req).unwrap()).await;
        assert_eq!(r.status, 403, "{what}: {}", r.error());
    }
    // revocation of someone who is not there, and by a resident
    match cadre.client.revoke(&cadre.store, "nobody").await {
        Err(Error::Relay { status, .. }) => assert_eq!(status, 404),
        other => panic!("revoking nobody: {other:?}"),
    }
    match resident
        .client
        .revoke(&resident.store, &cadre.member_id())
        .await
    {
        Err(Error::Relay { status, reason }) => {
            assert_eq!(status, 403, "{reason}");
            assert!(reason.contains("only cadres"), "{reason}");
        }
        other => panic!("a resident revoked a cadre: {other:?}"),
    }
    // a rotation to the same key
    let mut rot = RotateRequest {
        space_id: space.clone(),
        old_key: resident.device_id(),
        new_key: resident.device_id(),
        nonce: cunwu_core::ids::new_id(),
        old_signature: String::new(),
        new_signature: String::new(),
    };
    let sig = hex::encode(resident.key().sign(&rotate_message(&rot)));
    rot.old_signature = sig.clone();
    rot.new_signature = sig;
    assert_4xx(
        "a rotation to the same key",
        &post_json(&relay, "/v1/rotate", &serde_json::to_value(&rot).unwrap()).await,
    );

    // the relay is fine, and honest devices still sync
    cadre.sync().await.unwrap();
    resident.sync().await.unwrap();
    assert!(
        !relay.log().contains("\"request failed\""),
        "the relay logged a server error:\n{}",
        relay.log()
    );
}
