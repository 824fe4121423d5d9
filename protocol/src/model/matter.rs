//! Major matters decided by "four deliberations, two disclosures" (四议两公开): the
//! party branch proposes (党支部提议), the two committees consult (两委会商议), the party
//! members' meeting reviews (党员大会审议), the villagers' (representatives') meeting
//! decides (村民会议或村民代表会议决议), the decision is disclosed (决议公开) and so is
//! the result of carrying it out (实施结果公开).
//!
//! This module is the one place where the order of those steps lives. A matter is an
//! event list like every entity: a `create`, then one `step` event per step recorded
//! (who recorded it, when the meeting was held, attendance, outcome, an optional link
//! to the deliberation that voted on it, and for the two disclosures the notice that
//! disclosed). The policy refuses a step that is not the next one as its author saw
//! the matter (`Matter::check_step`). Two cadres offline may both record the same next
//! step; the fold applies the first in document order (automerge orders concurrent
//! appends the same way everywhere) and keeps the other marked `applied: false`
//! ("superseded"), like a request's conflicting transitions.

use super::{check_len, check_text, check_title, Event};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most people one attendance figure may name (a villagers' meeting of a large village).
pub const MAX_ATTENDANCE: u32 = 100_000;

/// The six steps, in the order they must be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Stage {
    /// 党支部提议
    Proposal,
    /// 两委会商议
    Consultation,
    /// 党员大会审议
    PartyReview,
    /// 村民会议或村民代表会议决议
    Decision,
    /// 决议公开
    DecisionDisclosure,
    /// 实施结果公开
    ResultDisclosure,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Proposal,
        Stage::Consultation,
        Stage::PartyReview,
        Stage::Decision,
        Stage::DecisionDisclosure,
        Stage::ResultDisclosure,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Proposal => "proposal",
            Stage::Consultation => "consultation",
            Stage::PartyReview => "party_review",
            Stage::Decision => "decision",
            Stage::DecisionDisclosure => "decision_disclosure",
            Stage::ResultDisclosure => "result_disclosure",
        }
    }
    pub fn parse(s: &str) -> Result<Stage> {
        Stage::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown step {s:?}; expected one of {}",
                    Stage::ALL.map(|x| x.as_str()).join(", ")
                ))
            })
    }
    /// The step that follows this one (`None` after the last).
    pub fn next(self) -> Option<Stage> {
        Stage::ALL.get(self as usize + 1).copied()
    }
    /// A disclosure: recorded with the notice that disclosed.
    pub fn is_disclosure(self) -> bool {
        matches!(self, Stage::DecisionDisclosure | Stage::ResultDisclosure)
    }
    /// A meeting that may say no (the proposal and the disclosures only happen).
    pub fn may_refuse(self) -> bool {
        matches!(
            self,
            Stage::Consultation | Stage::PartyReview | Stage::Decision
        )
    }
}

/// What a step came to. A meeting that does not agree stops the matter there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Outcome {
    Agreed,
    NotAgreed,
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Outcome::Agreed, Outcome::NotAgreed];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Agreed => "agreed",
            Outcome::NotAgreed => "not_agreed",
        }
    }
}

/// Where a matter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum MatterStatus {
    /// Steps remain.
    InProgress,
    /// A meeting did not agree: no further step.
    Stopped,
    /// All six steps are recorded.
    Completed,
}

impl MatterStatus {
    pub const ALL: [MatterStatus; 3] = [
        MatterStatus::InProgress,
        MatterStatus::Stopped,
        MatterStatus::Completed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MatterStatus::InProgress => "in_progress",
            MatterStatus::Stopped => "stopped",
            MatterStatus::Completed => "completed",
        }
    }
}

/// Who took part in a step's meeting: `present` of `expected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Attendance {
    pub present: u32,
    pub expected: u32,
}

/// A step as recorded: what the cadre's phone signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StepInput {
    pub stage: Stage,
    /// When the meeting was held or the disclosure posted (UTC ms).
    pub held_at: i64,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attendance: Option<Attendance>,
    pub outcome: Outcome,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    #[serde(default)]
    pub note: String,
    /// The deliberation that voted on it (a decision taken through the app).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliberation: Option<String>,
    /// The notice that disclosed (the two disclosures).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MatterEvent {
    Create {
        title: String,
        body: String,
    },
    Step {
        #[serde(flatten)]
        step: StepInput,
    },
}

