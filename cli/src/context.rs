//! What every command needs: the device directory, the store in it, the output mode,
//! a runtime for network work, and turning what the user typed (id prefixes, member
//! names) into the ids the core speaks.

use crate::error::{CliError, CliResult};
use crate::lang::label;
use crate::t;
use cunwu_core::{EntityKind, Store};
use std::collections::HashMap;
use std::path::PathBuf;

/// The store file inside a device directory.
pub const STORE_FILE: &str = "cunwu.db";

pub struct Ctx {
    pub home: PathBuf,
    pub json: bool,
}

impl Ctx {
    /// `--home`, else `$CUNWU_HOME`, else `./.cunwu`.
    pub fn new(home: Option<PathBuf>, json: bool) -> Ctx {
        let home = home
            .or_else(|| {
                std::env::var_os("CUNWU_HOME")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(".cunwu"));
        Ctx { home, json }
    }

    pub fn store_path(&self) -> PathBuf {
        self.home.join(STORE_FILE)
    }

    pub fn has_store(&self) -> bool {
        self.store_path().is_file()
    }

    /// Open the store, creating the directory and file when missing (enroll).
    pub fn create_store(&self) -> CliResult<Store> {
        Store::open(self.store_path()).map_err(|e| {
            CliError::failure(t!(
                "cli-cannot-open-store",
                path = self.store_path().display().to_string(),
                detail = e.to_string()
            ))
        })
    }

    /// Open the store of an enrolled device; a missing store is a usage error.
    pub fn store(&self) -> CliResult<Store> {
        if !self.has_store() {
            return Err(CliError::usage(t!(
                "cli-no-device",
                home = self.home.display().to_string()
            )));
        }
        let store = self.create_store()?;
        if store.membership()?.is_none() {
            return Err(cunwu_core::Error::NotEnrolled.into());
        }
        Ok(store)
    }
}

/// A small runtime for network work (sync, enroll, invites).
pub fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(t!("cli-no-runtime", detail = e.to_string())))
}

/// Turn a full id or a unique prefix of one into the id of an entity of `kind`.
pub fn resolve(store: &Store, kind: EntityKind, typed: &str) -> CliResult<String> {
    let p = typed.trim().to_ascii_lowercase();
    let what = match kind {
        EntityKind::Notice => t!("cli-what-notice"),
        EntityKind::Request => t!("cli-what-request"),
        EntityKind::Deliberation => t!("cli-what-deliberation"),
        other => label(&other),
    };
    if p.is_empty() || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::usage(t!(
            "cli-not-an-id",
            typed = typed,
            what = what.as_str()
        )));
    }
    if cunwu_core::ids::is_id(&p) {
        return Ok(p);
    }
    let matches: Vec<String> = store
        .entity_ids()?
        .into_iter()
        .filter(|(id, k)| *k == kind && id.starts_with(&p))
        .map(|(id, _)| id)
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one match")),
        0 => Err(CliError::usage(t!(
            "cli-no-such-id",
            what = what.as_str(),
            prefix = p.as_str()
        ))),
        n => Err(CliError::usage(t!(
            "cli-ambiguous-id",
            n = n,
            what = what.as_str(),
            prefix = p.as_str()
        ))),
    }
}

/// Member id → name, from the signed roster.
pub fn member_names(store: &Store) -> HashMap<String, String> {
    store
        .roster()
        .map(|r| r.members.into_iter().map(|m| (m.id, m.name)).collect())
        .unwrap_or_default()
}

/// A name for a member id (the short id when the roster does not know it).
pub fn name_of(names: &HashMap<String, String>, id: &str) -> String {
    names
        .get(id)
        .cloned()
        .unwrap_or_else(|| crate::output::short(id).to_string())
}

/// A member by id, id prefix or exact name.
pub fn resolve_member(store: &Store, typed: &str) -> CliResult<String> {
    let roster = store.roster()?;
    let t = typed.trim();
    if let Some(m) = roster.members.iter().find(|m| m.id == t) {
        return Ok(m.id.clone());
    }
    let by_name: Vec<_> = roster.members.iter().filter(|m| m.name == t).collect();
    if by_name.len() == 1 {
        return Ok(by_name[0].id.clone());
    }
    if by_name.len() > 1 {
        return Err(CliError::usage(t!(
            "cli-ambiguous-member-name",
            n = by_name.len(),
            name = t
        )));
    }
    let lower = t.to_ascii_lowercase();
    let by_prefix: Vec<_> = roster
        .members
        .iter()
        .filter(|m| !lower.is_empty() && m.id.starts_with(&lower))
        .collect();
    match by_prefix.len() {
        1 => Ok(by_prefix[0].id.clone()),
        0 => Err(CliError::usage(t!("cli-no-such-member", name = t))),
        n => Err(CliError::usage(t!(
            "cli-ambiguous-member-id",
            n = n,
            prefix = t
        ))),
    }
}
