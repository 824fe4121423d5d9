//! One automerge document per entity, and the mapping between it and the domain.
//!
//! The root of every document is `{ "kind": ..., "id": ..., "events": [ ... ] }`. Events
//! are immutable maps appended at the end of the list; the domain modules fold them
//! into current state. This module knows automerge; the rest of the core mostly sees
//! JSON events and domain structs.
//!
//! It also reads a change *without applying it* ([`inspect_change`], [`creation_id`]):
//! the budgets of a change (operations, bytes, nesting, string length, events) and the
//! shape every Cunwu change has (it only adds: new maps, lists and plain values inside
//! what it creates, and new events at the end of the list) are checked on the
//! operations, before automerge or the JSON mapping ever sees the change. Every
//! document a device or relay holds has therefore passed them, which is what bounds
//! the recursion of [`EntityDoc::to_json`].

use crate::error::{Error, Result};
use crate::model::{
    EntityKind, Event, MAX_CHANGE_BYTES, MAX_DEPTH, MAX_EVENTS_PER_CHANGE, MAX_OPS_PER_CHANGE,
    MAX_STRING_BYTES,
};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value as AmValue,
    ROOT,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One entity's automerge document. The automerge document itself stays inside this
/// crate: callers read and grow it through the methods below (feature `testing` adds
/// raw access, for tests that forge changes as a tampered app would).
#[derive(Clone, Default)]
pub struct EntityDoc {
    pub(crate) doc: Automerge,
}

/// What the store, the relay and the fuzz targets need of the document beyond the
/// domain: changes by hash or since some heads, forks, and the nesting of the tree.
impl EntityDoc {
    /// A copy that shares nothing with `self` (automerge's fork: same history).
    pub fn fork(&self) -> EntityDoc {
        EntityDoc {
            doc: self.doc.fork(),
        }
    }

    /// The change with this hash, if the document holds it.
    pub fn change(&self, h: &ChangeHash) -> Option<&Change> {
        self.doc.get_change_by_hash(h)
    }

    /// The changes not in the history of `heads` (all of them for no heads), in
    /// causal order.
    pub fn changes_since(&self, heads: &[ChangeHash]) -> Vec<&Change> {
        self.doc.get_changes(heads)
    }

    /// Dependencies of changes applied to this document that it does not hold (a
    /// change waiting for them is not visible yet).
    pub fn pending_deps(&self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    /// How deep objects nest in the automerge document itself (the root is 0),
    /// counted past [`MAX_DEPTH`] (where [`EntityDoc::to_json`] stops) up to `cap`.
    pub fn object_depth(&self, cap: usize) -> usize {
        fn depth(d: &Automerge, obj: &ObjId, cap: usize) -> usize {
            if cap == 0 {
                return 0;
            }
            let child = |v: std::result::Result<Option<(AmValue<'_>, ObjId)>, _>| match v {
                Ok(Some((AmValue::Object(_), id))) => Some(id),
                _ => None,
            };
            let children: Vec<ObjId> = match d.object_type(obj) {
                Ok(ObjType::Map) | Ok(ObjType::Table) => d
                    .keys(obj)
                    .filter_map(|k| child(d.get(obj, k.as_str())))
                    .collect(),
                Ok(ObjType::List) => (0..d.length(obj))
                    .filter_map(|i| child(d.get(obj, i)))
                    .collect(),
                _ => vec![],
            };
            children
                .iter()
                .map(|c| 1 + depth(d, c, cap - 1))
                .max()
                .unwrap_or(0)
        }
        depth(&self.doc, &ROOT, cap)
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;

    fn doc_with(event: Value) -> (EntityDoc, Change) {
        EntityDoc::create(
            &[7; 32],
            EntityKind::Notice,
            &"ab".repeat(16),
            &event,
            1_000,
        )
        .unwrap()
    }

    #[test]
    fn object_depth_counts_the_automerge_tree_up_to_its_cap() {
        assert_eq!(EntityDoc::empty().object_depth(10), 0);
        // root -> events (1) -> event (2) -> a (3) -> b (4); the scalar c adds nothing
        let (d, _) = doc_with(serde_json::json!({"type": "x", "a": {"b": {"c": 1}}}));
        assert_eq!(d.object_depth(10), 4);
        assert_eq!(d.object_depth(2), 2, "counting stops at the cap");
    }

    #[test]
    fn changes_by_hash_since_heads_and_forks() {
        let (mut d, first) = doc_with(serde_json::json!({"type": "x"}));
        let heads = d.heads();
        let second = d
            .append(&[7; 32], &serde_json::json!({"type": "y"}), 2_000)
            .unwrap();
        assert_eq!(
            d.change(&first.hash()).map(|c| c.hash()),
            Some(first.hash())
        );
        assert!(d.change(&ChangeHash([0; 32])).is_none());
        let since: Vec<ChangeHash> = d.changes_since(&heads).iter().map(|c| c.hash()).collect();
        assert_eq!(since, vec![second.hash()]);
        assert_eq!(d.changes_since(&[]).len(), 2);
        assert!(d.pending_deps().is_empty());
        let mut f = d.fork();
        f.append(&[8; 32], &serde_json::json!({"type": "z"}), 3_000)
            .unwrap();
        assert_eq!(
            (d.events_json().len(), f.events_json().len()),
            (2, 3),
            "a fork is a copy"
        );
    }
}

/// Raw access to the automerge document, for tests that forge changes by hand (an
/// edit no honest app makes). Not for the app, the relay or the store.
#[cfg(feature = "testing")]
impl EntityDoc {
    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }
    pub fn automerge_mut(&mut self) -> &mut Automerge {
        &mut self.doc
    }
}

/// A change as stored and shipped: automerge's uncompressed change bytes. Parsing
/// checks the bytes and computes the hash; it applies nothing. Larger than
/// [`MAX_CHANGE_BYTES`] is refused before parsing.
pub fn change_from_bytes(bytes: &[u8]) -> Result<Change> {
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(Error::TooLarge(format!(
            "a change of {} bytes; the limit is {MAX_CHANGE_BYTES}",
            bytes.len()
        )));
    }
    change_ops(bytes)?;
    Change::try_from(bytes).map_err(|e| Error::Malformed(format!("not an automerge change: {e}")))
}

