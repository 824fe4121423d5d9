//! The village's own affairs beyond notices, requests and votes (issue 11): major
//! matters decided by 四议两公开 (`model::matter`) and the party branch's activities
//! (`model::branch`). Local operations, their projection rows (`matters`,
//! `party_activities`, `party_attendance`) and the queries lists and a member's yearly
//! attendance read, kept together so that each rule stays in the model and the policy
//! and this file only stores and lists.

use super::Store;
use crate::doc::EntityDoc;
use crate::error::{Error, Result};
use crate::ids::new_id;
use crate::model::branch::{
    self, Activity, ActivityEvent, ActivityKind, SignInMode, YearAttendance,
};
use crate::model::matter::{self, Matter, MatterEvent, MatterStatus, Stage, StepInput};
use crate::model::EntityKind;
use rusqlite::{params, Connection};
use serde::Serialize;

/// A new activity of the party branch.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NewActivity {
    pub kind: ActivityKind,
    pub title: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub agenda: String,
    pub starts_at: i64,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub place: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub online_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct MatterSummary {
    pub id: String,
    pub title: String,
    pub status: MatterStatus,
    /// The last step that took effect.
    pub stage: Option<Stage>,
    /// The step to record next.
    pub next: Option<Stage>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ActivitySummary {
    pub id: String,
    pub kind: ActivityKind,
    pub title: String,
    pub starts_at: i64,
    pub place: String,
    pub online_link: Option<String>,
    pub present: u32,
    pub absent: u32,
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// The projection rows of a matter.
pub(crate) fn project_matter(tx: &Connection, id: &str, doc: &EntityDoc) -> Result<()> {
    let m = Matter::fold(id, &doc.events()?)?;
    tx.execute(
        "INSERT OR REPLACE INTO matters(id, title, status, stage, next_stage, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            m.title,
            m.status.as_str(),
            m.stage.map(Stage::as_str),
            m.next.map(Stage::as_str),
            m.created_by,
            m.created_at,
            m.updated_at
        ],
    )?;
    let notes: Vec<&str> = m.steps.iter().map(|s| s.step.note.as_str()).collect();
    super::projection::set_search(tx, id, &m.title, &m.body, &notes)
}

/// The projection rows of a party activity: the activity and one row per person.
pub(crate) fn project_activity(tx: &Connection, id: &str, doc: &EntityDoc) -> Result<()> {
    let a = Activity::fold(id, &doc.events()?)?;
    tx.execute(
        "INSERT OR REPLACE INTO party_activities(id, kind, title, starts_at, year, place, online_link, created_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            a.kind.as_str(),
            a.title,
            a.starts_at,
            a.year(),
            a.place,
            a.online_link,
            a.created_by,
            a.updated_at
        ],
    )?;
    tx.execute("DELETE FROM party_attendance WHERE activity_id = ?1", [id])?;
    for r in &a.attendance {
        tx.execute(
            "INSERT OR REPLACE INTO party_attendance(activity_id, person, mode) VALUES (?1, ?2, ?3)",
            params![id, r.person, r.mode.map(SignInMode::as_str)],
        )?;
    }
    let minutes = a.minutes.as_ref().map(|m| m.text.as_str()).unwrap_or("");
    super::projection::set_search(tx, id, &a.title, &a.agenda, &[minutes, &a.place])
}

impl Store {
    fn load_kind(&self, id: &str, kind: EntityKind) -> Result<EntityDoc> {
        let conn = self.reader.lock();
        Store::load_doc(&conn, id)?
            .filter(|d| matches!(d.header(), Some((k, _)) if k == kind))
            .ok_or_else(|| Error::NotFound(format!("{} {id}", kind.as_str())))
    }

    // ---- 四议两公开 --------------------------------------------------------------

    /// Record a major matter (cadres); its steps follow with `record_matter_step`.
    pub fn create_matter(&self, title: &str, body: &str) -> Result<String> {
        let ev = MatterEvent::Create {
            title: title.trim().into(),
            body: body.into(),
        };
        matter::validate_event(&ev)?;
        let id = new_id();
        self.write_event(EntityKind::Matter, &id, &ev, |_| Ok(()))?;
        Ok(id)
    }

    pub fn matter(&self, id: &str) -> Result<Matter> {
        Ok(Matter::fold(
            id,
            &self.load_kind(id, EntityKind::Matter)?.events()?,
        )?)
    }

    /// Record the next step of a matter: refused, with the step that is due, when it
    /// is not the next one (the policy says the same on every replica).
    pub fn record_matter_step(&self, id: &str, step: StepInput) -> Result<()> {
        let ev = MatterEvent::Step { step: step.clone() };
        matter::validate_event(&ev)?;
        self.write_event(EntityKind::Matter, id, &ev, |d| {
            let d = d.ok_or_else(|| Error::NotFound(format!("matter {id}")))?;
            Matter::fold(id, &d.events()?)?.check_step(&step, crate::ids::now_ms())?;
            Ok(())
        })
    }

