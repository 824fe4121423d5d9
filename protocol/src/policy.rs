//! The permission policy: who may write what, and who may read what. This module is
//! the one place where those rules live. The relay runs `check_write` on every change
//! it receives; every device runs it on everything it receives from the relay or from
//! a bundle, and on its own operations before it stores them. The closest model is
//! Couchbase Sync Gateway's sync function, applied to CRDT changes.
//!
//! A change is judged by what it does to the document: the policy compares the
//! document before and after the change. The events already there must stay exactly
//! as they were; the change may only append events, each authored by the member whose
//! device signed the change, and each allowed for that member's role and for the state
//! the entity is in.

use crate::doc::{parse_events, EntityDoc};
use crate::error::{Error, Result};
use crate::ids::derived_id;
use crate::model::branch::{self, Activity, ActivityEvent, SignInMode};
use crate::model::deliberation::{
    ballot_id, hall_ballot_id, validate_create, BallotEvent, Deliberation, DeliberationEvent,
};
use crate::model::matter::{self, Matter, MatterEvent};
use crate::model::notice::{Category, Notice, NoticeEvent};
use crate::model::proposal::{validate_propose, Proposal, ProposalEvent};
use crate::model::register::{register_id, Register, RegisterEvent};
use crate::model::request::{
    actor_may_transition, validate_event, NotesEvent, RequestEvent, ServiceRequest,
};
use crate::model::{check_text, EntityKind, Event};
use crate::roster::{Member, Role, Roster};
use automerge::Change;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most heads a register snapshot may name (a register edited by a few cadres offline
/// has a few; each is looked up and the register rebuilt at them).
pub const MAX_REGISTER_HEADS: usize = 8;

/// How far in the future a signed event time may be, against the relay clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;

/// Other entities a rule needs to see (a ballot needs its deliberation).
pub trait Lookup {
    fn deliberation(&self, id: &str) -> Option<Deliberation>;
    /// The latest signed cast time among the ballots held for a deliberation.
    fn latest_ballot_at(&self, _deliberation: &str) -> Option<i64> {
        None
    }
    /// Whether the relay has published the final tally of a deliberation (the vote
    /// and its grace period are over: no ballot can count any more).
    fn vote_final(&self, _deliberation: &str) -> bool {
        false
    }
    /// The space's register as this replica holds it (`at = None`), or as it was at the
    /// given heads (hex change hashes; `None` when this replica lacks one of them). The
    /// relay always holds it; phones of cadres and township officials do.
    fn register(&self, _at: Option<&[String]>) -> Option<Register> {
        None
    }
}

impl Lookup for () {
    fn deliberation(&self, _: &str) -> Option<Deliberation> {
        None
    }
}

pub struct Context<'a> {
    pub roster: &'a Roster,
    /// The request kinds this space offers.
    pub kinds: &'a [String],
    /// Set on the relay: the time the change arrived (relay clock). Time rules that
    /// depend on arrival (late ballots, clock skew) and the exact eligibility snapshot
    /// are enforced there; devices judge by signed times only, so that every device
    /// reaches the same verdict whenever it receives the change.
    pub arrival: Option<i64>,
    /// On the relay: the newest roster version it has delivered to the signing device.
    /// An eligibility snapshot taken from an older roster is refused.
    pub roster_floor: Option<u64>,
    pub lookup: &'a dyn Lookup,
}

fn deny<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::NotAllowed(msg.into()))
}

/// Judge one automerge change by `signer` to the entity document `doc` (empty for a
/// new entity), for entity `entity`. Every path that takes a change — a local
/// operation, a merge on a phone, the relay — comes through here. Returns the
/// document with the change applied; `doc` is left as it was when the change is refused.
///
/// In this order, so that hostile input costs little:
/// 1. **Shape and budgets, on the operations, before anything is applied**
///    (`doc::inspect_change`): bytes, operations, nesting, string length, one event per
///    change, nothing overwritten or deleted, the root written only by the creation.
/// 2. **The id is bound to its kind**: a derived id (a member's ballot, a request's
///    internal notes; `ids::is_derived`) holds only the document its derivation names,
///    checked in `check_ballot` / `check_notes`; a notice, request or deliberation may
///    not be created under a derived id.
/// 3. **Judged as its author saw the document**: the rules of `check_write`, those that
///    depend on the entity's state included ("edits only while open"), are applied to
///    the document at the change's own dependencies, never to whatever this replica
///    happens to hold besides. Every replica therefore reaches the same verdict in
///    whatever order changes arrive. Where the merged order puts an event after a state
///    in which it no longer applies, the fold records it as not applied (a superseded
///    transition, an edit after closing), the same way everywhere.
pub fn check_change(
    ctx: &Context,
    signer: &Member,
    doc: &EntityDoc,
    entity: &str,
    change: &Change,
) -> Result<EntityDoc> {
    crate::doc::inspect_change(doc, change)?;
    let existing = doc.header().is_some();
    check_chain(doc, change)?;
    let mut after = EntityDoc {
        doc: doc.doc.clone(),
    };
    after
        .apply(vec![change.clone()])
        .map_err(|e| Error::NotAllowed(format!("the change does not apply: {e}")))?;
    let Some((kind, id)) = after.header() else {
        return deny("the change does not produce a valid entity document");
    };
    if id != entity {
        return deny(format!(
            "document id {id} does not match the entity {entity} it was sent for"
        ));
    }
    if !existing
        && crate::ids::is_derived(&id)
        && !matches!(
            kind,
            EntityKind::Ballot | EntityKind::RequestNotes | EntityKind::Register
        )
    {
        return deny(format!(
            "the id {id} is reserved for a document others can derive (a ballot or internal notes); a {} needs a random id",
            kind.as_str()
        ));
    }
    // the document as the author saw it, and with the change
    // (dependencies and heads compared as sets: their order carries no meaning)
    let concurrent = existing && {
        let (mut deps, mut heads) = (change.deps().to_vec(), doc.heads());
        deps.sort();
        heads.sort();
        deps != heads
    };
    let (seen, with_change) = if concurrent {
        let missing = doc.missing_deps(change);
        if let Some(d) = missing.first() {
            return deny(format!("unknown dependencies: {d}"));
        }
        after.author_view(&doc.doc.get_changes(change.deps()), change)
    } else if existing {
        (doc.to_json(), after.to_json())
    } else {
        (Value::Null, after.to_json())
    };
    let seen_events = events_of(&seen);
    let now_events = events_of(&with_change);
    if now_events.len() < seen_events.len() || now_events[..seen_events.len()] != seen_events[..] {
        return deny("events may only be appended after those the author had seen");
    }
    check_write(ctx, signer, &seen, &with_change)?;
    Ok(after)
}

/// What the policy says of a change that came from elsewhere (the relay, a bundle, a
/// phone's upload): taken, not judgeable yet, or refused. Waiting is a verdict, not an
/// error: a change whose dependencies or whose referenced entity have not arrived is
/// parked on a phone (the relay refuses it: devices send in order).
pub enum Verdict {
    /// Accepted: the document with the change applied.
    Accept(Box<EntityDoc>),
    /// Cannot be judged until these arrive.
    Park(Vec<Missing>),
    /// Refused, with the reason.
    Refuse(Error),
}

/// What a parked change waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A change of the same document that this one builds on.
    Change(automerge::ChangeHash),
    /// Another entity a rule needs (a ballot's deliberation).
    Entity(String),
}

/// Judge a change from elsewhere: its dependencies first (all present, or it waits),
/// then `check_change`; a rule that needs an entity this replica does not hold (a
/// ballot whose deliberation has not arrived) makes it wait for that entity.
pub fn judge(
    ctx: &Context,
    signer: &Member,
    doc: &EntityDoc,
    entity: &str,
    change: &Change,
) -> Verdict {
    let missing = doc.missing_deps(change);
    if !missing.is_empty() {
        return Verdict::Park(missing.into_iter().map(Missing::Change).collect());
    }
    match check_change(ctx, signer, doc, entity, change) {
        Ok(after) => Verdict::Accept(Box::new(after)),
        Err(Error::NotFound(what)) => {
            let needs = entities_needed(ctx, doc, change);
            if needs.is_empty() {
                Verdict::Refuse(Error::NotAllowed(format!(
                    "refers to something not held here: {what}"
                )))
            } else {
                Verdict::Park(needs.into_iter().map(Missing::Entity).collect())
            }
        }
        Err(e) => Verdict::Refuse(e),
    }
}

