//! Service requests (便民服务 / 政务服务 / 公共法律服务) and their lifecycle.
//!
//! This module is the one place where the request lifecycle lives. Status is never
//! stored: it is derived from the append-only list of transitions. Each transition is
//! applied if the lifecycle allows it from the status reached so far, and otherwise
//! kept in the history marked as superseded. Automerge orders concurrent appends the
//! same way everywhere, so two cadres acting offline at once both leave a trace and
//! every device derives the same status.

use super::attachment::{self, Attached, Attachment};
use super::{check_len, check_text, check_title, Event};
use crate::error::{Error, Result};
use crate::roster::Role;
use serde::{Deserialize, Serialize};

/// The default catalogue of request kinds; a space may configure its own.
pub const DEFAULT_KINDS: [&str; 9] = [
    "social_assistance",
    "medical_insurance",
    "social_insurance",
    "disability",
    "homestead_building",
    "certificate",
    "legal_mediation",
    "public_facility_repair",
    "other",
];

/// The request kinds a space offers: the one place every participant (the phone's
/// store and its screens, the relay's policy context) reads the catalogue from. Today
/// the default catalogue for every space; a later issue makes it configurable.
pub fn catalogue() -> Vec<String> {
    DEFAULT_KINDS.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Status {
    Submitted,
    Accepted,
    InProgress,
    Referred,
    Resolved,
    Rejected,
    Withdrawn,
    Reopened,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Submitted,
        Status::Accepted,
        Status::InProgress,
        Status::Referred,
        Status::Resolved,
        Status::Rejected,
        Status::Withdrawn,
        Status::Reopened,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Accepted => "accepted",
            Status::InProgress => "in_progress",
            Status::Referred => "referred",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
            Status::Withdrawn => "withdrawn",
            Status::Reopened => "reopened",
        }
    }
    pub fn parse(s: &str) -> Result<Status> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown request status {s:?}; expected one of {}",
                    Status::ALL.map(|x| x.as_str()).join(", ")
                ))
            })
    }
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            Status::Resolved | Status::Rejected | Status::Withdrawn
        )
    }
}

/// Who may move a request to `to`: the filer withdraws and reopens (`for_filer`: the
/// filer, or the cadre who filed it on the filer's behalf, `ServiceRequest::acts_for_filer`);
/// cadres and township officials do the casework.
pub fn actor_may_transition(to: Status, for_filer: bool, role: Role) -> bool {
    match to {
        Status::Withdrawn | Status::Reopened => for_filer,
        Status::Submitted => false,
        Status::Accepted
        | Status::InProgress
        | Status::Referred
        | Status::Resolved
        | Status::Rejected => role.is_staff(),
    }
}

