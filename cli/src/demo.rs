//! `cunwu demo`: a whole village in one process. An in-process relay on a temporary
//! SQLite file; a cadre (陈建国), a resident in the village (王秀英) and a migrant
//! resident working in 东莞 (李明), each a real device with its own store, enrolled by
//! invite. Each works offline, then they sync; the cadre answers and opens a vote;
//! they vote and sync again. It prints each device's view and checks that all three
//! agree ("converged: yes" / "各设备一致：是"), exiting 1 if they do not. The story is
//! told in the run's language (Chinese by default) and ends with what to try next:
//! a relay and devices run by hand.

use crate::commands::visible_tally;
use crate::context::member_names;
use crate::corpus::{self, DemoRequest};
use crate::error::{CliError, CliResult};
use crate::lang::{kind_label, label};
use crate::output::{bytes, print_json, say, short, shorten_ids, yuan};
use crate::t;
use cunwu_core::ids::now_ms;
use cunwu_core::model::deliberation::{DecidingBody, Tally};
use cunwu_core::model::register::PersonDetails;
use cunwu_core::model::request::{Place, Status};
use cunwu_core::store::{NewDeliberation, NewRequest, NoticeFilter, RequestFilter};
use cunwu_core::sync::SyncClient;
use cunwu_core::wire::control::InviteFor;
use cunwu_core::{Role, Store};
use serde::Serialize;
use serde_json::json;
use std::time::Instant;

const SPACE: &str = "青石村";
const CADRE: &str = "陈建国";
const RESIDENT: &str = "王秀英";
const MIGRANT: &str = "李明";
const MIGRANT_CITY: &str = "东莞";
/// Villagers on the register with no phone: their ballots are cast in the hall.
const ELDERS: [(&str, &str); 2] = [("张大爷", "H02"), ("李奶奶", "H03")];

struct Device {
    name: &'static str,
    label: String,
    store: Store,
}

/// Narration: printed as it happens in text mode, collected for `--json`.
struct Log {
    json: bool,
    lines: Vec<String>,
}