/// A change as this device or relay stored it itself (the phone keeps automerge's
/// DEFLATE form of incremental changes): not input from elsewhere, so compressed chunks
/// are read. Everything that arrives from outside goes through [`change_from_bytes`].
pub fn stored_change(bytes: &[u8]) -> Result<Change> {
    Change::try_from(bytes)
        .map_err(|e| Error::Corrupt(format!("a stored change does not parse: {e}")))
}

/// What automerge's parser would expand, bounded before it runs: automerge inflates a
/// DEFLATE-compressed change chunk without limit and visits every operation that the
/// run-length encoded columns describe, so a few hundred bytes could cost gigabytes or
/// seconds. Cunwu only ever writes uncompressed change chunks, and the number of
/// operations is the number of values in the `action` column (automerge stops there),
/// counted here from its run lengths without decoding anything else.
///
/// Returns the number of operations. It may not exceed [`MAX_OPS_PER_CHANGE`], nor one
/// operation per two bytes of the change (plus a few): honest changes spend several
/// bytes on every operation, and that is what keeps the cost of applying a change in
/// proportion to its size on the wire.
pub fn change_ops(b: &[u8]) -> Result<u64> {
    let bad = |why: &str| Error::Malformed(format!("not an automerge change: {why}"));
    if b.len() < 10 || b[..4] != [0x85, 0x6f, 0x4a, 0x83] {
        return Err(bad("missing the chunk header"));
    }
    if b[8] != 1 {
        return Err(bad("only uncompressed change chunks are accepted"));
    }
    let mut r = Reader { b, at: 9 };
    r.uleb()?; // chunk length
    let deps = r.uleb()?;
    r.skip(
        deps.checked_mul(32)
            .ok_or_else(|| bad("too many dependencies"))?,
    )?;
    let actor = r.uleb()?;
    r.skip(actor)?;
    r.uleb()?; // seq
    r.uleb()?; // start op
    r.uleb()?; // time (signed; its length is all that matters here)
    let msg = r.uleb()?;
    r.skip(msg)?;
    let others = r.uleb()?;
    for _ in 0..others.min(b.len() as u64) {
        let n = r.uleb()?;
        r.skip(n)?;
    }
    let ncols = r.uleb()?;
    let mut cols = vec![];
    for _ in 0..ncols.min(b.len() as u64) {
        cols.push((r.uleb()?, r.uleb()?));
    }
    let mut data = r.at;
    let mut ops: u64 = 0;
    for (spec, len) in cols {
        let len = usize::try_from(len).map_err(|_| bad("column too long"))?;
        let end = data
            .checked_add(len)
            .filter(|e| *e <= b.len())
            .ok_or_else(|| bad("column beyond the chunk"))?;
        // the action column: id 4, unsigned integers, run-length encoded (spec 0x42):
        // as many values as operations
        if spec == 0x42 {
            rle_values(&b[..end], data, |_, n| {
                ops = ops.saturating_add(n);
                if ops > MAX_OPS_PER_CHANGE as u64 {
                    return Err(Error::TooLarge(format!(
                        "a change of more than {MAX_OPS_PER_CHANGE} operations (the limit)"
                    )));
                }
                Ok(())
            })?;
        }
        // an actor column (type 1) names actors by index into this change's actor list;
        // automerge panics on an index the change does not list
        if spec & 0x0f == 1 {
            rle_values(&b[..end], data, |v, _| {
                if v > others {
                    return Err(bad("an operation names an actor the change does not list"));
                }
                Ok(())
            })?;
        }
        // a group column (type 0: the predecessor counts, id 7) makes automerge expand a
        // list per operation as long as the value says; Cunwu's changes overwrite
        // nothing, so every count must be zero
        if spec & 0x0f == 0 {
            rle_values(&b[..end], data, |v, _| {
                if v > 0 {
                    return Err(Error::NotAllowed(
                        "a change may not overwrite or delete anything: events are immutable and may only be appended"
                            .into(),
                    ));
                }
                Ok(())
            })?;
        }
        data = end;
    }
    let most = b.len() as u64 / 2 + 64;
    if ops > most {
        return Err(Error::TooLarge(format!(
            "a change of {} bytes with {ops} operations; at most one operation per two bytes is accepted",
            b.len()
        )));
    }
    Ok(ops)
}

/// Walk the run-length encoded unsigned integers of one column (`b[at..]`), calling
/// `f(value, count)` for each run (a null run has value 0), without expanding it.
fn rle_values(b: &[u8], at: usize, mut f: impl FnMut(u64, u64) -> Result<()>) -> Result<()> {
    let mut c = Reader { b, at };
    while c.at < b.len() {
        let run = c.sleb()?;
        if run > 0 {
            let v = c.uleb()?;
            f(v, run as u64)?;
        } else if run < 0 {
            for _ in 0..run.unsigned_abs().min(b.len() as u64) {
                let v = c.uleb()?;
                f(v, 1)?;
            }
        } else {
            let nulls = c.uleb()?;
            f(0, nulls)?;
        }
    }
    Ok(())
}

/// LEB128 reading over a byte slice, every step checked against its end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let v = *self
            .b
            .get(self.at)
            .ok_or_else(|| Error::Malformed("not an automerge change: cut short".into()))?;
        self.at += 1;
        Ok(v)
    }
    fn uleb(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let x = self.byte()?;
            v |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Malformed(
            "not an automerge change: a number is too long".into(),
        ))
    }
    fn sleb(&mut self) -> Result<i64> {
        let mut v: i64 = 0;
        let mut shift = 0;
        loop {
            let x = self.byte()?;
            v |= i64::from(x & 0x7f) << shift;
            shift += 7;
            if x & 0x80 == 0 {
                if shift < 64 && x & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
            if shift >= 63 {
                return Err(Error::Malformed(
                    "not an automerge change: a number is too long".into(),
                ));
            }
        }
    }
    fn skip(&mut self, n: u64) -> Result<()> {
        let n = usize::try_from(n)
            .map_err(|_| Error::Malformed("not an automerge change: length too large".into()))?;
        self.at = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| {
                Error::Malformed("not an automerge change: a field runs beyond the chunk".into())
            })?;
        Ok(())
    }
}