/// The lifecycle: which status may follow which.
pub fn lifecycle_allows(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (
            Submitted | Reopened,
            Accepted | Rejected | Referred | Withdrawn
        ) | (
            Accepted,
            InProgress | Resolved | Rejected | Referred | Withdrawn
        ) | (InProgress, Resolved | Rejected | Referred | Withdrawn)
            | (
                Referred,
                Accepted | InProgress | Resolved | Rejected | Withdrawn
            )
            | (Resolved | Rejected, Reopened)
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Place {
    pub text: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Material {
    pub name: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    #[serde(default)]
    pub provided: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestEvent {
    File {
        kind: String,
        title: String,
        description: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        place: Option<Place>,
        /// The member the request is for (differs from `by` when a cadre files on their behalf).
        filer: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        materials: Vec<Material>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
    },
    EditDescription {
        description: String,
    },
    Transition {
        to: Status,
        #[serde(default)]
        note: String,
    },
    Assign {
        assignee: String,
    },
    ExpectBy {
        date: String,
    },
    Materials {
        items: Vec<Material>,
    },
    Comment {
        text: String,
    },
    Rate {
        stars: u8,
        #[serde(default)]
        text: String,
    },
    /// Photos, voice notes or scans added to the request, or to one of its comments
    /// (`to`: the comment's event id). By the filer (or the cadre who filed for them) or
    /// staff, in any status: a cadre attaches the scan of the decision to a resolved one.
    Attach {
        attachments: Vec<Attachment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
}

/// Cadre-only notes (kept in their own document, which the filer never receives).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotesEvent {
    Open { request: String },
    Note { text: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TransitionRecord {
    pub from: Status,
    pub to: Status,
    pub by: String,
    pub at: i64,
    pub note: String,
    /// The filer this transition was made for, when the cadre who filed the request
    /// on their behalf withdrew or reopened it (`None` for casework and for the filer's own).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// False when the lifecycle did not allow it at its place in the history
    /// (typically a concurrent, conflicting transition by someone else).
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Comment {
    pub id: String,
    pub by: String,
    pub at: i64,
    pub text: String,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Rating {
    pub stars: u8,
    pub text: String,
    pub at: i64,
    /// Who rated: the filer, or the cadre who filed for them.
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    #[serde(default)]
    pub by: String,
    /// The filer, when the cadre who filed for them gave the rating.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

/// An assignment in a request's history: who gave the request to whom, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AssignmentRecord {
    pub assignee: String,
    pub by: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ServiceRequest {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub place: Option<Place>,
    pub filer: String,
    /// The member who entered it, when a cadre filed on the filer's behalf.
    pub filed_by: Option<String>,
    pub created_at: i64,
    pub status: Status,
    pub transitions: Vec<TransitionRecord>,
    pub assignee: Option<String>,
    /// Every assignment, in document order (the last one is `assignee`).
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    #[serde(default)]
    pub assignments: Vec<AssignmentRecord>,
    pub expected_by: Option<String>,
    pub materials: Vec<Material>,
    /// Every attachment, in document order: the filing's, then those added since (to
    /// the request, or to a comment: `Attached::to`).
    pub attachments: Vec<Attached>,
    pub comments: Vec<Comment>,
    pub rating: Option<Rating>,
    pub updated_at: i64,
}

impl ServiceRequest {
    pub fn fold(id: &str, events: &[Event<RequestEvent>]) -> Result<ServiceRequest> {
        let first = events
            .first()
            .ok_or_else(|| Error::Malformed(format!("request {id} has no events")))?;
        let RequestEvent::File {
            kind,
            title,
            description,
            place,
            filer,
            materials,
            attachments,
        } = &first.body
        else {
            return Err(Error::Malformed(format!(
                "request {id} does not start with a file event"
            )));
        };
        let mut r = ServiceRequest {
            id: id.into(),
            kind: kind.clone(),
            title: title.clone(),
            description: description.clone(),
            place: place.clone(),
            filer: filer.clone(),
            filed_by: (first.by != *filer).then(|| first.by.clone()),
            created_at: first.at,
            status: Status::Submitted,
            transitions: vec![],
            assignee: None,
            assignments: vec![],
            expected_by: None,
            materials: materials.clone(),
            attachments: attachments
                .iter()
                .map(|a| Attached {
                    attachment: a.clone(),
                    by: first.by.clone(),
                    at: first.at,
                    to: None,
                    line: None,
                })
                .collect(),
            comments: vec![],
            rating: None,
            updated_at: first.at,
        };
        for e in &events[1..] {
            r.updated_at = r.updated_at.max(e.at);
            match &e.body {
                RequestEvent::File { .. } => {}
                // an edit that the merged order puts after the request closed (the filer
                // edited offline while a cadre resolved it) is kept in history, not applied
                RequestEvent::EditDescription { description } if r.status.is_open() => {
                    r.description = description.clone()
                }
                RequestEvent::EditDescription { .. } => {}
                RequestEvent::Transition { to, note } => {
                    let applied = lifecycle_allows(r.status, *to);
                    r.transitions.push(TransitionRecord {
                        from: r.status,
                        to: *to,
                        by: e.by.clone(),
                        at: e.at,
                        note: note.clone(),
                        on_behalf_of: r.on_behalf(&e.by, *to),
                        applied,
                    });
                    if applied {
                        r.status = *to;
                    }
                }
                RequestEvent::Assign { assignee } => {
                    r.assignee = Some(assignee.clone());
                    r.assignments.push(AssignmentRecord {
                        assignee: assignee.clone(),
                        by: e.by.clone(),
                        at: e.at,
                    });
                }
                RequestEvent::ExpectBy { date } => r.expected_by = Some(date.clone()),
                RequestEvent::Materials { items } => r.materials = items.clone(),
                RequestEvent::Comment { text } => r.comments.push(Comment {
                    id: e.id.clone(),
                    by: e.by.clone(),
                    at: e.at,
                    text: text.clone(),
                    internal: false,
                }),
                RequestEvent::Attach { attachments, to } => {
                    r.attachments.extend(attachments.iter().map(|a| Attached {
                        attachment: a.clone(),
                        by: e.by.clone(),
                        at: e.at,
                        to: to.clone(),
                        line: None,
                    }))
                }
                RequestEvent::Rate { stars, text } => {
                    if r.status == Status::Resolved {
                        r.rating = Some(Rating {
                            stars: *stars,
                            text: text.clone(),
                            at: e.at,
                            by: e.by.clone(),
                            on_behalf_of: (e.by != r.filer).then(|| r.filer.clone()),
                        })
                    }
                }
            }
        }
        Ok(r)
    }

    /// Whether `member` may act as the filer (withdraw, reopen, rate, edit the
    /// description): the filer, or the cadre who filed the request on their behalf.
    pub fn acts_for_filer(&self, member: &str) -> bool {
        self.filer == member || self.filed_by.as_deref() == Some(member)
    }

    /// The filer a transition by `by` to `to` was made for: a filer's transition
    /// (withdraw, reopen) made by the cadre who filed for them.
    fn on_behalf(&self, by: &str, to: Status) -> Option<String> {
        (by != self.filer
            && self.filed_by.as_deref() == Some(by)
            && matches!(to, Status::Withdrawn | Status::Reopened))
        .then(|| self.filer.clone())
    }

    /// Casework may not be dated before the filing it follows: a transition or an
    /// assignment. Judged on the request as the event's author saw it (policy). The
    /// filer's own events come from the filer's phone, after the filing on its clock.
    pub fn check_dated(&self, e: &Event<RequestEvent>) -> Result<()> {
        let casework = matches!(
            e.body,
            RequestEvent::Transition { .. } | RequestEvent::Assign { .. }
        );
        if casework && e.at < self.created_at {
            return Err(Error::invalid(format!(
                "the event is dated {}, before the request was filed ({}); check this phone's clock, or wait a few minutes if the filer's runs ahead",
                e.at, self.created_at
            )));
        }
        Ok(())
    }

    /// Refuse, at the API, what the lifecycle would not apply.
    pub fn check_applicable(&self, e: &RequestEvent) -> Result<()> {
        match e {
            RequestEvent::File { .. } => Err(Error::invalid("request already exists")),
            RequestEvent::Transition { to, .. } if !lifecycle_allows(self.status, *to) => {
                Err(Error::InvalidTransition(format!(
                    "a request that is {} cannot become {}",
                    self.status.as_str(),
                    to.as_str()
                )))
            }
            RequestEvent::Rate { .. } if self.status != Status::Resolved => {
                Err(Error::InvalidTransition(format!(
                    "only a resolved request can be rated; this one is {}",
                    self.status.as_str()
                )))
            }
            RequestEvent::EditDescription { .. } if !self.status.is_open() => {
                Err(Error::InvalidTransition(format!(
                    "the description of a {} request cannot change",
                    self.status.as_str()
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Content checks shared by the API and the policy.
pub fn validate_event(e: &RequestEvent, kinds: &[String]) -> Result<()> {
    match e {
        RequestEvent::File {
            kind,
            title,
            description,
            place,
            materials,
            attachments,
            ..
        } => {
            attachment::check_all(attachments)?;
            if !kinds.iter().any(|k| k == kind) {
                return Err(Error::invalid(format!(
                    "unknown request kind {kind:?}; this space offers {}",
                    kinds.join(", ")
                )));
            }
            // a request may be filed with only a voice note: its kind names it
            if !title.is_empty() || attachments.is_empty() {
                check_title(title)?;
            }
            check_text("description", description, false)?;
            if let Some(p) = place {
                check_len("place", &p.text, 500)?;
                if p.lat.is_some_and(|x| !(-90.0..=90.0).contains(&x))
                    || p.lon.is_some_and(|x| !(-180.0..=180.0).contains(&x))
                {
                    return Err(Error::invalid(
                        "place latitude must be within ±90 and longitude within ±180",
                    ));
                }
            }
            if materials.len() > super::MAX_MATERIALS {
                return Err(Error::invalid(format!(
                    "at most {} required materials",
                    super::MAX_MATERIALS
                )));
            }
            Ok(())
        }
        RequestEvent::EditDescription { description } => {
            check_text("description", description, false)
        }
        RequestEvent::Transition { note, .. } => check_text("note", note, false),
        RequestEvent::Comment { text } => check_text("comment", text, true),
        RequestEvent::Rate { stars, text } => {
            if !(1..=5).contains(stars) {
                return Err(Error::invalid(format!(
                    "rating must be 1 to 5 stars, got {stars}"
                )));
            }
            check_text("rating text", text, false)
        }
        RequestEvent::ExpectBy { date } => super::check_date("expected date", date),
        RequestEvent::Materials { items } => {
            if items.len() > super::MAX_MATERIALS {
                return Err(Error::invalid(format!(
                    "at most {} required materials",
                    super::MAX_MATERIALS
                )));
            }
            items.iter().try_for_each(|m| check_title(&m.name))
        }
        RequestEvent::Assign { .. } => Ok(()),
        RequestEvent::Attach { attachments, to } => {
            if attachments.is_empty() {
                return Err(Error::invalid(
                    "an attach event carries at least one attachment",
                ));
            }
            if to.as_ref().is_some_and(|t| t.len() > 64) {
                return Err(Error::invalid("an attachment's event id is too long"));
            }
            attachment::check_all(attachments)
        }
    }
}
