//! The SQLite schema and its versioned migrations. `PRAGMA user_version` holds the
//! version; `migrate` brings any older database up to `LATEST`, each step in its own
//! transaction. Projection tables can always be rebuilt from the documents, so a
//! migration that changes them marks the store for a projection rebuild.

use crate::error::{Error, Result};
use rusqlite::Connection;

pub const LATEST: u32 = 8;

const V1: &str = r#"
CREATE TABLE local (key TEXT PRIMARY KEY, value BLOB NOT NULL);

-- One row per entity: its automerge document, compacted (full history kept).
CREATE TABLE entities (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    snapshot BLOB,
    incremental INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

-- Changes not yet folded into the entity's snapshot (content-addressed).
CREATE TABLE changes (
    hash BLOB PRIMARY KEY,
    entity_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX changes_entity ON changes(entity_id);

-- Remote changes waiting for dependencies that have not arrived yet.
CREATE TABLE parked (
    hash BLOB PRIMARY KEY,
    entity_id TEXT NOT NULL,
    author TEXT NOT NULL,
    seq INTEGER,
    bytes BLOB NOT NULL
);
CREATE INDEX parked_entity ON parked(entity_id);

-- Signatures of received batches, kept so this device can pass others' changes on
-- in bundles with the signatures of the devices that made them.
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author BLOB NOT NULL,
    signed_at INTEGER NOT NULL,
    signature BLOB NOT NULL UNIQUE,
    pairs BLOB NOT NULL,
    seq INTEGER
);
CREATE TABLE change_batches (
    hash BLOB PRIMARY KEY,
    batch_id INTEGER NOT NULL
) WITHOUT ROWID;

-- Every change made on this device, and what became of it.
CREATE TABLE outbox (
    local_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash BLOB NOT NULL UNIQUE,
    entity_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'acked', 'rejected')),
    reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_state ON outbox(state);

-- Projections: derived from the documents in the same transaction that stores a change.
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    subtype TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    created_by TEXT NOT NULL,
    published_at INTEGER,
    updated_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    income_fen INTEGER,
    expense_fen INTEGER,
    closing_fen INTEGER,
    open_questions INTEGER NOT NULL
);
CREATE INDEX notices_list ON notices(category, updated_at DESC);
CREATE INDEX notices_updated ON notices(updated_at DESC);

CREATE TABLE receipts (
    notice_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (notice_id, member_id)
) WITHOUT ROWID;

CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    filer TEXT NOT NULL,
    filed_by TEXT,
    assignee TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX requests_list ON requests(status, updated_at DESC);
CREATE INDEX requests_updated ON requests(updated_at DESC);
CREATE INDEX requests_filer ON requests(filer);
CREATE INDEX requests_filed_by ON requests(filed_by);
CREATE INDEX requests_assignee ON requests(assignee, status);

CREATE TABLE deliberations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    deciding_body TEXT NOT NULL,
    opens_at INTEGER NOT NULL,
    closes_at INTEGER NOT NULL,
    opened INTEGER NOT NULL,
    closed_at INTEGER,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE ballots (
    id TEXT PRIMARY KEY,
    deliberation_id TEXT NOT NULL,
    voter TEXT NOT NULL,
    last_cast_at INTEGER NOT NULL
);
CREATE INDEX ballots_deliberation ON ballots(deliberation_id);

