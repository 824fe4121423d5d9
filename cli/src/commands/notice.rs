//! `cunwu notice …`: post (with finance lines), list, show (current text, totals,
//! revision history, questions with due dates, who read it), publish, correct,
//! withdraw, ask, answer, read.

use super::parse::{self, date, finance_line, finance_lines_json};
use crate::args::{FinanceArgs, NoticeCmd, NoticePostArgs};
use crate::context::{member_names, name_of, resolve, Ctx};
use crate::error::{CliError, CliResult};
use crate::lang::{day, label, when};
use crate::output::{clip, print_json, say, short, shorten_ids, yuan, Table};
use crate::t;
use cunwu_core::ids::now_ms;
use cunwu_core::model::notice::{
    AccountSubtotal, Category, ContentChange, Direction, FinanceLine, FinanceTotals, Notice,
    NoticeContent, Period, PeriodKind, Revision, Subtype,
};
use cunwu_core::store::{NewNotice, NoticeFilter};
use cunwu_core::{EntityKind, Store};
use serde_json::json;

pub fn run(ctx: &Ctx, cmd: NoticeCmd) -> CliResult<()> {
    match cmd {
        NoticeCmd::Post(a) => post(ctx, a),
        NoticeCmd::List {
            category,
            status,
            unread,
            order,
            limit,
        } => list(ctx, category, status, unread, &order, limit),
        NoticeCmd::Show { id } => show(ctx, &id),
        NoticeCmd::Publish { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            store.publish_notice(&id)?;
            done(ctx, &store, &id, "cli-notice-published")
        }
        NoticeCmd::Edit {
            id,
            title,
            body,
            finance,
        } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let content = changed_content(&store, &id, title, body, &finance)?;
            store.edit_notice_draft(&id, content)?;
            done(ctx, &store, &id, "cli-notice-edited")
        }
        NoticeCmd::Correct {
            id,
            title,
            body,
            reason,
            finance,
        } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let content = changed_content(&store, &id, title, body, &finance)?;
            store.correct_notice(&id, content, &reason)?;
            done(ctx, &store, &id, "cli-notice-corrected")
        }
        NoticeCmd::Withdraw { id, reason } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            store.withdraw_notice(&id, &reason)?;
            done(ctx, &store, &id, "cli-notice-withdrawn")
        }
        NoticeCmd::Ask { id, text } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let q = store.ask_question(&id, &text)?;
            let due = store
                .notice(&id)?
                .questions
                .iter()
                .find(|x| x.id == q)
                .map(|x| x.due_at);
            if ctx.json {
                return print_json(&json!({ "notice": id, "question_id": q, "due_at": due }));
            }
            say(t!(
                "cli-question-asked",
                question = short(&q),
                notice = short(&id)
            ));
            if let Some(d) = due {
                say(t!(
                    "cli-question-reply-due",
                    deadline =
                        cunwu_core::words::dates::reply_deadline(crate::lang::lang(), d, now_ms())
                ));
            }
            Ok(())
        }
        NoticeCmd::Answer {
            id,
            question_id,
            text,
        } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let n = store.notice(&id)?;
            let qp = question_id.trim().to_ascii_lowercase();
            let found: Vec<_> = n
                .questions
                .iter()
                .filter(|q| !qp.is_empty() && q.id.starts_with(&qp))
                .collect();
            let q = match found.len() {
                1 => found[0].id.clone(),
                0 => {
                    return Err(CliError::usage(t!(
                        "cli-no-such-question",
                        notice = short(&id),
                        question = question_id.as_str()
                    )))
                }
                _ => {
                    return Err(CliError::usage(t!(
                        "cli-ambiguous-question",
                        question = question_id.as_str()
                    )))
                }
            };
            store.answer_question(&id, &q, &text)?;
            if ctx.json {
                return print_json(&json!({ "notice": id, "question_id": q, "answered": true }));
            }
            say(t!(
                "cli-question-answered",
                question = short(&q),
                notice = short(&id)
            ));
            Ok(())
        }
        NoticeCmd::Unread { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let list = store.not_read(&id)?;
            super::register::print_follow_up(ctx, &t!("cli-follow-up-read"), &list)
        }
        NoticeCmd::Review { id, note } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            store.review_notice(&id, &note)?;
            done(ctx, &store, &id, "cli-notice-reviewed")
        }
        NoticeCmd::Read { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let rev = store.mark_read(&id)?;
            if ctx.json {
                return print_json(&json!({ "notice": id, "revision": rev, "read": true }));
            }
            say(t!(
                "cli-notice-marked-read",
                revision = rev,
                notice = short(&id)
            ));
            Ok(())
        }
    }
}