/// What a change does to its document, read from its operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeShape {
    /// Whether the change writes the root: it creates the document.
    pub creates: bool,
    /// How many events it appends.
    pub new_events: usize,
}

fn too_large<T>(msg: String) -> Result<T> {
    Err(Error::TooLarge(msg))
}

fn refuse<T>(msg: &str) -> Result<T> {
    Err(Error::NotAllowed(msg.to_string()))
}

/// Check `change` against the budgets of a change and the shape of every Cunwu
/// change, on its operations and without applying it, for the document `doc` it is
/// sent for (empty for a new entity). The rules, each cheap and local to one op:
/// - at most [`MAX_CHANGE_BYTES`] bytes and [`MAX_OPS_PER_CHANGE`] operations;
/// - nothing is overwritten or deleted (no operation has a predecessor);
/// - only maps, lists and plain values (string, number, boolean, null) are made:
///   no text objects, counters, marks, deletions or byte values;
/// - a change writes the root only when the document is new; otherwise it writes
///   only at the end of the event list and inside objects it makes itself;
/// - lists are only appended to, maps only given new keys;
/// - nothing nests deeper than [`MAX_DEPTH`], no string is longer than
///   [`MAX_STRING_BYTES`], at most [`MAX_EVENTS_PER_CHANGE`] events are added.
pub fn inspect_change(doc: &EntityDoc, change: &Change) -> Result<ChangeShape> {
    if change.raw_bytes().len() > MAX_CHANGE_BYTES {
        return too_large(format!(
            "a change of {} bytes; the limit is {MAX_CHANGE_BYTES}",
            change.raw_bytes().len()
        ));
    }
    if change.len() > MAX_OPS_PER_CHANGE {
        return too_large(format!(
            "a change of {} operations; the limit is {MAX_OPS_PER_CHANGE}",
            change.len()
        ));
    }
    let events_list = match doc.doc.get(ROOT, "events") {
        Ok(Some((AmValue::Object(ObjType::List), id))) => Some(id.to_string()),
        _ => None,
    };
    let existing = events_list.is_some() || doc.doc.get(ROOT, "id").ok().flatten().is_some();
    let actor = change.actor_id().to_hex_string();
    let start = change.start_op().get();
    // objects made by this change: op counter -> (depth, list?)
    let mut made: HashMap<u64, (usize, bool)> = HashMap::new();
    let mut shape = ChangeShape {
        creates: false,
        new_events: 0,
    };
    for (i, op) in change.decode().operations.iter().enumerate() {
        if !op.pred.is_empty() {
            return refuse("a change may not overwrite or delete anything: events are immutable and may only be appended");
        }
        let obj = op.obj.to_string();
        let (depth, is_list) = if obj == "_root" {
            if existing {
                return refuse("a change may not rewrite the root of an existing document");
            }
            shape.creates = true;
            (0, false)
        } else if events_list.as_deref() == Some(obj.as_str()) {
            (1, true)
        } else {
            let here = obj
                .split_once('@')
                .filter(|(_, a)| *a == actor)
                .and_then(|(c, _)| c.parse::<u64>().ok())
                .and_then(|c| made.get(&c).copied());
            match here {
                Some(d) => d,
                None => {
                    return refuse(
                        "a change may only write inside objects it makes itself, apart from appending to the event list",
                    )
                }
            }
        };
        if is_list != op.insert || (!is_list && !op.key.is_map_key()) {
            return refuse("lists may only be appended to and maps only given new keys");
        }
        if is_list && depth == 1 {
            shape.new_events += 1;
        }
        match (op.obj_type(), is_put(&op.action)) {
            (Some(t @ (ObjType::Map | ObjType::List)), _) => {
                if depth + 1 > MAX_DEPTH {
                    return too_large(format!("the change nests objects deeper than {MAX_DEPTH} levels"));
                }
                made.insert(start + i as u64, (depth + 1, t == ObjType::List));
            }
            (None, true) => match op.primitive_value() {
                Some(ScalarValue::Str(v)) if v.len() > MAX_STRING_BYTES => {
                    return too_large(format!("a string of {} bytes; the limit is {MAX_STRING_BYTES}", v.len()));
                }
                Some(
                    ScalarValue::Str(_)
                    | ScalarValue::Int(_)
                    | ScalarValue::Uint(_)
                    | ScalarValue::F64(_)
                    | ScalarValue::Boolean(_)
                    | ScalarValue::Null,
                ) => {}
                _ => return refuse("a change may only add plain values (no counters, timestamps or bytes)"),
            },
            _ => {
                return refuse(
                    "a change may only add maps, lists and plain values (no deletions, counters, text objects or marks)",
                )
            }
        }
    }
    if shape.new_events > MAX_EVENTS_PER_CHANGE {
        return refuse(&format!(
            "a change appends {} events; the limit is {MAX_EVENTS_PER_CHANGE} (one event per change)",
            shape.new_events
        ));
    }
    Ok(shape)
}

/// Whether an operation's action is a put of a value (automerge's legacy `OpType` is
/// not nameable from outside the crate; its Debug form starts with the variant name,
/// and only those first bytes are formatted).
fn is_put(action: &impl std::fmt::Debug) -> bool {
    struct Head([u8; 4], usize);
    impl std::fmt::Write for Head {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for b in s.bytes() {
                if self.1 == 4 {
                    return Err(std::fmt::Error);
                }
                self.0[self.1] = b;
                self.1 += 1;
            }
            Ok(())
        }
    }
    let mut h = Head([0; 4], 0);
    let _ = std::fmt::write(&mut h, format_args!("{action:?}"));
    &h.0 == b"Put("
}

