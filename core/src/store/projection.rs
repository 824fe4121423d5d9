//! Projection rows: what lists, counts and search read, derived from a document by
//! folding its events. Called inside the transaction that stores the change. Rules a
//! list filters on are decided here by the model and stored with the row (a
//! request's `open`, a notice's `live`, a deliberation's recorded `phase`), never
//! re-derived in SQL.

use super::search::index_text;
use crate::doc::EntityDoc;
use crate::error::Result;
use crate::model::deliberation::{BallotEvent, Deliberation};
use crate::model::notice::{Category, Notice};
use crate::model::request::ServiceRequest;
use crate::model::EntityKind;
use rusqlite::{params, Connection};

fn category_str(c: Category) -> &'static str {
    match c {
        Category::Party => "party",
        Category::Village => "village",
        Category::Finance => "finance",
    }
}

fn json_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// The search row of an entity: its title, its body, and `extra` — line items,
/// comments, questions, answers, transition notes — ranked below both.
pub(crate) fn set_search(
    tx: &Connection,
    id: &str,
    title: &str,
    body: &str,
    extra: &[&str],
) -> Result<()> {
    let n: i64 = tx.query_row("SELECT n FROM entities WHERE id = ?1", [id], |r| r.get(0))?;
    tx.execute("DELETE FROM search WHERE rowid = ?1", [n])?;
    tx.execute(
        "INSERT INTO search(rowid, title, body, extra) VALUES (?1, ?2, ?3, ?4)",
        params![
            n,
            index_text(title),
            index_text(body),
            index_text(&extra.join("\n"))
        ],
    )?;
    Ok(())
}

