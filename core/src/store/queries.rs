//! Queries that screens run: lists with filters, badge counts, search and tallies.
//! They read projection tables only (never a CRDT), except `tally`, which folds the
//! ballots of one deliberation. They run on the store's reader connection, so a
//! merge holding the writer never keeps a list screen waiting; what a vote's result
//! may show is `Deliberation::visible_result` (`visible_tally`).

use super::search::{in_column, match_expr};
use super::{local_get, Store};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::model::deliberation::{
    count, counted_choice, BallotEvent, DecidingBody, Deliberation, Phase, Tally, VisibleResult,
    Voices,
};
use crate::model::notice::{Category, NoticeStatus, Subtype};
use crate::model::request::Status;
use crate::model::EntityKind;
use crate::wire::SignedTally;
use rusqlite::{params_from_iter, types::Value as Sql, OptionalExtension};
use serde::{de::DeserializeOwned, Serialize};

pub const MAX_PAGE: u32 = 500;

/// Search weights of the three indexed columns (title, body, the rest).
const W_TITLE: f64 = 10.0;
const W_BODY: f64 = 4.0;
const W_EXTRA: f64 = 1.0;

/// The enum a projection column names by its serde (snake_case) name, so list rows carry
/// typed values and their JSON (CLI `--json`) stays the same strings.
pub(crate) fn named<T: DeserializeOwned>(r: &rusqlite::Row, i: usize) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The order of a list. `Newest`: by publication time (a notice; a draft by its
/// creation) or filing time (a request), newest first; reads, questions, comments and
/// transitions do not move anything. `Recent`: by the latest activity of any kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    #[default]
    Newest,
    Recent,
}

impl ListOrder {
    pub const ALL: [ListOrder; 2] = [ListOrder::Newest, ListOrder::Recent];

