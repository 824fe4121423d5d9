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
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub space_id: String,
    pub space_name: String,
    /// Increases with every change the relay makes to the roster.
    pub version: u64,
    pub members: Vec<Member>,
    pub devices: Vec<DeviceEntry>,
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