pub(crate) fn project(tx: &Connection, kind: EntityKind, id: &str, doc: &EntityDoc) -> Result<()> {
    match kind {
        EntityKind::Notice => {
            let n = Notice::fold_arrived(id, &doc.events()?, &super::arrivals(tx, doc)?)?;
            let t = n.totals;
            tx.execute(
                "INSERT OR REPLACE INTO notices(id, category, subtype, status, title, created_by, published_at, updated_at,
                    revision, income_fen, expense_fen, closing_fen, open_questions, live, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    id,
                    category_str(n.category),
                    json_str(&n.subtype),
                    n.status.as_str(),
                    n.content.title,
                    n.created_by,
                    n.published_at(),
                    n.updated_at,
                    n.current_revision(),
                    t.map(|t| t.income_fen),
                    t.map(|t| t.expense_fen),
                    t.map(|t| t.closing_fen),
                    n.unanswered() as i64,
                    n.status.is_live(),
                    n.created_at,
                ],
            )?;
            for (m, r) in &n.read_by {
                tx.execute(
                    "INSERT OR REPLACE INTO receipts(notice_id, member_id, revision) VALUES (?1, ?2, ?3)",
                    params![id, m, r],
                )?;
            }
            let mut extra: Vec<&str> = vec![];
            for l in &n.content.lines {
                extra.extend([l.item.as_str(), &l.payee_or_dept, &l.account]);
            }
            for q in &n.questions {
                extra.push(&q.text);
                extra.extend(q.answers.iter().map(|a| a.text.as_str()));
            }
            super::attachments::project_refs(tx, kind, id, &doc.events_json(), &n.attachments)?;
            set_search(tx, id, &n.content.title, &n.content.body, &extra)
        }
        EntityKind::Request => {
            let r = ServiceRequest::fold(id, &doc.events()?)?;
            tx.execute(
                "INSERT OR REPLACE INTO requests(id, kind, title, status, filer, filed_by, assignee, created_at, updated_at, rating, open)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    r.kind,
                    r.title,
                    r.status.as_str(),
                    r.filer,
                    r.filed_by,
                    r.assignee,
                    r.created_at,
                    r.updated_at,
                    r.rating.as_ref().map(|x| x.stars),
                    r.status.is_open(),
                ],
            )?;
            let mut body = r.description.clone();
            if let Some(p) = &r.place {
                body.push('\n');
                body.push_str(&p.text);
            }
            let mut extra: Vec<&str> = r.comments.iter().map(|c| c.text.as_str()).collect();
            extra.extend(r.transitions.iter().map(|t| t.note.as_str()));
            extra.extend(r.materials.iter().map(|m| m.name.as_str()));
            super::attachments::project_refs(tx, kind, id, &doc.events_json(), &r.attachments)?;
            set_search(tx, id, &r.title, &body, &extra)
        }
        EntityKind::Deliberation => {
            let d = Deliberation::fold(id, &doc.events()?)?;
            tx.execute(
                "INSERT OR REPLACE INTO deliberations(id, title, deciding_body, opens_at, closes_at, opened, closed_at, created_by, updated_at, phase, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    d.title,
                    json_str(&d.deciding_body),
                    d.opens_at,
                    d.closes_at,
                    d.opened_at.is_some(),
                    d.closed_at,
                    d.created_by,
                    d.updated_at,
                    d.recorded_phase().as_str(),
                    d.created_at,
                ],
            )?;
            tx.execute("DELETE FROM electorate WHERE deliberation_id = ?1", [id])?;
            for m in &d.eligible {
                tx.execute(
                    "INSERT OR IGNORE INTO electorate(deliberation_id, member_id) VALUES (?1, ?2)",
                    params![id, m],
                )?;
            }
            let mut extra: Vec<&str> = d.options.iter().map(String::as_str).collect();
            extra.extend(d.comments.iter().map(|c| c.text.as_str()));
            super::attachments::project_refs(tx, kind, id, &doc.events_json(), &d.attachments)?;
            set_search(tx, id, &d.title, &d.body, &extra)
        }
        EntityKind::Ballot => {
            let evs = doc.events::<BallotEvent>()?;
            if let Some(first) = evs.first() {
                let deliberation = first.body.deliberation();
                // a hall record is the person's, not the teller's: `hall:<person>`
                let voter = match first.body.person() {
                    Some(p) => format!("hall:{p}"),
                    None => first.by.clone(),
                };
                let last = evs.iter().map(|e| e.at).max().unwrap_or(first.at);
                tx.execute(
                    "INSERT OR REPLACE INTO ballots(id, deliberation_id, voter, last_cast_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id, deliberation, voter, last],
                )?;
            }
            Ok(())
        }
        EntityKind::RequestNotes => Ok(()),
        // a handful per village, folded when listed (`Store::proposals`)
        EntityKind::Proposal => Ok(()),
        EntityKind::Register => {
            let Some(r) = doc.register(None) else {
                return Ok(());
            };
            tx.execute("DELETE FROM persons WHERE register_id = ?1", [id])?;
            let mut s = tx.prepare_cached(
                "INSERT OR REPLACE INTO persons(id, register_id, position, name, household, grp, status, person_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (i, p) in r.persons.iter().enumerate() {
                s.execute(params![
                    p.id,
                    id,
                    i as i64,
                    p.details.name,
                    p.details.household,
                    p.details.group,
                    json_str(&p.status),
                    serde_json::to_string(p).expect("person serializes"),
                ])?;
            }
            Ok(())
        }
        EntityKind::Matter => super::affairs::project_matter(tx, id, doc),
        EntityKind::PartyActivity => super::affairs::project_activity(tx, id, doc),
    }
}

/// Remove every projection row of an entity (it is about to be re-projected or is gone).
pub(crate) fn remove(tx: &Connection, id: &str) -> Result<()> {
    for (t, col) in [
        ("notices", "id"),
        ("receipts", "notice_id"),
        ("requests", "id"),
        ("deliberations", "id"),
        ("ballots", "id"),
        ("electorate", "deliberation_id"),
        ("persons", "register_id"),
        ("matters", "id"),
        ("party_activities", "id"),
        ("party_attendance", "activity_id"),
        ("blob_refs", "entity_id"),
    ] {
        tx.execute(&format!("DELETE FROM {t} WHERE {col} = ?1"), [id])?;
    }
    tx.execute(
        "DELETE FROM search WHERE rowid = (SELECT n FROM entities WHERE id = ?1)",
        [id],
    )?;
    Ok(())
}