/// The deliberations the events of `change` name that `ctx.lookup` does not hold.
fn entities_needed(ctx: &Context, doc: &EntityDoc, change: &Change) -> Vec<String> {
    let mut fork = doc.fork();
    if fork.apply(vec![change.clone()]).is_err() {
        return vec![];
    }
    let mut out: Vec<String> = fork
        .events_json()
        .iter()
        .filter_map(|e| {
            e.get("deliberation")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .filter(|d| ctx.lookup.deliberation(d).is_none())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A device's changes to one document form a chain: each has the next sequence number
/// and the device's previous change in its history (automerge assumes it; a change that
/// breaks it — a second change with one sequence number, or one leaving the previous
/// out of its history — makes documents load and fork differently on different
/// replicas). An honest device always extends its chain; anything else is refused.
fn check_chain(doc: &EntityDoc, change: &Change) -> Result<()> {
    let actor = change.actor_id();
    let outside: std::collections::HashSet<automerge::ChangeHash> = doc
        .doc
        .get_changes(change.deps())
        .iter()
        .map(|c| c.hash())
        .collect();
    let mut last = 0;
    for c in doc.doc.get_changes(&[]) {
        if c.actor_id() == actor {
            if outside.contains(&c.hash()) {
                return deny("a change must have its device's earlier changes to the document in its history");
            }
            last = last.max(c.seq());
        }
    }
    if change.seq() != last + 1 {
        return deny(format!(
            "the change is its device's change number {} to this document; {} was expected",
            change.seq(),
            last + 1
        ));
    }
    Ok(())
}

/// Judge one change by `signer` that turns the document `before` (JSON; `Null` for a
/// new document) into `after`: both as the change's author saw the document (see
/// `check_change`).
pub fn check_write(ctx: &Context, signer: &Member, before: &Value, after: &Value) -> Result<()> {
    // Revocation is judged by `Roster::signer` at the change's log position: what a
    // member did before being revoked stays valid on every phone, new ones included.
    let (kind, id) = header(after)?;
    if let Some(obj) = after.as_object() {
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "kind" | "id" | "events"))
        {
            return deny(format!("a change may not add the root field {k:?}"));
        }
    }
    let before_events: Vec<Value> = if before.is_null() {
        vec![]
    } else {
        let (bk, bid) = header(before)?;
        if bk != kind || bid != id {
            return deny("a change may not alter a document's kind or id");
        }
        events_of(before)
    };
    let after_events = events_of(after);
    // by position, never by event id: two events may carry the same id (a tampered app
    // can append one concurrently with another), and keying by id would then refuse
    // every later change to the document
    let n = before_events.len();
    if after_events.len() < n {
        return deny("a change may not delete an event already recorded");
    }
    if after_events[..n] != before_events[..] {
        return deny("a change may not edit an event already recorded");
    }
    let new: Vec<Value> = after_events[n..].to_vec();
    if new.is_empty() {
        return deny("the change adds no event");
    }
    for e in &new {
        let by = e.get("by").and_then(Value::as_str).unwrap_or("");
        if by != signer.id {
            return deny(format!(
                "an event must be authored by the member who signed it ({}), not {by:?}",
                signer.name
            ));
        }
        let at = e
            .get("at")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::NotAllowed("event without a time".into()))?;
        if let Some(now) = ctx.arrival {
            if at > now + MAX_CLOCK_SKEW_MS {
                return deny("event time is in the future");
            }
        }
    }
    match kind {
        EntityKind::Notice => check_notice(ctx, signer, &id, before_events, new)?,
        EntityKind::Request => check_request(ctx, signer, &id, before_events, new)?,
        EntityKind::RequestNotes => check_notes(signer, &id, before_events.is_empty(), new)?,
        EntityKind::Deliberation => check_deliberation(ctx, signer, &id, before_events, new)?,
        EntityKind::Ballot => check_ballot(ctx, signer, &id, before_events, new)?,
        EntityKind::Register => check_register(ctx, signer, &id, before_events, new)?,
        EntityKind::Proposal => check_proposal(signer, &id, before_events, new)?,
        EntityKind::Matter => check_matter(signer, &id, before_events, new)?,
        EntityKind::PartyActivity => check_party_activity(ctx, signer, &id, before_events, new)?,
    }
    // whatever the merge order, the whole document must still fold
    let all = events_of(after);
    match kind {
        EntityKind::Notice => Notice::fold(&id, &typed(all)?).map(|_| ()),
        EntityKind::Request => ServiceRequest::fold(&id, &typed(all)?).map(|_| ()),
        EntityKind::Deliberation => Deliberation::fold(&id, &typed(all)?).map(|_| ()),
        EntityKind::RequestNotes => typed::<NotesEvent>(all).map(|_| ()),
        EntityKind::Ballot => typed::<BallotEvent>(all).map(|_| ()),
        EntityKind::Register => typed::<RegisterEvent>(all).map(|_| ()),
        EntityKind::Proposal => Proposal::fold(&id, &typed(all)?).map(|_| ()),
        EntityKind::Matter => Matter::fold(&id, &typed(all)?).map(|_| ()),
        EntityKind::PartyActivity => {
            let all: Vec<Event<ActivityEvent>> = typed(all)?;
            if all.len() > branch::MAX_RECORDS + 1 {
                return deny(format!(
                    "an activity holds at most {} records",
                    branch::MAX_RECORDS
                ));
            }
            Activity::fold(&id, &all).map(|_| ())
        }
    }
    .map_err(|e| Error::NotAllowed(format!("the document would no longer be valid: {e}")))
}

fn header(v: &Value) -> Result<(EntityKind, String)> {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::NotAllowed("document has no kind".into()))?;
    let kind = EntityKind::parse(kind).map_err(|e| Error::NotAllowed(e.to_string()))?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::NotAllowed("document has no id".into()))?;
    if !crate::ids::is_id(id) {
        return deny(format!("document id {id:?} is not 32 hex characters"));
    }
    Ok((kind, id.to_string()))
}

