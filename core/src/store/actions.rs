//! Local operations: what a cadre or resident does on this phone. Each one appends an
//! event to an entity's document as a change signed-for by this device's actor id,
//! runs the same policy the relay and other phones will run, and stores the change,
//! its outbox entry and the projections in one transaction.

use super::{me_of, policy_ctx, roster_of, ConnLookup, EntityChange, Origin, Store};
use crate::doc::EntityDoc;
use crate::error::{Error, Result};
use crate::ids::{new_event_id, new_id, now_ms};
use crate::model::deliberation::{
    ballot_id, validate_create, DecidingBody, Deliberation, DeliberationEvent,
};
use crate::model::notice::{
    Category, FinanceLine, Notice, NoticeContent, NoticeEvent, Period, Subtype,
};
use crate::model::request::{
    validate_event, Material, NotesEvent, Place, RequestEvent, ServiceRequest, Status,
};
use crate::model::{check_text, EntityKind};
use crate::policy::{self, notes_id};
use rusqlite::params;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct NewNotice {
    pub category: Category,
    pub subtype: Subtype,
    pub period: Period,
    pub title: String,
    pub body: String,
    pub opening_balance_fen: Option<i64>,
    pub lines: Vec<FinanceLine>,
    /// Publish at once (revision 1) rather than keep a draft.
    pub publish: bool,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NewRequest {
    pub kind: String,
    pub title: String,
    pub description: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub place: Option<Place>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    /// The member it is for, when a cadre files on their behalf (`None`: for myself).
    pub on_behalf_of: Option<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub materials: Vec<Material>,
    /// Files to attach in the filing event itself (`Store::prepare_attachment`); a
    /// request may be filed with only a voice note, its title then empty.
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub attachments: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NewDeliberation {
    pub title: String,
    pub body: String,
    pub deciding_body: DecidingBody,
    pub options: Vec<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub group: Option<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub secret: bool,
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub hide_results: bool,
    pub opens_at: i64,
    pub closes_at: i64,
}

fn event_value<B: Serialize>(body: &B, by: &str, at: i64) -> Value {
    let mut v = serde_json::to_value(body).expect("event serializes");
    let m = v.as_object_mut().expect("events are maps");
    m.insert("id".into(), Value::String(new_event_id()));
    m.insert("by".into(), Value::String(by.into()));
    m.insert("at".into(), Value::from(at));
    v
}

fn summary_of(kind: EntityKind, body: &Value) -> String {
    format!(
        "{} {}",
        kind.as_str(),
        body.get("type").and_then(Value::as_str).unwrap_or("change")
    )
}

impl Store {
    /// The one write path for local operations. `check` sees the current document
    /// (None for a new entity) and refuses operations the domain does not allow.
    pub(crate) fn write_event<B: Serialize>(
        &self,
        kind: EntityKind,
        id: &str,
        body: &B,
        check: impl FnOnce(Option<&EntityDoc>) -> Result<()>,
    ) -> Result<()> {
        let mut conn = self.conn.lock();
        let me = me_of(&conn, &self.device_id())?;
        let roster = roster_of(&conn)?;
        let mut doc = Store::load_doc(&conn, id)?;
        check(doc.as_ref())?;
        let now = now_ms();
        let event = event_value(body, &me.id, now);
        let summary = summary_of(kind, &event);
        let actor = self.key.public();
        let base = doc.as_ref().cloned().unwrap_or_else(EntityDoc::empty);
        let change = match &mut doc {
            Some(d) => d.append(&actor, &event, now)?,
            None => EntityDoc::create(&actor, kind, id, &event, now)?.1,
        };
        // the same check every other phone and the relay will run on this change
        let kinds = self.request_kinds();
        let doc = policy::check_change(
            &policy_ctx(&roster, &kinds, &ConnLookup(&conn)),
            &me,
            &base,
            id,
            &change,
        )?;
        let tx = conn.transaction()?;
        let hash = change.hash().0;
        Store::store_change(&tx, kind, id, &doc, &hash, change.raw_bytes(), now)?;
        tx.execute(
            "INSERT INTO outbox(hash, entity_id, kind, summary, state, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
            params![&hash[..], id, kind.as_str(), summary, now],
        )?;
        tx.commit()?;
        drop(conn);
        self.notify(vec![EntityChange {
            id: id.to_string(),
            kind,
            origin: Origin::Local,
        }]);
        Ok(())
    }

    pub(crate) fn load_typed<T>(
        &self,
        id: &str,
        kind: EntityKind,
        fold: impl FnOnce(&EntityDoc) -> Result<T>,
    ) -> Result<T> {
        // what screens read: on the reader, so a merge on the writer never blocks it
        let conn = self.reader.lock();
        let doc = Store::load_doc(&conn, id)?
            .ok_or_else(|| Error::NotFound(format!("{} {id}", kind.as_str())))?;
        match doc.header() {
            Some((k, _)) if k == kind => fold(&doc),
            _ => Err(Error::NotFound(format!("{} {id}", kind.as_str()))),
        }
    }

    fn existing<T>(
        doc: Option<&EntityDoc>,
        what: &str,
        id: &str,
        fold: impl FnOnce(&EntityDoc) -> Result<T>,
    ) -> Result<T> {
        fold(doc.ok_or_else(|| Error::NotFound(format!("{what} {id}")))?)
    }

    // ---- notices -------------------------------------------------------------------

    pub fn post_notice(&self, n: NewNotice) -> Result<String> {
        let content = NoticeContent {
            title: n.title,
            body: n.body,
            opening_balance_fen: n.opening_balance_fen,
            lines: n.lines,
        };
        content.validate_in(n.category, &n.period)?;
        let id = new_id();
        let ev = NoticeEvent::Create {
            category: n.category,
            subtype: n.subtype,
            period: n.period,
            content,
            publish: n.publish,
        };
        self.write_event(EntityKind::Notice, &id, &ev, |_| Ok(()))?;
        Ok(id)
    }

    /// A notice with the times the village saw (arrivals at the relay).
    pub fn notice(&self, id: &str) -> Result<Notice> {
        let conn = self.reader.lock();
        let doc = Store::load_doc(&conn, id)?
            .filter(|d| matches!(d.header(), Some((EntityKind::Notice, _))))
            .ok_or_else(|| Error::NotFound(format!("notice {id}")))?;
        Ok(Notice::fold_arrived(
            id,
            &doc.events()?,
            &super::arrivals(&conn, &doc)?,
        )?)
    }

    pub(crate) fn notice_event(&self, id: &str, ev: NoticeEvent) -> Result<()> {
        self.write_event(EntityKind::Notice, id, &ev, |d| {
            Self::existing(d, "notice", id, |d| {
                Ok(Notice::fold(id, &d.events()?)?.check_applicable(&ev)?)
            })
        })
    }

    pub fn edit_notice_draft(&self, id: &str, content: NoticeContent) -> Result<()> {
        let n = self.notice(id)?;
        content.validate_in(n.category, &n.period)?;
        self.notice_event(id, NoticeEvent::EditDraft { content })
    }

    pub fn publish_notice(&self, id: &str) -> Result<()> {
        self.notice_event(id, NoticeEvent::Publish {})
    }

    /// Publish a corrected revision; earlier revisions stay readable.
    pub fn correct_notice(&self, id: &str, content: NoticeContent, reason: &str) -> Result<()> {
        let n = self.notice(id)?;
        content.validate_in(n.category, &n.period)?;
        check_text("reason", reason, true)?;
        self.notice_event(
            id,
            NoticeEvent::Correct {
                content,
                reason: reason.into(),
            },
        )
    }

    pub fn withdraw_notice(&self, id: &str, reason: &str) -> Result<()> {
        check_text("reason", reason, true)?;
        self.notice_event(
            id,
            NoticeEvent::Withdraw {
                reason: reason.into(),
            },
        )
    }

    /// Sign off a draft finance disclosure as a member of the supervision committee
    /// (民主理财): who may is the policy's rule (`policy::is_supervisor`); the relay,
    /// which holds the register, judges it when this phone does not.
    pub fn review_notice(&self, id: &str, note: &str) -> Result<()> {
        check_text("note", note, false)?;
        let n = self.notice(id)?;
        if n.category != Category::Finance {
            return Err(Error::invalid(
                "the supervision committee signs off finance disclosures only",
            ));
        }
        self.notice_event(id, NoticeEvent::Review { note: note.into() })
    }

    /// Ask a question on a notice; returns the question id.
    pub fn ask_question(&self, notice_id: &str, text: &str) -> Result<String> {
        check_text("question", text, true)?;
        self.notice_event(notice_id, NoticeEvent::Ask { text: text.into() })?;
        let me = self.me()?.id;
        let n = self.notice(notice_id)?;
        n.questions
            .iter()
            .rev()
            .find(|q| q.by == me && q.text == text)
            .map(|q| q.id.clone())
            .ok_or_else(|| Error::Document("question vanished after it was asked".into()))
    }

    pub fn answer_question(&self, notice_id: &str, question_id: &str, text: &str) -> Result<()> {
        check_text("answer", text, true)?;
        self.notice_event(
            notice_id,
            NoticeEvent::Answer {
                question: question_id.into(),
                text: text.into(),
            },
        )
    }

    /// Record that this member has read the current revision; returns it. Does
    /// nothing (and writes nothing) when that revision was already marked read.
    pub fn mark_read(&self, notice_id: &str) -> Result<u32> {
        let n = self.notice(notice_id)?;
        let rev = n.current_revision();
        if rev == 0 {
            return Err(Error::InvalidTransition(
                "a draft cannot be marked read".into(),
            ));
        }
        let me = self.me()?.id;
        if n.read_by.get(&me).is_some_and(|r| *r >= rev) {
            return Ok(rev);
        }
        self.notice_event(notice_id, NoticeEvent::Read { revision: rev })?;
        Ok(rev)
    }

    // ---- service requests ----------------------------------------------------------

    pub fn file_request(&self, r: NewRequest) -> Result<String> {
        let me = self.me()?;
        let filer = r.on_behalf_of.clone().unwrap_or(me.id.clone());
        if filer != me.id && self.roster()?.member(&filer).is_none() {
            return Err(Error::NotFound(format!("member {filer}")));
        }
        let mut attachments: Vec<crate::model::attachment::Attachment> = vec![];
        for p in &r.attachments {
            let a = self.prepare_attachment(p)?;
            if !attachments.iter().any(|b| b.hash == a.hash) {
                attachments.push(a);
            }
        }
        let ev = RequestEvent::File {
            kind: r.kind,
            title: r.title,
            description: r.description,
            place: r.place,
            filer,
            materials: r.materials,
            attachments,
        };
        validate_event(&ev, &self.request_kinds())?;
        let id = new_id();
        self.write_event(EntityKind::Request, &id, &ev, |_| Ok(()))?;
        Ok(id)
    }

    /// The request as this device sees it; cadres also see internal notes, merged
    /// into the comments with `internal: true`.
    pub fn request(&self, id: &str) -> Result<ServiceRequest> {
        let mut r = self.load_typed(id, EntityKind::Request, |d| {
            Ok(ServiceRequest::fold(id, &d.events()?)?)
        })?;
        let conn = self.reader.lock();
        if let Some(doc) = Store::load_doc(&conn, &notes_id(id))? {
            for e in doc.events::<NotesEvent>()? {
                if let NotesEvent::Note { text } = e.body {
                    r.comments.push(crate::model::request::Comment {
                        id: e.id,
                        by: e.by,
                        at: e.at,
                        text,
                        internal: true,
                    });
                }
            }
            r.comments.sort_by_key(|c| c.at);
        }
        Ok(r)
    }

    pub(crate) fn request_event(&self, id: &str, ev: RequestEvent) -> Result<()> {
        validate_event(&ev, &self.request_kinds())?;
        self.write_event(EntityKind::Request, id, &ev, |d| {
            Self::existing(d, "request", id, |d| {
                Ok(ServiceRequest::fold(id, &d.events()?)?.check_applicable(&ev)?)
            })
        })
    }

    pub fn transition_request(&self, id: &str, to: Status, note: &str) -> Result<()> {
        self.request_event(
            id,
            RequestEvent::Transition {
                to,
                note: note.into(),
            },
        )
    }

    /// Assign a request to a cadre or township official (`policy::may_be_assigned`:
    /// only someone who may read it), never to a revoked member.
    pub fn assign_request(&self, id: &str, assignee: &str) -> Result<()> {
        let roster = self.roster()?;
        let Some(m) = roster.member(assignee) else {
            return Err(Error::NotFound(format!("member {assignee}")));
        };
        if m.revoked {
            return Err(Error::NotAllowed(format!(
                "{} has left the space; assign the request to someone else",
                m.name
            )));
        }
        policy::may_be_assigned(&roster, &self.request(id)?, assignee)?;
        self.request_event(
            id,
            RequestEvent::Assign {
                assignee: assignee.into(),
            },
        )
    }

    pub fn set_request_expected(&self, id: &str, date: &str) -> Result<()> {
        self.request_event(id, RequestEvent::ExpectBy { date: date.into() })
    }

    pub fn set_request_materials(&self, id: &str, items: Vec<Material>) -> Result<()> {
        self.request_event(id, RequestEvent::Materials { items })
    }

    pub fn edit_request_description(&self, id: &str, description: &str) -> Result<()> {
        self.request_event(
            id,
            RequestEvent::EditDescription {
                description: description.into(),
            },
        )
    }

    pub fn rate_request(&self, id: &str, stars: u8, text: &str) -> Result<()> {
        self.request_event(
            id,
            RequestEvent::Rate {
                stars,
                text: text.into(),
            },
        )
    }

    /// A comment on a request: public (filer and cadres) or internal (cadres only,
    /// kept in a separate document the filer never receives).
    pub fn comment_request(&self, id: &str, text: &str, internal: bool) -> Result<()> {
        if !internal {
            return self.request_event(id, RequestEvent::Comment { text: text.into() });
        }
        check_text("comment", text, true)?;
        self.request(id)?;
        policy::may_write_notes(&self.me()?)?;
        let nid = notes_id(id);
        let exists = Store::load_doc(&self.conn.lock(), &nid)?.is_some();
        if !exists {
            self.write_event(
                EntityKind::RequestNotes,
                &nid,
                &NotesEvent::Open { request: id.into() },
                |_| Ok(()),
            )?;
        }
        self.write_event(
            EntityKind::RequestNotes,
            &nid,
            &NotesEvent::Note { text: text.into() },
            |_| Ok(()),
        )
    }

    // ---- deliberations -------------------------------------------------------------

    pub fn create_deliberation(&self, d: NewDeliberation) -> Result<String> {
        let ev = DeliberationEvent::Create {
            title: d.title,
            body: d.body,
            deciding_body: d.deciding_body,
            options: d.options,
            group: d.group,
            secret: d.secret,
            hide_results: d.hide_results,
            opens_at: d.opens_at,
            closes_at: d.closes_at,
        };
        validate_create(&ev)?;
        let id = new_id();
        self.write_event(EntityKind::Deliberation, &id, &ev, |_| Ok(()))?;
        Ok(id)
    }

    pub fn deliberation(&self, id: &str) -> Result<Deliberation> {
        self.load_typed(id, EntityKind::Deliberation, |d| {
            Ok(Deliberation::fold(id, &d.events()?)?)
        })
    }

    pub(crate) fn deliberation_event(&self, id: &str, ev: DeliberationEvent) -> Result<()> {
        self.write_event(EntityKind::Deliberation, id, &ev, |d| {
            Self::existing(d, "deliberation", id, |d| {
                Ok(Deliberation::fold(id, &d.events()?)?.check_applicable(&ev, now_ms())?)
            })
        })
    }

    /// Open voting, with the eligibility snapshot taken now: from the register when this
    /// phone holds one with anyone on it (the persons the deciding body counts and the
    /// members linked to them), else from the roster.
    pub fn open_voting(&self, id: &str) -> Result<()> {
        let d = self.deliberation(id)?;
        let roster = self.roster()?;
        if let Some(open) = self.register_snapshot(&d, &roster)? {
            return self.deliberation_event(id, open);
        }
        let eligible = d.deciding_body.eligible(&roster, d.group.as_deref());
        self.deliberation_event(
            id,
            DeliberationEvent::Open {
                eligible,
                roster_version: roster.version,
                persons: vec![],
                member_persons: vec![],
                register_heads: vec![],
            },
        )
    }

    pub fn comment_deliberation(&self, id: &str, text: &str) -> Result<()> {
        check_text("comment", text, true)?;
        self.deliberation_event(id, DeliberationEvent::Comment { text: text.into() })
    }

    pub fn close_deliberation(&self, id: &str) -> Result<()> {
        self.deliberation_event(id, DeliberationEvent::Close {})
    }

    /// Cast (or re-cast) this member's ballot; the last one cast before the close counts.
    pub fn cast_ballot(&self, deliberation_id: &str, option: u32) -> Result<()> {
        let d = self.deliberation(deliberation_id)?;
        let me = self.me()?;
        // the relay's ballot rules, said here before anything is signed
        policy::check_cast(&d, &me, option, now_ms())?;
        let bid = ballot_id(deliberation_id, &me.id);
        let ev = crate::model::deliberation::BallotEvent::Cast {
            deliberation: deliberation_id.into(),
            option,
        };
        self.write_event(EntityKind::Ballot, &bid, &ev, |_| Ok(()))
    }
}