-- Full-text search: text pre-tokenised into CJK bigrams and Latin words (see search.rs).
-- Contentless (the text lives in the documents), one row per entity: rowid = entities.n.
CREATE VIRTUAL TABLE search USING fts5(title, body, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', detail = 'column');
INSERT INTO search(search, rank) VALUES ('rank', 'bm25(10.0, 1.0)');
"#;

const V2: &str = r#"
-- Tallies signed by the relay (secret ballots, hidden results).
CREATE TABLE tallies (
    deliberation_id TEXT PRIMARY KEY,
    tally_json BLOB NOT NULL,
    signature BLOB NOT NULL
);
-- The satisfaction rating shows on request lists.
ALTER TABLE requests ADD COLUMN rating INTEGER;
INSERT OR REPLACE INTO local(key, value) VALUES ('rebuild_projections', X'01');
"#;

const V3: &str = r#"
-- Parking is bounded: when a change was parked (it expires) and exactly what it
-- waits for ('change:<hash hex>' = a missing dependency, 'entity:<id>' = the
-- deliberation a ballot needs), so applying a change retries only what it unblocks.
ALTER TABLE parked ADD COLUMN parked_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX parked_author ON parked(author);
CREATE TABLE parked_waits (
    waits_for TEXT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (waits_for, hash)
) WITHOUT ROWID;
CREATE INDEX parked_waits_hash ON parked_waits(hash);
-- Rows parked by an older version waited for "any change of their entity"; they
-- keep that, and expire like new ones (counted from this upgrade).
INSERT OR IGNORE INTO parked_waits(waits_for, hash) SELECT 'entity:' || entity_id, hash FROM parked;
UPDATE parked SET parked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;

-- A phone heals: damaged entities are removed, recorded here, and fetched again.
CREATE TABLE quarantine (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
-- Local changes not yet acknowledged by the relay, saved from a damaged entity
-- until the entity is fetched again and they can be put back.
CREATE TABLE kept_changes (
    hash BLOB PRIMARY KEY,
    entity_id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
"#;

const V4: &str = r#"
-- Rules decided once, in the model, and stored with the row instead of re-derived in
-- SQL: whether a request is still open (`Status::is_open`), whether a notice is live
-- (`NoticeStatus::is_live`) and the phase a
-- deliberation's events give it (`Deliberation::recorded_phase`; the deadline is
-- applied by `Phase::at` when a list is read). Filled by the projection rebuild.
ALTER TABLE requests ADD COLUMN open INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deliberations ADD COLUMN phase TEXT NOT NULL DEFAULT 'discussion';
-- whether a notice is out for residents to read (`NoticeStatus::is_live`)
ALTER TABLE notices ADD COLUMN live INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_open ON requests(open, updated_at DESC);
INSERT OR REPLACE INTO local(key, value) VALUES ('rebuild_projections', X'01');
"#;

const V5: &str = r#"
-- Issue 14, what a villager sees.
-- Badge counts: the members each vote's eligibility snapshot names
-- (`Deliberation::may_vote`), so "votes to cast" counts only this member's.
CREATE TABLE electorate (
    deliberation_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (deliberation_id, member_id)
) WITHOUT ROWID;
CREATE INDEX electorate_member ON electorate(member_id);
-- Lists keep their order: newest published (a draft: created) or filed first.
ALTER TABLE notices ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliberations ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notices_newest ON notices(coalesce(published_at, created_at) DESC);
CREATE INDEX requests_created ON requests(created_at DESC);
-- Search ranks: a third column for line items, comments, questions, answers and
-- transition notes, weighted below title and body (`queries::search`).
DROP TABLE search;
CREATE VIRTUAL TABLE search USING fts5(title, body, extra, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', detail = 'column');
INSERT INTO search(search, rank) VALUES ('rank', 'bm25(10.0, 4.0, 1.0)');
-- When each change reached the village: the relay's arrival time of the log entry that
-- carried it, or of the answer that acknowledged this phone's own change. Dates people
-- see (a publication, a reply due date) count from it, not from a phone's clock.
CREATE TABLE arrivals (
    hash BLOB PRIMARY KEY,
    at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR REPLACE INTO local(key, value) VALUES ('rebuild_projections', X'01');
"#;

const V6: &str = r#"
-- Issue 11, the village as it is: the register of villagers (`model::register`), one row
-- per person for lists and follow-up lists (by group and household); the row keeps the
-- person as JSON (details, status, history) for screens.
CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    register_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    household TEXT NOT NULL,
    grp TEXT NOT NULL,
    status TEXT NOT NULL,
    person_json TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX persons_household ON persons(grp, household, position);
INSERT OR REPLACE INTO local(key, value) VALUES ('rebuild_projections', X'01');
"#;

/// Issue 11, the matters and the party branch (version 7).
const V7: &str = r#"
-- 四议两公开: one row per major matter, with where it stands (`Matter::fold`).
CREATE TABLE matters (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT,
    next_stage TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX matters_newest ON matters(created_at DESC);
-- 党员活动: the branch's activities, and one row per person recorded at one
-- (`mode` NULL: absent), for a member's yearly attendance.
CREATE TABLE party_activities (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    year INTEGER NOT NULL,
    place TEXT NOT NULL,
    online_link TEXT,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX party_activities_year ON party_activities(year, starts_at);
CREATE TABLE party_attendance (
    activity_id TEXT NOT NULL,
    person TEXT NOT NULL,
    mode TEXT,
    PRIMARY KEY (activity_id, person)
) WITHOUT ROWID;
CREATE INDEX party_attendance_person ON party_attendance(person);
INSERT OR REPLACE INTO local(key, value) VALUES ('rebuild_projections', X'01');
"#;

/// Issue 12, attachments (version 8).
const V8: &str = r#"
-- The bytes this device knows of, one row per content address (`model::attachment`):
-- its own (`own` = 1: attached here, never evicted before the relay holds them all)
-- and others' (downloaded lazily, within the budget). `state` is what the UI shows,
-- `done` the bytes uploaded or held verified; `pieces` the verified piece list once
-- known. Local state, not a projection: a rebuild keeps it.
CREATE TABLE IF NOT EXISTS blobs (
    hash TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    kind TEXT NOT NULL,
    own INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('pending', 'uploading', 'uploaded', 'not_downloaded',
        'downloading', 'downloaded', 'failed')),
    done INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    pieces BLOB,
    last_used INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_state ON blobs(state);
-- A projection: every reference an entity's events make (`attachment::referenced`),
-- written in the transaction that stores the entity's change.
CREATE TABLE IF NOT EXISTS blob_refs (
    hash TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    by TEXT NOT NULL,
    at INTEGER NOT NULL,
    to_event TEXT,
    line INTEGER,
    attachment_json TEXT NOT NULL,
    PRIMARY KEY (entity_id, position)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blob_refs_hash ON blob_refs(hash);
INSERT OR REPLACE INTO local(key, value) VALUES ('rebuild_projections', X'01');
"#;

const MIGRATIONS: [&str; LATEST as usize] = [V1, V2, V3, V4, V5, V6, V7, V8];

pub fn version(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Migrate to `target` (normally `LATEST`). Refuses a database newer than this build.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<()> {
    let v = version(conn)?;
    if v > LATEST {
        return Err(Error::Database(format!(
            "the database has schema version {v}, newer than this build understands ({LATEST}); update the app"
        )));
    }
    if v == 0 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(Error::Database(
                "the file is an SQLite database but not a Cunwu store".into(),
            ));
        }
    }
    for step in v..target.min(LATEST) {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[step as usize])?;
        tx.pragma_update(None, "user_version", step + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_space::LocalSpace;
    use crate::model::deliberation::DecidingBody;
    use crate::model::notice::{Category, Period, Subtype};
    use crate::model::request::Status;
    use crate::roster::Role;
    use crate::store::{
        NewDeliberation, NewNotice, NewRequest, NoticeFilter, RequestFilter, Store,
    };

    #[test]
    fn version_3_database_upgrades_to_stored_open_and_phase_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let (open, closed);
        {
            let store = Store::open(&path).unwrap();
            LocalSpace::new("青石村")
                .join(&store, "陈建国", Role::Cadre)
                .unwrap();
            let r = |title: &str| {
                store
                    .file_request(NewRequest {
                        kind: "other".into(),
                        title: title.into(),
                        description: String::new(),
                        place: None,
                        on_behalf_of: None,
                        materials: vec![],
                        attachments: vec![],
                    })
                    .unwrap()
            };
            open = r("路灯坏了");
            closed = r("井盖丢了");
            store
                .transition_request(&closed, Status::Withdrawn, "")
                .unwrap();
            let now = crate::ids::now_ms();
            let d = store
                .create_deliberation(NewDeliberation {
                    title: "修路".into(),
                    body: String::new(),
                    deciding_body: DecidingBody::VillagersMeeting,
                    options: vec!["同意".into(), "不同意".into()],
                    group: None,
                    secret: false,
                    hide_results: false,
                    opens_at: now,
                    closes_at: now + 3_600_000,
                })
                .unwrap();
            store.open_voting(&d).unwrap();
            for publish in [true, false] {
                store
                    .post_notice(NewNotice {
                        category: Category::Village,
                        subtype: Subtype::Other,
                        period: Period::default(),
                        title: "停水通知".into(),
                        body: "周三停水".into(),
                        opening_balance_fen: None,
                        lines: vec![],
                        publish,
                    })
                    .unwrap();
            }
        }
        {
            // what version 3 of the app left: no `open` or `phase` columns
            let conn = Connection::open(&path).unwrap();
            undo_v5(&conn);
            conn.execute_batch(
                "DROP INDEX requests_open;
                 ALTER TABLE requests DROP COLUMN open;
                 ALTER TABLE deliberations DROP COLUMN phase;
                 ALTER TABLE notices DROP COLUMN live;
                 PRAGMA user_version = 3;",
            )
            .unwrap();
            assert_eq!(version(&conn).unwrap(), 3);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.conn.lock()).unwrap(), LATEST);
        let f = RequestFilter {
            open_only: true,
            ..Default::default()
        };
        let listed: Vec<String> = store
            .list_requests(&f)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(listed, vec![open], "the withdrawn request is not open");
        assert_eq!(store.counts().unwrap().open_requests, 1);
        assert_eq!(
            store.list_deliberations(10, 0).unwrap()[0].status,
            crate::model::deliberation::Phase::Voting,
            "the phase was filled from the document, not left at its default"
        );
        assert_eq!(store.counts().unwrap().open_votes_not_cast, 1);
        let live: i64 = store
            .conn
            .lock()
            .query_row("SELECT count(*) FROM notices WHERE live = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(live, 1, "the published notice is live, the draft is not");
        // (its author has read it: not unread for this cadre, issue 14)
        let unread = NoticeFilter {
            unread_only: true,
            ..Default::default()
        };
        assert_eq!(store.list_notices(&unread).unwrap().len(), 0);
    }

    /// Turn a version 6 database back into what version 5 of the app left.
    fn undo_v6(conn: &Connection) {
        undo_matters_and_branch(conn);
        conn.execute_batch("DROP TABLE persons; PRAGMA user_version = 5;")
            .unwrap();
    }

    #[test]
    fn version_5_database_upgrades_to_the_register_of_villagers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let store = Store::open(&path).unwrap();
            let mut space = LocalSpace::new("青石村");
            space.join(&store, "陈建国", Role::Cadre).unwrap();
            store
                .register_add(crate::model::register::PersonDetails {
                    name: "王秀英".into(),
                    household: "H05".into(),
                    group: "二组".into(),
                    born: Some("1948-03-02".into()),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(store.persons().unwrap().len(), 1);
        }
        {
            // what version 5 of the app left: no `persons` rows
            let conn = Connection::open(&path).unwrap();
            undo_v6(&conn);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.conn.lock()).unwrap(), LATEST);
        let persons = store.persons().unwrap();
        assert_eq!(
            persons.len(),
            1,
            "the register's rows are rebuilt from its document"
        );
        assert_eq!(persons[0].details.name, "王秀英");
        assert!(persons[0].adult_at(crate::ids::now_ms()));
    }

    /// Turn a version 5 database back into what version 4 of the app left.
    fn undo_v5(conn: &Connection) {
        undo_v6(conn);
        conn.execute_batch(
            "DROP TABLE electorate;
             DROP TABLE arrivals;
             DROP INDEX notices_newest;
             DROP INDEX requests_created;
             ALTER TABLE notices DROP COLUMN created_at;
             ALTER TABLE deliberations DROP COLUMN created_at;
             DROP TABLE search;
             CREATE VIRTUAL TABLE search USING fts5(title, body, content = '', contentless_delete = 1,
                 tokenize = 'unicode61 remove_diacritics 2', detail = 'column');
             INSERT INTO search(search, rank) VALUES ('rank', 'bm25(10.0, 1.0)');
             PRAGMA user_version = 4;",
        )
        .unwrap();
    }

    /// Turn a database back into what the version before the matters and the party
    /// branch left.
    fn undo_matters_and_branch(conn: &Connection) {
        conn.execute_batch(
            "DROP TABLE IF EXISTS matters;
             DROP TABLE IF EXISTS party_activities;
             DROP TABLE IF EXISTS party_attendance;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    }

    #[test]
    fn version_6_database_upgrades_to_matters_and_party_activities() {
        use crate::model::branch::{ActivityKind, SignInMode};
        use crate::model::matter::{Outcome, Stage, StepInput};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let (matter, activity, person);
        {
            let store = Store::open(&path).unwrap();
            LocalSpace::new("青石村")
                .join(&store, "陈建国", Role::Cadre)
                .unwrap();
            matter = store.create_matter("修建村道", "").unwrap();
            store
                .record_matter_step(
                    &matter,
                    StepInput {
                        stage: Stage::Proposal,
                        held_at: crate::ids::now_ms(),
                        attendance: None,
                        outcome: Outcome::Agreed,
                        note: String::new(),
                        deliberation: None,
                        notice: None,
                    },
                )
                .unwrap();
            activity = store
                .create_party_activity(crate::store::NewActivity {
                    kind: ActivityKind::ThemeDay,
                    title: "主题党日".into(),
                    agenda: String::new(),
                    starts_at: 1_767_225_600_000, // 2026-01-01 08:00 village time
                    place: "村委会".into(),
                    online_link: None,
                })
                .unwrap();
            person = "0123456789abcdef0123456789abcdef".to_string();
            store
                .sign_in_party_activity(&activity, &person, SignInMode::InPerson)
                .unwrap();
        }
        {
            // what the version before left: documents, no matter or activity rows
            let conn = Connection::open(&path).unwrap();
            undo_matters_and_branch(&conn);
            assert_eq!(version(&conn).unwrap(), 6);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.conn.lock()).unwrap(), LATEST);
        let listed = store.list_matters(10, 0).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, matter);
        assert_eq!(listed[0].next, Some(Stage::Consultation));
        assert_eq!(
            store.list_party_activities(Some(2026)).unwrap()[0].id,
            activity
        );
        let y = store.party_attendance(&person, 2026).unwrap();
        assert_eq!(
            (y.activities, y.present),
            (1, 1),
            "filled from the documents"
        );
    }

    #[test]
    fn version_4_database_upgrades_to_electorates_publication_order_and_ranked_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let (old, new, title_hit);
        {
            let store = Store::open(&path).unwrap();
            LocalSpace::new("青石村")
                .join(&store, "陈建国", Role::Cadre)
                .unwrap();
            let notice = |title: &str, body: &str| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                store
                    .post_notice(NewNotice {
                        category: Category::Village,
                        subtype: Subtype::Other,
                        period: Period::default(),
                        title: title.into(),
                        body: body.into(),
                        opening_balance_fen: None,
                        lines: vec![],
                        publish: true,
                    })
                    .unwrap()
            };
            old = notice("村委会通知", "周三停水，请储水");
            new = notice("停水通知", "周三全天");
            title_hit = new.clone();
            std::thread::sleep(std::time::Duration::from_millis(5));
            store.ask_question(&old, "几点?").unwrap();
            let now = crate::ids::now_ms();
            let vote = |body, group: Option<&str>| {
                let d = store
                    .create_deliberation(NewDeliberation {
                        title: "修路".into(),
                        body: String::new(),
                        deciding_body: body,
                        options: vec!["同意".into(), "不同意".into()],
                        group: group.map(String::from),
                        secret: false,
                        hide_results: false,
                        opens_at: now,
                        closes_at: now + 3_600_000,
                    })
                    .unwrap();
                store.open_voting(&d).unwrap();
            };
            vote(DecidingBody::VillagersMeeting, None);
            // a group the cadre is not in: not the cadre's vote to cast
            vote(DecidingBody::GroupMeeting, Some("三组"));
        }
        {
            let conn = Connection::open(&path).unwrap();
            undo_v5(&conn);
            assert_eq!(version(&conn).unwrap(), 4);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.conn.lock()).unwrap(), LATEST);
        assert_eq!(store.counts().unwrap().open_votes_not_cast, 1);
        assert_eq!(store.counts().unwrap().unread_notices, 0);
        let listed: Vec<String> = store
            .list_notices(&NoticeFilter::default())
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(listed, vec![new, old], "newest published first");
        let hits = store.search("停水", 10).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].id, title_hit, "the title match first");
        let delibs = store.list_deliberations(10, 0).unwrap();
        assert!(delibs[0].closes_at > 0 && delibs.len() == 2);
    }

    #[test]
    fn version_4_database_upgrades_to_recorded_arrivals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let id;
        {
            let store = Store::open(&path).unwrap();
            LocalSpace::new("青石村")
                .join(&store, "陈建国", Role::Cadre)
                .unwrap();
            id = store
                .post_notice(NewNotice {
                    category: Category::Village,
                    subtype: Subtype::Other,
                    period: Period::default(),
                    title: "停水通知".into(),
                    body: "周三停水".into(),
                    opening_balance_fen: None,
                    lines: vec![],
                    publish: true,
                })
                .unwrap();
        }
        {
            // what version 4 of the app left: no arrival records
            let conn = Connection::open(&path).unwrap();
            undo_v5(&conn);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.conn.lock()).unwrap(), LATEST);
        let n = store.notice(&id).unwrap();
        assert_eq!(n.revisions[0].arrived_at, None, "not at the relay yet");
        // the relay acknowledges the notice's change: it reached the village then
        let hash: Vec<u8> = store
            .conn
            .lock()
            .query_row("SELECT hash FROM outbox WHERE entity_id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap();
        let at = n.revisions[0].at + 5 * crate::ids::DAY_MS;
        store.apply_acks(&[hash.try_into().unwrap()], at).unwrap();
        let n = store.notice(&id).unwrap();
        assert_eq!(n.revisions[0].arrived_at, Some(at));
        assert_eq!(n.published_at(), Some(at));
        let listed = store.list_notices(&NoticeFilter::default()).unwrap();
        assert_eq!(
            listed[0].published_at,
            Some(at),
            "the list row was projected again"
        );
    }

    #[test]
    fn version_7_database_upgrades_to_attachments_with_the_references_of_its_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v7.db");
        let photo: Vec<u8> = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0"
            .iter()
            .copied()
            .chain((0..70_000u32).map(|i| (i * 7 % 251) as u8))
            .collect();
        let file = dir.path().join("水管.jpg");
        std::fs::write(&file, &photo).unwrap();
        let id;
        {
            let store = Store::open(&path).unwrap();
            LocalSpace::new("青石村")
                .join(&store, "王秀英", Role::Resident)
                .unwrap();
            id = store
                .file_request(NewRequest {
                    kind: "public_facility_repair".into(),
                    title: "水管爆了".into(),
                    description: String::new(),
                    place: None,
                    on_behalf_of: None,
                    materials: vec![],
                    attachments: vec![file],
                })
                .unwrap();
        }
        {
            // what version 7 left: the documents (whose events name the attachment,
            // as a newer phone's change could), no attachment tables
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("DROP TABLE blobs; DROP TABLE blob_refs; PRAGMA user_version = 7;")
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(version(&store.conn.lock()).unwrap(), LATEST);
        let list = store.attachments(&id).unwrap();
        assert_eq!(
            list.len(),
            1,
            "the references are projected from the documents"
        );
        assert_eq!(list[0].attachment.name, "水管.jpg");
        assert_eq!(
            list[0].attachment.hash,
            crate::model::attachment::PieceList::of(&photo).hash()
        );
        assert_eq!(
            list[0].state,
            crate::store::AttachmentState::NotDownloaded,
            "no row of its own survived: fetched like anyone else's"
        );
        assert_eq!(store.blobs_pending().unwrap(), (1, photo.len() as u64));
    }
}