impl Log {
    fn say(&mut self, s: impl Into<String>) {
        let s = s.into();
        if !self.json {
            say(&s);
        }
        self.lines.push(s);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct NoticeView {
    id: String,
    title: String,
    status: String,
    revision: u32,
    closing_fen: Option<i64>,
    questions: usize,
    answered: usize,
    read_by: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct RequestView {
    id: String,
    title: String,
    status: String,
    kind: String,
    filer: String,
    comments: usize,
    attachments: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct DeliberationView {
    id: String,
    title: String,
    status: String,
    options: Vec<String>,
    tally: Option<Tally>,
}

#[derive(Debug, Clone, Serialize)]
struct DeviceView {
    name: String,
    role: String,
    member_id: String,
    device_id: String,
    notices: Vec<NoticeView>,
    requests: Vec<RequestView>,
    deliberations: Vec<DeliberationView>,
    pending_changes: u32,
    rejected_changes: u32,
}

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError::failure(t!("cli-demo-failed", detail = e.to_string()))
}

pub fn run(json: bool) -> CliResult<()> {
    let started = Instant::now();
    let rt = crate::context::runtime()?;
    rt.block_on(run_async(json, started))
}

async fn run_async(json: bool, started: Instant) -> CliResult<()> {
    let mut log = Log {
        json,
        lines: vec![],
    };
    let content = corpus::load(RESIDENT, MIGRANT);
    let dir = tempfile::Builder::new()
        .prefix("cunwu-demo-")
        .tempdir()
        .map_err(fail)?;
    let relay = cunwu_relay::spawn(&dir.path().join("relay.db"))
        .await
        .map_err(fail)?;
    let url = relay.url();
    log.say(t!("cli-demo-title", space = SPACE));
    log.say(t!("cli-demo-content", source = &content.source));
    log.say(t!(
        "cli-demo-relay",
        url = url.as_str(),
        file = dir.path().join("relay.db").display().to_string()
    ));

    // ---- enrolment ------------------------------------------------------------------
    let (space, cadre_invite) = relay.relay.create_space(SPACE).map_err(fail)?;
    let client = SyncClient::default();
    let open = |n: &str| Store::open(dir.path().join(n).join(crate::context::STORE_FILE));
    let cadre = Device {
        name: CADRE,
        label: t!("cli-demo-cadre-label"),
        store: open("cadre")?,
    };
    let resident = Device {
        name: RESIDENT,
        label: t!("cli-demo-resident-label"),
        store: open("resident")?,
    };
    let migrant = Device {
        name: MIGRANT,
        label: t!("cli-demo-migrant-label", city = MIGRANT_CITY),
        store: open("migrant")?,
    };
    client
        .enroll(&cadre.store, &url, &cadre_invite, CADRE)
        .await?;
    // The cadre keeps the register of villagers: the two phone holders and two elders
    // who have none. Invites name the person they enrol.
    let villager = |name: &str, household: &str, group: &str| PersonDetails {
        name: name.into(),
        household: household.into(),
        group: group.into(),
        adult: true,
        ..PersonDetails::default()
    };
    let resident_person = cadre.store.register_add(PersonDetails {
        born: Some("1952-04-18".into()),
        household_rep: true,
        ..villager(RESIDENT, "H05", "二组")
    })?;
    let migrant_person = cadre.store.register_add(PersonDetails {
        migrant: true,
        lives_in: Some(MIGRANT_CITY.into()),
        ..villager(MIGRANT, "H13", "一组")
    })?;
    let elders: Vec<String> = ELDERS
        .iter()
        .map(|(name, household)| cadre.store.register_add(villager(name, household, "一组")))
        .collect::<Result<_, _>>()?;
    client.sync_once(&cadre.store, None).await?;
    let resident_invite = relay
        .relay
        .admin_invite_for(
            &space,
            Role::Resident,
            "H05",
            "二组",
            &InviteFor {
                person: Some(resident_person),
                ..InviteFor::default()
            },
        )
        .map_err(fail)?;
    client
        .enroll(&resident.store, &url, &resident_invite, RESIDENT)
        .await?;
    // The cadre invites the migrant through the relay, as a cadre's phone would.
    let migrant_invite = client
        .create_invite_for(
            &cadre.store,
            Role::Resident,
            "H13",
            "一组",
            InviteFor {
                person: Some(migrant_person),
                migrant: true,
                lives_in: Some(MIGRANT_CITY.into()),
            },
        )
        .await?;
    client
        .enroll(&migrant.store, &url, &migrant_invite.invite, MIGRANT)
        .await?;
    log.say("");
    log.say(t!("cli-demo-step-enrol"));
    for d in [&cadre, &resident, &migrant] {
        log.say(t!(
            "cli-demo-enrolled",
            name = d.name,
            label = d.label.as_str(),
            device = short(&d.store.device_id())
        ));
    }
    let devices = [&cadre, &resident, &migrant];
    log.say(t!(
        "cli-demo-register",
        who = CADRE,
        n = cadre.store.persons()?.len(),
        without = ELDERS.len()
    ));

    // ---- offline work ---------------------------------------------------------------
    log.say("");
    log.say(t!("cli-demo-step-offline"));
    let fin = cadre.store.post_notice(content.finance.clone())?;
    let closing = cadre
        .store
        .notice(&fin)?
        .totals
        .map(|t| yuan(t.closing_fen))
        .unwrap_or_default();
    log.say(t!(
        "cli-demo-posts-finance",
        who = CADRE,
        title = &content.finance.title,
        lines = content.finance.lines.len(),
        closing = closing
    ));
    cadre.store.post_notice(content.village.clone())?;
    log.say(t!(
        "cli-demo-posts-village",
        who = CADRE,
        title = &content.village.title
    ));
    let low = file(&resident.store, &content.low_income)?;
    log.say(t!(
        "cli-demo-files",
        who = RESIDENT,
        title = &content.low_income.title,
        kind = kind_label(&content.low_income.kind)
    ));
    // she says the rest in a voice note (40 s of AMR is about 60 KB); the request goes
    // ahead of it, the voice note follows on the attachment lane
    let voice = dir.path().join("低保说明.amr");
    std::fs::write(&voice, demo_voice_note(60_000)).map_err(fail)?;
    resident.store.attach(&low, &[voice], None, None)?;
    log.say(t!(
        "cli-demo-voice-note",
        who = RESIDENT,
        size = bytes(60_000)
    ));
    let mig = file(&migrant.store, &content.migrant)?;
    log.say(t!(
        "cli-demo-files-from",
        who = MIGRANT,
        title = &content.migrant.title,
        kind = kind_label(&content.migrant.kind),
        city = MIGRANT_CITY
    ));

    log.say("");
    log.say(t!("cli-demo-step-sync"));
    sync_round(&client, &devices, &mut log).await?;
    // then the attachment lane: her phone uploads, the cadre's fetches the voice note
    // (twice round, so what one phone uploads reaches the phones before it in the list)
    let mut lane = vec![cunwu_core::store::BlobReport::default(); devices.len()];
    for _ in 0..2 {
        for (d, t) in devices.iter().zip(lane.iter_mut()) {
            let r = client.sync_blobs(&d.store, None).await?;
            t.blobs_sent += r.blobs_sent;
            t.blobs_received += r.blobs_received;
            t.blob_bytes_sent += r.blob_bytes_sent;
            t.blob_bytes_received += r.blob_bytes_received;
        }
    }
    for (d, r) in devices.iter().zip(lane) {
        if r.blobs_sent + r.blobs_received > 0 {
            log.say(t!(
                "cli-demo-blobs",
                who = d.name,
                sent = r.blobs_sent,
                up = bytes(r.blob_bytes_sent),
                received = r.blobs_received,
                down = bytes(r.blob_bytes_received)
            ));
        }
    }

    // ---- reading and asking, offline --------------------------------------------------
    log.say("");
    log.say(t!("cli-demo-step-read"));
    for d in [&resident, &migrant] {
        for n in d.store.list_notices(&NoticeFilter {
            unread_only: true,
            ..Default::default()
        })? {
            d.store.mark_read(&n.id)?;
        }
    }
    log.say(t!("cli-demo-read", a = RESIDENT, b = MIGRANT));
    let q = migrant.store.ask_question(&fin, &content.question)?;
    log.say(t!("cli-demo-asks", who = MIGRANT, text = &content.question));
    sync_round(&client, &devices, &mut log).await?;

    // ---- the cadre works ----------------------------------------------------------
    log.say("");
    log.say(t!("cli-demo-step-cadre"));
    cadre.store.transition_request(
        &low,
        Status::Accepted,
        "已受理，请准备身份证、户口簿和收入情况说明",
    )?;
    cadre
        .store
        .transition_request(&mig, Status::Accepted, "已转驻村律师，律师将电话联系你")?;
    cadre
        .store
        .comment_request(&mig, "请把劳动合同和工资条拍照发给村里", false)?;
    log.say(t!(
        "cli-demo-accepts",
        who = CADRE,
        a = &content.low_income.title,
        b = &content.migrant.title,
        status = label(&Status::Accepted)
    ));
    cadre.store.answer_question(&fin, &q, &content.answer)?;
    log.say(t!("cli-demo-answers", who = CADRE, text = &content.answer));
    let now = now_ms();
    let vote = cadre.store.create_deliberation(NewDeliberation {
        title: content.vote_title.clone(),
        body: content.vote_body.clone(),
        deciding_body: DecidingBody::VillagersMeeting,
        options: content.vote_options.clone(),
        group: None,
        secret: false,
        hide_results: false,
        opens_at: now,
        closes_at: now + 72 * 3_600_000,
    })?;
    cadre.store.open_voting(&vote)?;
    // over the register: every adult villager, phone or no phone
    let eligible = cadre.store.deliberation(&vote)?.persons.len();
    log.say(t!(
        "cli-demo-opens-vote",
        who = CADRE,
        body = label(&DecidingBody::VillagersMeeting),
        title = &content.vote_title,
        n = eligible
    ));
    sync_round(&client, &devices, &mut log).await?;

    // ---- votes ----------------------------------------------------------------------
    log.say("");
    log.say(t!("cli-demo-step-vote"));
    resident.store.cast_ballot(&vote, 0)?;
    migrant.store.cast_ballot(&vote, 0)?;
    log.say(t!(
        "cli-demo-votes",
        a = RESIDENT,
        b = MIGRANT,
        option = &content.vote_options[0]
    ));
    for elder in &elders {
        cadre.store.record_ballot(&vote, elder, 0)?;
    }
    log.say(t!(
        "cli-demo-hall",
        who = CADRE,
        names = ELDERS.map(|(n, _)| n).join(&t!("cli-list-separator")),
        option = &content.vote_options[0]
    ));
    sync_round(&client, &devices, &mut log).await?;
    cadre.store.close_deliberation(&vote)?;
    log.say(t!("cli-demo-closes", who = CADRE));
    sync_round(&client, &devices, &mut log).await?;

    // ---- the converged view ---------------------------------------------------------
    let views: Vec<DeviceView> = devices.iter().map(|d| view(d)).collect::<CliResult<_>>()?;
    log.say("");
    log.say(t!("cli-demo-step-views"));
    for v in &views {
        print_view(v, &mut log);
    }
    let problems = convergence_problems(&views, &devices)?;
    relay.stop().await;
    let converged = problems.is_empty();
    let elapsed = started.elapsed();
    if json {
        print_json(&json!({
            "space": SPACE,
            "relay_url": url,
            "content_source": content.source,
            "steps": log.lines,
            "devices": views,
            "converged": converged,
            "problems": problems,
            "elapsed_ms": elapsed.as_millis() as u64,
        }))?;
    } else {
        say("");
        for p in &problems {
            say(format!("  ✗ {p}"));
        }
        say(if converged {
            t!("cli-demo-converged")
        } else {
            t!("cli-demo-not-converged")
        });
        say(t!(
            "cli-demo-elapsed",
            seconds = format!("{:.1}", elapsed.as_secs_f64())
        ));
        say("");
        say(t!("cli-demo-next"));
        for step in [
            "cli-demo-next-build",
            "cli-demo-next-space",
            "cli-demo-next-serve",
            "cli-demo-next-enroll",
            "cli-demo-next-invite",
            "cli-demo-next-post",
            "cli-demo-next-sync",
        ] {
            say(t!(step));
        }
        say(t!("cli-demo-next-help"));
    }
    if converged {
        Ok(())
    } else {
        Err(CliError::failure(t!(
            "cli-demo-differences",
            n = problems.len()
        )))
    }
}

/// An AMR file's magic and frames of noise standing in for speech.
fn demo_voice_note(size: usize) -> Vec<u8> {
    let mut b = b"#!AMR\n".to_vec();
    let mut x: u32 = 0x2545_F491;
    while b.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(x as u8);
    }
    b
}

fn file(store: &Store, r: &DemoRequest) -> CliResult<String> {
    Ok(store.file_request(NewRequest {
        kind: r.kind.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        place: r.place.clone().map(|text| Place {
            text,
            lat: None,
            lon: None,
        }),
        on_behalf_of: None,
        materials: vec![],
        attachments: vec![],
    })?)
}

/// Sync every device, then all but the last again, so that everyone holds what anyone
/// sent in this round. One line per device, with how many syncs it made and their round
/// trips together (a small sync is one round trip: the line says "2 syncs, 2 round
/// trips", not "2 round trips" for what reads as one sync).
async fn sync_round(client: &SyncClient, devices: &[&Device], log: &mut Log) -> CliResult<()> {
    let mut totals = vec![(0u32, 0u32, 0u32, 0u32, 0u64, 0u64, 0u32); devices.len()];
    for pass in 0..2 {
        for (i, d) in devices.iter().enumerate() {
            if pass == 1 && i + 1 == devices.len() {
                continue;
            }
            let r = client.sync_once(&d.store, None).await?;
            let t = &mut totals[i];
            t.0 += r.sent;
            t.1 += r.received;
            t.2 += r.rejected;
            t.3 += r.round_trips;
            t.4 += r.bytes_sent;
            t.5 += r.bytes_received;
            t.6 += 1;
            for why in &r.rejections {
                log.say(t!(
                    "cli-demo-rejected",
                    who = d.name,
                    why = shorten_ids(why)
                ));
            }
        }
    }
    for (d, t) in devices.iter().zip(&totals) {
        log.say(t!(
            "cli-demo-synced",
            who = d.name,
            syncs = t.6,
            sent = t.0,
            received = t.1,
            rejected = t.2,
            trips = t.3,
            up = bytes(t.4),
            down = bytes(t.5)
        ));
    }
    Ok(())
}

fn view(d: &Device) -> CliResult<DeviceView> {
    let s = &d.store;
    let me = s.me()?;
    let names = member_names(s);
    let notices = s
        .list_notices(&NoticeFilter {
            limit: 500,
            ..Default::default()
        })?
        .into_iter()
        .map(|n| {
            let full = s.notice(&n.id)?;
            Ok(NoticeView {
                questions: full.questions.len(),
                answered: full
                    .questions
                    .iter()
                    .filter(|q| !q.answers.is_empty())
                    .count(),
                read_by: full.read_by.len(),
                id: n.id,
                title: n.title,
                status: n.status.as_str().into(),
                revision: n.revision,
                closing_fen: n.closing_fen,
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    let requests = s
        .list_requests(&RequestFilter {
            limit: 500,
            ..Default::default()
        })?
        .into_iter()
        .map(|r| {
            let full = s.request(&r.id)?;
            Ok(RequestView {
                comments: full.comments.iter().filter(|c| !c.internal).count(),
                attachments: full.attachments.len(),
                filer: names.get(&r.filer).cloned().unwrap_or(r.filer),
                id: r.id,
                title: r.title,
                status: r.status.as_str().into(),
                kind: r.kind,
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    let deliberations = s
        .list_deliberations(500, 0)?
        .into_iter()
        .map(|x| {
            let full = s.deliberation(&x.id)?;
            Ok(DeliberationView {
                tally: visible_tally(s, &full)?.ok(),
                id: x.id,
                title: x.title,
                status: x.status.as_str().into(),
                options: full.options,
            })
        })
        .collect::<CliResult<Vec<_>>>()?;
    let counts = s.counts()?;
    Ok(DeviceView {
        name: me.name,
        role: me.role.as_str().into(),
        member_id: me.id,
        device_id: s.device_id(),
        notices,
        requests,
        deliberations,
        pending_changes: counts.pending_changes,
        rejected_changes: counts.rejected_changes,
    })
}

fn print_view(v: &DeviceView, log: &mut Log) {
    let role = cunwu_core::Role::parse(&v.role)
        .map(|r| label(&r))
        .unwrap_or_else(|_| v.role.clone());
    log.say(t!("cli-demo-view", name = &v.name, role = role));
    let notice_status = |s: &str| {
        cunwu_core::words::catalogue::NOTICE_STATUS_ALL
            .iter()
            .find(|x| x.as_str() == s)
            .map(label)
            .unwrap_or_else(|| s.to_string())
    };
    for n in &v.notices {
        let mut line = t!(
            "cli-demo-view-notice",
            status = notice_status(&n.status),
            revision = n.revision,
            title = &n.title
        );
        if let Some(c) = n.closing_fen {
            line += &t!("cli-demo-view-closing", amount = yuan(c));
        }
        if n.questions > 0 {
            line += &t!(
                "cli-demo-view-questions",
                n = n.questions,
                answered = n.answered
            );
        }
        line += &t!("cli-demo-view-read-by", n = n.read_by);
        log.say(line);
    }
    for r in &v.requests {
        let status = Status::parse(&r.status)
            .map(|s| label(&s))
            .unwrap_or_else(|_| r.status.clone());
        log.say(t!(
            "cli-demo-view-request",
            status = status,
            title = &r.title,
            filer = &r.filer,
            comments = r.comments
        ));
    }
    for d in &v.deliberations {
        let tally = match &d.tally {
            Some(t) => {
                let counts: Vec<String> = d
                    .options
                    .iter()
                    .zip(&t.counts)
                    .map(|(o, c)| format!("{o} {c}"))
                    .collect();
                let decided = t
                    .decided
                    .and_then(|i| d.options.get(i as usize))
                    .map(|o| t!("cli-demo-view-decided", option = o.as_str()))
                    .unwrap_or_default();
                t!(
                    "cli-demo-view-tally",
                    counts = counts.join(" / "),
                    participants = t.participants,
                    eligible = t.eligible,
                    decided = decided
                )
            }
            None => t!("cli-demo-view-no-tally"),
        };
        let phase = cunwu_core::model::deliberation::Phase::parse(&d.status)
            .map(|p| label(&p))
            .unwrap_or_else(|| d.status.clone());
        log.say(t!(
            "cli-demo-view-vote",
            status = phase,
            title = &d.title,
            tally = tally
        ));
    }
    log.say(t!(
        "cli-demo-view-outbox",
        pending = v.pending_changes,
        rejected = v.rejected_changes
    ));
}

/// Everything on which the devices should agree, with what differs.
fn convergence_problems(views: &[DeviceView], devices: &[&Device]) -> CliResult<Vec<String>> {
    let mut out = vec![];
    let cadre = &views[0];
    for v in &views[1..] {
        if v.notices != cadre.notices {
            out.push(t!("cli-demo-p-notices", a = &v.name, b = &cadre.name));
        }
        if v.deliberations != cadre.deliberations {
            out.push(t!("cli-demo-p-deliberations", a = &v.name, b = &cadre.name));
        }
        // A resident sees exactly their own requests, as the cadre sees them.
        let theirs: Vec<&RequestView> = cadre
            .requests
            .iter()
            .filter(|r| r.filer == v.name)
            .collect();
        if v.requests.iter().collect::<Vec<_>>() != theirs || theirs.is_empty() {
            out.push(t!("cli-demo-p-requests", a = &v.name, b = &cadre.name));
        }
    }
    for v in views {
        if v.pending_changes > 0 || v.rejected_changes > 0 {
            out.push(t!(
                "cli-demo-p-outbox",
                a = &v.name,
                pending = v.pending_changes,
                rejected = v.rejected_changes
            ));
        }
    }
    if cadre.requests.len() != 2 {
        out.push(t!(
            "cli-demo-p-request-count",
            a = &cadre.name,
            n = cadre.requests.len()
        ));
    }
    if cadre.notices.len() != 2 {
        out.push(t!(
            "cli-demo-p-notice-count",
            a = &cadre.name,
            n = cadre.notices.len()
        ));
    }
    match cadre.deliberations.first().and_then(|d| d.tally.as_ref()) {
        // closed; the relay's tally becomes final once the late-ballot grace period is over.
        // Two online ballots and two cast in the hall by elders without a phone.
        Some(t)
            if t.participants == 4 && t.in_hall == ELDERS.len() as u32 && t.decided == Some(0) => {}
        other => out.push(t!("cli-demo-p-tally", tally = format!("{other:?}"))),
    }
    // The documents themselves, byte for byte as JSON, for what everyone may read.
    let shared: Vec<String> = cadre
        .notices
        .iter()
        .map(|n| n.id.clone())
        .chain(cadre.deliberations.iter().map(|d| d.id.clone()))
        .collect();
    for id in &shared {
        let reference = devices[0].store.document_json(id)?;
        for d in &devices[1..] {
            if d.store.document_json(id)? != reference {
                out.push(t!("cli-demo-p-document", id = short(id), a = d.name));
            }
        }
    }
    Ok(out)
}
