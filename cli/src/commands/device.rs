//! The device itself: enroll with an invite, status (membership, counts, pending and
//! rejected changes with their reasons), the roster, and invites for new members.

use crate::args::{EnrollArgs, InviteCmd};
use crate::context::{name_of, runtime, Ctx};
use crate::error::{CliError, CliResult};
use crate::output::{print_json, say, short, time, Table};
use cunwu_core::store::{ChangeState, LocalChange};
use cunwu_core::sync::SyncClient;
use cunwu_core::Role;
use serde_json::json;

pub fn enroll(ctx: &Ctx, a: EnrollArgs) -> CliResult<()> {
    let store = ctx.create_store()?;
    if let Some(m) = store.membership()? {
        return Err(CliError::usage(format!(
            "{} is already enrolled in {} as member {}; use another --home for another device",
            ctx.home.display(),
            m.space_name,
            m.member_id
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
    say(format!(
        "enrolled in {} as {} ({})",
        m.space_name,
        me.name,
        me.role.as_str()
    ));
    say(format!(
        "member id {}  device {}",
        m.member_id,
        short(&store.device_id())
    ));
    say("run `cunwu sync` to fetch what the village has published");
    Ok(())
}

pub fn status(ctx: &Ctx) -> CliResult<()> {
    if !ctx.has_store() {
        if ctx.json {
            return print_json(&json!({ "home": ctx.home, "enrolled": false }));
        }
        say(format!(
            "no Cunwu device in {} (run `cunwu enroll` first)",
            ctx.home.display()
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
        say(format!(
            "device {} in {} is not enrolled yet (run `cunwu enroll`)",
            short(&store.device_id()),
            ctx.home.display()
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
    say(format!(
        "space     {} ({})",
        m.space_name,
        short(&m.space_id)
    ));
    say(format!(
        "member    {} — {} ({})",
        me.name,
        me.role.as_str(),
        m.member_id
    ));
    say(format!("device    {}", store.device_id()));
    say(format!(
        "relay     {}",
        if m.relay_url.is_empty() {
            "(none)"
        } else {
            &m.relay_url
        }
    ));
    say(format!(
        "counts    {} unread notices · {} open requests ({} mine, {} assigned to me) · {} votes to cast",
        counts.unread_notices, counts.open_requests, counts.my_open_requests, counts.assigned_to_me, counts.open_votes_not_cast
    ));
    say(format!(
        "pending   {} change(s) not yet acknowledged by the relay",
        pending.len()
    ));
    for c in &pending {
        say(format!(
            "          · {} {} ({})",
            c.summary,
            short(&c.entity_id),
            time(c.created_at)
        ));
    }
    if rejected.is_empty() {
        say("rejected  none");
    } else {
        say(format!(
            "rejected  {} change(s) refused by the relay and undone on this device:",
            rejected.len()
        ));
        for c in &rejected {
            say(format!(
                "          ✗ {} {} ({}): {}",
                c.summary,
                short(&c.entity_id),
                time(c.created_at),
                c.reason.as_deref().unwrap_or("no reason given")
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
    let mut t = Table::new(&["ID", "NAME", "ROLE", "HOUSEHOLD", "GROUP", "DEVICES", ""]);
    for m in &roster.members {
        let mut flags = vec![];
        if m.id == me {
            flags.push("me");
        }
        if m.revoked {
            flags.push("revoked");
        }
        if m.migrant {
            flags.push("migrant");
        }
        t.row(vec![
            short(&m.id).into(),
            m.name.clone(),
            m.role.as_str().into(),
            m.household.clone(),
            m.group.clone(),
            roster
                .devices
                .iter()
                .filter(|d| d.member == m.id)
                .count()
                .to_string(),
            flags.join(","),
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
    } = c;
    let role = Role::parse(role.trim())?;
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
    let rt = runtime()?;
    let r = rt.block_on(SyncClient::default().create_invite(&store, role, &household, &group))?;
    if ctx.json {
        return print_json(&json!({
            "invite": r.invite,
            "expires_at": r.expires_at,
            "role": role,
            "household": household,
            "group": group,
            "created_by": name_of(&crate::context::member_names(&store), &me.id),
        }));
    }
    say(format!("invite code: {}", r.invite));
    say(format!(
        "role {} · expires {} · redeem once with `cunwu enroll --invite {}`",
        role.as_str(),
        time(r.expires_at),
        r.invite
    ));
    Ok(())
}