    pub fn as_str(self) -> &'static str {
        match self {
            ListOrder::Newest => "newest",
            ListOrder::Recent => "recent",
        }
    }

    pub fn parse(s: &str) -> Option<ListOrder> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeFilter {
    pub category: Option<String>,
    pub status: Option<String>,
    pub unread_only: bool,
    pub order: ListOrder,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NoticeSummary {
    pub id: String,
    pub category: Category,
    pub subtype: Subtype,
    pub title: String,
    pub status: NoticeStatus,
    pub revision: u32,
    pub published_at: Option<i64>,
    pub updated_at: i64,
    pub closing_fen: Option<i64>,
    pub open_questions: u32,
    pub read: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
    /// Filed by or for this device's member.
    pub mine: bool,
    /// Only requests that are not resolved, rejected or withdrawn.
    pub open_only: bool,
    pub order: ListOrder,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RequestSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: Status,
    pub filer: String,
    pub filed_by: Option<String>,
    pub assignee: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub rating: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliberationSummary {
    pub id: String,
    pub title: String,
    pub deciding_body: DecidingBody,
    pub status: Phase,
    pub opens_at: i64,
    pub closes_at: i64,
    pub voted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Counts {
    pub unread_notices: u32,
    pub open_requests: u32,
    pub my_open_requests: u32,
    pub assigned_to_me: u32,
    pub open_votes_not_cast: u32,
    pub pending_changes: u32,
    pub rejected_changes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SearchHit {
    pub id: String,
    pub kind: EntityKind,
    pub title: String,
    /// FTS5's rank (bm25: lower is a better match), kept for older callers.
    pub rank: f64,
    /// Relevance: higher is a better match (title above body above line items,
    /// comments, questions, answers and transition notes).
    pub score: f64,
}

fn page(limit: u32, offset: u32) -> (u32, u32) {
    let l = if limit == 0 { 50 } else { limit.min(MAX_PAGE) };
    (l, offset)
}

impl Store {
    fn my_member_id(&self) -> Result<String> {
        let c = self.reader.lock();
        let v = local_get(&c, "member_id")?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    pub fn list_notices(&self, f: &NoticeFilter) -> Result<Vec<NoticeSummary>> {
        let me = self.my_member_id()?;
        let mut sql = String::from(
            "SELECT n.id, n.category, n.subtype, n.title, n.status, n.revision, n.published_at, n.updated_at, n.closing_fen,
                    n.open_questions, coalesce(r.revision >= n.revision, 0)
             FROM notices n LEFT JOIN receipts r ON r.notice_id = n.id AND r.member_id = ?1 WHERE 1",
        );
        let mut args: Vec<Sql> = vec![Sql::Text(me)];
        if let Some(c) = &f.category {
            args.push(Sql::Text(c.clone()));
            sql += &format!(" AND n.category = ?{}", args.len());
        }
        if let Some(s) = &f.status {
            args.push(Sql::Text(s.clone()));
            sql += &format!(" AND n.status = ?{}", args.len());
        }
        if f.unread_only {
            sql += " AND n.live = 1 AND coalesce(r.revision, 0) < n.revision";
        }
        let (l, o) = page(f.limit, f.offset);
        let order = match f.order {
            ListOrder::Newest => "coalesce(n.published_at, n.created_at) DESC",
            ListOrder::Recent => "n.updated_at DESC",
        };
        sql += &format!(" ORDER BY {order}, n.id LIMIT {l} OFFSET {o}");
        let c = self.reader.lock();
        let mut s = c.prepare_cached(&sql)?;
        let rows = s.query_map(params_from_iter(args), |r| {
            Ok(NoticeSummary {
                id: r.get(0)?,
                category: named(r, 1)?,
                subtype: named(r, 2)?,
                title: r.get(3)?,
                status: named(r, 4)?,
                revision: r.get(5)?,
                published_at: r.get(6)?,
                updated_at: r.get(7)?,
                closing_fen: r.get(8)?,
                open_questions: r.get(9)?,
                read: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn list_requests(&self, f: &RequestFilter) -> Result<Vec<RequestSummary>> {
        let mut sql = String::from(
            "SELECT id, kind, title, status, filer, filed_by, assignee, created_at, updated_at, rating FROM requests WHERE 1",
        );
        let mut args: Vec<Sql> = vec![];
        if let Some(k) = &f.kind {
            args.push(Sql::Text(k.clone()));
            sql += &format!(" AND kind = ?{}", args.len());
        }
        if let Some(s) = &f.status {
            args.push(Sql::Text(s.clone()));
            sql += &format!(" AND status = ?{}", args.len());
        }
        if let Some(a) = &f.assignee {
            args.push(Sql::Text(a.clone()));
            sql += &format!(" AND assignee = ?{}", args.len());
        }
        if f.mine {
            args.push(Sql::Text(self.my_member_id()?));
            sql += &format!(" AND (filer = ?{0} OR filed_by = ?{0})", args.len());
        }
        if f.open_only {
            sql += " AND open = 1";
        }
        let (l, o) = page(f.limit, f.offset);
        let order = match f.order {
            ListOrder::Newest => "created_at DESC",
            ListOrder::Recent => "updated_at DESC",
        };
        sql += &format!(" ORDER BY {order}, id LIMIT {l} OFFSET {o}");
        let c = self.reader.lock();
        let mut s = c.prepare_cached(&sql)?;
        let rows = s.query_map(params_from_iter(args), |r| {
            Ok(RequestSummary {
                id: r.get(0)?,
                kind: r.get(1)?,
                title: r.get(2)?,
                status: named(r, 3)?,
                filer: r.get(4)?,
                filed_by: r.get(5)?,
                assignee: r.get(6)?,
                created_at: r.get(7)?,
                updated_at: r.get(8)?,
                rating: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn list_deliberations(&self, limit: u32, offset: u32) -> Result<Vec<DeliberationSummary>> {
        let me = self.my_member_id()?;
        let hall = self.my_hall_voter();
        let now = now_ms();
        let (l, o) = page(limit, offset);
        let c = self.reader.lock();
        let mut s = c.prepare_cached(&format!(
            "SELECT d.id, d.title, d.deciding_body, d.phase, d.opens_at, d.closes_at,
                    EXISTS(SELECT 1 FROM ballots b WHERE b.deliberation_id = d.id AND b.voter IN (?1, ?2))
             FROM deliberations d ORDER BY d.created_at DESC, d.id LIMIT {l} OFFSET {o}"
        ))?;
        let rows = s.query_map([me, hall], |r| {
            let recorded: String = r.get(3)?;
            let closes_at: i64 = r.get(5)?;
            let status = Phase::parse(&recorded)
                .unwrap_or(Phase::Discussion)
                .at(closes_at, now);
            Ok(DeliberationSummary {
                id: r.get(0)?,
                title: r.get(1)?,
                deciding_body: named(r, 2)?,
                status,
                opens_at: r.get(4)?,
                closes_at,
                voted: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How this member's ballot recorded in the hall is keyed in `ballots.voter`
    /// (`hall:<person>`), or a key nothing matches when the member is no one's phone.
    /// Read on the reader connection, so a list or badge never waits for a merge.
    fn my_hall_voter(&self) -> String {
        super::me_of(&self.reader.lock(), &self.device_id())
            .ok()
            .and_then(|m| m.person)
            .map(|p| format!("hall:{p}"))
            .unwrap_or_default()
    }

    /// Badge counts for this device's member.
    pub fn counts(&self) -> Result<Counts> {
        let me = self.my_member_id()?;
        let hall = self.my_hall_voter();
        let now = now_ms();
        let c = self.reader.lock();
        let q = |sql: &str| -> Result<u32> {
            Ok(c.query_row(sql, [&me], |r| r.get::<_, i64>(0))? as u32)
        };
        let q0 =
            |sql: &str| -> Result<u32> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u32) };
        Ok(Counts {
            unread_notices: q("SELECT count(*) FROM notices n LEFT JOIN receipts r ON r.notice_id = n.id AND r.member_id = ?1
                               WHERE n.live = 1 AND coalesce(r.revision, 0) < n.revision")?,
            open_requests: q0("SELECT count(*) FROM requests WHERE open = 1")?,
            my_open_requests: q("SELECT count(*) FROM requests WHERE (filer = ?1 OR filed_by = ?1) AND open = 1")?,
            assigned_to_me: q("SELECT count(*) FROM requests WHERE assignee = ?1 AND open = 1")?,
            // voting now: recorded as voting and before the deadline (`Phase::at`), this
            // member in its eligibility snapshot (`Deliberation::may_vote`), not yet cast
            open_votes_not_cast: c.query_row(
                "SELECT count(*) FROM deliberations d WHERE d.phase = ?3 AND d.closes_at > ?2
                 AND EXISTS(SELECT 1 FROM electorate e WHERE e.deliberation_id = d.id AND e.member_id = ?1)
                 AND NOT EXISTS(SELECT 1 FROM ballots b WHERE b.deliberation_id = d.id AND b.voter IN (?1, ?4))",
                rusqlite::params![me, now, Phase::Voting.as_str(), hall],
                |r| r.get::<_, i64>(0),
            )? as u32,
            pending_changes: q0("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')")?,
            rejected_changes: q0("SELECT count(*) FROM outbox WHERE state = 'rejected'")?,
        })
    }

    /// Ranked full-text search over titles, bodies, and the rest (finance line items,
    /// comments, questions, answers, transition notes). The score: which columns hold
    /// every term of the query (title 10, body 4, the rest 1) plus FTS5's bm25 with the
    /// same column weights. bm25 alone ranks nothing when most rows match (its idf
    /// floors at zero for a term in more than half the rows, as in a small village's
    /// notices); the column part keeps a title match above a body match even then.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        crate::model::check_len("query", query, crate::model::MAX_QUERY_CHARS)?;
        let Some(expr) = match_expr(query) else {
            return Ok(vec![]);
        };
        let (l, _) = page(limit, 0);
        let c = self.reader.lock();
        let mut s = c.prepare_cached(&format!(
            "SELECT e.id, e.kind, coalesce(n.title, r.title, d.title, ''), s.rank, s.score
             FROM (SELECT rowid, rank,
                     {W_TITLE} * (rowid IN (SELECT rowid FROM search WHERE search MATCH ?2))
                   + {W_BODY} * (rowid IN (SELECT rowid FROM search WHERE search MATCH ?3))
                   + {W_EXTRA} * (rowid IN (SELECT rowid FROM search WHERE search MATCH ?4))
                   - bm25(search, {W_TITLE}, {W_BODY}, {W_EXTRA}) AS score
                   FROM search WHERE search MATCH ?1 ORDER BY score DESC, rowid LIMIT {l}) s
             JOIN entities e ON e.n = s.rowid
             LEFT JOIN notices n ON n.id = e.id
             LEFT JOIN requests r ON r.id = e.id
             LEFT JOIN deliberations d ON d.id = e.id
             ORDER BY s.score DESC, s.rowid"
        ))?;
        let args = [
            expr.clone(),
            in_column("title", &expr),
            in_column("body", &expr),
            in_column("extra", &expr),
        ];
        let rows = s.query_map(args, |r| {
            Ok(SearchHit {
                id: r.get(0)?,
                kind: named(r, 1)?,
                title: r.get(2)?,
                rank: r.get(3)?,
                score: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The tally of a deliberation: the relay's signed tally when there is one
    /// (secret ballots, hidden results, and every vote once closed), else counted
    /// here from the ballots this device holds — whatever its members may see; a
    /// screen shows `visible_tally`.
    pub fn tally(&self, deliberation_id: &str) -> Result<Tally> {
        let d = self.deliberation(deliberation_id)?;
        match self.signed_tally(deliberation_id)? {
            Some(t) => Ok(t),
            None => self.count_ballots(&d),
        }
    }

    /// What this member may see of a vote's result now: the one rule of
    /// `Deliberation::visible_result` (hidden before the close for secret ballots and
    /// hidden results, the relay's signed tally after it; a local count of a recorded
    /// vote; final only after the grace period). The CLI and the FFI show this.
    pub fn visible_tally(&self, deliberation_id: &str) -> Result<VisibleResult> {
        let d = self.deliberation(deliberation_id)?;
        let signed = self.signed_tally(deliberation_id)?;
        d.visible_result(now_ms(), signed, || self.count_ballots(&d))
    }

    /// The relay's signed tally of a deliberation held here, verified against the
    /// pinned relay key.
    fn signed_tally(&self, deliberation_id: &str) -> Result<Option<Tally>> {
        let c = self.reader.lock();
        let signed: Option<(Vec<u8>, Vec<u8>)> = c
            .query_row(
                "SELECT tally_json, signature FROM tallies WHERE deliberation_id = ?1",
                [deliberation_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((tally_json, signature)) = signed else {
            return Ok(None);
        };
        let key = local_get(&c, "relay_key")?.ok_or(Error::NotEnrolled)?;
        SignedTally {
            tally_json,
            signature,
        }
        .verify(&key)
        .map(Some)
        .map_err(Into::into)
    }

    /// Count the ballots of `d` this device holds.
    fn count_ballots(&self, d: &Deliberation) -> Result<Tally> {
        let c = self.reader.lock();
        let ids: Vec<String> = {
            let mut s = c.prepare_cached("SELECT id FROM ballots WHERE deliberation_id = ?1")?;
            let v = s
                .query_map([&d.id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let mut voices = Voices::default();
        for id in ids {
            let Some(doc) = Store::load_doc(&c, &id)? else {
                continue;
            };
            if let Some(v) = doc.ballot_voice(d)? {
                voices.add(v);
            }
        }
        Ok(count(d, &voices, now_ms()))
    }

    /// The option this member's counted ballot chose, if any.
    pub fn my_ballot(&self, deliberation_id: &str) -> Result<Option<u32>> {
        let d = self.deliberation(deliberation_id)?;
        let me = self.my_member_id()?;
        let c = self.reader.lock();
        let Some(doc) = Store::load_doc(&c, &d.ballot_id(&me))? else {
            return Ok(None);
        };
        Ok(counted_choice(&d, &doc.events::<BallotEvent>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_space::LocalSpace;
    use crate::model::deliberation::{DecidingBody, Hidden};
    use crate::roster::Role;
    use crate::store::{NewDeliberation, NewRequest};
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::Duration;

    fn cadre_store(dir: &tempfile::TempDir) -> Store {
        let store = Store::open(dir.path().join("s.db")).unwrap();
        LocalSpace::new("青石村")
            .join(&store, "陈建国", Role::Cadre)
            .unwrap();
        store
    }

    fn request(store: &Store, title: &str) -> String {
        store
            .file_request(NewRequest {
                kind: "public_facility_repair".into(),
                title: title.into(),
                description: "三组路口的路灯".into(),
                place: None,
                on_behalf_of: None,
                materials: vec![],
                attachments: vec![],
            })
            .unwrap()
    }

    #[test]
    fn lists_counts_and_search_complete_while_the_writer_holds_a_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(cadre_store(&dir));
        request(&store, "路灯坏了");
        // a long merge: the writer inside an open write transaction
        let writer = store.conn.lock();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        writer
            .execute("UPDATE requests SET title = '还没提交' WHERE 1", [])
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let s = store.clone();
        std::thread::spawn(move || {
            let r = (|| -> Result<_> {
                let listed = s.list_requests(&RequestFilter::default())?;
                let counts = s.counts()?;
                let hits = s.search("路灯", 10)?;
                Ok((listed, counts, hits))
            })();
            let _ = tx.send(r);
        });
        let (listed, counts, hits) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a list call waited for the writer's transaction")
            .unwrap();
        writer.execute_batch("ROLLBACK").unwrap();
        drop(writer);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].title, "路灯坏了", "the last committed state");
        assert_eq!(counts.open_requests, 1);
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn open_requests_and_phases_come_from_the_stored_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = cadre_store(&dir);
        let open = request(&store, "路灯坏了");
        let done = request(&store, "井盖丢了");
        store
            .transition_request(&done, crate::model::request::Status::Withdrawn, "")
            .unwrap();
        let f = RequestFilter {
            open_only: true,
            ..Default::default()
        };
        let ids: Vec<String> = store
            .list_requests(&f)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![open]);
        assert_eq!(store.counts().unwrap().open_requests, 1);
        let now = now_ms();
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
        let phase = |store: &Store| store.list_deliberations(10, 0).unwrap()[0].status;
        assert_eq!(phase(&store), Phase::Discussion);
        store.open_voting(&d).unwrap();
        assert_eq!(phase(&store), Phase::Voting);
        assert_eq!(store.counts().unwrap().open_votes_not_cast, 1);
        store.close_deliberation(&d).unwrap();
        assert_eq!(phase(&store), Phase::Closed);
        assert_eq!(store.counts().unwrap().open_votes_not_cast, 0);
    }

    #[test]
    fn a_secret_vote_shows_no_count_on_the_phone_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = cadre_store(&dir);
        let now = now_ms();
        let d = store
            .create_deliberation(NewDeliberation {
                title: "选举".into(),
                body: String::new(),
                deciding_body: DecidingBody::VillagersMeeting,
                options: vec!["甲".into(), "乙".into()],
                group: None,
                secret: true,
                hide_results: false,
                opens_at: now,
                closes_at: now + 3_600_000,
            })
            .unwrap();
        store.open_voting(&d).unwrap();
        store.cast_ballot(&d, 0).unwrap();
        // what the FFI's `tally` returned before: this phone's own ballot, counted as
        // if it were the vote ("1 of 1 took part, decided"), while the CLI said hidden
        let raw = store.tally(&d).unwrap();
        assert_eq!(raw.participants, 1);
        assert_eq!(
            store.visible_tally(&d).unwrap(),
            VisibleResult::Hidden(Hidden::UntilClose)
        );
        store.close_deliberation(&d).unwrap();
        assert_eq!(
            store.visible_tally(&d).unwrap(),
            VisibleResult::Hidden(Hidden::AwaitingRelay),
            "closed, but only the relay counts secret ballots"
        );
    }
}
