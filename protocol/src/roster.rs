//! The roster of a space: members, their devices and roles. The relay is its
//! authority: it ships the roster signed with the relay key, and a device pins that
//! key when it enrolls. Nothing on a phone can raise a role: a roster is only ever
//! taken from bytes that verify against the pinned relay key.

use crate::error::{Error, Result};
use crate::identity::{self, DeviceKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Role {
    Resident,
    VillagerRep,
    PartyMember,
    Cadre,
    Township,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Resident,
        Role::VillagerRep,
        Role::PartyMember,
        Role::Cadre,
        Role::Township,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::VillagerRep => "villager_rep",
            Role::PartyMember => "party_member",
            Role::Cadre => "cadre",
            Role::Township => "township",
        }
    }
    pub fn parse(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::invalid(format!("unknown role {s:?}; expected one of resident, villager_rep, party_member, cadre, township")))
    }
    /// Cadres and township officials handle casework and see every request.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Cadre | Role::Township)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Member {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub household: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub migrant: bool,
    /// Represents the household in household representatives' meetings.
    #[serde(default)]
    pub household_rep: bool,
    /// Member of the party branch (cadres often are, whatever their role).
    #[serde(default)]
    pub party: bool,
    #[serde(default)]
    pub revoked: bool,
    /// The roster version that first listed this member.
    #[serde(default)]
    pub joined_version: u64,
    /// The person on the village register (`model::register`) this member is, when the
    /// invite named one: eligibility, tellers, co-signs and committee sign-offs follow
    /// the person, so a villager counts once however many phones they enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Where a migrant member lives or works, as the invite said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lives_in: Option<String>,
    /// The roster version that last changed this member (0 when that was before the
    /// relay began stamping changes, [`Roster::deltas_from`]): what a roster delta
    /// carries ([`Roster::delta_since`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changed_version: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// Hex of the Ed25519 public key (the automerge actor id).
    pub key: String,
    pub member: String,
    /// Log position from which the relay rejects this device's changes; the ones it
    /// accepted before stay.
    #[serde(default)]
    pub revoked_at_seq: Option<u64>,
    /// The roster version that last changed this entry (see [`Member::changed_version`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changed_version: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub space_id: String,
    pub space_name: String,
    /// Increases with every change the relay makes to the roster.
    pub version: u64,
    pub members: Vec<Member>,
    pub devices: Vec<DeviceEntry>,
    /// The version from which every change is stamped on the members and devices it
    /// changed (`changed_version`), so the relay can send a device holding that version
    /// or a later one only what changed since ([`Roster::delta_since`]). `None` in a
    /// roster no change has been stamped in yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deltas_from: Option<u64>,
}

impl Roster {
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    /// The unrevoked members linked to a register person, in roster order.
    pub fn members_of_person<'a>(&'a self, person: &'a str) -> impl Iterator<Item = &'a Member> {
        self.members
            .iter()
            .filter(move |m| !m.revoked && m.person.as_deref() == Some(person))
    }
    pub fn device(&self, key_hex: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.key == key_hex)
    }
    /// The member a device acts for, if the device may sign at log position `seq`
    /// (`None` = now, for changes that have no relay position yet).
    pub fn signer(&self, key_hex: &str, seq: Option<u64>) -> Result<&Member> {
        let dev = self.device(key_hex).ok_or_else(|| {
            Error::BadSignature(format!(
                "device {} is not enrolled in this space",
                short(key_hex)
            ))
        })?;
        if let Some(r) = dev.revoked_at_seq {
            if seq.is_none_or(|s| s >= r) {
                return Err(Error::NotAllowed(format!(
                    "device {} was revoked",
                    short(key_hex)
                )));
            }
        }
        let m = self.member(&dev.member).ok_or_else(|| {
            Error::BadSignature(format!("device {} names unknown member", short(key_hex)))
        })?;
        if m.revoked && dev.revoked_at_seq.is_none() {
            return Err(Error::NotAllowed(format!("member {} was revoked", m.name)));
        }
        Ok(m)
    }
}

pub fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

/// A roster with the relay's signature over its canonical JSON encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRoster {
    pub roster_json: Vec<u8>,
    pub signature: Vec<u8>,
}