/// The opening balance and lines given on the command line, if any were.
fn finance_data(f: &FinanceArgs) -> CliResult<Option<(Option<i64>, Vec<FinanceLine>)>> {
    if f.opening_balance_fen.is_none() && f.lines.is_empty() && f.lines_json.is_none() {
        return Ok(None);
    }
    let mut lines = match &f.lines_json {
        Some(p) => finance_lines_json(p)?,
        None => vec![],
    };
    for (i, l) in f.lines.iter().enumerate() {
        lines.push(finance_line(i + 1, l)?);
    }
    Ok(Some((f.opening_balance_fen, lines)))
}

fn post(ctx: &Ctx, a: NoticePostArgs) -> CliResult<()> {
    let category: Category = parse::category(&a.category)?;
    let subtype: Subtype = parse::subtype(&a.subtype)?;
    let kind: PeriodKind = parse::period(&a.period)?;
    let period = Period {
        kind,
        start: a
            .period_start
            .as_deref()
            .map(|d| date("--period-start", d))
            .transpose()?,
        end: a
            .period_end
            .as_deref()
            .map(|d| date("--period-end", d))
            .transpose()?,
    };
    let (opening_balance_fen, lines) = finance_data(&a.finance)?.unwrap_or((None, vec![]));
    let store = ctx.store()?;
    let id = store.post_notice(NewNotice {
        category,
        subtype,
        period,
        title: a.title,
        body: a.body,
        opening_balance_fen,
        lines,
        publish: !a.draft,
    })?;
    done(
        ctx,
        &store,
        &id,
        if a.draft {
            "cli-notice-drafted"
        } else {
            "cli-notice-published"
        },
    )
}

/// Report a successful write; `what` is the catalogue id of what happened.
fn done(ctx: &Ctx, store: &Store, id: &str, what: &str) -> CliResult<()> {
    let n = store.notice(id)?;
    if ctx.json {
        return print_json(&json!({
            "id": id,
            "title": n.content.title,
            "status": n.status,
            "revision": n.current_revision(),
        }));
    }
    say(t!(what, id = short(id), title = &n.content.title));
    say(t!("cli-reaches-village-at-sync"));
    Ok(())
}

fn list(
    ctx: &Ctx,
    category: Option<String>,
    status: Option<String>,
    unread: bool,
    order: &str,
    limit: u32,
) -> CliResult<()> {
    let order = super::parse::list_order(order)?;
    let category = category.map(|c| parse::category(&c)).transpose()?;
    let status = status
        .map(|s| parse::notice_status(&s).map(|s| s.as_str().to_string()))
        .transpose()?;
    let store = ctx.store()?;
    let rows = store.list_notices(&NoticeFilter {
        category: category.map(|c| json!(c).as_str().unwrap_or_default().to_string()),
        status,
        unread_only: unread,
        order,
        limit,
        offset: 0,
    })?;
    if ctx.json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        say(t!("cli-no-notices"));
        return Ok(());
    }
    let mut t = Table::new(&[
        &t!("cli-col-id"),
        &t!("cli-col-category"),
        &t!("cli-col-status"),
        &t!("cli-col-revision"),
        &t!("cli-col-published"),
        &t!("cli-col-balance"),
        &t!("cli-col-questions"),
        &t!("cli-col-read"),
        &t!("cli-col-title"),
    ]);
    for n in &rows {
        t.row(vec![
            short(&n.id).into(),
            label(&n.category),
            label(&n.status),
            n.revision.to_string(),
            n.published_at.map(when).unwrap_or_else(|| "-".into()),
            n.closing_fen.map(yuan).unwrap_or_default(),
            if n.open_questions > 0 {
                n.open_questions.to_string()
            } else {
                String::new()
            },
            if n.read {
                "✓".into()
            } else if n.revision > 0 {
                t!("cli-unread-mark")
            } else {
                String::new()
            },
            clip(&n.title, 48),
        ]);
    }
    t.print();
    Ok(())
}