    pub fn list_matters(&self, limit: u32, offset: u32) -> Result<Vec<MatterSummary>> {
        let l = if limit == 0 {
            50
        } else {
            limit.min(super::MAX_PAGE)
        };
        let c = self.reader.lock();
        let mut s = c.prepare_cached(&format!(
            "SELECT id, title, status, stage, next_stage, created_at, updated_at FROM matters
             ORDER BY created_at DESC, id LIMIT {l} OFFSET {offset}"
        ))?;
        let rows = s.query_map([], |r| {
            let opt = |i| -> rusqlite::Result<Option<Stage>> {
                r.get::<_, Option<String>>(i)?
                    .map(|s| parse_json(&s))
                    .transpose()
            };
            Ok(MatterSummary {
                id: r.get(0)?,
                title: r.get(1)?,
                status: parse_json(&r.get::<_, String>(2)?)?,
                stage: opt(3)?,
                next: opt(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- the party branch --------------------------------------------------------

    pub fn create_party_activity(&self, a: NewActivity) -> Result<String> {
        let ev = ActivityEvent::Create {
            kind: a.kind,
            title: a.title.trim().into(),
            agenda: a.agenda,
            starts_at: a.starts_at,
            place: a.place,
            online_link: a.online_link.filter(|l| !l.trim().is_empty()),
        };
        branch::validate_event(&ev)?;
        let id = new_id();
        self.write_event(EntityKind::PartyActivity, &id, &ev, |_| Ok(()))?;
        Ok(id)
    }

    pub fn party_activity(&self, id: &str) -> Result<Activity> {
        Ok(Activity::fold(
            id,
            &self.load_kind(id, EntityKind::PartyActivity)?.events()?,
        )?)
    }

    fn activity_event(&self, id: &str, ev: ActivityEvent) -> Result<()> {
        branch::validate_event(&ev)?;
        self.write_event(EntityKind::PartyActivity, id, &ev, |d| match d {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("party activity {id}"))),
        })
    }

    /// Sign a person in: a cadre (the secretary) for anyone, in person or online; a
    /// party member for themselves, online (`policy::check_party_activity`).
    pub fn sign_in_party_activity(&self, id: &str, person: &str, mode: SignInMode) -> Result<()> {
        self.activity_event(
            id,
            ActivityEvent::SignIn {
                person: person.into(),
                mode,
            },
        )
    }

    pub fn mark_party_absent(&self, id: &str, person: &str, reason: &str) -> Result<()> {
        self.activity_event(
            id,
            ActivityEvent::Absent {
                person: person.into(),
                reason: reason.into(),
            },
        )
    }

    pub fn write_party_minutes(&self, id: &str, text: &str) -> Result<()> {
        self.activity_event(id, ActivityEvent::Minutes { text: text.into() })
    }

    /// The branch's activities, soonest last; of one year (village time) or all.
    pub fn list_party_activities(&self, year: Option<i32>) -> Result<Vec<ActivitySummary>> {
        let c = self.reader.lock();
        let mut s = c.prepare_cached(
            "SELECT a.id, a.kind, a.title, a.starts_at, a.place, a.online_link,
                    (SELECT count(*) FROM party_attendance p WHERE p.activity_id = a.id AND p.mode IS NOT NULL),
                    (SELECT count(*) FROM party_attendance p WHERE p.activity_id = a.id AND p.mode IS NULL)
             FROM party_activities a WHERE ?1 IS NULL OR a.year = ?1
             ORDER BY a.starts_at DESC, a.id LIMIT 1000",
        )?;
        let rows = s.query_map([year], |r| {
            Ok(ActivitySummary {
                id: r.get(0)?,
                kind: parse_json(&r.get::<_, String>(1)?)?,
                title: r.get(2)?,
                starts_at: r.get(3)?,
                place: r.get(4)?,
                online_link: r.get(5)?,
                present: r.get(6)?,
                absent: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A person's attendance over the branch's activities of one year (village time):
    /// activities held, present (of them online), absent, not recorded.
    pub fn party_attendance(&self, person: &str, year: i32) -> Result<YearAttendance> {
        let c = self.reader.lock();
        let (activities, present, online, absent): (u32, u32, u32, u32) = c.query_row(
            "SELECT count(*),
                    count(p.mode),
                    coalesce(sum(p.mode = 'online'), 0),
                    coalesce(sum(p.person IS NOT NULL AND p.mode IS NULL), 0)
             FROM party_activities a
             LEFT JOIN party_attendance p ON p.activity_id = a.id AND p.person = ?1
             WHERE a.year = ?2",
            params![person, year],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        Ok(YearAttendance {
            person: person.into(),
            year,
            activities,
            present,
            online,
            absent,
            unrecorded: activities - present - absent,
        })
    }
}
