//! A space without a relay: a locally held relay key that signs a roster for a set of
//! stores. Tests, benchmarks and the offline demo use it to enrol real stores with
//! real signatures, and to exchange changes phone to phone as bundles do.

use crate::error::Result;
use crate::identity::DeviceKey;
use crate::ids::new_id;
use crate::roster::{DeviceEntry, Member, Role, Roster, SignedRoster};
use crate::store::{Membership, Store};

pub struct LocalSpace {
    pub relay_key: DeviceKey,
    pub roster: Roster,
}

impl LocalSpace {
    pub fn new(name: &str) -> LocalSpace {
        LocalSpace {
            relay_key: DeviceKey::generate(),
            roster: Roster {
                space_id: new_id(),
                space_name: name.into(),
                version: 1,
                members: vec![],
                devices: vec![],
                deltas_from: None,
            },
        }
    }

    /// Add a member (with no device yet); returns the member id.
    pub fn add_member(&mut self, name: &str, role: Role, household: &str, group: &str) -> String {
        let id = new_id();
        self.roster.members.push(Member {
            id: id.clone(),
            name: name.into(),
            role,
            household: household.into(),
            group: group.into(),
            migrant: false,
            household_rep: false,
            party: role == Role::PartyMember,
            revoked: false,
            joined_version: self.roster.version + 1,
            person: None,
            lives_in: None,
            changed_version: 0,
        });
        self.roster.version += 1;
        id
    }

    /// Register the store's device for `member` and enrol every given store in the new roster.
    pub fn enroll(&mut self, store: &Store, member: &str) -> Result<()> {
        self.roster.devices.push(DeviceEntry {
            key: store.device_id(),
            member: member.into(),
            revoked_at_seq: None,
            changed_version: 0,
        });
        self.roster.version += 1;
        store.set_membership(&self.membership(member), &self.signed())
    }

    /// Add a member and enrol `store` as their device.
    pub fn join(&mut self, store: &Store, name: &str, role: Role) -> Result<String> {
        let m = self.add_member(name, role, "", "");
        self.enroll(store, &m)?;
        Ok(m)
    }

    pub fn membership(&self, member: &str) -> Membership {
        Membership {
            space_id: self.roster.space_id.clone(),
            space_name: self.roster.space_name.clone(),
            member_id: member.into(),
            relay_url: String::new(),
            relay_key: self.relay_key.public(),
        }
    }

    pub fn signed(&self) -> SignedRoster {
        SignedRoster::sign(&self.roster, &self.relay_key)
    }

    /// Give every store the latest roster.
    pub fn publish(&self, stores: &[&Store]) -> Result<()> {
        let s = self.signed();
        for st in stores {
            st.install_roster(&s)?;
        }
        Ok(())
    }
}