fn events_of(v: &Value) -> Vec<Value> {
    v.get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn typed<B: serde::de::DeserializeOwned>(events: Vec<Value>) -> Result<Vec<Event<B>>> {
    parse_events(events).map_err(|e| Error::NotAllowed(format!("unrecognised event: {e}")))
}

fn is_cadre(m: &Member) -> bool {
    m.role == Role::Cadre
}

/// As its author saw the notice: only a draft is edited or published, only a published
/// notice corrected (a tampered app publishing a withdrawn draft would open its text to
/// everyone; `audience` counts any publication).
fn applicable(n: &Notice, e: &NoticeEvent) -> Result<()> {
    n.check_applicable(e)
        .map_err(|why| Error::NotAllowed(why.to_string()))
}

fn check_notice(
    ctx: &Context,
    signer: &Member,
    id: &str,
    before: Vec<Value>,
    new: Vec<Value>,
) -> Result<()> {
    let mut events: Vec<Event<NoticeEvent>> = typed(before)?;
    for e in typed::<NoticeEvent>(new)? {
        let state = if events.is_empty() {
            None
        } else {
            Some(Notice::fold(id, &events)?)
        };
        if let Some(n) = &state {
            n.check_dated(&e)?;
        }
        match (&e.body, &state) {
            (
                NoticeEvent::Create {
                    category,
                    content,
                    period,
                    ..
                },
                None,
            ) => {
                if !is_cadre(signer) {
                    return deny("only cadres publish notices");
                }
                content.validate_in(*category, period)?;
                if let NoticeEvent::Create {
                    category: Category::Finance,
                    publish: true,
                    ..
                } = &e.body
                {
                    if sign_off_required(ctx) == Some(true) {
                        return deny("a finance disclosure is published only after the supervision committee signs it off: save it as a draft, have a committee member review it, then publish");
                    }
                }
            }
            (NoticeEvent::Create { .. }, Some(_)) => return deny("the notice already exists"),
            (_, None) => return deny("a notice must start with a create event"),
            (
                NoticeEvent::EditDraft { content } | NoticeEvent::Correct { content, .. },
                Some(n),
            ) => {
                if !is_cadre(signer) {
                    return deny("only cadres edit or correct notices");
                }
                applicable(n, &e.body)?;
                content.validate_in(n.category, &n.period)?;
            }
            (NoticeEvent::Publish {} | NoticeEvent::Withdraw { .. }, Some(n)) => {
                if !is_cadre(signer) {
                    return deny("only cadres publish or withdraw notices");
                }
                if matches!(e.body, NoticeEvent::Publish {}) {
                    applicable(n, &e.body)?;
                    if n.category == Category::Finance
                        && n.reviewed_by.is_empty()
                        && sign_off_required(ctx) == Some(true)
                    {
                        return deny("a finance disclosure is published only after a member of the supervision committee signs off the draft as it stands (cunwu notice review)");
                    }
                }
            }
            (NoticeEvent::Review { note }, Some(n)) => {
                check_text("note", note, false)?;
                applicable(n, &e.body)?;
                if n.category != Category::Finance {
                    return deny("the supervision committee signs off finance disclosures only");
                }
                if is_supervisor(ctx, signer) == Some(false) {
                    return deny(format!(
                        "only a member of the supervision committee (村务监督委员会, the register's supervisor flag of the person a member is linked to) may sign off a finance disclosure; {} is not one",
                        signer.name
                    ));
                }
            }
            (NoticeEvent::Ask { text }, Some(_)) => check_text("question", text, true)?,
            (NoticeEvent::Answer { text, .. }, Some(_)) => {
                if !is_cadre(signer) {
                    return deny("only cadres answer questions on notices");
                }
                check_text("answer", text, true)?;
            }
            (NoticeEvent::Read { .. }, Some(_)) => {}
            (
                NoticeEvent::Attach {
                    attachments, to, ..
                },
                Some(n),
            ) => {
                check_attach(attachments)?;
                applicable(n, &e.body)?;
                let asker = to
                    .as_ref()
                    .and_then(|q| n.questions.iter().find(|x| &x.id == q))
                    .is_some_and(|q| q.by == signer.id);
                if !is_cadre(signer) && !asker {
                    return deny("only cadres attach files to a notice; a member attaches them to a question they asked");
                }
            }
        }
        events.push(e);
    }
    Ok(())
}

/// An attach event carries one to `attachment::MAX_PER_EVENT` valid references.
fn check_attach(list: &[crate::model::attachment::Attachment]) -> Result<()> {
    if list.is_empty() {
        return deny("an attach event carries at least one attachment");
    }
    crate::model::attachment::check_all(list)
}

/// Whether publishing a finance disclosure waits for a sign-off by the supervision
/// committee: when the register names an active committee member (`supervisor`) whom a
/// member of the space is linked to, so the committee can sign off in the app. A space
/// whose register names no such person (no register at all, a committee without phones)
/// publishes as before, in one step too; the committee then reviews on paper.
/// `None` where this replica cannot say: a phone that does not hold the register (a
/// resident's) takes what the relay, which always holds it, accepted.
pub fn sign_off_required(ctx: &Context) -> Option<bool> {
    match ctx.lookup.register(None) {
        Some(reg) => {
            Some(reg.active().any(|p| {
                p.details.supervisor && ctx.roster.members_of_person(&p.id).next().is_some()
            }))
        }
        None if ctx.arrival.is_some() => Some(false),
        None => None,
    }
}

/// Whether `m` sits on the supervision committee: the person it is linked to
/// (`Member::person`) is an active person with the register's `supervisor` flag, and
/// the member is not a cadre (the Organic Law keeps the villagers' committee off the
/// committee that supervises it). `None` where this replica does not hold the register.
pub fn is_supervisor(ctx: &Context, m: &Member) -> Option<bool> {
    let reg = match ctx.lookup.register(None) {
        Some(r) => r,
        None if ctx.arrival.is_some() => return Some(false),
        None => return None,
    };
    Some(on_committee(Some(&reg), m))
}

/// The supervision committee rule on a register this replica holds.
fn on_committee(reg: Option<&Register>, m: &Member) -> bool {
    !is_cadre(m)
        && reg
            .zip(m.person.as_deref())
            .and_then(|(r, p)| r.person(p))
            .is_some_and(|p| p.active() && p.details.supervisor)
}

fn check_request(
    ctx: &Context,
    signer: &Member,
    id: &str,
    before: Vec<Value>,
    new: Vec<Value>,
) -> Result<()> {
    let mut events: Vec<Event<RequestEvent>> = typed(before)?;
    for e in typed::<RequestEvent>(new)? {
        validate_event(&e.body, ctx.kinds)?;
        if events.is_empty() {
            let RequestEvent::File { filer, .. } = &e.body else {
                return deny("a request must start with a file event");
            };
            if *filer != signer.id && !signer.role.is_staff() {
                return deny("only cadres may file a request on someone else's behalf");
            }
            if ctx.roster.member(filer).is_none() {
                return deny(format!("the filer {filer} is not a member of this space"));
            }
        } else {
            let r = ServiceRequest::fold(id, &events)?;
            r.check_dated(&e)?;
            // the filer, or the cadre who filed on the filer's behalf
            let is_filer = r.acts_for_filer(&signer.id);
            let staff = signer.role.is_staff();
            let ok = match &e.body {
                RequestEvent::File { .. } => return deny("the request already exists"),
                RequestEvent::Transition { to, .. } => {
                    if !actor_may_transition(*to, is_filer, signer.role) {
                        return deny(format!(
                            "a {} {} may not move a request to {}",
                            signer.role.as_str(),
                            if is_filer {
                                "(the filer)"
                            } else {
                                "who is not the filer"
                            },
                            to.as_str()
                        ));
                    }
                    true
                }
                RequestEvent::EditDescription { .. } => is_filer && r.status.is_open(),
                RequestEvent::Rate { .. } => is_filer,
                RequestEvent::Comment { .. } => is_filer || staff,
                RequestEvent::Attach { to, .. } => {
                    if let Some(c) = to {
                        if !r.comments.iter().any(|x| &x.id == c) {
                            return deny(format!(
                                "attachments are added to a comment of this request; {c} is not one"
                            ));
                        }
                    }
                    is_filer || staff
                }
                RequestEvent::Assign { assignee } => {
                    if staff {
                        may_be_assigned(ctx.roster, &r, assignee)?;
                    }
                    staff
                }
                RequestEvent::ExpectBy { .. } | RequestEvent::Materials { .. } => staff,
            };
            if !ok {
                return deny(format!(
                    "a {} may not do that to this request",
                    signer.role.as_str()
                ));
            }
        }
        events.push(e);
    }
    Ok(())
}

/// A request is assigned only to a member who may read it (`may_read` of its
/// audience) and does casework (staff). Revocation is left out: a phone judges old
/// changes against today's roster, and an assignment made before the assignee left
/// stays valid everywhere (the phone's action layer refuses a revoked assignee).
pub fn may_be_assigned(roster: &Roster, r: &ServiceRequest, assignee: &str) -> Result<()> {
    let Some(m) = roster.member(assignee) else {
        return deny(format!(
            "the assignee {assignee} is not a member of this space"
        ));
    };
    let audience = Audience::Request {
        filer: r.filer.clone(),
        filed_by: r.filed_by.clone(),
    };
    let unrevoked = Member {
        revoked: false,
        ..m.clone()
    };
    if !m.role.is_staff() || !may_read(&audience, &unrevoked) {
        return deny(format!(
            "{} is a {} and may not read this request's casework; assign it to a cadre or township official",
            m.name,
            m.role.as_str()
        ));
    }
    Ok(())
}

pub fn notes_id(request: &str) -> String {
    derived_id(&["request_notes", request])
}

fn check_notes(signer: &Member, id: &str, is_new: bool, new: Vec<Value>) -> Result<()> {
    may_write_notes(signer)?;
    for (i, e) in typed::<NotesEvent>(new)?.into_iter().enumerate() {
        match (&e.body, is_new && i == 0) {
            (NotesEvent::Open { request }, true) => {
                if notes_id(request) != id {
                    return deny("internal notes document id does not match its request");
                }
            }
            (NotesEvent::Note { text }, false) => check_text("note", text, true)?,
            _ => return deny("internal notes start with one open event followed by notes"),
        }
    }
    Ok(())
}

fn check_deliberation(
    ctx: &Context,
    signer: &Member,
    id: &str,
    before: Vec<Value>,
    new: Vec<Value>,
) -> Result<()> {
    let mut events: Vec<Event<DeliberationEvent>> = typed(before)?;
    for e in typed::<DeliberationEvent>(new)? {
        let state = if events.is_empty() {
            None
        } else {
            Some(Deliberation::fold(id, &events)?)
        };
        match (&e.body, &state) {
            (DeliberationEvent::Create { .. }, None) => {
                if !is_cadre(signer) {
                    return deny("only cadres open deliberations");
                }
                validate_create(&e.body)?;
            }
            (DeliberationEvent::Create { .. }, Some(_)) => {
                return deny("the deliberation already exists")
            }
            (_, None) => return deny("a deliberation must start with a create event"),
            (DeliberationEvent::Tellers { persons }, Some(d)) => {
                if !is_cadre(signer) {
                    return deny("only cadres name the tellers of a vote");
                }
                d.check_applicable(&e.body, e.at)
                    .map_err(|why| Error::NotAllowed(why.to_string()))?;
                if persons.len() > crate::model::MAX_OPTIONS {
                    return deny(format!("at most {} tellers", crate::model::MAX_OPTIONS));
                }
                if let Some(r) = ctx.lookup.register(None) {
                    if let Some(p) = persons.iter().find(|p| r.person(p).is_none()) {
                        return deny(format!("the teller {p} is not on the register"));
                    }
                }
            }
            (
                DeliberationEvent::Open {
                    eligible,
                    roster_version,
                    persons,
                    member_persons,
                    register_heads,
                },
                Some(d),
            ) => {
                if !is_cadre(signer) {
                    return deny("only cadres open voting");
                }
                // on the relay, voting opens once: a second opening dated or built beside
                // the first (its author's view without it) would swap the electorate
                // under ballots already accepted
                if ctx.arrival.is_some()
                    && ctx
                        .lookup
                        .deliberation(id)
                        .is_some_and(|held| held.opened_at.is_some())
                {
                    return deny("voting on this deliberation is already open");
                }
                if !register_heads.is_empty() || !persons.is_empty() || !member_persons.is_empty() {
                    check_register_snapshot(
                        ctx,
                        d,
                        e.at,
                        eligible,
                        *roster_version,
                        persons,
                        member_persons,
                        register_heads,
                    )?;
                } else if ctx.arrival.is_some()
                    && d.deciding_body != crate::model::deliberation::DecidingBody::ConsultationOnly
                    && ctx
                        .lookup
                        .register(None)
                        .is_some_and(|r| r.active().next().is_some())
                {
                    return deny("this space keeps a register of villagers: a vote's electorate is taken from it, not from the enrolled phones; sync the register and open voting again");
                } else if ctx.arrival.is_some() {
                    if *roster_version > ctx.roster.version {
                        return deny(format!("the snapshot claims roster version {roster_version}, which the relay never issued"));
                    }
                    if ctx.roster_floor.is_some_and(|f| *roster_version < f) {
                        return deny("the eligibility snapshot was taken from an older roster than this device already holds; sync and open voting again");
                    }
                    // The snapshot was taken offline from the roster version the cadre's
                    // phone held: it must name no one the deciding body excludes, and leave
                    // out no eligible member that roster version already listed.
                    let expected = d.deciding_body.eligible(ctx.roster, d.group.as_deref());
                    if let Some(m) = eligible.iter().find(|m| {
                        !expected.contains(m) && !ctx.roster.member(m).is_some_and(|x| x.revoked)
                    }) {
                        return deny(format!("the eligibility snapshot names {m}, who is not eligible for this deciding body"));
                    }
                    if let Some(m) = expected.iter().find(|m| {
                        !eligible.contains(m)
                            && ctx
                                .roster
                                .member(m)
                                .is_some_and(|x| x.joined_version <= *roster_version)
                    }) {
                        return deny(format!(
                            "the eligibility snapshot leaves out the eligible member {m}"
                        ));
                    }
                } else if let Some(m) = eligible.iter().find(|m| ctx.roster.member(m).is_none()) {
                    return deny(format!(
                        "eligibility snapshot names {m}, who is not a member"
                    ));
                }
            }
            (DeliberationEvent::Close {}, Some(_)) => {
                if !is_cadre(signer) {
                    return deny("only cadres close deliberations");
                }
                // A close takes effect at its signed time (a cadre may close a meeting
                // offline); but a close dated before ballots the relay already accepted
                // would void them, so the relay refuses it.
                if ctx.arrival.is_some()
                    && ctx.lookup.latest_ballot_at(id).is_some_and(|b| e.at <= b)
                {
                    return deny(
                        "a close cannot be dated before ballots already cast; sync and close again",
                    );
                }
            }
            (DeliberationEvent::Comment { text }, Some(_)) => check_text("comment", text, true)?,
            (DeliberationEvent::Attach { attachments, to }, Some(d)) => {
                check_attach(attachments)?;
                let own_comment = match to {
                    None => false,
                    Some(c) => match d.comments.iter().find(|x| &x.id == c) {
                        Some(x) => x.by == signer.id,
                        None => {
                            return deny(format!(
                                "attachments are added to a comment of this deliberation; {c} is not one"
                            ))
                        }
                    },
                };
                if !is_cadre(signer) && !own_comment {
                    return deny("only cadres attach documents to a deliberation; a member attaches them to a comment they wrote");
                }
            }
        }
        events.push(e);
    }
    Ok(())
}

/// 四议两公开: cadres record a matter and its steps, each step the next one as the
/// cadre saw the matter (`Matter::check_step`, the model's order).
fn check_matter(signer: &Member, id: &str, before: Vec<Value>, new: Vec<Value>) -> Result<()> {
    let mut events: Vec<Event<MatterEvent>> = typed(before)?;
    for e in typed::<MatterEvent>(new)? {
        if !is_cadre(signer) {
            return deny("only cadres record major matters and their steps (四议两公开)");
        }
        matter::validate_event(&e.body)?;
        match (&e.body, events.is_empty()) {
            (MatterEvent::Create { .. }, true) => {}
            (MatterEvent::Create { .. }, false) => return deny("the matter already exists"),
            (MatterEvent::Step { .. }, true) => {
                return deny("a matter must start with a create event")
            }
            (MatterEvent::Step { step }, false) => {
                Matter::fold(id, &events)?
                    .check_step(step, e.at)
                    .map_err(|why| Error::NotAllowed(why.to_string()))?;
            }
        }
        events.push(e);
    }
    Ok(())
}

/// A member of the party branch, as the roster says (the invite's flag or the role).
pub fn is_party_member(m: &Member) -> bool {
    m.party || m.role == Role::PartyMember
}

/// The party branch's activities: cadres (the branch secretary and committee) create
/// them, record sign-ins in the hall, absences and minutes; a party member signs in
/// remotely for themselves only (the person their member is linked to, online).
fn check_party_activity(
    ctx: &Context,
    signer: &Member,
    _id: &str,
    before: Vec<Value>,
    new: Vec<Value>,
) -> Result<()> {
    let mut events: Vec<Event<ActivityEvent>> = typed(before)?;
    for e in typed::<ActivityEvent>(new)? {
        branch::validate_event(&e.body)?;
        if events.is_empty() != matches!(e.body, ActivityEvent::Create { .. }) {
            return deny(if events.is_empty() {
                "an activity must start with a create event"
            } else {
                "the activity already exists"
            });
        }
        match &e.body {
            ActivityEvent::SignIn { person, mode } if !is_cadre(signer) => {
                if !is_party_member(signer) {
                    return deny(format!(
                        "only party members sign in to the branch's activities; {} is not one",
                        signer.name
                    ));
                }
                if linked_person(signer) != Some(person.as_str()) {
                    return deny(format!(
                        "{} may sign in only for themselves (the register person their member is linked to), not for {person}",
                        signer.name
                    ));
                }
                if *mode != SignInMode::Online {
                    return deny("a member signing in on their own phone attends online; in-person sign-ins are recorded by the secretary");
                }
            }
            _ if !is_cadre(signer) => {
                return deny(
                    "only cadres create activities and record absences and minutes for the party branch",
                )
            }
            // the secretary records a person of the branch: where this replica holds
            // the register (the relay always, cadres' phones), a party member on it
            ActivityEvent::SignIn { person, .. } | ActivityEvent::Absent { person, .. } => {
                if let Some(r) = ctx.lookup.register(None) {
                    match r.person(person) {
                        None => {
                            return deny(format!(
                                "{person} is not a person on the village register"
                            ))
                        }
                        Some(p) if !p.details.party => {
                            return deny(format!(
                                "{} is not a party member on the register",
                                p.details.name
                            ))
                        }
                        Some(_) => {}
                    }
                }
            }
            _ => {}
        }
        events.push(e);
    }
    Ok(())
}

/// The register person a member is (`None` when the member is linked to no one).
fn linked_person(m: &Member) -> Option<&str> {
    m.person.as_deref()
}

fn check_ballot(
    ctx: &Context,
    signer: &Member,
    id: &str,
    before: Vec<Value>,
    new: Vec<Value>,
) -> Result<()> {
    let mut seen: Vec<Event<BallotEvent>> = typed(before)?;
    for e in typed::<BallotEvent>(new)? {
        if let Some(person) = e.body.person() {
            check_hall_record(ctx, signer, id, &seen, &e, person)?;
            seen.push(e);
            continue;
        }
        let BallotEvent::Cast {
            deliberation,
            option,
        } = &e.body
        else {
            unreachable!("only a member's own cast names no person")
        };
        // the id binds the ballot to its deliberation and voter: judged before anything
        // else, so a ballot under someone else's id is refused at once, never parked
        if ballot_id(deliberation, &signer.id) != id {
            return deny(
                "a member may only cast their own ballot (ballot id does not belong to the signer)",
            );
        }
        let Some(d) = ctx.lookup.deliberation(deliberation) else {
            // On a device this parks the ballot until its deliberation arrives.
            return Err(Error::NotFound(format!(
                "deliberation {deliberation} of this ballot"
            )));
        };
        if ctx.arrival.is_none() && ctx.lookup.vote_final(&d.id) {
            return deny("the vote is over and the relay has published its final result");
        }
        check_option(&d, *option)?;
        // Eligibility and the voting window are enforced here on the relay, which sees
        // the deliberation in log order and knows when the ballot arrived. Devices do
        // not refuse on them (their view of the deliberation depends on arrival order);
        // the tally counts only eligible members' ballots cast inside the window, so an
        // ineligible or late ballot from a tampered phone changes no result anywhere.
        if let Some(now) = ctx.arrival {
            check_cast(&d, signer, *option, e.at)?;
            if d.result_final(now) {
                return deny("the ballot arrived after the grace period that follows the close");
            }
        }
        seen.push(e);
    }
    Ok(())
}

/// A teller's record of a person in the hall (`BallotEvent::Record` / `Attend`), in the
/// document of that person and vote (`hall_ballot_id`):
/// - the id binds the record to its deliberation and person (one document per person);
/// - the signer is a teller of the vote: a cadre, or a member linked to a person the
///   vote names as a teller (`DeliberationEvent::Tellers`);
/// - the vote is over the register, and the option exists;
/// - as the teller saw the document, no ballot was recorded for the person yet (a second
///   one is refused; two tellers recording the same person offline leave the first in
///   document order counted, `hall_voice`), and a person is recorded present once;
/// - on the relay, like an online ballot: the person is in the register snapshot, the
///   record is dated inside the voting window, and it arrives before the grace period
///   ends. Devices do not refuse on those (the tally counts only what passes them).
fn check_hall_record(
    ctx: &Context,
    signer: &Member,
    id: &str,
    seen: &[Event<BallotEvent>],
    e: &Event<BallotEvent>,
    person: &str,
) -> Result<()> {
    let deliberation = e.body.deliberation();
    if hall_ballot_id(deliberation, person, &signer.id) != id {
        return deny(
            "a hall record belongs in the document of its vote and person (the id does not match)",
        );
    }
    if let Some(first) = seen.first() {
        if first.body.deliberation() != deliberation || first.body.person() != Some(person) {
            return deny("a hall record document holds one person's records for one vote");
        }
    }
    let Some(d) = ctx.lookup.deliberation(deliberation) else {
        return Err(Error::NotFound(format!(
            "deliberation {deliberation} of this hall record"
        )));
    };
    if !d.is_teller(is_cadre(signer), signer.person.as_deref()) {
        return deny(format!(
            "{} is not a teller of this vote: only cadres and the persons named as tellers record ballots in the hall",
            signer.name
        ));
    }
    if !d.over_register() {
        return deny("this vote's electorate is the enrolled phones, not the register: ballots in the hall are recorded only in votes over the register");
    }
    match &e.body {
        BallotEvent::Record { option, .. } => {
            check_option(&d, *option)?;
            if seen
                .iter()
                .any(|x| matches!(x.body, BallotEvent::Record { .. }))
            {
                return deny("a ballot was already recorded in the hall for this person; a person's ballot counts once");
            }
        }
        BallotEvent::Attend { .. } => {
            if !seen.is_empty() {
                return deny("this person is already recorded as present");
            }
        }
        BallotEvent::Cast { .. } => unreachable!("a cast names no person"),
    }
    if let Some(now) = ctx.arrival {
        check_hall_cast(&d, person, e.at)?;
        if d.result_final(now) {
            return deny("the hall record arrived after the grace period that follows the close");
        }
    }
    Ok(())
}

/// Whether a hall record of `person` dated `at` counts in `d`: the person is in the
/// register snapshot and voting was open then. The relay applies
/// it on arrival (`check_hall_record`); a teller's phone applies it before signing,
/// like `check_cast` for an online ballot.
pub fn check_hall_cast(d: &Deliberation, person: &str, at: i64) -> Result<()> {
    if !d.person_may_vote(person) {
        return deny(format!(
            "the person {person} is not in this vote's register snapshot"
        ));
    }
    if !d.accepts_ballot_at(at) {
        return Err(Error::InvalidTransition(format!(
            "the hall record is dated when voting was not open (the deliberation is {})",
            d.phase(at).as_str()
        )));
    }
    Ok(())
}

/// The register snapshot of an `Open` event. Everywhere: its lists are well formed (one
/// person per member, no repeats, every member in the roster and linked to the person
/// the snapshot says). On the relay, exactly: the persons are those the deciding body
/// takes from the register at the heads the opener held (`DecidingBody::electorate`),
/// and every member linked to one of them that the opener's roster version listed is in.
#[allow(clippy::too_many_arguments)]
fn check_register_snapshot(
    ctx: &Context,
    d: &Deliberation,
    at: i64,
    eligible: &[String],
    roster_version: u64,
    persons: &[String],
    member_persons: &[String],
    register_heads: &[String],
) -> Result<()> {
    if register_heads.is_empty() || register_heads.len() > MAX_REGISTER_HEADS {
        return deny(format!(
            "a register snapshot names the register's heads (1 to {MAX_REGISTER_HEADS})"
        ));
    }
    if eligible.len() != member_persons.len() {
        return deny(
            "the snapshot names a person for each eligible member; the lists differ in length",
        );
    }
    let unique: std::collections::BTreeSet<&String> = persons.iter().collect();
    if unique.len() != persons.len() {
        return deny("the register snapshot names a person twice");
    }
    for (m, p) in eligible.iter().zip(member_persons) {
        if !unique.contains(p) {
            return deny(format!(
                "the snapshot links member {m} to {p}, who is not among its persons"
            ));
        }
        match ctx.roster.member(m) {
            Some(x) if x.person.as_deref() == Some(p.as_str()) => {}
            Some(_) => {
                return deny(format!(
                    "the snapshot links member {m} to person {p}; the roster does not"
                ))
            }
            None => return deny(format!("the snapshot names {m}, who is not a member")),
        }
    }
    if ctx.arrival.is_none() {
        return Ok(());
    }
    if roster_version > ctx.roster.version {
        return deny(format!(
            "the snapshot claims roster version {roster_version}, which the relay never issued"
        ));
    }
    if ctx.roster_floor.is_some_and(|f| roster_version < f) {
        return deny("the eligibility snapshot was taken from an older roster than this device already holds; sync and open voting again");
    }
    let Some(register) = ctx.lookup.register(Some(register_heads)) else {
        return deny("the snapshot was taken from a state of the register this relay does not hold; sync the register, then open voting again");
    };
    let expected = d
        .deciding_body
        .electorate(&register, d.group.as_deref(), at);
    if let Some(p) = persons.iter().find(|p| !expected.contains(p)) {
        return deny(format!(
            "the register snapshot names {p}, who is not eligible for this deciding body"
        ));
    }
    if let Some(p) = expected.iter().find(|p| !unique.contains(p)) {
        return deny(format!(
            "the register snapshot leaves out the eligible person {p}"
        ));
    }
    for p in persons {
        if let Some(m) = ctx
            .roster
            .members_of_person(p)
            .find(|m| m.joined_version <= roster_version && !eligible.contains(&m.id))
        {
            return deny(format!(
                "the snapshot leaves out member {}, linked to the eligible person {p}",
                m.id
            ));
        }
    }
    Ok(())
}

/// A villagers' proposal (`model::proposal`): made by a member who is a person on the
/// register (not a township official), co-signed once per person by the member linked to
/// that person, withdrawn by its proposer, taken up by a cadre — each as its author saw
/// the proposal (`Proposal::check_applicable`).
fn check_proposal(signer: &Member, id: &str, before: Vec<Value>, new: Vec<Value>) -> Result<()> {
    let mut events: Vec<Event<ProposalEvent>> = typed(before)?;
    for e in typed::<ProposalEvent>(new)? {
        if events.is_empty() {
            let ProposalEvent::Propose { person, .. } = &e.body else {
                return deny("a proposal must start with a propose event");
            };
            validate_propose(&e.body)?;
            if signer.role == Role::Township || signer.person.as_deref() != Some(person.as_str()) {
                return deny("a proposal is made by a villager on the register: the proposer must be the person their phone is linked to");
            }
        } else {
            let p = Proposal::fold(id, &events)?;
            if matches!(e.body, ProposalEvent::TakeUp { .. }) && !is_cadre(signer) {
                return deny("only cadres take up a proposal and call the meeting");
            }
            if let ProposalEvent::TakeUp { note, .. } = &e.body {
                check_text("note", note, false)?;
            }
            p.check_applicable(&e.body, &signer.id, signer.person.as_deref())
                .map_err(|why| Error::NotAllowed(why.to_string()))?;
        }
        events.push(e);
    }
    Ok(())
}

/// The register (`model::register`): one per space, at the id derived from it; only
/// cadres write it; each event applies to the register as its author saw it
/// (`Register::check_applicable`: a new id, an active person, one representative per
/// household, well-formed details).
fn check_register(
    ctx: &Context,
    signer: &Member,
    id: &str,
    before: Vec<Value>,
    new: Vec<Value>,
) -> Result<()> {
    if id != register_id(&ctx.roster.space_id) {
        return deny("a space has one register, at the id derived from the space");
    }
    if !is_cadre(signer) {
        return deny(format!(
            "only cadres keep the register of villagers; {} is a {}",
            signer.name,
            signer.role.as_str()
        ));
    }
    let mut events: Vec<Event<RegisterEvent>> = typed(before)?;
    for e in typed::<RegisterEvent>(new)? {
        Register::fold(id, &events)
            .check_applicable(&e.body)
            .map_err(|why| Error::NotAllowed(why.to_string()))?;
        events.push(e);
    }
    Ok(())
}

/// Who may receive a document. Computed from the document itself (and, for ballots,
/// its deliberation), so the relay and devices agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Audience {
    /// Every member of the space (notices, deliberations, recorded ballots with visible results).
    Space,
    /// A service request: its filer, whoever filed it for them, cadres and township.
    Request {
        filer: String,
        filed_by: Option<String>,
    },
    /// Cadres and township officials (internal notes).
    Staff,
    /// A notice not yet published: cadres and township officials, like `Staff`, but
    /// named apart so that a device signs a draft's changes in batches of that draft
    /// alone. When it is published the relay opens those batches to every member by
    /// appending them again (`Audience::widens_to`), so residents' cursors meet them.
    Draft { notice: String },
    /// Only the voter (secret ballots, and ballots whose results are hidden until close;
    /// the relay publishes the signed tally instead).
    Voter { member: String },
    /// The party branch (党员活动): cadres, township officials and party members
    /// (`is_party_member`).
    Party,
}