/// A step in a matter's history: who recorded it, when, and whether it took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StepRecord {
    pub step: StepInput,
    pub by: String,
    pub at: i64,
    /// False when another record of the same step (or a meeting that stopped the
    /// matter) came before it in the merged history: kept, not applied.
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Matter {
    pub id: String,
    pub title: String,
    pub body: String,
    pub created_by: String,
    pub created_at: i64,
    pub status: MatterStatus,
    /// The last step that took effect (`None` before the proposal).
    pub stage: Option<Stage>,
    /// The step to record next (`None` when stopped or completed).
    pub next: Option<Stage>,
    pub steps: Vec<StepRecord>,
    pub updated_at: i64,
}

impl Matter {
    pub fn fold(id: &str, events: &[Event<MatterEvent>]) -> Result<Matter> {
        let first = events
            .first()
            .ok_or_else(|| Error::Malformed(format!("matter {id} has no events")))?;
        let MatterEvent::Create { title, body } = &first.body else {
            return Err(Error::Malformed(format!(
                "matter {id} does not start with a create event"
            )));
        };
        let mut m = Matter {
            id: id.into(),
            title: title.clone(),
            body: body.clone(),
            created_by: first.by.clone(),
            created_at: first.at,
            status: MatterStatus::InProgress,
            stage: None,
            next: Some(Stage::Proposal),
            steps: vec![],
            updated_at: first.at,
        };
        for e in &events[1..] {
            m.updated_at = m.updated_at.max(e.at);
            let MatterEvent::Step { step } = &e.body else {
                continue;
            };
            let applied = m.next == Some(step.stage);
            if applied {
                m.stage = Some(step.stage);
                m.next = step.stage.next();
                m.status = if step.outcome == Outcome::NotAgreed {
                    m.next = None;
                    MatterStatus::Stopped
                } else if m.next.is_none() {
                    MatterStatus::Completed
                } else {
                    MatterStatus::InProgress
                };
            }
            m.steps.push(StepRecord {
                step: step.clone(),
                by: e.by.clone(),
                at: e.at,
                applied,
            });
        }
        Ok(m)
    }

    /// The steps that took effect, in order.
    pub fn applied_steps(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps.iter().filter(|s| s.applied)
    }

    /// The step that took effect for `stage`, if any.
    pub fn step(&self, stage: Stage) -> Option<&StepRecord> {
        self.applied_steps().find(|s| s.step.stage == stage)
    }

    /// Whether `step` may be recorded now: it is the next step, and it is not dated
    /// before the matter or the step it follows. The phone's action layer says this
    /// before signing; the policy applies it to the matter as the step's author saw it,
    /// so a relay and a phone receiving the step in a bundle refuse it alike.
    pub fn check_step(&self, step: &StepInput, at: i64) -> Result<()> {
        match self.next {
            None => {
                return Err(Error::InvalidTransition(format!(
                    "the matter is {}; no step can follow",
                    self.status.as_str()
                )))
            }
            Some(next) if next != step.stage => {
                return Err(Error::InvalidTransition(format!(
                    "the step {} is out of order: the next step of this matter is {}",
                    step.stage.as_str(),
                    next.as_str()
                )))
            }
            _ => {}
        }
        let after = self
            .applied_steps()
            .last()
            .map_or(self.created_at, |s| s.at.max(self.created_at));
        if at < after {
            return Err(Error::invalid(format!(
                "the step is dated {at}, before the step it follows ({after}); check this phone's clock"
            )));
        }
        Ok(())
    }
}

