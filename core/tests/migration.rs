//! A database written at schema version 1 opens with today's code: it is upgraded in
//! place, its documents are intact and the projections (including columns that did not
//! exist in version 1) are rebuilt from them; a change it had parked is kept and, from
//! version 3 on, says what it waits for and when it was parked.

use cunwu_core::doc::EntityDoc;
use cunwu_core::identity::DeviceKey;
use cunwu_core::roster::{DeviceEntry, Member, Role, Roster, SignedRoster};
use cunwu_core::store::schema;
use cunwu_core::store::RequestFilter;
use cunwu_core::Store;
use rusqlite::{params, Connection};
use serde_json::json;

#[test]
fn version_1_database_upgrades_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let device = DeviceKey::generate();
    let relay = DeviceKey::generate();
    let member = "0123456789abcdef0123456789abcdef";
    let request_id = "fedcba9876543210fedcba9876543210";
    {
        // what version 1 of the app wrote
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        assert_eq!(schema::version(&conn).unwrap(), 1);
        let roster = Roster {
            space_id: "00112233445566778899aabbccddeeff".into(),
            space_name: "青石村".into(),
            version: 3,
            members: vec![Member {
                id: member.into(),
                name: "王秀英".into(),
                role: Role::Resident,
                household: "H05".into(),
                group: "二组".into(),
                migrant: false,
                household_rep: true,
                party: false,
                revoked: false,
                joined_version: 1,
                person: None,
                lives_in: None,
                changed_version: 0,
            }],
            devices: vec![DeviceEntry {
                key: device.id(),
                member: member.into(),
                revoked_at_seq: None,
                changed_version: 0,
            }],
            deltas_from: None,
        };
        let signed = SignedRoster::sign(&roster, &relay);
        for (k, v) in [
            ("device_secret", device.secret_bytes().to_vec()),
            ("space_id", roster.space_id.as_bytes().to_vec()),
            ("space_name", "青石村".as_bytes().to_vec()),
            ("member_id", member.as_bytes().to_vec()),
            ("relay_url", b"http://127.0.0.1:8700".to_vec()),
            ("relay_key", relay.public().to_vec()),
            ("roster", serde_json::to_vec(&signed).unwrap()),
        ] {
            conn.execute(
                "INSERT INTO local(key, value) VALUES (?1, ?2)",
                params![k, v],
            )
            .unwrap();
        }
        let file = json!({"id": "e1", "by": member, "at": 1_780_000_000_000i64, "type": "file", "kind": "social_assistance",
                          "title": "申请低保", "description": "家中困难", "filer": member});
        let (mut doc, c1) = EntityDoc::create(
            &device.public(),
            cunwu_core::EntityKind::Request,
            request_id,
            &file,
            1_780_000_000_000,
        )
        .unwrap();
        let comment = json!({"id": "e2", "by": member, "at": 1_780_000_100_000i64, "type": "comment", "text": "补充了户口本"});
        let c2 = doc
            .append(&device.public(), &comment, 1_780_000_100_000)
            .unwrap();
        conn.execute(
            "INSERT INTO entities(id, kind, snapshot, incremental, updated_at) VALUES (?1, 'request', NULL, 2, 0)",
            [request_id],
        )
        .unwrap();
        for c in [&c1, &c2] {
            conn.execute(
                "INSERT INTO changes(hash, entity_id, bytes) VALUES (?1, ?2, ?3)",
                params![&c.hash().0[..], request_id, c.raw_bytes()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO outbox(hash, entity_id, kind, summary, state, created_at, updated_at) VALUES (?1, ?2, 'request', '', 'acked', 0, 0)",
                params![&c.hash().0[..], request_id],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO requests(id, kind, title, status, filer, created_at, updated_at) VALUES (?1, 'social_assistance', '申请低保', 'submitted', ?2, 0, 0)",
            params![request_id, member],
        )
        .unwrap();
        // a change parked by version 1 (before parked rows said what they wait for)
        let later = json!({"id": "e3", "by": member, "at": 1_780_000_200_000i64, "type": "comment", "text": "又补充了材料"});
        let c3 = doc
            .append(&device.public(), &later, 1_780_000_200_000)
            .unwrap();
        conn.execute(
            "INSERT INTO parked(hash, entity_id, author, seq, bytes) VALUES (?1, ?2, ?3, NULL, ?4)",
            params![&c3.hash().0[..], request_id, device.id(), c3.raw_bytes()],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    assert_eq!(schema::version(&conn).unwrap(), schema::LATEST);
    let listed = store.list_requests(&RequestFilter::default()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].title, "申请低保");
    assert_eq!(
        listed[0].rating, None,
        "the version 2 column exists and was filled from the document"
    );
    assert_eq!(
        listed[0].updated_at, 1_780_000_100_000,
        "projection rebuilt from the document, not kept from v1"
    );
    let r = store.request(request_id).unwrap();
    assert_eq!(r.comments.len(), 1);
    assert_eq!(store.me().unwrap().name, "王秀英");
    assert_eq!(store.device_id(), device.id(), "the device key survived");
    assert_eq!(
        store.search("户口", 5).unwrap().len(),
        1,
        "search index rebuilt"
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    // version 3: the old parked row waits for its entity and expires, counted from the upgrade
    let (waits, parked_at): (String, i64) = conn
        .query_row(
            "SELECT w.waits_for, p.parked_at FROM parked p JOIN parked_waits w ON w.hash = p.hash",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(waits, format!("entity:{request_id}"));
    assert!(
        (parked_at - cunwu_core::ids::now_ms()).abs() < 60_000,
        "parked_at {parked_at} is the upgrade time"
    );
    let report = store.check_integrity().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems());
    assert_eq!(
        conn.query_row("SELECT count(*) FROM quarantine", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        0
    );
}

#[test]
fn a_database_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", schema::LATEST + 1)
        .unwrap();
    let e = Store::open(&path).err().expect("refused");
    assert!(e.to_string().contains("newer than this build"), "{e}");
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let junk = b"this is not a database at all, just some bytes that a broken download left behind"
        .repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let e = Store::open(&path).err().expect("refused");
    assert!(matches!(e, cunwu_core::Error::Database(_)), "{e}");
    assert!(e.to_string().contains("not a valid Cunwu database"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), junk, "the file is untouched");
    // another application's SQLite database
    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE contacts(name TEXT);")
        .unwrap();
    let e = Store::open(&other).err().expect("refused");
    assert!(e.to_string().contains("not a Cunwu store"), "{e}");
}
