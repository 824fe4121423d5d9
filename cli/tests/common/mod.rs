//! The village the CLI suites share (`cli.rs`, `screens.rs`): a relay inside the test
//! process on a real SQLite file and socket, one space, and a folder for the homes.
//! Each suite enrols homes its own way (its `json` helper, its language).

use cunwu_core::Role;
use std::path::PathBuf;

pub struct Village {
    pub rt: tokio::runtime::Runtime,
    pub relay: Option<cunwu_relay::RunningRelay>,
    pub space: String,
    pub dir: tempfile::TempDir,
}

impl Village {
    pub fn new() -> Village {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let relay = rt
            .block_on(cunwu_relay::spawn(&dir.path().join("relay.db")))
            .unwrap();
        let (space, _) = relay.relay.create_space("青石村").unwrap();
        Village {
            rt,
            relay: Some(relay),
            space,
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.relay.as_ref().unwrap().url()
    }

    pub fn home(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An admin invite for `role`, in household H01 of group 一组.
    pub fn invite(&self, role: Role) -> String {
        self.relay
            .as_ref()
            .unwrap()
            .relay
            .admin_invite(&self.space, role, "H01", "一组")
            .unwrap()
    }
}

impl Drop for Village {
    fn drop(&mut self) {
        if let Some(r) = self.relay.take() {
            self.rt.block_on(r.stop());
        }
    }
}