/// The id a creation change gives its document, read from its operations without
/// applying it: the change has no dependencies and writes a 32-hex-digit string to the
/// root key `id` exactly once. `None` for any other change.
pub fn creation_id(change: &Change) -> Option<String> {
    if !change.deps().is_empty()
        || change.len() > MAX_OPS_PER_CHANGE
        || change.raw_bytes().len() > MAX_CHANGE_BYTES
    {
        return None;
    }
    let mut id = None;
    for op in change.decode().operations {
        if op.obj.to_string() == "_root" && op.key == "id".into() {
            match (is_put(&op.action), op.primitive_value(), &id) {
                (true, Some(ScalarValue::Str(s)), None) if crate::ids::is_id(&s) => {
                    id = Some(s.to_string())
                }
                _ => return None,
            }
        }
    }
    id
}

impl EntityDoc {
    /// Build from a compacted snapshot (if any) plus incremental changes.
    pub fn load<'a>(
        snapshot: Option<&[u8]>,
        changes: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<EntityDoc> {
        let mut doc = match snapshot {
            Some(s) => Automerge::load(s)
                .map_err(|e| Error::Corrupt(format!("stored document does not load: {e}")))?,
            None => Automerge::new(),
        };
        let mut cs = vec![];
        for c in changes {
            cs.push(stored_change(c)?);
        }
        doc.apply_changes(cs)?;
        Ok(EntityDoc { doc })
    }

    pub fn empty() -> EntityDoc {
        EntityDoc {
            doc: Automerge::new(),
        }
    }

    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    pub fn has_change(&self, h: &ChangeHash) -> bool {
        self.doc.get_change_by_hash(h).is_some()
    }

    /// The document as the author of `change` saw it, and with `change`, computed on
    /// this merged document (which holds `change`) instead of rebuilding the document at
    /// the change's dependencies: `unseen` are the changes outside the author's history
    /// (`Automerge::get_changes(deps)` before `change` was applied). Exact, because
    /// every accepted change only appends to the event list and writes inside the
    /// objects it makes (`inspect_change`): an event's whole content comes from the
    /// change that inserted it, and the merged list keeps the relative order of the
    /// events the author had seen (a causally closed subset of the list). Costs one
    /// pass over the document, not a replay of its history.
    pub fn author_view(&self, unseen: &[&Change], change: &Change) -> (Value, Value) {
        let mut json = self.to_json();
        let Ok(Some((AmValue::Object(ObjType::List), list))) = self.doc.get(ROOT, "events") else {
            return (json.clone(), json);
        };
        let mut ranges: HashMap<ActorId, Vec<(u64, u64)>> = HashMap::new();
        for c in unseen {
            let start = c.start_op().get();
            ranges
                .entry(c.actor_id().clone())
                .or_default()
                .push((start, start + c.len() as u64));
        }
        let own = {
            let start = change.start_op().get();
            (start, start + change.len() as u64)
        };
        let within = |(a, b): (u64, u64), ctr: u64| a <= ctr && ctr < b;
        // per event: (seen by the author, made by this change)
        let marks: Vec<(bool, bool)> = self
            .doc
            .list_range(&list, ..)
            .map(|item| match &item.id {
                ObjId::Id(ctr, actor, _) => {
                    let by_change = actor == change.actor_id() && within(own, *ctr);
                    let unseen = ranges
                        .get(actor)
                        .is_some_and(|rs| rs.iter().any(|r| within(*r, *ctr)));
                    (!unseen && !by_change, by_change)
                }
                ObjId::Root => (true, false),
            })
            .collect();
        let events = json
            .get_mut("events")
            .and_then(Value::as_array_mut)
            .map(std::mem::take)
            .unwrap_or_default();
        let (mut seen, mut with) = (vec![], vec![]);
        for (e, (s, mine)) in events.into_iter().zip(marks) {
            if s {
                seen.push(e.clone());
            }
            if s || mine {
                with.push(e);
            }
        }
        let mut seen_json = json.clone();
        seen_json["events"] = Value::Array(seen);
        json["events"] = Value::Array(with);
        (seen_json, json)
    }

    /// For each event, in list order, the hash of the change that appended it (`None`
    /// for a list element no change here made, which cannot happen in a document
    /// built by `apply`). An accepted change appends whole events (H6), so the
    /// element's op id names its change: the change by that actor whose op counter
    /// range holds it. Used to tell when each event reached the village.
    pub fn event_changes(&self) -> Vec<Option<ChangeHash>> {
        let Ok(Some((AmValue::Object(ObjType::List), list))) = self.doc.get(ROOT, "events") else {
            return vec![];
        };
        let mut by_actor: HashMap<ActorId, Vec<(u64, u64, ChangeHash)>> = HashMap::new();
        for c in self.doc.get_changes(&[]) {
            let start = c.start_op().get();
            by_actor.entry(c.actor_id().clone()).or_default().push((
                start,
                start + c.len() as u64,
                c.hash(),
            ));
        }
        // an actor's changes have disjoint op ranges: sorted, each event is one search
        for v in by_actor.values_mut() {
            v.sort_unstable_by_key(|(a, _, _)| *a);
        }
        self.doc
            .list_range(&list, ..)
            .map(|item| match &item.id {
                ObjId::Id(ctr, actor, _) => {
                    let v = by_actor.get(actor)?;
                    let i = v.partition_point(|(a, _, _)| *a <= *ctr).checked_sub(1)?;
                    let (a, b, h) = v[i];
                    (a <= *ctr && *ctr < b).then_some(h)
                }
                ObjId::Root => None,
            })
            .collect()
    }

    /// A change held here that takes the place of `c` in its device's chain (same
    /// actor, same sequence number, another hash), if any.
    pub fn rival_of(&self, c: &Change) -> Option<ChangeHash> {
        let actor = c.actor_id();
        self.doc
            .get_changes(&[])
            .into_iter()
            .find(|h| h.actor_id() == actor && h.seq() == c.seq() && h.hash() != c.hash())
            .map(|h| h.hash())
    }

    /// Hashes of changes referenced as dependencies that this document lacks.
    pub fn missing_deps(&self, c: &Change) -> Vec<ChangeHash> {
        c.deps()
            .iter()
            .filter(|d| !self.has_change(d))
            .copied()
            .collect()
    }