impl Audience {
    /// Whether a document may go from `self` to `to`: only a draft, to every member,
    /// when it is published. Every other audience is fixed when the document is made
    /// (the relay refuses a change that would alter it).
    pub fn widens_to(&self, to: &Audience) -> bool {
        matches!((self, to), (Audience::Draft { .. }, Audience::Space))
    }
}

/// Which of a device's changes may share a signed batch: those of documents with the
/// same audience (the relay refuses a batch that mixes audiences), except that a
/// notice made as a draft always travels in batches of its own. A phone may know it
/// published (from a bundle) before the relay does, or the relay may know before the
/// phone: a batch of that notice alone is judged the same either way, and never drags
/// another document into a refusal. `audience` is the document's (`audience`).
/// Returns a key; equal keys may share a batch.
pub fn batch_group(after: &Value, audience: Audience) -> Result<String> {
    let (kind, id) = header(after)?;
    // a notice's first event is its creation: only that one is read
    let first = events_of(after).into_iter().take(1).collect();
    let born_draft = kind == EntityKind::Notice
        && typed::<NoticeEvent>(first)?
            .first()
            .is_some_and(|e| matches!(e.body, NoticeEvent::Create { publish: false, .. }));
    let key = if born_draft {
        Audience::Draft { notice: id }
    } else {
        audience
    };
    Ok(serde_json::to_string(&key).expect("audience serializes"))
}

