//! `cunwu attachment add|list|fetch`: photos, voice notes and scans on the command line,
//! and the progress bar the attachment lane draws on a terminal (`cunwu sync` too).
//!
//! The JSON of these commands is a contract (scripts rely on it): `add --json` has
//! `hash` (and `hashes` when several files were given), `list --json` is an array of
//! objects with at least `hash`, `name`, `mime`, `size` and `state`.

use crate::args::AttachmentCmd;
use crate::context::{runtime, Ctx};
use crate::error::{CliError, CliResult};
use crate::output::{bytes, print_json, say, short};
use crate::t;
use cunwu_core::model::EntityKind;
use cunwu_core::store::{AttachmentView, BlobObserver, BlobProgress, Store};
use cunwu_core::sync::SyncClient;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

pub fn run(ctx: &Ctx, cmd: AttachmentCmd) -> CliResult<()> {
    match cmd {
        AttachmentCmd::Add {
            to,
            event,
            line,
            files,
        } => {
            let store = ctx.store()?;
            let id = resolve_parent(&store, &to)?;
            // people count finance lines from 1; the model from 0
            let line = line.map(|l| l.saturating_sub(1));
            let added = store.attach(&id, &files, event, line)?;
            if ctx.json {
                let hashes: Vec<&str> = added.iter().map(|a| a.hash.as_str()).collect();
                return print_json(&json!({
                    "entity": id,
                    "hash": hashes.first(),
                    "hashes": hashes,
                    "attachments": added,
                }));
            }
            for a in &added {
                say(&a.hash);
                eprintln!(
                    "{}",
                    t!(
                        "cli-attachment-added",
                        name = a.name.as_str(),
                        size = bytes(a.size),
                        to = short(&id)
                    )
                );
            }
            Ok(())
        }
        AttachmentCmd::List { id } => {
            let store = ctx.store()?;
            let id = resolve_parent(&store, &id)?;
            let list = store.attachments(&id)?;
            if ctx.json {
                let rows: Vec<_> = list.iter().map(row).collect();
                return print_json(&rows);
            }
            if list.is_empty() {
                say(t!("cli-attachment-none"));
                return Ok(());
            }
            for v in &list {
                say(t!(
                    "cli-attachment-line",
                    name = v.attachment.name.as_str(),
                    kind = crate::lang::label(&v.attachment.kind()),
                    size = bytes(v.attachment.size),
                    state = state_text(v)
                ));
                say(format!("    {}", v.attachment.hash));
            }
            Ok(())
        }
        AttachmentCmd::Fetch { hash, out, timeout } => {
            let store = ctx.store()?;
            let hash = hash.trim().to_ascii_lowercase();
            if !cunwu_core::model::attachment::is_hash(&hash) {
                return Err(CliError::usage(t!("cli-attachment-bad-hash", typed = hash)));
            }
            let held = store.attachment(&hash)?;
            if held.state != cunwu_core::store::AttachmentState::Downloaded && held.path.is_none() {
                let client = SyncClient::new(Duration::from_secs(timeout.max(1)));
                runtime()?.block_on(client.fetch_attachment(&store, &hash, observer(ctx)))?;
            }
            store.export_attachment(&hash, &out)?;
            if ctx.json {
                return print_json(&json!({
                    "hash": hash,
                    "out": out,
                    "size": held.attachment.size,
                    "mime": held.attachment.mime,
                }));
            }
            say(t!(
                "cli-attachment-fetched",
                name = held.attachment.name.as_str(),
                size = bytes(held.attachment.size),
                out = out.display().to_string()
            ));
            Ok(())
        }
    }
}

/// The stable JSON of one attachment in `attachment list --json`.
fn row(v: &AttachmentView) -> serde_json::Value {
    let a = &v.attachment;
    json!({
        "hash": a.hash,
        "name": a.name,
        "mime": a.mime,
        "size": a.size,
        "kind": a.kind(),
        "state": v.state.as_str(),
        "done": v.done,
        "error": v.error,
        "entity": v.entity,
        "by": v.by,
        "at": v.at,
        "event": v.to,
        "line": v.line.map(|l| l + 1),
        "duration_ms": a.duration_ms,
        "width": a.width,
        "height": a.height,
        "path": v.path,
    })
}

fn state_text(v: &AttachmentView) -> String {
    let state = crate::lang::label(&v.state);
    match (&v.error, v.done) {
        (Some(why), _) => t!(
            "cli-attachment-state-why",
            state = state,
            why = why.as_str()
        ),
        (None, d) if d > 0 && d < v.attachment.size => t!(
            "cli-attachment-state-done",
            state = state,
            done = bytes(d),
            size = bytes(v.attachment.size)
        ),
        _ => state,
    }
}

/// A request, notice or deliberation this device holds, by id or unique prefix.
fn resolve_parent(store: &Store, typed: &str) -> CliResult<String> {
    let p = typed.trim().to_ascii_lowercase();
    let parents = [
        EntityKind::Request,
        EntityKind::Notice,
        EntityKind::Deliberation,
    ];
    let matches: Vec<String> = store
        .entity_ids()?
        .into_iter()
        .filter(|(id, k)| parents.contains(k) && id.starts_with(&p) && !p.is_empty())
        .map(|(id, _)| id)
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().expect("one")),
        0 => Err(CliError::usage(t!("cli-attachment-no-parent", prefix = p))),
        n => Err(CliError::usage(t!(
            "cli-attachment-ambiguous-parent",
            prefix = p,
            n = n
        ))),
    }
}

/// A progress bar on stderr when it is a terminal and the output is not JSON.
pub fn observer(ctx: &Ctx) -> Option<Arc<dyn BlobObserver>> {
    (!ctx.json && std::io::stderr().is_terminal())
        .then(|| Arc::new(TerminalBar) as Arc<dyn BlobObserver>)
}

struct TerminalBar;

impl BlobObserver for TerminalBar {
    fn progress(&self, p: &BlobProgress) {
        let width = 20usize;
        let filled = if p.size == 0 {
            width
        } else {
            ((p.done.min(p.size) as u128 * width as u128) / p.size as u128) as usize
        };
        let bar: String = "█".repeat(filled) + &"░".repeat(width - filled);
        let percent = (p.done.min(p.size) * 100)
            .checked_div(p.size)
            .unwrap_or(100);
        let what = if p.upload {
            t!("cli-attachment-uploading", name = p.name.as_str())
        } else {
            t!("cli-attachment-downloading", name = p.name.as_str())
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{what} {bar} {percent}% ({}/{})",
            bytes(p.done),
            bytes(p.size)
        );
        if p.done >= p.size {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}