impl SignedRoster {
    pub fn sign(roster: &Roster, relay_key: &DeviceKey) -> SignedRoster {
        let roster_json = serde_json::to_vec(roster).expect("roster serializes");
        let signature = relay_key.sign(&Self::message(&roster_json)).to_vec();
        SignedRoster {
            roster_json,
            signature,
        }
    }
    fn message(json: &[u8]) -> Vec<u8> {
        let mut m = b"cunwu-roster-v1\0".to_vec();
        m.extend_from_slice(json);
        m
    }
    /// Check the relay signature against the pinned relay key and decode.
    pub fn verify(&self, relay_public: &[u8]) -> Result<Roster> {
        identity::verify(
            relay_public,
            &Self::message(&self.roster_json),
            &self.signature,
        )
        .map_err(|_| Error::BadSignature("roster is not signed by this space's relay".into()))?;
        serde_json::from_slice(&self.roster_json)
            .map_err(|e| Error::Malformed(format!("roster: {e}")))
    }
}

impl Roster {
    /// Record a change the relay made to this roster (from `before`): the version goes up
    /// by one and every member and device entry that is new or differs from `before` is
    /// stamped with the new version, so later deltas carry it. The relay calls this once
    /// for every roster change it makes (enrolment, revocation, key rotation).
    pub fn record_change(&mut self, before: &Roster) {
        self.version = before.version + 1;
        self.deltas_from.get_or_insert(before.version);
        let version = self.version;
        // by id and key, so a county-sized roster costs one pass, not one per entry
        let members: std::collections::HashMap<&str, &Member> =
            before.members.iter().map(|m| (m.id.as_str(), m)).collect();
        let devices: std::collections::HashMap<&str, &DeviceEntry> =
            before.devices.iter().map(|d| (d.key.as_str(), d)).collect();
        for m in self.members.iter_mut() {
            if members.get(m.id.as_str()) != Some(&&*m) {
                m.changed_version = version;
            }
        }
        for d in self.devices.iter_mut() {
            if devices.get(d.key.as_str()) != Some(&&*d) {
                d.changed_version = version;
            }
        }
    }

    /// What changed after version `from`, for a device that holds that version: `None`
    /// when this roster cannot say (changes before [`Roster::deltas_from`] were not
    /// stamped, or `from` is not an earlier version of it), and the device gets the
    /// whole roster instead.
    pub fn delta_since(&self, from: u64) -> Option<RosterDelta> {
        let stamped = self.deltas_from?;
        if from == 0 || from < stamped || from >= self.version {
            return None;
        }
        Some(RosterDelta {
            space_id: self.space_id.clone(),
            space_name: self.space_name.clone(),
            from,
            version: self.version,
            deltas_from: self.deltas_from,
            members: self
                .members
                .iter()
                .filter(|m| m.changed_version > from)
                .cloned()
                .collect(),
            devices: self
                .devices
                .iter()
                .filter(|d| d.changed_version > from)
                .cloned()
                .collect(),
        })
    }
}

/// The changes to a roster after version `from`, up to `version`: the members and
/// device entries that are new or changed (members and devices are never removed; a
/// revocation is a flag), each as it now is. Applied to the roster at `from` it gives
/// the roster at `version` exactly, byte for byte in its canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterDelta {
    pub space_id: String,
    pub space_name: String,
    pub from: u64,
    pub version: u64,
    pub deltas_from: Option<u64>,
    pub members: Vec<Member>,
    pub devices: Vec<DeviceEntry>,
}

impl RosterDelta {
    /// `base` with this delta applied: changed entries replaced where they are, new
    /// ones appended in the relay's order. `base` may be any version from `from` on (a
    /// delta from an earlier version carries every entry a later one would, each as it
    /// is at `version`), so an answer to a request sent before the phone took a newer
    /// roster still applies.
    pub fn apply(&self, base: &Roster) -> Result<Roster> {
        if base.space_id != self.space_id {
            return Err(Error::BadSignature(
                "a roster update is for another space".into(),
            ));
        }
        if base.version < self.from || base.version >= self.version {
            return Err(Error::invalid(format!(
                "a roster update from version {} to {} cannot be applied to version {}",
                self.from, self.version, base.version
            )));
        }
        let mut r = base.clone();
        r.space_name = self.space_name.clone();
        r.version = self.version;
        r.deltas_from = self.deltas_from;
        // by id and key: an update of any size (it arrives before its signature can be
        // checked) costs one pass; an id or key named twice is refused
        merge_by(
            &mut r.members,
            &self.members,
            |m| &m.id,
            |id| format!("member {id}"),
        )?;
        merge_by(
            &mut r.devices,
            &self.devices,
            |d| &d.key,
            |key| format!("device {}", short(key)),
        )?;
        Ok(r)
    }
}