pub fn audience(after: &Value, lookup: &dyn Lookup) -> Result<Audience> {
    let (kind, id) = header(after)?;
    let events = events_of(after);
    Ok(match kind {
        EntityKind::Notice => {
            let published = typed::<NoticeEvent>(events)?.iter().any(|e| match &e.body {
                NoticeEvent::Create { publish, .. } => *publish,
                NoticeEvent::Publish {} => true,
                _ => false,
            });
            if published {
                Audience::Space
            } else {
                Audience::Draft { notice: id }
            }
        }
        EntityKind::Deliberation | EntityKind::Proposal | EntityKind::Matter => Audience::Space,
        EntityKind::PartyActivity => Audience::Party,
        EntityKind::RequestNotes | EntityKind::Register => Audience::Staff,
        EntityKind::Request => {
            let r = ServiceRequest::fold(&id, &typed(events)?)?;
            Audience::Request {
                filer: r.filer,
                filed_by: r.filed_by,
            }
        }
        EntityKind::Ballot => {
            let evs: Vec<Event<BallotEvent>> = typed(events)?;
            let first = evs
                .first()
                .ok_or_else(|| Error::NotAllowed("empty ballot".into()))?;
            match lookup.deliberation(first.body.deliberation()) {
                // the model's rule of who counts a vote: the relay alone, or every phone
                Some(d) if !d.counted_by_relay() => Audience::Space,
                _ => Audience::Voter {
                    member: first.by.clone(),
                },
            }
        }
    })
}

