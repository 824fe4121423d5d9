//! Queries that screens run: lists with filters, badge counts, search and tallies.
//! They read projection tables only (never a CRDT), except `tally`, which folds the
//! ballots of one deliberation.

use super::search::match_expr;
use super::{local_get, Store};
use crate::error::{Error, Result};
use crate::ids::now_ms;
use crate::model::deliberation::{counted_choice, tally, BallotEvent, Tally};
use crate::wire::SignedTally;
use rusqlite::{params_from_iter, types::Value as Sql, OptionalExtension};
use serde::Serialize;
use std::collections::BTreeMap;

pub const MAX_PAGE: u32 = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeFilter {
    pub category: Option<String>,
    pub status: Option<String>,
    pub unread_only: bool,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeSummary {
    pub id: String,
    pub category: String,
    pub subtype: String,
    pub title: String,
    pub status: String,
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
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub status: String,
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
    pub deciding_body: String,
    pub status: String,
    pub opens_at: i64,
    pub closes_at: i64,
    pub voted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
pub struct SearchHit {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub rank: f64,
}

fn page(limit: u32, offset: u32) -> (u32, u32) {
    let l = if limit == 0 { 50 } else { limit.min(MAX_PAGE) };
    (l, offset)
}

impl Store {
    fn my_member_id(&self) -> Result<String> {
        let c = self.conn.lock();
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
            sql += " AND n.status IN ('published', 'corrected') AND coalesce(r.revision, 0) < n.revision";
        }
        let (l, o) = page(f.limit, f.offset);
        sql += &format!(" ORDER BY n.updated_at DESC, n.id LIMIT {l} OFFSET {o}");
        let c = self.conn.lock();
        let mut s = c.prepare_cached(&sql)?;
        let rows = s.query_map(params_from_iter(args), |r| {
            Ok(NoticeSummary {
                id: r.get(0)?,
                category: r.get(1)?,
                subtype: r.get(2)?,
                title: r.get(3)?,
                status: r.get(4)?,
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
            sql += " AND status NOT IN ('resolved', 'rejected', 'withdrawn')";
        }
        let (l, o) = page(f.limit, f.offset);
        sql += &format!(" ORDER BY updated_at DESC, id LIMIT {l} OFFSET {o}");
        let c = self.conn.lock();
        let mut s = c.prepare_cached(&sql)?;
        let rows = s.query_map(params_from_iter(args), |r| {
            Ok(RequestSummary {
                id: r.get(0)?,
                kind: r.get(1)?,
                title: r.get(2)?,
                status: r.get(3)?,
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
        let now = now_ms();
        let (l, o) = page(limit, offset);
        let c = self.conn.lock();
        let mut s = c.prepare_cached(&format!(
            "SELECT d.id, d.title, d.deciding_body, d.opened, d.closed_at, d.opens_at, d.closes_at,
                    EXISTS(SELECT 1 FROM ballots b WHERE b.deliberation_id = d.id AND b.voter = ?1)
             FROM deliberations d ORDER BY d.updated_at DESC, d.id LIMIT {l} OFFSET {o}"
        ))?;
        let rows = s.query_map([me], |r| {
            let opened: bool = r.get(3)?;
            let closed_at: Option<i64> = r.get(4)?;
            let closes_at: i64 = r.get(6)?;
            let status = if closed_at.is_some() || now >= closes_at {
                "closed"
            } else if opened {
                "voting"
            } else {
                "discussion"
            };
            Ok(DeliberationSummary {
                id: r.get(0)?,
                title: r.get(1)?,
                deciding_body: r.get(2)?,
                status: status.into(),
                opens_at: r.get(5)?,
                closes_at,
                voted: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Badge counts for this device's member.
    pub fn counts(&self) -> Result<Counts> {
        let me = self.my_member_id()?;
        let now = now_ms();
        let c = self.conn.lock();
        let q = |sql: &str| -> Result<u32> {
            Ok(c.query_row(sql, [&me], |r| r.get::<_, i64>(0))? as u32)
        };
        let q0 =
            |sql: &str| -> Result<u32> { Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u32) };
        Ok(Counts {
            unread_notices: q("SELECT count(*) FROM notices n LEFT JOIN receipts r ON r.notice_id = n.id AND r.member_id = ?1
                               WHERE n.status IN ('published', 'corrected') AND coalesce(r.revision, 0) < n.revision")?,
            open_requests: q0("SELECT count(*) FROM requests WHERE status NOT IN ('resolved', 'rejected', 'withdrawn')")?,
            my_open_requests: q("SELECT count(*) FROM requests WHERE (filer = ?1 OR filed_by = ?1)
                                 AND status NOT IN ('resolved', 'rejected', 'withdrawn')")?,
            assigned_to_me: q("SELECT count(*) FROM requests WHERE assignee = ?1 AND status NOT IN ('resolved', 'rejected', 'withdrawn')")?,
            open_votes_not_cast: c.query_row(
                "SELECT count(*) FROM deliberations d WHERE d.opened = 1 AND d.closed_at IS NULL AND d.closes_at > ?2
                 AND NOT EXISTS(SELECT 1 FROM ballots b WHERE b.deliberation_id = d.id AND b.voter = ?1)",
                rusqlite::params![me, now],
                |r| r.get::<_, i64>(0),
            )? as u32,
            pending_changes: q0("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sent')")?,
            rejected_changes: q0("SELECT count(*) FROM outbox WHERE state = 'rejected'")?,
        })
    }

    /// Ranked full-text search over titles, bodies, comments and questions.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        crate::model::check_len("query", query, 200)?;
        let Some(expr) = match_expr(query) else {
            return Ok(vec![]);
        };
        let (l, _) = page(limit, 0);
        let c = self.conn.lock();
        let mut s = c.prepare_cached(&format!(
            "SELECT e.id, e.kind, coalesce(n.title, r.title, d.title, ''), s.rank
             FROM (SELECT rowid, rank FROM search WHERE search MATCH ?1 ORDER BY rank LIMIT {l}) s
             JOIN entities e ON e.n = s.rowid
             LEFT JOIN notices n ON n.id = e.id
             LEFT JOIN requests r ON r.id = e.id
             LEFT JOIN deliberations d ON d.id = e.id
             ORDER BY s.rank"
        ))?;
        let rows = s.query_map([expr], |r| {
            Ok(SearchHit {
                id: r.get(0)?,
                kind: r.get(1)?,
                title: r.get(2)?,
                rank: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The tally of a deliberation: the relay's signed tally when there is one
    /// (secret ballots, hidden results), else counted here from the ballots this
    /// device holds.
    pub fn tally(&self, deliberation_id: &str) -> Result<Tally> {
        let d = self.deliberation(deliberation_id)?;
        let c = self.conn.lock();
        let signed: Option<(Vec<u8>, Vec<u8>)> = c
            .query_row(
                "SELECT tally_json, signature FROM tallies WHERE deliberation_id = ?1",
                [deliberation_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((tally_json, signature)) = signed {
            let key = local_get(&c, "relay_key")?.ok_or(Error::NotEnrolled)?;
            return Ok(SignedTally {
                tally_json,
                signature,
            }
            .verify(&key)?);
        }
        let ids: Vec<String> = {
            let mut s = c.prepare_cached("SELECT id FROM ballots WHERE deliberation_id = ?1")?;
            let v = s
                .query_map([deliberation_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v
        };
        let mut choices = BTreeMap::new();
        for id in ids {
            let Some(doc) = Store::load_doc(&c, &id)? else {
                continue;
            };
            if let Some((voter, choice)) = doc.ballot_choice(&d)? {
                choices.insert(voter, choice);
            }
        }
        Ok(tally(&d, &choices, now_ms()))
    }

    /// The option this member's counted ballot chose, if any.
    pub fn my_ballot(&self, deliberation_id: &str) -> Result<Option<u32>> {
        let d = self.deliberation(deliberation_id)?;
        let me = self.my_member_id()?;
        let c = self.conn.lock();
        let Some(doc) = Store::load_doc(&c, &d.ballot_id(&me))? else {
            return Ok(None);
        };
        Ok(counted_choice(&d, &doc.events::<BallotEvent>()?))
    }
}
