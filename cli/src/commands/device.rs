//! The device itself: enroll with an invite, status (membership, counts, pending and
//! rejected changes with their reasons), the roster, and invites for new members.

use super::parse;
use crate::args::{EnrollArgs, InviteCmd};
use crate::context::{name_of, runtime, Ctx};
use crate::error::{CliError, CliResult};
use crate::lang::{label, lang, when};
use crate::output::{print_json, say, short, shorten_ids, Table};
use crate::t;
use cunwu_core::store::{ChangeState, LocalChange};
use cunwu_core::sync::SyncClient;
use cunwu_core::words::catalogue::change_summary;
use cunwu_core::Role;
use serde_json::json;

pub fn enroll(ctx: &Ctx, a: EnrollArgs) -> CliResult<()> {
    let store = ctx.create_store()?;
    if let Some(m) = store.membership()? {
        return Err(CliError::usage(t!(
            "cli-already-enrolled",
            home = ctx.home.display().to_string(),
            space = &m.space_name,
            member = short(&m.member_id)
        )));
    }
    let rt = runtime()?;
    let m = rt.block_on(SyncClient::default().enroll(
        &store,
        &a.relay,
        a.invite.trim(),
        a.name.trim(),
    ))?;
    let me = store.me()?;
    if ctx.json {
        return print_json(&json!({
            "space_id": m.space_id,
            "space_name": m.space_name,
            "member_id": m.member_id,
            "name": me.name,
            "role": me.role,
            "device_id": store.device_id(),
            "relay_url": m.relay_url,
        }));
    }
    say(t!(
        "cli-enrolled",
        space = &m.space_name,
        name = &me.name,
        role = label(&me.role)
    ));
    say(t!(
        "cli-enrolled-ids",
        member = short(&m.member_id),
        device = short(&store.device_id())
    ));
    say(t!("cli-enrolled-next"));
    Ok(())
}

pub fn status(ctx: &Ctx) -> CliResult<()> {
    if !ctx.has_store() {
        if ctx.json {
            return print_json(&json!({ "home": ctx.home, "enrolled": false }));
        }
        say(t!(
            "cli-status-no-device",
            home = ctx.home.display().to_string()
        ));
        return Ok(());
    }
    let store = ctx.create_store()?;
    let Some(m) = store.membership()? else {
        if ctx.json {
            return print_json(
                &json!({ "home": ctx.home, "enrolled": false, "device_id": store.device_id() }),
            );
        }
        say(t!(
            "cli-status-not-enrolled",
            device = short(&store.device_id()),
            home = ctx.home.display().to_string()
        ));
        return Ok(());
    };
    let me = store.me()?;
    let roster = store.roster()?;
    let counts = store.counts()?;
    let changes = store.local_changes(None, 10_000)?;
    let pending: Vec<&LocalChange> = changes
        .iter()
        .filter(|c| matches!(c.state, ChangeState::Pending | ChangeState::Sent))
        .collect();
    let rejected: Vec<&LocalChange> = changes
        .iter()
        .filter(|c| c.state == ChangeState::Rejected)
        .collect();
    if ctx.json {
        return print_json(&json!({
            "home": ctx.home,
            "enrolled": true,
            "device_id": store.device_id(),
            "space_id": m.space_id,
            "space_name": m.space_name,
            "member_id": m.member_id,
            "name": me.name,
            "role": me.role,
            "relay_url": m.relay_url,
            "cursor": store.cursor()?,
            "roster_version": roster.version,
            "members": roster.members.len(),
            "counts": counts,
            "pending_changes": pending,
            "rejected_changes": rejected,
        }));
    }
    say(t!(
        "cli-status-space",
        space = &m.space_name,
        id = short(&m.space_id)
    ));
    say(t!(
        "cli-status-member",
        name = &me.name,
        role = label(&me.role),
        id = short(&m.member_id)
    ));
    say(t!("cli-status-device", id = short(&store.device_id())));
    say(t!(
        "cli-status-relay",
        url = if m.relay_url.is_empty() {
            t!("cli-none")
        } else {
            m.relay_url.clone()
        }
    ));
    say(t!(
        "cli-status-counts",
        unread = counts.unread_notices,
        open = counts.open_requests,
        mine = counts.my_open_requests,
        assigned = counts.assigned_to_me,
        votes = counts.open_votes_not_cast
    ));
    say(t!("cli-status-pending", n = pending.len()));
    for c in &pending {
        say(t!(
            "cli-status-pending-line",
            state = label(&c.state),
            summary = change_summary(lang(), c.kind, &c.summary),
            id = short(&c.entity_id),
            when = when(c.created_at)
        ));
    }
    if rejected.is_empty() {
        say(t!("cli-status-rejected-none"));
    } else {
        say(t!("cli-status-rejected", n = rejected.len()));
        for c in &rejected {
            say(t!(
                "cli-status-rejected-line",
                summary = change_summary(lang(), c.kind, &c.summary),
                id = short(&c.entity_id),
                when = when(c.created_at),
                reason = c
                    .reason
                    .as_deref()
                    .map(shorten_ids)
                    .unwrap_or_else(|| t!("cli-no-reason"))
            ));
        }
    }
    Ok(())
}