/// Put each of `updates` in `base` in place of the entry of the same key, or after the
/// others when none has it; an update naming a key twice is refused (`what` names it).
fn merge_by<T: Clone>(
    base: &mut Vec<T>,
    updates: &[T],
    key: impl Fn(&T) -> &String,
    what: impl Fn(&str) -> String,
) -> Result<()> {
    let mut at: std::collections::HashMap<String, usize> = base
        .iter()
        .enumerate()
        .map(|(i, e)| (key(e).clone(), i))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for u in updates {
        let k = key(u);
        if !seen.insert(k.as_str()) {
            return Err(Error::Malformed(format!(
                "a roster update names {} twice",
                what(k)
            )));
        }
        match at.get(k) {
            Some(&i) => base[i] = u.clone(),
            None => {
                at.insert(k.clone(), base.len());
                base.push(u.clone());
            }
        }
    }
    Ok(())
}

/// A roster delta as the relay sends it: the delta's JSON and the relay's signature
/// of the WHOLE roster it leads to ([`SignedRoster`]'s signature at `version`). The
/// delta itself is not signed: the device applies it to the roster it holds, encodes
/// the result and checks the relay's signature over that, so a wrong or tampered delta
/// can only fail, and the phone keeps a whole signed roster as before (for its own
/// checks and for bundles to other phones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRosterDelta {
    pub delta_json: Vec<u8>,
    pub signature: Vec<u8>,
}

impl SignedRosterDelta {
    /// The delta from the device's roster version to `roster`'s, signed as `roster`
    /// is in `signed`; `None` when [`Roster::delta_since`] cannot say.
    pub fn between(roster: &Roster, signed: &SignedRoster, from: u64) -> Option<Self> {
        let delta = roster.delta_since(from)?;
        Some(SignedRosterDelta {
            delta_json: serde_json::to_vec(&delta).expect("roster delta serializes"),
            signature: signed.signature.clone(),
        })
    }

    /// The delta, decoded (not yet checked: see [`SignedRosterDelta::apply`]).
    pub fn delta(&self) -> Result<RosterDelta> {
        serde_json::from_slice(&self.delta_json)
            .map_err(|e| Error::Malformed(format!("roster update: {e}")))
    }

