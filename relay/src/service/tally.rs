//! The tallies the relay publishes: once a vote closes, a count signed with the
//! space's relay key, published again whenever it changes (ballots reaching the relay
//! in the grace period, and the result becoming final). Secret ballots and hidden
//! results are counted only here; what a member may see of a result is the model's
//! rule (`Deliberation::result_view`).

use super::{Relay, Result};
use cunwu_protocol::identity::DeviceKey;
use cunwu_protocol::model::deliberation::{count, Phase, Tally, Voices};
use cunwu_protocol::wire::SignedTally;

impl Relay {
    /// Publish a signed tally for each closed deliberation with secret ballots or hidden
    /// results whose counts changed. Called when ballots or deliberations change, and
    /// at most every 10 s otherwise (deadlines pass without any write): the sync asks
    /// `Caches::tally_due` first, before it takes the space.
    pub(super) fn publish_tallies(&self, space: &str, relay_secret: &[u8], now: i64) -> Result<()> {
        let relay_key = DeviceKey::from_secret(relay_secret)?;
        for did in self.storage.referencing(space, "tally")? {
            let Some(doc) = self.load_doc(space, &did)? else {
                continue;
            };
            let Some(d) = doc.deliberation() else {
                continue;
            };
            // published once the vote is closed, until the result is final
            if d.phase(now) != Phase::Closed {
                continue;
            }
            let mut voices = Voices::default();
            for bid in self.storage.referencing(space, &did)? {
                let Some(b) = self.load_doc(space, &bid)? else {
                    continue;
                };
                if let Some(v) = b.ballot_voice(&d)? {
                    voices.add(v);
                }
            }
            // final once the grace period is over: the model's one rule
            let mut t = count(&d, &voices, now);
            // signed with the log end it was computed at (phones keep the newest); a
            // new position alone is no reason to publish again
            t.as_of = self.storage.last_seq(space)?;
            let prev = self
                .storage
                .tallied(space, &did)?
                .and_then(|j| serde_json::from_slice::<Tally>(&j).ok());
            if prev
                .map(|p| Tally {
                    as_of: t.as_of,
                    ..p
                })
                .as_ref()
                != Some(&t)
            {
                let signed = SignedTally::sign(&t, &relay_key);
                let seq = self.storage.append_tally(
                    space,
                    &did,
                    &signed.tally_json,
                    &signed.signature,
                )?;
                self.cache.appended(space, seq);
                tracing::info!(space, deliberation = %did, participants = t.participants, "tally published");
            }
        }
        Ok(())
    }
}