fn show(ctx: &Ctx, id: &str) -> CliResult<()> {
    let store = ctx.store()?;
    let id = resolve(&store, EntityKind::Notice, id)?;
    let n = store.notice(&id)?;
    let names = member_names(&store);
    if ctx.json {
        let mut v = serde_json::to_value(&n).expect("notice serializes");
        v["title"] = json!(n.content.title);
        v["body"] = json!(n.content.body);
        v["revision"] = json!(n.current_revision());
        v["read_by_names"] = json!(n
            .read_by
            .iter()
            .map(|(m, r)| json!({"member": m, "name": name_of(&names, m), "revision": r}))
            .collect::<Vec<_>>());
        v["provenance"] = json!(store.provenance(&id)?);
        v["subtotals"] = json!(n.content.subtotals());
        // what each correction changed: revision number → changes from the one before
        v["revision_changes"] = json!(n
            .revisions
            .windows(2)
            .map(|w| json!({"revision": w[1].number, "changes": w[1].content.changes_from(&w[0].content)}))
            .collect::<Vec<_>>());
        if let Some(t) = &n.totals {
            v["totals_yuan"] = json!({
                "opening": yuan(t.opening_fen), "income": yuan(t.income_fen),
                "expense": yuan(t.expense_fen), "closing": yuan(t.closing_fen),
            });
        }
        return print_json(&v);
    }
    print_notice(&n, &names);
    // who published it, checked offline against the signatures this phone holds
    if let Some(p) = store.provenance(&id)?.first() {
        say(t!(
            "cli-notice-provenance",
            name = p
                .member_name
                .clone()
                .unwrap_or_else(|| t!("cli-unknown-member")),
            role = p.role.map(|r| label(&r)).unwrap_or_else(|| "?".into()),
            device = short(&p.device),
            signature = if p.signature_verified {
                t!("cli-signature-verified")
            } else {
                t!(
                    "cli-signature-not-verified",
                    problem = shorten_ids(p.problem.as_deref().unwrap_or(""))
                )
            }
        ));
    }
    Ok(())
}

