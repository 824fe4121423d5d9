//! `cunwu proposal …`: villagers put a matter forward and co-sign it; cadres see which
//! proposals have the support the law asks for (`Proposal::support`) and take them up.

use super::parse;
use crate::args::ProposalCmd;
use crate::context::{resolve, Ctx};
use crate::error::CliResult;
use crate::lang::{label, when};
use crate::output::{clip, print_json, say, short, Table};
use crate::t;
use cunwu_core::store::ProposalView;
use cunwu_core::EntityKind;
use serde_json::json;

pub fn run(ctx: &Ctx, cmd: ProposalCmd) -> CliResult<()> {
    let store = ctx.store()?;
    match cmd {
        ProposalCmd::Create {
            title,
            body,
            meeting,
        } => {
            let meeting = parse::deciding_body(&meeting)?;
            let id = store.propose(&title, &body, meeting)?;
            if ctx.json {
                return print_json(&json!({ "id": id, "title": title.trim() }));
            }
            say(t!(
                "cli-proposal-created",
                id = short(&id),
                title = title.trim()
            ));
            Ok(())
        }
        ProposalCmd::Cosign { id } => {
            let id = resolve(&store, EntityKind::Proposal, &id)?;
            store.co_sign(&id)?;
            shown(ctx, &store.proposal(&id)?, "cli-proposal-cosigned")
        }
        ProposalCmd::Withdraw { id } => {
            let id = resolve(&store, EntityKind::Proposal, &id)?;
            store.withdraw_proposal(&id)?;
            shown(ctx, &store.proposal(&id)?, "cli-proposal-withdrawn")
        }
        ProposalCmd::TakeUp {
            id,
            deliberation,
            note,
        } => {
            let id = resolve(&store, EntityKind::Proposal, &id)?;
            let deliberation = deliberation
                .map(|d| resolve(&store, EntityKind::Deliberation, &d))
                .transpose()?;
            store.take_up_proposal(&id, deliberation, &note)?;
            shown(ctx, &store.proposal(&id)?, "cli-proposal-taken-up")
        }
        ProposalCmd::List => {
            let all = store.proposals()?;
            if ctx.json {
                return print_json(&all);
            }
            if all.is_empty() {
                say(t!("cli-no-proposals"));
                return Ok(());
            }
            let mut t = Table::new(&[
                &t!("cli-col-id"),
                &t!("cli-col-status"),
                &t!("cli-col-support"),
                &t!("cli-col-title"),
            ]);
            for v in &all {
                t.row(vec![
                    short(&v.proposal.id).into(),
                    label(&v.proposal.status),
                    support_words(v),
                    clip(&v.proposal.title, 48),
                ]);
            }
            t.print();
            Ok(())
        }
        ProposalCmd::Show { id } => {
            let id = resolve(&store, EntityKind::Proposal, &id)?;
            let v = store.proposal(&id)?;
            if ctx.json {
                return print_json(&v);
            }
            say(format!(
                "{} · {}",
                v.proposal.title,
                label(&v.proposal.status)
            ));
            say(t!(
                "cli-proposal-for",
                meeting = label(&v.proposal.meeting),
                when = when(v.proposal.proposed_at)
            ));
            if !v.proposal.body.is_empty() {
                say(v.proposal.body.clone());
            }
            say(support_words(&v));
            Ok(())
        }
    }
}

fn shown(ctx: &Ctx, v: &ProposalView, what: &str) -> CliResult<()> {
    if ctx.json {
        return print_json(v);
    }
    say(t!(what, title = &v.proposal.title));
    say(support_words(v));
    Ok(())
}

/// "已有 3 人联名（需要 4 人）" and, for a cadre, whether the meeting is due.
fn support_words(v: &ProposalView) -> String {
    match &v.support {
        None => t!("cli-proposal-signers", n = v.proposal.signers.len()),
        Some(s) if s.due => t!("cli-proposal-due", n = s.signers, needed = s.needed),
        Some(s) => t!("cli-proposal-support", n = s.signers, needed = s.needed),
    }
}
