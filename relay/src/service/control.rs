//! The control plane: spaces (admin), invites, enrolment, revocation and key rotation.
//! Who may invite or revoke is the core policy's rule (`policy::may_invite`,
//! `policy::may_revoke`); names are checked against the model's limits.

use super::{bad_sig, Relay, RelayLookup, Result};
use crate::db::InviteRecord;
use crate::error::RelayError;
use cunwu_protocol::identity::{self, decode_key_hex, DeviceKey};
use cunwu_protocol::ids::{new_id, now_ms, DAY_MS};
use cunwu_protocol::model::check_name;
use cunwu_protocol::model::register::PersonDetails;
use cunwu_protocol::policy;
use cunwu_protocol::policy::Lookup;
use cunwu_protocol::roster::{DeviceEntry, Member, Role, Roster, SignedRoster};
use cunwu_protocol::wire::control::*;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Invites expire this long after they are made.
pub const INVITE_TTL_MS: i64 = 7 * DAY_MS;

fn invite_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    hex::encode(Sha256::digest(norm.as_bytes()))
}

fn new_invite_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let raw: String = (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
}

impl Relay {
    // ---- admin (the relay's own commands) ---------------------------------------

    /// Create a space with its relay key and the first cadre invite.
    pub fn create_space(&self, name: &str) -> Result<(String, String)> {
        let name = check_name("space name", name)?;
        let id = new_id();
        let key = DeviceKey::generate();
        let roster = Roster {
            space_id: id.clone(),
            space_name: name.into(),
            version: 1,
            members: vec![],
            devices: vec![],
            deltas_from: None,
        };
        self.storage
            .create_space(&id, name, &key.secret_bytes(), &roster)?;
        let invite = self.make_invite(
            &id,
            Role::Cadre,
            "",
            "",
            &InviteFor::default(),
            "admin",
            now_ms(),
        )?;
        Ok((id, invite))
    }

    pub fn admin_invite(
        &self,
        space: &str,
        role: Role,
        household: &str,
        group: &str,
    ) -> Result<String> {
        self.admin_invite_for(space, role, household, group, &InviteFor::default())
    }

    /// An admin invite that names the register person it enrols (`--person`).
    pub fn admin_invite_for(
        &self,
        space: &str,
        role: Role,
        household: &str,
        group: &str,
        enrols: &InviteFor,
    ) -> Result<String> {
        self.storage
            .space(space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space} on this relay")))?;
        self.make_invite(space, role, household, group, enrols, "admin", now_ms())
    }