    /// The whole document as JSON (objects nested deeper than [`MAX_DEPTH`] read as
    /// null: no accepted change makes them, and the recursion stays bounded).
    pub fn to_json(&self) -> Value {
        obj_to_json(&self.doc, &ROOT, 0)
    }

    pub fn header(&self) -> Option<(EntityKind, String)> {
        let kind = match self.doc.get(ROOT, "kind").ok()?? {
            (AmValue::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => EntityKind::parse(s).ok()?,
                _ => return None,
            },
            _ => return None,
        };
        let id = match self.doc.get(ROOT, "id").ok()?? {
            (AmValue::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => s.to_string(),
                _ => return None,
            },
            _ => return None,
        };
        Some((kind, id))
    }

    pub fn events_json(&self) -> Vec<Value> {
        match self.doc.get(ROOT, "events") {
            Ok(Some((AmValue::Object(ObjType::List), list))) => (0..self.doc.length(&list))
                .map(|i| prop_to_json(&self.doc, &list, i, 2))
                .collect(),
            _ => vec![],
        }
    }

    pub fn events<B: DeserializeOwned>(&self) -> Result<Vec<Event<B>>> {
        parse_events(self.events_json())
    }

    /// The deliberation this document holds, if it is a valid deliberation document.
    pub fn deliberation(&self) -> Option<crate::model::deliberation::Deliberation> {
        let (kind, id) = self.header()?;
        if kind != EntityKind::Deliberation {
            return None;
        }
        crate::model::deliberation::Deliberation::fold(&id, &self.events().ok()?).ok()
    }

    /// The register this document holds (`at = None`: now; else at those heads), if it is
    /// a register document and holds every head.
    pub fn register(&self, at: Option<&[String]>) -> Option<crate::model::register::Register> {
        let (kind, id) = self.header()?;
        if kind != EntityKind::Register {
            return None;
        }
        let events = match at {
            None => self.events_json(),
            Some(heads) => self.events_json_at(heads)?,
        };
        let events = parse_events(events).ok()?;
        Some(crate::model::register::Register::fold(&id, &events))
    }

    /// For a ballot document: its voter and the option that counts in `d`, if any
    /// (a member's own ballot; hall records are `ballot_voice`).
    pub fn ballot_choice(
        &self,
        d: &crate::model::deliberation::Deliberation,
    ) -> Result<Option<(String, u32)>> {
        Ok(match self.ballot_voice(d)? {
            Some(crate::model::deliberation::Voice::Online { member, option }) => {
                Some((member, option))
            }
            _ => None,
        })
    }

    /// What a ballot document says for the count of `d`: a member's own ballot, or a
    /// person's hall record when the document is the one derived from that person
    /// (`hall_ballot_id`).
    pub fn ballot_voice(
        &self,
        d: &crate::model::deliberation::Deliberation,
    ) -> Result<Option<crate::model::deliberation::Voice>> {
        use crate::model::deliberation::{
            counted_choice, hall_ballot_id, hall_voice, BallotEvent, Voice,
        };
        let Some((EntityKind::Ballot, id)) = self.header() else {
            return Ok(None);
        };
        let evs = self.events::<BallotEvent>()?;
        let Some(first) = evs.first() else {
            return Ok(None);
        };
        if let Some(person) = first.body.person() {
            if hall_ballot_id(&d.id, person) != id {
                return Ok(None);
            }
            return Ok(hall_voice(d, &evs));
        }
        Ok(counted_choice(d, &evs).map(|option| Voice::Online {
            member: first.by.clone(),
            option,
        }))
    }

    /// The events of this document as they were at `heads` (hex change hashes), or
    /// `None` when one of them is not in this document.
    pub fn events_json_at(&self, heads: &[String]) -> Option<Vec<Value>> {
        let mut hs = Vec::with_capacity(heads.len());
        for h in heads {
            let h: ChangeHash = h.parse().ok()?;
            self.doc.get_change_by_hash(&h)?;
            hs.push(h);
        }
        let fork = EntityDoc {
            doc: self.doc.fork_at(&hs).ok()?,
        };
        Some(fork.events_json())
    }

    /// Start a new entity document: root header and its first event, as one change by `actor`.
    pub fn create(
        actor: &[u8],
        kind: EntityKind,
        id: &str,
        first: &Value,
        time_ms: i64,
    ) -> Result<(EntityDoc, Change)> {
        let mut doc = Automerge::new().with_actor(ActorId::from(actor));
        let mut tx = doc.transaction();
        tx.put(ROOT, "kind", kind.as_str())?;
        tx.put(ROOT, "id", id)?;
        let list = tx.put_object(ROOT, "events", ObjType::List)?;
        insert_json(&mut tx, &list, 0, first)?;
        let (hash, _) = tx.commit_with(CommitOptions::default().with_time(time_ms / 1000));
        let hash = hash.ok_or_else(|| Error::Document("empty change".into()))?;
        let change = doc
            .get_change_by_hash(&hash)
            .cloned()
            .ok_or_else(|| Error::Document("change vanished".into()))?;
        Ok((EntityDoc { doc }, change))
    }

    /// Append one event at the end of the event list, as one change by `actor`.
    pub fn append(&mut self, actor: &[u8], event: &Value, time_ms: i64) -> Result<Change> {
        self.doc.set_actor(ActorId::from(actor));
        let list = match self.doc.get(ROOT, "events")? {
            Some((AmValue::Object(ObjType::List), id)) => id,
            _ => return Err(Error::Document("document has no event list".into())),
        };
        let mut tx = self.doc.transaction();
        let len = tx.length(&list);
        insert_json(&mut tx, &list, len, event)?;
        let (hash, _) = tx.commit_with(CommitOptions::default().with_time(time_ms / 1000));
        let hash = hash.ok_or_else(|| Error::Document("empty change".into()))?;
        self.doc
            .get_change_by_hash(&hash)
            .cloned()
            .ok_or_else(|| Error::Document("change vanished".into()))
    }