fn print_notice(n: &Notice, names: &std::collections::HashMap<String, String>) {
    let now = now_ms();
    say(&n.content.title);
    say("=".repeat(crate::output::width(&n.content.title).clamp(4, 60)));
    let period = match (&n.period.start, &n.period.end) {
        (Some(s), Some(e)) => t!("cli-period-range", start = day(s), end = day(e)),
        (Some(s), None) => t!("cli-period-from", start = day(s)),
        _ => String::new(),
    };
    say(t!(
        "cli-notice-kind-line",
        id = short(&n.id),
        category = label(&n.category),
        subtype = label(&n.subtype),
        period_kind = label(&n.period.kind),
        period = period
    ));
    let mut st = t!(
        "cli-notice-status-line",
        status = label(&n.status),
        revision = n.current_revision()
    );
    if let Some(p) = n.published_at() {
        st += &t!(
            "cli-notice-first-published",
            when = when(p),
            name = name_of(names, &n.created_by)
        );
    } else {
        st += &t!(
            "cli-notice-drafted-by",
            when = when(n.created_at),
            name = name_of(names, &n.created_by)
        );
    }
    say(st);
    // 民主理财: who on the supervision committee signed off the text
    for r in &n.reviewed_by {
        say(t!(
            "cli-notice-reviewed-by",
            name = name_of(names, &r.by),
            when = when(r.at),
            note = &r.note
        ));
    }
    if let Some(r) = &n.withdrawn_reason {
        say(t!("cli-notice-withdrawn-reason", reason = r));
    }
    if !n.content.body.is_empty() {
        say("");
        say(&n.content.body);
    }
    if !n.content.lines.is_empty() {
        say("");
        say(t!("cli-finance-lines"));
        lines_table(&n.content.lines).print();
    }
    if let Some(t) = &n.totals {
        say("");
        say(totals_words(t));
    }
    let subtotals = n.content.subtotals();
    if !subtotals.is_empty() {
        say("");
        say(t!("cli-by-account"));
        subtotals_table(&subtotals).print();
    }
    if !n.revisions.is_empty() {
        say("");
        say(t!("cli-revisions"));
        let last = n.revisions.len() - 1;
        for (i, r) in n.revisions.iter().enumerate() {
            say(revision_heading(r, names));
            // every earlier revision in full: what residents read then
            if i < last {
                print_content(&r.content);
            } else {
                say(t!("cli-revision-current"));
            }
            if let Some(next) = n.revisions.get(i + 1) {
                let changes = next.content.changes_from(&r.content);
                if !changes.is_empty() {
                    say(t!("cli-revision-changed-in", number = next.number));
                    for c in &changes {
                        say(format!("        {}", change_words(c)));
                    }
                }
            }
        }
    }
    if !n.questions.is_empty() {
        say("");
        say(t!("cli-questions"));
        let lang = crate::lang::lang();
        for q in &n.questions {
            let state = if !q.answers.is_empty() {
                t!("cli-question-answered-state")
            } else {
                t!(
                    "cli-question-due-state",
                    by = cunwu_core::words::dates::reply_by(lang, q.due_at, now),
                    left = cunwu_core::words::dates::days_left(lang, q.due_at, now)
                )
            };
            say(t!(
                "cli-question-line",
                id = short(&q.id),
                name = name_of(names, &q.by),
                when = village_when(q.at, q.arrived_at),
                text = &q.text,
                state = state
            ));
            for a in &q.answers {
                say(t!(
                    "cli-answer-line",
                    name = name_of(names, &a.by),
                    when = when(a.at),
                    text = &a.text
                ));
            }
        }
    }
    say("");
    if n.read_by.is_empty() {
        say(t!("cli-read-by-nobody"));
    } else {
        let who: Vec<String> = n
            .read_by
            .iter()
            .map(|(m, r)| {
                if *r >= n.current_revision() {
                    name_of(names, m)
                } else {
                    t!(
                        "cli-read-old-revision",
                        name = name_of(names, m),
                        revision = *r
                    )
                }
            })
            .collect();
        say(t!(
            "cli-read-by",
            n = who.len(),
            names = who.join(&t!("cli-list-separator"))
        ));
    }
}

// ---- words for people (issue 14): the lines a finance notice reads as -------------

fn lines_table(lines: &[FinanceLine]) -> Table {
    let mut t = Table::new(&[
        &format!("  {}", t!("cli-col-date")),
        "",
        &t!("cli-col-account"),
        &t!("cli-col-item"),
        &t!("cli-col-amount"),
        &t!("cli-col-payee"),
        &t!("cli-col-voucher"),
    ]);
    for l in lines {
        t.row(vec![
            format!("  {}", day(&l.date)),
            label(&l.direction),
            l.account.clone(),
            clip(&l.item, 36),
            yuan(if l.direction == Direction::Income {
                l.amount_fen
            } else {
                -l.amount_fen
            }),
            clip(&l.payee_or_dept, 20),
            l.voucher_no.clone(),
        ]);
    }
    t
}

fn subtotals_table(subtotals: &[AccountSubtotal]) -> Table {
    let mut t = Table::new(&[
        &format!("  {}", t!("cli-col-account")),
        "",
        &t!("cli-col-lines"),
        &t!("cli-col-subtotal"),
    ]);
    for s in subtotals {
        t.row(vec![
            format!("  {}", s.account),
            label(&s.direction),
            s.lines.to_string(),
            yuan(s.amount_fen),
        ]);
    }
    t
}