/// Content checks shared by the action layer and the policy: text limits, an
/// attendance that adds up, the links the step needs (a disclosure names its notice;
/// only a meeting that may say no records `not_agreed`).
pub fn validate_event(e: &MatterEvent) -> Result<()> {
    match e {
        MatterEvent::Create { title, body } => {
            check_title(title)?;
            check_text("body", body, false)
        }
        MatterEvent::Step { step } => {
            check_text("note", &step.note, false)?;
            if let Some(a) = step.attendance {
                if a.expected == 0 || a.expected > MAX_ATTENDANCE || a.present > a.expected {
                    return Err(Error::invalid(format!(
                        "attendance {} of {} does not add up (at most {MAX_ATTENDANCE} expected, present no more than expected)",
                        a.present, a.expected
                    )));
                }
            }
            if step.outcome == Outcome::NotAgreed && !step.stage.may_refuse() {
                return Err(Error::invalid(format!(
                    "the step {} is not a meeting that decides; its outcome is agreed",
                    step.stage.as_str()
                )));
            }
            for (what, id) in [
                ("deliberation", &step.deliberation),
                ("notice", &step.notice),
            ] {
                if let Some(id) = id {
                    check_len(what, id, 32)?;
                    if !crate::ids::is_id(id) {
                        return Err(Error::invalid(format!(
                            "the {what} link {id:?} is not an id (32 hex characters)"
                        )));
                    }
                }
            }
            match (step.stage.is_disclosure(), &step.notice) {
                (true, None) => Err(Error::invalid(format!(
                    "the step {} links to the notice that disclosed (--notice)",
                    step.stage.as_str()
                ))),
                (false, Some(_)) => Err(Error::invalid(format!(
                    "only the two disclosures link to a notice, not {}",
                    step.stage.as_str()
                ))),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, by: &str, at: i64, body: MatterEvent) -> Event<MatterEvent> {
        Event {
            id: id.into(),
            by: by.into(),
            at,
            body,
        }
    }

    fn step(stage: Stage, outcome: Outcome) -> MatterEvent {
        MatterEvent::Step {
            step: StepInput {
                stage,
                held_at: 5,
                attendance: None,
                outcome,
                note: String::new(),
                deliberation: None,
                notice: stage
                    .is_disclosure()
                    .then(|| "0123456789abcdef0123456789abcdef".into()),
            },
        }
    }

    fn create() -> Event<MatterEvent> {
        ev(
            "e0",
            "cadre",
            1,
            MatterEvent::Create {
                title: "修建村道".into(),
                body: String::new(),
            },
        )
    }

    #[test]
    fn six_steps_in_order_complete_a_matter() {
        let mut evs = vec![create()];
        for (i, s) in Stage::ALL.into_iter().enumerate() {
            let m = Matter::fold("m", &evs).unwrap();
            assert_eq!(m.next, Some(s));
            validate_event(&step(s, Outcome::Agreed)).unwrap();
            evs.push(ev(
                &format!("e{}", i + 1),
                "cadre",
                10 + i as i64,
                step(s, Outcome::Agreed),
            ));
        }
        let m = Matter::fold("m", &evs).unwrap();
        assert_eq!(m.status, MatterStatus::Completed);
        assert_eq!(m.next, None);
        assert!(m.steps.iter().all(|s| s.applied));
    }

    #[test]
    fn out_of_order_refused_and_a_concurrent_duplicate_superseded() {
        let evs = vec![
            create(),
            ev("e1", "cadre", 2, step(Stage::Proposal, Outcome::Agreed)),
        ];
        let m = Matter::fold("m", &evs).unwrap();
        let skip = StepInput {
            stage: Stage::PartyReview,
            held_at: 3,
            attendance: None,
            outcome: Outcome::Agreed,
            note: String::new(),
            deliberation: None,
            notice: None,
        };
        let e = m.check_step(&skip, 3).unwrap_err();
        assert!(
            e.to_string()
                .contains("the next step of this matter is consultation"),
            "{e}"
        );
        // two cadres offline both record the consultation: the first in document order counts
        let mut both = evs.clone();
        both.push(ev(
            "e2",
            "cadre",
            3,
            step(Stage::Consultation, Outcome::Agreed),
        ));
        both.push(ev(
            "e3",
            "cadre2",
            3,
            step(Stage::Consultation, Outcome::NotAgreed),
        ));
        let m = Matter::fold("m", &both).unwrap();
        assert_eq!(m.status, MatterStatus::InProgress);
        assert_eq!(m.next, Some(Stage::PartyReview));
        assert_eq!(
            m.steps.iter().map(|s| s.applied).collect::<Vec<_>>(),
            vec![true, true, false]
        );
        // the other order: the meeting that did not agree stops the matter
        both.swap(2, 3);
        let m = Matter::fold("m", &both).unwrap();
        assert_eq!(m.status, MatterStatus::Stopped);
        assert_eq!(m.next, None);
    }

    #[test]
    fn a_disclosure_names_its_notice_and_attendance_adds_up() {
        let mut s = match step(Stage::DecisionDisclosure, Outcome::Agreed) {
            MatterEvent::Step { step } => step,
            _ => unreachable!(),
        };
        s.notice = None;
        let e = validate_event(&MatterEvent::Step { step: s.clone() }).unwrap_err();
        assert!(e.to_string().contains("notice"), "{e}");
        s.notice = Some("0123456789abcdef0123456789abcdef".into());
        s.attendance = Some(Attendance {
            present: 31,
            expected: 30,
        });
        let e = validate_event(&MatterEvent::Step { step: s }).unwrap_err();
        assert!(e.to_string().contains("does not add up"), "{e}");
        let e = validate_event(&step(Stage::Proposal, Outcome::NotAgreed)).unwrap_err();
        assert!(e.to_string().contains("not a meeting that decides"), "{e}");
    }
}