    /// The signed roster this delta leads to from `base` (the signed roster the device
    /// holds), checked against the pinned relay key.
    pub fn apply(&self, base: &Roster, relay_public: &[u8]) -> Result<(Roster, SignedRoster)> {
        let delta = self.delta()?;
        let next = delta.apply(base)?;
        let signed = SignedRoster {
            roster_json: serde_json::to_vec(&next).expect("roster serializes"),
            signature: self.signature.clone(),
        };
        let checked = signed.verify(relay_public).map_err(|_| {
            Error::BadSignature(format!(
                "the roster update from version {} to {} does not lead to the roster the relay signed",
                delta.from, delta.version
            ))
        })?;
        Ok((checked, signed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: Role) -> Member {
        Member {
            id: id.into(),
            name: format!("成员{id}"),
            role,
            household: String::new(),
            group: String::new(),
            migrant: false,
            household_rep: false,
            party: false,
            revoked: false,
            joined_version: 0,
            person: None,
            lives_in: None,
            changed_version: 0,
        }
    }

    /// The relay's side of an enrolment, as `control.rs` makes it.
    fn enrol(r: &mut Roster, id: &str, key: &str) {
        let before = r.clone();
        r.members.push(Member {
            joined_version: r.version + 1,
            ..member(id, Role::Resident)
        });
        r.devices.push(DeviceEntry {
            key: key.into(),
            member: id.into(),
            revoked_at_seq: None,
            changed_version: 0,
        });
        r.record_change(&before);
    }

    #[test]
    fn a_delta_rebuilds_the_signed_roster_byte_for_byte() {
        let relay = DeviceKey::generate();
        // a roster written before stamping began: its changes cannot be told apart
        let mut r = Roster {
            space_id: "s".into(),
            space_name: "青石村".into(),
            version: 3,
            members: vec![member("a", Role::Cadre), member("b", Role::Resident)],
            devices: vec![
                DeviceEntry {
                    key: "ka".into(),
                    member: "a".into(),
                    revoked_at_seq: None,
                    changed_version: 0,
                },
                DeviceEntry {
                    key: "kb".into(),
                    member: "b".into(),
                    revoked_at_seq: None,
                    changed_version: 0,
                },
            ],
            deltas_from: None,
        };
        assert_eq!(r.delta_since(2), None, "nothing stamped yet");
        let at3 = r.clone();
        enrol(&mut r, "c", "kc");
        let at4 = r.clone();
        enrol(&mut r, "d", "kd");
        // revoke b, rotate a's key
        let before = r.clone();
        r.members[1].revoked = true;
        r.devices[1].revoked_at_seq = Some(9);
        r.devices[0].revoked_at_seq = Some(9);
        r.devices.push(DeviceEntry {
            key: "ka2".into(),
            member: "a".into(),
            revoked_at_seq: None,
            changed_version: 0,
        });
        r.record_change(&before);
        assert_eq!(r.version, 6);
        let signed = SignedRoster::sign(&r, &relay);
        // from version 3 or 4; and a delta from 3 applies to 4 as well (a phone that took
        // version 4 after it sent the request this answers)
        let from3 = SignedRosterDelta::between(&r, &signed, 3).unwrap();
        assert_eq!(from3.apply(&at4, &relay.public()).unwrap().1, signed);
        for base in [&at3, &at4] {
            let d = SignedRosterDelta::between(&r, &signed, base.version).expect("a delta");
            let (got, stored) = d.apply(base, &relay.public()).unwrap();
            assert_eq!(got, r);
            assert_eq!(
                stored, signed,
                "the phone keeps exactly what the relay signed"
            );
        }
        let from4 = r.delta_since(4).unwrap();
        assert_eq!(
            (from4.members.len(), from4.devices.len()),
            (2, 4),
            "from version 4: d enrolled, b revoked; devices kd new, kb and ka revoked, ka2 new"
        );
        assert_eq!(
            r.delta_since(2),
            None,
            "before stamping began: the whole roster"
        );
        assert_eq!(r.delta_since(6), None, "nothing to send");
        assert_eq!(r.delta_since(0), None);
    }

    #[test]
    fn a_wrong_delta_only_fails() {
        let relay = DeviceKey::generate();
        let mut r = Roster {
            space_id: "s".into(),
            space_name: "青石村".into(),
            version: 1,
            members: vec![member("a", Role::Cadre)],
            devices: vec![],
            deltas_from: Some(0),
        };
        let base = r.clone();
        enrol(&mut r, "b", "kb");
        let signed = SignedRoster::sign(&r, &relay);
        let honest = SignedRosterDelta::between(&r, &signed, 1).unwrap();
        // a delta that raises a role, or drops a revocation, leads elsewhere
        let mut d: RosterDelta = serde_json::from_slice(&honest.delta_json).unwrap();
        d.members[0].role = Role::Cadre;
        let forged = SignedRosterDelta {
            delta_json: serde_json::to_vec(&d).unwrap(),
            signature: honest.signature.clone(),
        };
        let e = forged.apply(&base, &relay.public()).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not lead to the roster the relay signed"),
            "{e}"
        );
        // applied to a version before the one it is from, or to the one it leads to
        let older = Roster {
            version: 0,
            ..base.clone()
        };
        let e = honest.apply(&older, &relay.public()).unwrap_err();
        assert!(
            e.to_string()
                .contains("from version 1 to 2 cannot be applied to version 0"),
            "{e}"
        );
        assert!(honest.apply(&r, &relay.public()).is_err());
        // an entry named twice is refused before anything is checked
        let mut twice = d.clone();
        twice.members.push(twice.members[0].clone());
        let e = SignedRosterDelta {
            delta_json: serde_json::to_vec(&twice).unwrap(),
            signature: honest.signature.clone(),
        }
        .apply(&base, &relay.public())
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // a forged update of 100,000 new members is applied in one pass, then refused
        let mut huge = d.clone();
        huge.members = (0..100_000)
            .map(|i| member(&format!("x{i}"), Role::Resident))
            .collect();
        let e = SignedRosterDelta {
            delta_json: serde_json::to_vec(&huge).unwrap(),
            signature: honest.signature.clone(),
        }
        .apply(&base, &relay.public())
        .unwrap_err();
        assert!(e.to_string().contains("does not lead"), "{e}");
        // signed by someone else
        let other = DeviceKey::generate();
        assert!(honest.apply(&base, &other.public()).is_err());
        assert!(honest.apply(&base, &relay.public()).is_ok());
    }
}