    /// Apply changes received from elsewhere (already checked by the caller).
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<()> {
        self.doc.apply_changes(changes)?;
        Ok(())
    }

    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// Every change in the document, in causal order.
    pub fn all_changes(&self) -> Vec<Change> {
        self.doc.get_changes(&[]).into_iter().cloned().collect()
    }
}

pub fn parse_events<B: DeserializeOwned>(events: Vec<Value>) -> Result<Vec<Event<B>>> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| Error::Malformed(format!("event {i}: {e}")))
        })
        .collect()
}

fn scalar_to_json(s: &ScalarValue) -> Value {
    match s {
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Int(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Timestamp(t) => Value::from(*t),
        ScalarValue::Counter(c) => Value::from(i64::from(c)),
        ScalarValue::Null => Value::Null,
        ScalarValue::Bytes(b) => Value::String(hex::encode(b)),
        _ => Value::Null,
    }
}

/// `depth` is that of the value read (the root is 0).
fn prop_to_json<P: Into<automerge::Prop>>(
    doc: &Automerge,
    obj: &ObjId,
    prop: P,
    depth: usize,
) -> Value {
    match doc.get(obj, prop) {
        Ok(Some((AmValue::Scalar(s), _))) => scalar_to_json(&s),
        Ok(Some((AmValue::Object(_), id))) => obj_to_json(doc, &id, depth),
        _ => Value::Null,
    }
}

fn obj_to_json(doc: &Automerge, obj: &ObjId, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    match doc.object_type(obj) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            let mut m = Map::new();
            for k in doc.keys(obj) {
                let v = prop_to_json(doc, obj, k.as_str(), depth + 1);
                m.insert(k, v);
            }
            Value::Object(m)
        }
        Ok(ObjType::List) => Value::Array(
            (0..doc.length(obj))
                .map(|i| prop_to_json(doc, obj, i, depth + 1))
                .collect(),
        ),
        Ok(ObjType::Text) => Value::String(doc.text(obj).unwrap_or_default()),
        Err(_) => Value::Null,
    }
}

fn json_scalar(v: &Value) -> Option<ScalarValue> {
    Some(match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                ScalarValue::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        _ => return None,
    })
}