/// `may_read`, where the reader's place on the register counts too: drafts are read by
/// the supervision committee as well as staff (a committee member signs off a finance
/// disclosure before it is published, and oversees what the village discloses).
/// `register` is the space's register as this replica holds it (the relay always;
/// cadres' phones when they export a bundle).
pub fn may_read_in(a: &Audience, reader: &Member, register: Option<&Register>) -> bool {
    may_read(a, reader)
        || (!reader.revoked
            && matches!(a, Audience::Draft { .. })
            && on_committee(register, reader))
}

pub fn may_read(a: &Audience, reader: &Member) -> bool {
    if reader.revoked {
        return false;
    }
    match a {
        Audience::Space => true,
        Audience::Request { filer, filed_by } => {
            reader.role.is_staff()
                || *filer == reader.id
                || filed_by.as_deref() == Some(reader.id.as_str())
        }
        Audience::Staff | Audience::Draft { .. } => reader.role.is_staff(),
        Audience::Voter { member } => *member == reader.id,
        Audience::Party => reader.role.is_staff() || is_party_member(reader),
    }
}

/// The relay's read index (`log_readers`): a log row is filed under the keys of the
/// audiences of the documents it carries ([`index_keys`]) and a member reads the rows
/// filed under their keys ([`reader_keys`]), so a sync loads only rows the member may
/// read. The index is a superset filter: every `(audience, member)` that
/// [`may_read_in`] allows shares a key, and the relay still applies `may_read_in` to
/// each row it loads. Keys depend on the audience alone (never on the register or the
/// roster, which change after a row is filed): a draft is filed under `person`, read
/// by every member linked to a person who is not a cadre, the superset of the
/// supervision committee whatever the register says later.
pub fn index_keys(a: &Audience) -> Vec<String> {
    const STAFF: &str = "staff";
    let member = |id: &str| format!("m:{id}");
    match a {
        Audience::Space => vec!["space".into()],
        Audience::Request { filer, filed_by } => {
            let mut keys = vec![STAFF.to_string(), member(filer)];
            keys.extend(filed_by.as_deref().map(member));
            keys
        }
        Audience::Staff => vec![STAFF.into()],
        Audience::Draft { .. } => vec![STAFF.into(), "person".into()],
        Audience::Voter { member: m } => vec![member(m)],
        Audience::Party => vec![STAFF.into(), "party".into()],
    }
}

/// The index keys a member reads (see [`index_keys`]); none for a revoked member.
pub fn reader_keys(m: &Member) -> Vec<String> {
    if m.revoked {
        return vec![];
    }
    let mut keys = vec!["space".to_string(), format!("m:{}", m.id)];
    if m.role.is_staff() {
        keys.push("staff".into());
    }
    if is_party_member(m) {
        keys.push("party".into());
    }
    if m.person.is_some() && !is_cadre(m) {
        keys.push("person".into());
    }
    keys
}

// ---- the control plane and the action layer's early checks -------------------------
//
// The rules below are stated once and applied twice: by the relay to a control request
// (invite, revoke) or a change, and by a phone's action layer before it signs a change,
// so that a refusal there says the same thing as the relay would.

/// Who may create an invite for `role`: a cadre, for any role but township (township
/// officials are invited by the relay admin, `cunwu-relay invite create`).
pub fn may_invite(inviter: &Member, role: Role) -> Result<()> {
    if !is_cadre(inviter) {
        return deny(format!(
            "only cadres may create invites; {} is a {}",
            inviter.name,
            inviter.role.as_str()
        ));
    }
    if role == Role::Township {
        return deny("township officials are invited by the relay admin");
    }
    Ok(())
}

/// Who may revoke a member or a device: a cadre.
pub fn may_revoke(by: &Member) -> Result<()> {
    if !is_cadre(by) {
        return deny(format!(
            "only cadres may revoke members or devices; {} is a {}",
            by.name,
            by.role.as_str()
        ));
    }
    Ok(())
}

/// Who may write a request's internal notes: cadres and township officials.
pub fn may_write_notes(by: &Member) -> Result<()> {
    if !by.role.is_staff() {
        return deny("internal notes are for cadres and township officials only");
    }
    Ok(())
}

/// Whether a ballot for `option` cast at `cast_at` by `voter` counts in `d`: the
/// voter is in the eligibility snapshot, the option exists and voting was open at the
/// signed cast time. The relay applies this on arrival (and the grace period after
/// the close, `Deliberation::result_final`); a phone applies it to its own ballot
/// before signing it. Other phones do not refuse on it (their view of the
/// deliberation depends on arrival order); the tally counts only ballots that pass it.
pub fn check_cast(d: &Deliberation, voter: &Member, option: u32, cast_at: i64) -> Result<()> {
    if !d.may_vote(&voter.id) {
        return deny(format!(
            "{} is not eligible to vote in this deliberation",
            voter.name
        ));
    }
    if !d.accepts_ballot_at(cast_at) {
        return Err(Error::InvalidTransition(format!(
            "the ballot was cast when voting was not open (the deliberation is {})",
            d.phase(cast_at).as_str()
        )));
    }
    check_option(d, option)
}