fn totals_words(t: &FinanceTotals) -> String {
    t!(
        "cli-finance-totals",
        opening = yuan(t.opening_fen),
        income = yuan(t.income_fen),
        expense = yuan(t.expense_fen),
        closing = yuan(t.closing_fen)
    )
}

/// When something reached the village, and what the author's phone said when the two
/// are more than a day apart (a wrong clock, or a phone offline for long).
fn village_when(at: i64, arrived_at: Option<i64>) -> String {
    let mut s = when(arrived_at.unwrap_or(at));
    if cunwu_core::model::notice::arrival_differs(at, arrived_at) {
        s += &t!("cli-phone-said", when = when(at));
    }
    s
}

fn revision_heading(r: &Revision, names: &std::collections::HashMap<String, String>) -> String {
    let mut line = t!(
        "cli-revision-line",
        number = r.number,
        when = village_when(r.at, r.arrived_at),
        name = name_of(names, &r.by)
    );
    if !r.reason.is_empty() {
        line += &t!("cli-revision-reason", reason = &r.reason);
    }
    line
}

/// An earlier revision in full: title, body, its lines, totals and subtotals.
fn print_content(c: &NoticeContent) {
    say(format!(
        "      {}",
        t!("cli-revision-title", title = &c.title)
    ));
    for l in c.body.lines() {
        say(format!("      {l}"));
    }
    if !c.lines.is_empty() {
        for row in lines_table(&c.lines).render().lines() {
            say(format!("    {row}"));
        }
    }
    if let Some(t) = c.totals() {
        say(format!("      {}", totals_words(&t)));
    }
    let subtotals = c.subtotals();
    if !subtotals.is_empty() {
        for row in subtotals_table(&subtotals).render().lines() {
            say(format!("    {row}"));
        }
    }
}

fn line_words(l: &FinanceLine) -> String {
    format!(
        "{} {} {} {} {}",
        day(&l.date),
        label(&l.direction),
        l.account,
        l.item,
        yuan(l.amount_fen)
    )
}

/// One change a correction made, in one line.
fn change_words(c: &ContentChange) -> String {
    let money = |f: &Option<i64>| f.map(yuan).unwrap_or_else(|| t!("cli-none"));
    match c {
        ContentChange::Title { was, now } => t!("cli-change-title", was = was, now = now),
        ContentChange::Body { was, now } => {
            t!("cli-change-body", was = clip(was, 40), now = clip(now, 40))
        }
        ContentChange::OpeningBalance { was, now } => {
            t!("cli-change-opening", was = money(was), now = money(now))
        }
        ContentChange::LineAmount {
            line,
            item,
            was,
            now,
        } => t!(
            "cli-change-line-amount",
            line = *line,
            item = item,
            was = yuan(*was),
            now = yuan(*now)
        ),
        ContentChange::Line { line, was, now } => t!(
            "cli-change-line",
            line = *line,
            was = line_words(was),
            now = line_words(now)
        ),
        ContentChange::LineAdded { line, now } => {
            t!("cli-change-line-added", line = *line, now = line_words(now))
        }
        ContentChange::LineRemoved { line, was } => {
            t!(
                "cli-change-line-removed",
                line = *line,
                was = line_words(was)
            )
        }
    }
}

/// The notice's current text with what the command changes: a new title, body or
/// finance data (an edit of a draft and a correction take the same flags).
fn changed_content(
    store: &Store,
    id: &str,
    title: Option<String>,
    body: Option<String>,
    finance: &FinanceArgs,
) -> CliResult<NoticeContent> {
    let mut content = store.notice(id)?.content;
    if let Some(t) = title {
        content.title = t;
    }
    if let Some(b) = body {
        content.body = b;
    }
    if let Some((opening, lines)) = finance_data(finance)? {
        content.opening_balance_fen = opening.or(content.opening_balance_fen);
        content.lines = lines;
    }
    Ok(content)
}