fn fill_object<T: Transactable>(tx: &mut T, obj: &ObjId, v: &Value) -> Result<()> {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match json_scalar(v) {
                    Some(s) => tx.put(obj, k.as_str(), s)?,
                    None => {
                        let t = if v.is_array() {
                            ObjType::List
                        } else {
                            ObjType::Map
                        };
                        let child = tx.put_object(obj, k.as_str(), t)?;
                        fill_object(tx, &child, v)?;
                    }
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                insert_json(tx, obj, i, v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn insert_json<T: Transactable>(tx: &mut T, list: &ObjId, idx: usize, v: &Value) -> Result<()> {
    match json_scalar(v) {
        Some(s) => tx.insert(list, idx, s)?,
        None => {
            let t = if v.is_array() {
                ObjType::List
            } else {
                ObjType::Map
            };
            let child = tx.insert_object(list, idx, t)?;
            fill_object(tx, &child, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::notice::{
        Category, Direction, FinanceLine, NoticeContent, NoticeEvent, Period, Subtype,
    };
    use serde_json::json;

    const ACTOR: [u8; 32] = [7; 32];
    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn notice() -> (EntityDoc, Change) {
        let first = json!({"id": "e1", "by": "m", "at": 1, "type": "posted", "title": "修路公示", "body": "村道硬化"});
        EntityDoc::create(&ACTOR, EntityKind::Notice, ID, &first, 1_700_000_000_000).unwrap()
    }

    #[test]
    fn each_event_is_traced_to_the_change_that_appended_it() {
        let (mut doc, created) = notice();
        let mut other = doc.fork();
        let a = doc
            .append(
                &[1; 32],
                &json!({"id": "a", "type": "read", "revision": 1}),
                2,
            )
            .unwrap();
        let b = other
            .append(
                &[2; 32],
                &json!({"id": "b", "type": "read", "revision": 1}),
                3,
            )
            .unwrap();
        doc.apply(vec![b.clone()]).unwrap();
        let ids: Vec<String> = doc
            .events_json()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        let by_id: HashMap<String, Option<ChangeHash>> =
            ids.into_iter().zip(doc.event_changes()).collect();
        assert_eq!(by_id.len(), 3);
        assert_eq!(by_id["a"], Some(a.hash()));
        assert_eq!(by_id["b"], Some(b.hash()));
        let first = doc.events_json()[0]["id"].as_str().unwrap().to_string();
        assert_eq!(by_id[&first], Some(created.hash()));
    }

    /// `author_view` against the direct answer (the document rebuilt at the change's
    /// dependencies, then the change applied) on documents where three devices append
    /// concurrently in many interleavings, each judged change anywhere in the history.
    #[test]
    fn author_view_is_the_document_at_the_changes_dependencies() {
        let ev = |n: usize| json!({"id": format!("e{n}"), "by": "m", "at": n, "type": "comment", "text": format!("第{n}条")});
        let actors = [[1u8; 32], [2; 32], [3; 32]];
        for round in 0..6usize {
            let (base, first) = notice();
            // each device works on its own copy and merges now and then
            let mut copies: Vec<EntityDoc> = (0..3)
                .map(|_| EntityDoc {
                    doc: base.doc.fork(),
                })
                .collect();
            let mut all = vec![first];
            let mut n = 0;
            for step in 0..24usize {
                let who = (step * (round + 1) + step / 3) % 3;
                n += 1;
                let c = copies[who].append(&actors[who], &ev(n), 1).unwrap();
                all.push(c);
                if (step + round) % 5 == 0 {
                    let from = (who + 1) % 3;
                    let theirs = copies[from].all_changes();
                    copies[who].apply(theirs).unwrap();
                }
            }
            let mut merged = EntityDoc::empty();
            merged.apply(all.clone()).unwrap();
            for c in &all[1..] {
                // what a replica holds when c arrives: everything but c and what
                // builds on it (so the concurrent changes are there)
                let before_doc = {
                    let mut d = EntityDoc::empty();
                    let others: Vec<Change> = all
                        .iter()
                        .filter(|x| x.hash() != c.hash())
                        .cloned()
                        .collect();
                    // c's descendants need c: leave them out of "before" as well
                    let mut desc = std::collections::HashSet::from([c.hash()]);
                    for x in merged.doc.get_changes(&[]) {
                        if x.deps().iter().any(|d| desc.contains(d)) {
                            desc.insert(x.hash());
                        }
                    }
                    d.apply(
                        others
                            .into_iter()
                            .filter(|x| !desc.contains(&x.hash()))
                            .collect(),
                    )
                    .unwrap();
                    d
                };
                let mut after = EntityDoc {
                    doc: before_doc.doc.fork(),
                };
                after.apply(vec![c.clone()]).unwrap();
                let unseen = before_doc.doc.get_changes(c.deps());
                let (seen, with) = after.author_view(&unseen, c);
                let mut direct = EntityDoc {
                    doc: before_doc.doc.fork_at(c.deps()).unwrap(),
                };
                assert_eq!(seen, direct.to_json(), "round {round}, change {}", c.hash());
                direct.apply(vec![c.clone()]).unwrap();
                assert_eq!(with, direct.to_json(), "round {round}, change {}", c.hash());
            }
        }
    }

    /// A hand-made change to `doc` by `f` (what a tampered app can send).
    fn forge(
        doc: &EntityDoc,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &ObjId),
    ) -> Change {
        let mut d = doc.doc.fork().with_actor(ActorId::from(&ACTOR[..]));
        let list = match d.get(ROOT, "events").unwrap() {
            Some((AmValue::Object(ObjType::List), id)) => id,
            _ => panic!("no event list"),
        };
        let mut tx = d.transaction();
        f(&mut tx, &list);
        let (h, _) = tx.commit();
        d.get_change_by_hash(&h.unwrap()).cloned().unwrap()
    }

    #[test]
    fn honest_changes_pass_the_inspection() {
        let (mut doc, created) = notice();
        assert_eq!(
            inspect_change(&EntityDoc::empty(), &created).unwrap(),
            ChangeShape {
                creates: true,
                new_events: 1
            }
        );
        let before = EntityDoc {
            doc: doc.doc.fork(),
        };
        let next = doc.append(&ACTOR, &json!({"id": "e2", "by": "m", "at": 2, "type": "read", "nested": {"a": [1, {"b": 2}]}}), 2).unwrap();
        assert_eq!(
            inspect_change(&before, &next).unwrap(),
            ChangeShape {
                creates: false,
                new_events: 1
            }
        );
        assert_eq!(creation_id(&created).as_deref(), Some(ID));
        assert_eq!(creation_id(&next), None);
    }

    #[test]
    fn the_largest_legitimate_finance_notice_fits_the_budgets() {
        let line = |i: usize| FinanceLine {
            date: "2026-11-30".into(),
            direction: if i & 1 == 0 {
                Direction::Income
            } else {
                Direction::Expense
            },
            account: if i & 1 == 0 {
                "其他收入"
            } else {
                "其他支出"
            }
            .into(),
            item: "项".repeat(200),
            amount_fen: 1_000_000_000_000,
            payee_or_dept: "单".repeat(200),
            voucher_no: "9".repeat(64),
        };
        let content = NoticeContent {
            title: "题".repeat(crate::model::MAX_TITLE_CHARS),
            body: "文".repeat(crate::model::MAX_TEXT_CHARS),
            opening_balance_fen: Some(0),
            lines: (0..crate::model::MAX_FINANCE_LINES).map(line).collect(),
        };
        content.validate(Category::Finance).unwrap();
        let ev = NoticeEvent::Create {
            category: Category::Finance,
            subtype: Subtype::Other,
            period: Period::default(),
            content,
            publish: true,
        };
        let mut v = serde_json::to_value(&ev).unwrap();
        v.as_object_mut().unwrap().extend([
            ("id".into(), json!("e1")),
            ("by".into(), json!("m")),
            ("at".into(), json!(1)),
        ]);
        let (_, c) = EntityDoc::create(&ACTOR, EntityKind::Notice, ID, &v, 1).unwrap();
        assert!(
            c.raw_bytes().len() <= MAX_CHANGE_BYTES,
            "{} bytes",
            c.raw_bytes().len()
        );
        assert!(c.len() <= MAX_OPS_PER_CHANGE, "{} ops", c.len());
        change_from_bytes(c.raw_bytes()).unwrap();
        inspect_change(&EntityDoc::empty(), &c).unwrap();
    }

    #[test]
    fn deep_nesting_is_refused_before_it_is_applied() {
        let (doc, _) = notice();
        // an event nested 2,000 maps deep: a few KB, and enough to overflow the stack of
        // any recursive reader
        let c = forge(&doc, |tx, list| {
            let mut obj = tx.insert_object(list, 1, ObjType::Map).unwrap();
            for _ in 0..2000 {
                obj = tx.put_object(&obj, "x", ObjType::Map).unwrap();
            }
        });
        assert!(c.raw_bytes().len() < 16 * 1024, "{}", c.raw_bytes().len());
        let e = inspect_change(&doc, &c).unwrap_err();
        assert!(
            matches!(e, Error::TooLarge(_)) && e.to_string().contains("deeper than"),
            "{e}"
        );
    }

    /// `change` with its action column replaced by `col` (chunk checksum left stale:
    /// the pre-check must refuse before automerge would even look at it).
    fn with_action_column(change: &[u8], col: &[u8]) -> Vec<u8> {
        let mut r = Reader { b: change, at: 9 };
        r.uleb().unwrap();
        let body_start = r.at;
        let deps = r.uleb().unwrap();
        r.skip(deps * 32).unwrap();
        let n = r.uleb().unwrap();
        r.skip(n).unwrap();
        r.uleb().unwrap();
        r.uleb().unwrap();
        r.uleb().unwrap();
        let n = r.uleb().unwrap();
        r.skip(n).unwrap();
        let others = r.uleb().unwrap();
        for _ in 0..others {
            let n = r.uleb().unwrap();
            r.skip(n).unwrap();
        }
        let meta_start = r.at;
        let ncols = r.uleb().unwrap();
        let cols: Vec<(u64, u64)> = (0..ncols)
            .map(|_| (r.uleb().unwrap(), r.uleb().unwrap()))
            .collect();
        let mut data = r.at;
        let leb = |mut v: u64, out: &mut Vec<u8>| loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        };
        let mut body = change[body_start..meta_start].to_vec();
        let mut cols_data = vec![];
        leb(ncols, &mut body);
        for (spec, len) in cols {
            let bytes = &change[data..data + len as usize];
            data += len as usize;
            let bytes = if spec == 0x42 { col } else { bytes };
            leb(spec, &mut body);
            leb(bytes.len() as u64, &mut body);
            cols_data.extend_from_slice(bytes);
        }
        body.extend(cols_data);
        body.extend_from_slice(&change[data..]);
        let mut out = change[..9].to_vec();
        leb(body.len() as u64, &mut out);
        out.extend(body);
        out
    }

    #[test]
    fn run_length_bombs_are_refused_before_automerge_parses_them() {
        let (doc, _) = notice();
        let c = forge(&doc, |tx, list| {
            let ev = tx.insert_object(list, 1, ObjType::Map).unwrap();
            tx.put(&ev, "a", 1i64).unwrap();
        });
        // the action column says "a billion operations" in six bytes
        let bomb = with_action_column(c.raw_bytes(), &[0x80, 0x94, 0xeb, 0xdc, 0x03, 0x01]);
        assert!(bomb.len() < 1024, "{} bytes", bomb.len());
        let e = change_from_bytes(&bomb).unwrap_err();
        assert!(
            matches!(e, Error::TooLarge(_)) && e.to_string().contains("operations"),
            "{e}"
        );
        // (refused by the count, not by anything else the rebuilding could have broken)
        // more operations than the budget, made by automerge's own encoder
        let big = forge(&doc, |tx, list| {
            let ev = tx.insert_object(list, 1, ObjType::Map).unwrap();
            let l = tx.put_object(&ev, "l", ObjType::List).unwrap();
            for i in 0..(MAX_OPS_PER_CHANGE + 10) {
                tx.insert(&l, i, 1i64).unwrap();
            }
        });
        assert!(change_from_bytes(big.raw_bytes())
            .unwrap_err()
            .to_string()
            .contains("operations"));
        // fewer operations than the budget, but far more than its bytes could honestly
        // hold: applying them would cost out of proportion to the size on the wire
        let dense = forge(&doc, |tx, list| {
            let ev = tx.insert_object(list, 1, ObjType::Map).unwrap();
            let l = tx.put_object(&ev, "l", ObjType::List).unwrap();
            for i in 0..15_000 {
                tx.insert(&l, i, 1i64).unwrap();
            }
        });
        let e = change_from_bytes(dense.raw_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("one operation per two bytes"), "{e}");
        // a compressed chunk is refused without being inflated
        let mut compressed = c.raw_bytes().to_vec();
        compressed[8] = 2;
        assert!(change_from_bytes(&compressed)
            .unwrap_err()
            .to_string()
            .contains("uncompressed"));
    }

    #[test]
    fn only_additions_of_plain_data_are_accepted() {
        let (doc, _) = notice();
        let cases: Vec<(&str, Change)> = vec![
            (
                "text objects",
                forge(&doc, |tx, list| {
                    let ev = tx.insert_object(list, 1, ObjType::Map).unwrap();
                    tx.put_object(&ev, "t", ObjType::Text).unwrap();
                }),
            ),
            (
                "counters",
                forge(&doc, |tx, list| {
                    let ev = tx.insert_object(list, 1, ObjType::Map).unwrap();
                    tx.put(&ev, "c", ScalarValue::counter(1)).unwrap();
                }),
            ),
            (
                "overwrite or delete",
                forge(&doc, |tx, list| {
                    tx.delete(list, 0).unwrap();
                }),
            ),
            (
                "one event per change",
                forge(&doc, |tx, list| {
                    tx.insert_object(list, 1, ObjType::Map).unwrap();
                    tx.insert_object(list, 2, ObjType::Map).unwrap();
                }),
            ),
            (
                "rewrite the root",
                forge(&doc, |tx, _| {
                    tx.put(ROOT, "extra", "ballot").unwrap();
                }),
            ),
            (
                "inside objects it makes itself",
                forge(&doc, |tx, list| {
                    let (_, first) = tx.get(list, 0).unwrap().unwrap();
                    tx.put(&first, "extra", "x").unwrap();
                }),
            ),
            (
                "string of",
                forge(&doc, |tx, list| {
                    let ev = tx.insert_object(list, 1, ObjType::Map).unwrap();
                    tx.put(&ev, "s", "长".repeat(MAX_STRING_BYTES / 3 + 1))
                        .unwrap();
                }),
            ),
        ];
        for (want, c) in cases {
            let e = inspect_change(&doc, &c).unwrap_err().to_string();
            assert!(e.contains(want), "expected {want:?}: {e}");
        }
    }

    #[test]
    fn json_of_a_document_is_bounded_in_depth() {
        // a document nested deeper than any accepted change makes (built locally, as a
        // damaged store could hold) reads as null below the bound instead of recursing
        let (mut doc, _) = notice();
        let mut d = doc.doc.fork().with_actor(ActorId::from(&ACTOR[..]));
        let list = match d.get(ROOT, "events").unwrap() {
            Some((AmValue::Object(ObjType::List), id)) => id,
            _ => unreachable!(),
        };
        let mut tx = d.transaction();
        let mut obj = tx.insert_object(&list, 1, ObjType::Map).unwrap();
        for _ in 0..50_000 {
            obj = tx.put_object(&obj, "x", ObjType::Map).unwrap();
        }
        tx.commit();
        doc.doc = d;
        let handle = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || doc.to_json().to_string().len())
            .unwrap();
        assert!(handle.join().unwrap() < 1000);
    }
}