    /// An invite names a person who is on the space's register and active, and a
    /// migrant's residence is a short name.
    fn check_enrols(&self, space: &str, enrols: &InviteFor) -> Result<()> {
        if let Some(city) = &enrols.lives_in {
            check_name("lives_in", city)?;
        }
        let Some(person) = &enrols.person else {
            return Ok(());
        };
        let register = RelayLookup { relay: self, space }.register(None);
        match register.as_ref().and_then(|r| r.person(person)) {
            Some(p) if p.active() => Ok(()),
            Some(p) => Err(RelayError::BadRequest(format!(
                "{} has left the register; an invite cannot enrol them",
                p.details.name
            ))),
            None => Err(RelayError::NotFound(format!(
                "no person {person} on this space's register (add them with `cunwu register add` and sync first)"
            ))),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn make_invite(
        &self,
        space: &str,
        role: Role,
        household: &str,
        group: &str,
        enrols: &InviteFor,
        by: &str,
        now: i64,
    ) -> Result<String> {
        self.check_enrols(space, enrols)?;
        let code = new_invite_code();
        self.storage.put_invite(&InviteRecord {
            code_hash: invite_hash(&code),
            space_id: space.into(),
            role,
            household: household.into(),
            group: group.into(),
            expires_at: now + INVITE_TTL_MS,
            created_by: by.into(),
            enrols: enrols.clone(),
        })?;
        Ok(code)
    }

    /// Revoke a device (hex key) or a member (id) — admin or cadre.
    fn revoke_in(&self, space: &str, target: &str) -> Result<Roster> {
        let lock = self.space_lock(space);
        let _g = lock.lock();
        self.storage
            .space(space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space}")))?;
        let _held = self.hold_space(space)?;
        let from = self.storage.last_seq(space)? + 1;
        // read, change and write the roster in one transaction: an enrolment on
        // another thread or relay node cannot slip in between and be lost
        self.storage.update_roster(space, &mut |roster| {
            let before = roster.clone();
            let mut hit = false;
            for d in roster.devices.iter_mut() {
                if (d.key == target || d.member == target) && d.revoked_at_seq.is_none() {
                    d.revoked_at_seq = Some(from);
                    hit = true;
                }
            }
            if let Some(m) = roster.members.iter_mut().find(|m| m.id == target) {
                m.revoked = true;
                hit = true;
            }
            if !hit {
                return Err(RelayError::NotFound(format!(
                    "no device or member {target} to revoke"
                )));
            }
            roster.record_change(&before);
            Ok(())
        })
    }

    pub fn admin_revoke(&self, space: &str, target: &str) -> Result<()> {
        self.revoke_in(space, target).map(|_| ())
    }

    /// `cunwu-relay restore`: every space's log gets a new epoch (run with the relay
    /// stopped; a serving relay would keep its cached view of the old log).
    pub fn renew_epochs(&self) -> Result<()> {
        self.storage.renew_epochs()
    }

    /// Forget replay counters and roster floors of devices that may no longer sync
    /// (`Storage::prune_counters`); run when the relay starts serving.
    pub fn prune_counters(&self) -> Result<u64> {
        self.storage.prune_counters()
    }

    /// Forget the nonces of timed control requests a day older than the accepted skew
    /// (a replay of one is refused by its time, `use_nonce`; the day is margin for relay
    /// nodes whose clocks differ); run when the relay starts serving and every hour
    /// while it serves (`serve`).
    pub fn prune_nonces(&self, now: i64) -> Result<u64> {
        self.storage.prune_nonces(now - MAX_NONCE_SKEW_MS - DAY_MS)
    }

    // ---- control plane -------------------------------------------------------------

    pub fn enroll(&self, req: &EnrollRequest, now: i64) -> Result<EnrollResponse> {
        let key =
            decode_key_hex(&req.device_key).map_err(|e| RelayError::BadRequest(e.to_string()))?;
        let sig = hex::decode(&req.signature)
            .map_err(|_| RelayError::BadRequest("signature is not hex".into()))?;
        identity::verify(
            &key,
            &enroll_message(&req.invite, &req.device_key, &req.name),
            &sig,
        )
        .map_err(bad_sig)?;
        let name = check_name("name", &req.name)?;
        let device_hex = hex::encode(key);
        let member_id = new_id();
        let (inv, roster) =
            self.storage
                .redeem_invite(&invite_hash(&req.invite), now, &mut |inv, roster| {
                    let before = roster.clone();
                    if roster.device(&device_hex).is_some() {
                        return Err(RelayError::Conflict(
                            "this device is already enrolled".into(),
                        ));
                    }
                    // the register's record of the person, when the invite names one (a
                    // document read on a reader connection, outside this transaction)
                    let person = inv.enrols.person.as_ref().and_then(|p| {
                        RelayLookup {
                            relay: self,
                            space: &inv.space_id,
                        }
                        .register(None)?
                        .person(p)
                        .cloned()
                    });
                    if let (Some(id), p) = (&inv.enrols.person, &person) {
                        if !p.as_ref().is_some_and(|p| p.active()) {
                            return Err(RelayError::BadRequest(format!(
                                "the person {id} this invite names is no longer on the register"
                            )));
                        }
                    }
                    let on_register = |f: fn(&PersonDetails) -> bool| {
                        person.as_ref().is_some_and(|p| f(&p.details))
                    };
                    roster.members.push(Member {
                        id: member_id.clone(),
                        name: name.to_string(),
                        role: inv.role,
                        household: person
                            .as_ref()
                            .map_or(inv.household.clone(), |p| p.details.household.clone()),
                        group: person
                            .as_ref()
                            .map_or(inv.group.clone(), |p| p.details.group.clone()),
                        migrant: inv.enrols.migrant || on_register(|d| d.migrant),
                        household_rep: on_register(|d| d.household_rep),
                        party: inv.role == Role::PartyMember || on_register(|d| d.party),
                        revoked: false,
                        joined_version: roster.version + 1,
                        person: inv.enrols.person.clone(),
                        lives_in: inv
                            .enrols
                            .lives_in
                            .clone()
                            .or_else(|| person.as_ref().and_then(|p| p.details.lives_in.clone())),
                        changed_version: 0,
                    });
                    roster.devices.push(DeviceEntry {
                        key: device_hex.clone(),
                        member: member_id.clone(),
                        revoked_at_seq: None,
                        changed_version: 0,
                    });
                    roster.record_change(&before);
                    Ok(())
                })?;
        let space = self
            .storage
            .space(&inv.space_id)?
            .ok_or_else(|| RelayError::Storage("space vanished".into()))?;
        self.storage
            .set_roster_sent(&space.id, &device_hex, roster.version)?;
        let relay_key = DeviceKey::from_secret(&space.relay_secret)?;
        tracing::info!(space = %space.id, role = inv.role.as_str(), "device enrolled");
        Ok(EnrollResponse {
            space_id: space.id,
            space_name: space.name,
            member_id,
            role: inv.role,
            relay_key: hex::encode(relay_key.public()),
            roster: SignedRoster::sign(&roster, &relay_key),
        })
    }

    /// The member behind a signed control request (invite, revoke), after the checks:
    /// the signature, an enrolled device, `may` (the policy's rule for this request),
    /// then a fresh nonce.
    #[allow(clippy::too_many_arguments)]
    fn control_signer(
        &self,
        space: &str,
        device_key: &str,
        msg: &[u8],
        signature: &str,
        nonce: &str,
        now: i64,
        may: impl FnOnce(&Member) -> cunwu_protocol::Result<()>,
    ) -> Result<Member> {
        let key = decode_key_hex(device_key).map_err(|e| RelayError::BadRequest(e.to_string()))?;
        let sig = hex::decode(signature)
            .map_err(|_| RelayError::BadRequest("signature is not hex".into()))?;
        identity::verify(&key, msg, &sig).map_err(bad_sig)?;
        let rec = self
            .storage
            .space(space)?
            .ok_or_else(|| RelayError::NotFound(format!("no space {space}")))?;
        let m = rec.roster.signer(device_key, None)?.clone();
        may(&m)?;
        self.use_nonce(nonce, now)?;
        Ok(m)
    }

    /// The replay rule for signed control requests (invite, revoke, rotate): a nonce
    /// is used once. A nonce that carries a time (`wire::control::fresh_nonce`, signed
    /// with the request) must be within `MAX_NONCE_SKEW_MS` of the relay's clock, so a
    /// replay is refused by its time once the nonce is forgotten
    /// (`Storage::prune_nonces`); an older app's nonce without a time is kept for good.
    fn use_nonce(&self, nonce: &str, now: i64) -> Result<()> {
        if looks_timed(nonce) {
            return Err(RelayError::BadRequest(
                "a nonce beginning with 't' must be t<milliseconds>.<at least 16 random characters> (wire::control::fresh_nonce)".into(),
            ));
        }
        if let Some(t) = nonce_time(nonce) {
            if t.abs_diff(now) > MAX_NONCE_SKEW_MS as u64 {
                return Err(RelayError::Clock {
                    reason: format!(
                        "this request was signed at {t} ms by the phone's clock and the relay's is {now} ms: \
                         more than {} minutes apart; sign it again with the relay's time (`relay_time`)",
                        MAX_NONCE_SKEW_MS / 60_000
                    ),
                    relay_time: now,
                });
            }
        }
        if nonce.len() < 16 || !self.storage.use_nonce(nonce, now)? {
            return Err(RelayError::Conflict(
                "this request was already used (replayed nonce)".into(),
            ));
        }
        Ok(())
    }

    pub fn create_invite(&self, req: &InviteRequest, now: i64) -> Result<InviteResponse> {
        let m = self.control_signer(
            &req.space_id,
            &req.device_key,
            &invite_message(req),
            &req.signature,
            &req.nonce,
            now,
            |m| policy::may_invite(m, req.role),
        )?;
        let invite = self.make_invite(
            &req.space_id,
            req.role,
            &req.household,
            &req.group,
            &req.enrols,
            &m.id,
            now,
        )?;
        Ok(InviteResponse {
            invite,
            expires_at: now + INVITE_TTL_MS,
        })
    }

    pub fn revoke(&self, req: &RevokeRequest, now: i64) -> Result<()> {
        self.control_signer(
            &req.space_id,
            &req.device_key,
            &revoke_message(req),
            &req.signature,
            &req.nonce,
            now,
            policy::may_revoke,
        )?;
        self.revoke_in(&req.space_id, &req.target).map(|_| ())
    }

    /// A device replaces its key: both keys signed the request; the old key is revoked
    /// from the next log position (what it signed before stays valid, so its changes
    /// still verify on every phone), the new key is added for the same member, and
    /// the roster version is bumped. Asking again for a rotation already done (the
    /// answer was lost) answers the same roster and changes nothing.
    pub fn rotate(&self, req: &RotateRequest, now: i64) -> Result<RotateResponse> {
        let msg = rotate_message(req);
        for (key, sig, which) in [
            (&req.old_key, &req.old_signature, "old"),
            (&req.new_key, &req.new_signature, "new"),
        ] {
            let k = decode_key_hex(key)
                .map_err(|e| RelayError::BadRequest(format!("{which} key: {e}")))?;
            let sig = hex::decode(sig).map_err(|_| {
                RelayError::BadRequest(format!("{which} key's signature is not hex"))
            })?;
            identity::verify(&k, &msg, &sig).map_err(|_| {
                RelayError::Unauthorized(format!(
                    "the rotation request is not signed by its {which} key"
                ))
            })?;
        }
        if req.old_key == req.new_key {
            return Err(RelayError::BadRequest(
                "the new key must differ from the old one".into(),
            ));
        }
        let rec = self.storage.space(&req.space_id)?.ok_or_else(|| {
            RelayError::NotFound(format!("no space {} on this relay", req.space_id))
        })?;
        let member = match rec.roster.device(&req.old_key) {
            Some(d) => d.member.clone(),
            None => {
                return Err(RelayError::Unauthorized(
                    "the old key is not enrolled in this space".into(),
                ))
            }
        };
        self.use_nonce(&req.nonce, now)?;
        let roster = self.rotate_in(&req.space_id, &req.old_key, &req.new_key, &member)?;
        // the new key inherits the old one's roster floor (eligibility snapshots)
        let floor = self
            .storage
            .roster_sent(&req.space_id, &req.old_key)?
            .max(roster.version);
        self.storage
            .set_roster_sent(&req.space_id, &req.new_key, floor)?;
        tracing::info!(space = %req.space_id, member = %member, "device key rotated");
        Ok(RotateResponse {
            roster: self.signed_roster(&req.space_id, &roster, &rec.relay_secret)?,
        })
    }

    fn rotate_in(&self, space: &str, old: &str, new: &str, member: &str) -> Result<Roster> {
        let lock = self.space_lock(space);
        let _g = lock.lock();
        let _held = self.hold_space(space)?;
        let from = self.storage.last_seq(space)? + 1;
        let mut unchanged = None;
        let roster = self.storage.update_roster(space, &mut |roster| {
            let before = roster.clone();
            let new_entry = roster
                .device(new)
                .map(|d| (d.member.clone(), d.revoked_at_seq));
            if roster.members.iter().any(|m| m.id == member && m.revoked) {
                return Err(RelayError::Forbidden("this member is revoked".into()));
            }
            let Some(old_entry) = roster.devices.iter_mut().find(|d| d.key == old) else {
                return Err(RelayError::Unauthorized(
                    "the old key is not enrolled in this space".into(),
                ));
            };
            if old_entry.revoked_at_seq.is_some() {
                // done before with this very key (the answer was lost): nothing to change
                if new_entry == Some((member.to_string(), None)) {
                    unchanged = Some(roster.clone());
                    return Err(RelayError::Conflict("already rotated".into()));
                }
                return Err(RelayError::Forbidden(
                    "the old key is revoked; a revoked device cannot rotate its key".into(),
                ));
            }
            if new_entry.is_some() {
                return Err(RelayError::Conflict(
                    "the new key is already enrolled in this space".into(),
                ));
            }
            old_entry.revoked_at_seq = Some(from);
            roster.devices.push(DeviceEntry {
                key: new.to_string(),
                member: member.to_string(),
                revoked_at_seq: None,
                changed_version: 0,
            });
            roster.record_change(&before);
            Ok(())
        });
        match unchanged {
            Some(r) => Ok(r),
            None => roster,
        }
    }
}