/// The option a ballot names exists.
pub fn check_option(d: &Deliberation, option: u32) -> Result<()> {
    if option as usize >= d.options.len() {
        return Err(Error::invalid(format!(
            "option {option} does not exist (there are {})",
            d.options.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Member {
        Member {
            id: "m1".into(),
            name: "王秀英".into(),
            role,
            household: String::new(),
            group: String::new(),
            migrant: false,
            household_rep: false,
            party: false,
            revoked: false,
            joined_version: 1,
            person: None,
            lives_in: None,
            changed_version: 0,
        }
    }

    /// The read index never hides a row a member may read: for every audience and
    /// every kind of member (each role, the filer, whoever filed for them, a party
    /// member, the supervision committee, a person who is not on it, the revoked),
    /// `may_read_in` implies the member's keys meet the row's.
    #[test]
    fn the_read_index_keys_cover_every_reader() {
        use crate::model::register::{PersonDetails, RegisterEvent};
        let add = |person: &str, supervisor: bool| Event {
            id: format!("e-{person}"),
            by: "cadre".into(),
            at: 1,
            body: RegisterEvent::Add {
                person: person.into(),
                details: PersonDetails {
                    name: person.into(),
                    adult: true,
                    supervisor,
                    ..PersonDetails::default()
                },
            },
        };
        let reg = Register::fold("r", &[add("p-sup", true), add("p-plain", false)]);
        let audiences = [
            Audience::Space,
            Audience::Request {
                filer: "filer".into(),
                filed_by: None,
            },
            Audience::Request {
                filer: "filer".into(),
                filed_by: Some("helper".into()),
            },
            Audience::Staff,
            Audience::Draft {
                notice: "n1".into(),
            },
            Audience::Voter {
                member: "filer".into(),
            },
            Audience::Party,
        ];
        let mut members = vec![];
        for role in Role::ALL {
            for id in ["other", "filer", "helper"] {
                for party in [false, true] {
                    for person in [None, Some("p-sup"), Some("p-plain")] {
                        for revoked in [false, true] {
                            let mut m = member(role);
                            m.id = id.into();
                            m.party = party;
                            m.person = person.map(String::from);
                            m.revoked = revoked;
                            members.push(m);
                        }
                    }
                }
            }
        }
        let mut allowed = 0;
        for a in &audiences {
            let row = index_keys(a);
            for m in &members {
                for register in [None, Some(&reg)] {
                    if may_read_in(a, m, register) {
                        allowed += 1;
                        let keys = reader_keys(m);
                        assert!(
                            keys.iter().any(|k| row.contains(k)),
                            "{m:?} may read {a:?} but its keys {keys:?} miss the row's {row:?}"
                        );
                    }
                }
            }
        }
        assert!(allowed > 100, "the cases include readers: {allowed}");
        // the committee reads drafts through the register: a non-cadre on it does
        let mut sup = member(Role::Resident);
        sup.person = Some("p-sup".into());
        assert!(may_read_in(&audiences[4], &sup, Some(&reg)));
        // and the index files others' private rows away from a resident
        let resident = reader_keys(&member(Role::Resident));
        for a in &audiences[1..] {
            assert!(
                !index_keys(a).iter().any(|k| resident.contains(k)),
                "{a:?} is not filed where a plain resident reads"
            );
        }
    }

    /// Waiting is a verdict: a change whose dependencies are not here, or a ballot whose
    /// deliberation is not here, is parked with what it waits for; a change the rules
    /// forbid is refused.
    #[test]
    fn judge_parks_what_waits_and_refuses_what_is_forbidden() {
        let resident = member(Role::Resident);
        let roster = Roster::default();
        let kinds: Vec<String> = vec![];
        let ctx = Context {
            roster: &roster,
            kinds: &kinds,
            arrival: None,
            roster_floor: None,
            lookup: &(),
        };
        let actor = [9u8; 32];
        let deliberation = crate::ids::new_id();
        let id = ballot_id(&deliberation, &resident.id);
        let cast = serde_json::json!({"id": "e1", "by": resident.id, "at": 1, "type": "cast", "deliberation": deliberation, "option": 0});
        let (_, ballot) = EntityDoc::create(&actor, EntityKind::Ballot, &id, &cast, 1).unwrap();
        match judge(&ctx, &resident, &EntityDoc::empty(), &id, &ballot) {
            Verdict::Park(m) => assert_eq!(m, vec![Missing::Entity(deliberation.clone())]),
            other => panic!(
                "expected to wait for the deliberation, got {}",
                name(&other)
            ),
        }
        // a change whose dependency is not here waits for it
        let nid = crate::ids::new_id();
        let post = serde_json::json!({"id": "e2", "by": resident.id, "at": 1, "type": "comment", "text": "好"});
        let (mut full, first) =
            EntityDoc::create(&actor, EntityKind::Deliberation, &nid, &post, 1).unwrap();
        let second = full.append(&actor, &post, 2).unwrap();
        match judge(&ctx, &resident, &EntityDoc::empty(), &nid, &second) {
            Verdict::Park(m) => assert_eq!(m, vec![Missing::Change(first.hash())]),
            other => panic!(
                "expected to wait for the first change, got {}",
                name(&other)
            ),
        }
        // a resident may not create a deliberation: refused, with the reason
        match judge(&ctx, &resident, &EntityDoc::empty(), &nid, &first) {
            Verdict::Refuse(Error::NotAllowed(_)) => {}
            other => panic!("expected a refusal, got {}", name(&other)),
        }
    }

    fn name(v: &Verdict) -> String {
        match v {
            Verdict::Accept(_) => "accept".into(),
            Verdict::Park(m) => format!("park {m:?}"),
            Verdict::Refuse(e) => format!("refuse: {e}"),
        }
    }

    #[test]
    fn who_may_invite_revoke_and_keep_notes() {
        let (cadre, resident, township) = (
            member(Role::Cadre),
            member(Role::Resident),
            member(Role::Township),
        );
        assert!(may_invite(&cadre, Role::Resident).is_ok());
        assert!(may_invite(&cadre, Role::Cadre).is_ok());
        for (m, role) in [
            (&cadre, Role::Township),
            (&resident, Role::Resident),
            (&township, Role::Resident),
        ] {
            assert!(matches!(may_invite(m, role), Err(Error::NotAllowed(_))));
        }
        assert!(may_revoke(&cadre).is_ok());
        assert!(may_revoke(&resident).is_err() && may_revoke(&township).is_err());
        assert!(may_write_notes(&cadre).is_ok() && may_write_notes(&township).is_ok());
        assert!(matches!(
            may_write_notes(&resident),
            Err(Error::NotAllowed(_))
        ));
    }
}

/// The rules issue 14 added, judged as the relay judges a change from a tampered phone:
/// the JSON of the document before and after, straight into `check_write`.
#[cfg(test)]
mod issue_14 {
    use super::*;
    use serde_json::json;

    struct Space {
        roster: Roster,
        kinds: Vec<String>,
    }

    pub(super) fn m(id: &str, role: Role) -> Member {
        Member {
            id: id.into(),
            name: id.into(),
            role,
            household: String::new(),
            group: String::new(),
            migrant: false,
            household_rep: false,
            party: false,
            revoked: false,
            joined_version: 1,
            person: None,
            lives_in: None,
            changed_version: 0,
        }
    }

    fn space() -> Space {
        Space {
            roster: Roster {
                space_id: crate::ids::new_id(),
                space_name: "青石村".into(),
                version: 1,
                members: vec![
                    m("cadre", Role::Cadre),
                    m("cadre2", Role::Cadre),
                    m("elder", Role::Resident),
                    m("resident", Role::Resident),
                    m("township", Role::Township),
                ],
                devices: vec![],
                deltas_from: None,
            },
            kinds: crate::model::request::catalogue(),
        }
    }

    fn write(s: &Space, by: &str, kind: &str, before: &[Value], new: Value) -> Result<()> {
        let ctx = Context {
            roster: &s.roster,
            kinds: &s.kinds,
            arrival: None,
            roster_floor: None,
            lookup: &(),
        };
        let id = "0123456789abcdef0123456789abcdef";
        let doc = |evs: Vec<Value>| json!({"kind": kind, "id": id, "events": evs});
        let before_v = if before.is_empty() {
            Value::Null
        } else {
            doc(before.to_vec())
        };
        let mut after = before.to_vec();
        after.push(new);
        check_write(&ctx, s.roster.member(by).unwrap(), &before_v, &doc(after))
    }

    fn ev(id: &str, by: &str, at: i64, body: Value) -> Value {
        let mut v = body;
        v["id"] = json!(id);
        v["by"] = json!(by);
        v["at"] = json!(at);
        v
    }

    fn finance(period: Value, lines: Value, opening: Value) -> Value {
        json!({"type": "create", "category": "finance", "subtype": "quarterly_accounts",
               "period": period, "publish": true,
               "content": {"title": "第三季度财务公开", "body": "", "opening_balance_fen": opening, "lines": lines}})
    }

    fn line(date: &str, amount: Value) -> Value {
        json!({"date": date, "direction": "income", "account": "补助收入", "item": "补助", "amount_fen": amount})
    }

    pub(super) fn refused(r: Result<()>, needle: &str) {
        match r {
            Err(e) => assert!(
                e.to_string().contains(needle),
                "refused, but the reason {e} does not say {needle:?}"
            ),
            Ok(()) => panic!("accepted; expected a refusal saying {needle:?}"),
        }
    }

    #[test]
    fn finance_data_from_a_tampered_phone_is_checked() {
        let s = space();
        let q3 = json!({"kind": "quarterly", "start": "2026-07-01", "end": "2026-09-30"});
        let ok = finance(
            q3.clone(),
            json!([line("2026-07-05", json!(100))]),
            json!(0),
        );
        write(&s, "cadre", "notice", &[], ev("e0", "cadre", 10, ok)).unwrap();
        let backwards = json!({"kind": "quarterly", "start": "2026-09-30", "end": "2026-07-01"});
        refused(
            write(
                &s,
                "cadre",
                "notice",
                &[],
                ev("e0", "cadre", 10, finance(backwards, json!([]), json!(0))),
            ),
            "ends before it starts",
        );
        let outside = finance(
            q3.clone(),
            json!([line("2026-10-02", json!(100))]),
            json!(0),
        );
        refused(
            write(&s, "cadre", "notice", &[], ev("e0", "cadre", 10, outside)),
            "line 1",
        );
        // i64::MIN has no absolute value: `abs()` panicked (debug) or wrapped (release)
        let huge = finance(q3, json!([line("2026-07-05", json!(100))]), json!(i64::MIN));
        refused(
            write(&s, "cadre", "notice", &[], ev("e0", "cadre", 10, huge)),
            "opening balance",
        );
    }

    #[test]
    fn vote_options_are_distinct() {
        let s = space();
        let create = |options: Value| {
            ev(
                "e0",
                "cadre",
                10,
                json!({"type": "create", "title": "修路", "body": "", "deciding_body": "villagers_meeting",
                       "options": options, "secret": false, "hide_results": false, "opens_at": 0, "closes_at": 100}),
            )
        };
        write(
            &s,
            "cadre",
            "deliberation",
            &[],
            create(json!(["同意", "不同意"])),
        )
        .unwrap();
        refused(
            write(
                &s,
                "cadre",
                "deliberation",
                &[],
                create(json!(["同意", " 同意"])),
            ),
            "twice",
        );
    }

    fn filed_for_elder() -> Value {
        ev(
            "e0",
            "cadre",
            100,
            json!({"type": "file", "kind": "other", "title": "代老人申请", "description": "", "filer": "elder"}),
        )
    }

    #[test]
    fn a_request_is_assigned_only_to_staff() {
        let s = space();
        let file = filed_for_elder();
        let assign = |to: &str| {
            ev(
                "e1",
                "cadre",
                200,
                json!({"type": "assign", "assignee": to}),
            )
        };
        write(
            &s,
            "cadre",
            "request",
            std::slice::from_ref(&file),
            assign("township"),
        )
        .unwrap();
        write(
            &s,
            "cadre",
            "request",
            std::slice::from_ref(&file),
            assign("cadre2"),
        )
        .unwrap();
        refused(
            write(
                &s,
                "cadre",
                "request",
                std::slice::from_ref(&file),
                assign("resident"),
            ),
            "may not read",
        );
        refused(
            write(&s, "cadre", "request", &[file], assign("nobody")),
            "not a member",
        );
    }

    #[test]
    fn an_event_is_not_dated_before_what_it_follows() {
        let s = space();
        let create = ev(
            "e0",
            "cadre",
            1_000,
            json!({"type": "create", "category": "village", "subtype": "other", "publish": true,
                   "content": {"title": "停水通知", "body": "周三停水"}}),
        );
        let correct = |at| {
            ev(
                "e1",
                "cadre",
                at,
                json!({"type": "correct", "reason": "改期", "content": {"title": "停水通知", "body": "周四停水"}}),
            )
        };
        write(
            &s,
            "cadre",
            "notice",
            std::slice::from_ref(&create),
            correct(1_000),
        )
        .unwrap();
        refused(
            write(
                &s,
                "cadre",
                "notice",
                std::slice::from_ref(&create),
                correct(999),
            ),
            "before",
        );
        let ask = ev(
            "q1",
            "resident",
            2_000,
            json!({"type": "ask", "text": "几点?"}),
        );
        let answer = |at| {
            ev(
                "e2",
                "cadre",
                at,
                json!({"type": "answer", "question": "q1", "text": "上午"}),
            )
        };
        let asked = [create.clone(), ask];
        write(&s, "cadre", "notice", &asked, answer(2_000)).unwrap();
        refused(
            write(&s, "cadre", "notice", &asked, answer(1_500)),
            "before",
        );
        let transition = |at| {
            ev(
                "e1",
                "cadre",
                at,
                json!({"type": "transition", "to": "accepted", "note": ""}),
            )
        };
        let filed = [filed_for_elder()];
        write(&s, "cadre", "request", &filed, transition(100)).unwrap();
        refused(
            write(&s, "cadre", "request", &filed, transition(99)),
            "before",
        );
    }

    #[test]
    fn the_cadre_who_filed_for_an_elder_acts_for_the_elder() {
        let s = space();
        let file = filed_for_elder();
        let t = |id: &str, by: &str, at: i64, to: &str| {
            ev(
                id,
                by,
                at,
                json!({"type": "transition", "to": to, "note": ""}),
            )
        };
        write(
            &s,
            "cadre",
            "request",
            std::slice::from_ref(&file),
            t("e1", "cadre", 200, "withdrawn"),
        )
        .unwrap();
        refused(
            write(
                &s,
                "cadre2",
                "request",
                std::slice::from_ref(&file),
                t("e1", "cadre2", 200, "withdrawn"),
            ),
            "may not",
        );
        let resolved = [
            file.clone(),
            t("e1", "cadre2", 200, "accepted"),
            t("e2", "cadre2", 300, "resolved"),
        ];
        let rate = ev(
            "e3",
            "cadre",
            400,
            json!({"type": "rate", "stars": 5, "text": "满意"}),
        );
        write(&s, "cadre", "request", &resolved, rate).unwrap();
        write(
            &s,
            "cadre",
            "request",
            &resolved,
            t("e3", "cadre", 400, "reopened"),
        )
        .unwrap();
        // the history says who acted for whom
        let mut all = resolved.to_vec();
        all.push(t("e3", "cadre", 400, "reopened"));
        let r = ServiceRequest::fold("r", &typed(all).unwrap()).unwrap();
        let last = r.transitions.last().unwrap();
        assert_eq!(
            (last.by.as_str(), last.on_behalf_of.as_deref()),
            ("cadre", Some("elder"))
        );
        assert_eq!(
            r.transitions[0].on_behalf_of, None,
            "casework is not on anyone's behalf"
        );
    }
}

/// Who may attach what (issue 12), judged as the relay judges a change from a tampered
/// phone: the JSON before and after, straight into `check_write`.
#[cfg(test)]
mod attachments {
    use super::issue_14::{m, refused};
    use super::*;
    use serde_json::json;

    fn roster() -> Roster {
        Roster {
            space_id: crate::ids::new_id(),
            space_name: "青石村".into(),
            version: 1,
            members: vec![
                m("cadre", Role::Cadre),
                m("filer", Role::Resident),
                m("other", Role::Resident),
            ],
            devices: vec![],
            deltas_from: None,
        }
    }

    fn write(by: &str, kind: &str, before: &[Value], new: Value) -> Result<()> {
        let roster = roster();
        let kinds = crate::model::request::catalogue();
        let ctx = Context {
            roster: &roster,
            kinds: &kinds,
            arrival: None,
            roster_floor: None,
            lookup: &(),
        };
        let id = "0123456789abcdef0123456789abcdef";
        let doc = |evs: Vec<Value>| json!({"kind": kind, "id": id, "events": evs});
        let before_v = if before.is_empty() {
            Value::Null
        } else {
            doc(before.to_vec())
        };
        let mut after = before.to_vec();
        after.push(new);
        check_write(&ctx, roster.member(by).unwrap(), &before_v, &doc(after))
    }

    fn ev(id: &str, by: &str, body: Value) -> Value {
        let mut v = body;
        v["id"] = json!(id);
        v["by"] = json!(by);
        v["at"] = json!(10);
        v
    }

    fn photo() -> Value {
        json!({"hash": "ab".repeat(32), "size": 300_000, "mime": "image/jpeg", "name": "水管.jpg"})
    }

    #[test]
    fn a_request_is_filed_with_only_a_voice_note_and_its_filer_or_staff_attach_more() {
        let voice = json!({"hash": "cd".repeat(32), "size": 40_000, "mime": "audio/amr", "name": "录音.amr", "duration_ms": 40_000});
        let file = ev(
            "e0",
            "filer",
            json!({"type": "file", "kind": "social_assistance", "title": "", "description": "", "filer": "filer", "attachments": [voice]}),
        );
        write("filer", "request", &[], file.clone()).unwrap();
        // an empty title needs an attachment that says it
        refused(
            write(
                "filer",
                "request",
                &[],
                ev(
                    "e0",
                    "filer",
                    json!({"type": "file", "kind": "other", "title": "", "description": "", "filer": "filer"}),
                ),
            ),
            "title",
        );
        let attach = |by: &str| {
            ev(
                "e1",
                by,
                json!({"type": "attach", "attachments": [photo()]}),
            )
        };
        write(
            "filer",
            "request",
            std::slice::from_ref(&file),
            attach("filer"),
        )
        .unwrap();
        write(
            "cadre",
            "request",
            std::slice::from_ref(&file),
            attach("cadre"),
        )
        .unwrap();
        refused(
            write(
                "other",
                "request",
                std::slice::from_ref(&file),
                attach("other"),
            ),
            "may not do that",
        );
        // to a comment that is not there
        refused(
            write(
                "filer",
                "request",
                std::slice::from_ref(&file),
                ev(
                    "e1",
                    "filer",
                    json!({"type": "attach", "attachments": [photo()], "to": "nope"}),
                ),
            ),
            "not one",
        );
        // the type and the limits are the reference's, checked without the bytes
        let exe = json!({"hash": "ef".repeat(32), "size": 10, "mime": "application/x-msdownload", "name": "a.exe"});
        refused(
            write(
                "filer",
                "request",
                std::slice::from_ref(&file),
                ev(
                    "e1",
                    "filer",
                    json!({"type": "attach", "attachments": [exe]}),
                ),
            ),
            "not taken",
        );
        let huge = json!({"hash": "ef".repeat(32), "size": 11 * 1024 * 1024, "mime": "image/png", "name": "a.png"});
        refused(
            write(
                "filer",
                "request",
                &[file],
                ev(
                    "e1",
                    "filer",
                    json!({"type": "attach", "attachments": [huge]}),
                ),
            ),
            "at most",
        );
    }

    #[test]
    fn only_cadres_attach_to_a_notice_and_a_member_only_to_a_question_they_asked() {
        let create = ev(
            "e0",
            "cadre",
            json!({"type": "create", "category": "village", "subtype": "other", "publish": true,
                   "content": {"title": "修路", "body": "下周修路"}}),
        );
        let ask = ev("q1", "other", json!({"type": "ask", "text": "哪天开始？"}));
        let before = [create, ask];
        let attach = |by: &str, to: Option<&str>| {
            let mut e = ev(
                "e9",
                by,
                json!({"type": "attach", "attachments": [photo()]}),
            );
            if let Some(q) = to {
                e["to"] = json!(q);
            }
            e
        };
        write("cadre", "notice", &before, attach("cadre", None)).unwrap();
        write("other", "notice", &before, attach("other", Some("q1"))).unwrap();
        refused(
            write("filer", "notice", &before, attach("filer", None)),
            "only cadres",
        );
        refused(
            write("filer", "notice", &before, attach("filer", Some("q1"))),
            "only cadres",
        );
    }
}