pub fn members(ctx: &Ctx) -> CliResult<()> {
    let store = ctx.store()?;
    let roster = store.roster()?;
    let me = store.me()?.id;
    if ctx.json {
        let v: Vec<_> = roster
            .members
            .iter()
            .map(|m| {
                let mut o = serde_json::to_value(m).expect("member serializes");
                o["me"] = json!(m.id == me);
                o["devices"] = json!(roster.devices.iter().filter(|d| d.member == m.id).count());
                o
            })
            .collect();
        return print_json(&v);
    }
    let mut t = Table::new(&[
        &t!("cli-col-id"),
        &t!("cli-col-name"),
        &t!("cli-col-role"),
        &t!("cli-col-household"),
        &t!("cli-col-group"),
        &t!("cli-col-devices"),
        "",
    ]);
    for m in &roster.members {
        let mut flags = vec![];
        if m.id == me {
            flags.push(t!("cli-flag-me"));
        }
        if m.revoked {
            flags.push(t!("cli-flag-revoked"));
        }
        if m.migrant {
            flags.push(t!("cli-flag-migrant"));
        }
        t.row(vec![
            short(&m.id).into(),
            m.name.clone(),
            label(&m.role),
            m.household.clone(),
            m.group.clone(),
            roster
                .devices
                .iter()
                .filter(|d| d.member == m.id)
                .count()
                .to_string(),
            flags.join(&t!("cli-list-separator")),
        ]);
    }
    t.print();
    Ok(())
}

pub fn invite(ctx: &Ctx, c: InviteCmd) -> CliResult<()> {
    let InviteCmd::Create {
        role,
        household,
        group,
        person,
        migrant,
        lives_in,
    } = c;
    let role = parse::role(&role)?;
    let store = ctx.store()?;
    let me = store.me()?;
    if me.role != Role::Cadre {
        return Err(cunwu_core::Error::not_allowed(format!(
            "only cadres create invites; {} is a {}",
            me.name,
            me.role.as_str()
        ))
        .into());
    }
    let person = person
        .map(|p| super::register::resolve_person(&store, &p))
        .transpose()?;
    let enrols = cunwu_core::wire::control::InviteFor {
        person: person.clone(),
        migrant,
        lives_in,
    };
    let rt = runtime()?;
    let r = rt.block_on(
        SyncClient::default().create_invite_for(&store, role, &household, &group, enrols),
    )?;
    if ctx.json {
        return print_json(&json!({
            "invite": r.invite,
            "expires_at": r.expires_at,
            "role": role,
            "household": household,
            "group": group,
            "person": person,
            "created_by": name_of(&crate::context::member_names(&store), &me.id),
        }));
    }
    say(t!("cli-invite-code", code = &r.invite));
    say(t!(
        "cli-invite-details",
        role = label(&role),
        expires = when(r.expires_at),
        code = &r.invite
    ));
    Ok(())
}
