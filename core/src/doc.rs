//! One automerge document per entity, and the mapping between it and the domain.
//!
//! The root of every document is `{ "kind": ..., "id": ..., "events": [ ... ] }`. Events
//! are immutable maps appended at the end of the list; the domain modules fold them
//! into current state. This module knows automerge; the rest of the core mostly sees
//! JSON events and domain structs.

use crate::error::{Error, Result};
use crate::model::{EntityKind, Event};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value as AmValue,
    ROOT,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub struct EntityDoc {
    pub doc: Automerge,
}

/// A change as stored and shipped: automerge's uncompressed change bytes.
pub fn change_from_bytes(bytes: &[u8]) -> Result<Change> {
    Change::try_from(bytes).map_err(|e| Error::Malformed(format!("not an automerge change: {e}")))
}

impl EntityDoc {
    /// Build from a compacted snapshot (if any) plus incremental changes.
    pub fn load<'a>(
        snapshot: Option<&[u8]>,
        changes: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<EntityDoc> {
        let mut doc = match snapshot {
            Some(s) => Automerge::load(s)
                .map_err(|e| Error::Database(format!("stored document does not load: {e}")))?,
            None => Automerge::new(),
        };
        let mut cs = vec![];
        for c in changes {
            cs.push(change_from_bytes(c)?);
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

    /// Hashes of changes referenced as dependencies that this document lacks.
    pub fn missing_deps(&self, c: &Change) -> Vec<ChangeHash> {
        c.deps()
            .iter()
            .filter(|d| !self.has_change(d))
            .copied()
            .collect()
    }

    /// The whole document as JSON.
    pub fn to_json(&self) -> Value {
        obj_to_json(&self.doc, &ROOT)
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
                .map(|i| prop_to_json(&self.doc, &list, i))
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

    /// For a ballot document: its voter and the option that counts in `d`, if any.
    pub fn ballot_choice(
        &self,
        d: &crate::model::deliberation::Deliberation,
    ) -> Result<Option<(String, u32)>> {
        use crate::model::deliberation::{counted_choice, BallotEvent};
        if self.header().map(|h| h.0) != Some(EntityKind::Ballot) {
            return Ok(None);
        }
        let evs = self.events::<BallotEvent>()?;
        Ok(evs
            .first()
            .zip(counted_choice(d, &evs))
            .map(|(first, c)| (first.by.clone(), c)))
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

fn prop_to_json<P: Into<automerge::Prop>>(doc: &Automerge, obj: &ObjId, prop: P) -> Value {
    match doc.get(obj, prop) {
        Ok(Some((AmValue::Scalar(s), _))) => scalar_to_json(&s),
        Ok(Some((AmValue::Object(_), id))) => obj_to_json(doc, &id),
        _ => Value::Null,
    }
}

fn obj_to_json(doc: &Automerge, obj: &ObjId) -> Value {
    match doc.object_type(obj) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            let mut m = Map::new();
            for k in doc.keys(obj) {
                let v = prop_to_json(doc, obj, k.as_str());
                m.insert(k, v);
            }
            Value::Object(m)
        }
        Ok(ObjType::List) => Value::Array(
            (0..doc.length(obj))
                .map(|i| prop_to_json(doc, obj, i))
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
