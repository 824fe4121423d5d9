//! `cunwu notice …`: post (with finance lines), list, show (current text, totals,
//! revision history, questions with due dates, who read it), publish, correct,
//! withdraw, ask, answer, read.

use super::parse::{
    date, enum_value, finance_line, finance_lines_json, CATEGORIES, NOTICE_STATUSES, PERIODS,
    SUBTYPES,
};
use crate::args::{FinanceArgs, NoticeCmd, NoticePostArgs};
use crate::context::{member_names, name_of, resolve, Ctx};
use crate::error::{CliError, CliResult};
use crate::output::{clip, print_json, say, short, time, yuan, Table};
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
            done(ctx, &store, &id, "published")
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
            done(ctx, &store, &id, "edited")
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
            done(ctx, &store, &id, "corrected")
        }
        NoticeCmd::Withdraw { id, reason } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            store.withdraw_notice(&id, &reason)?;
            done(ctx, &store, &id, "withdrawn")
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
            say(format!("question {q} asked on notice {}", short(&id)));
            if let Some(d) = due {
                say(format!("a reply is due by {}", time(d)));
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
                    return Err(CliError::usage(format!(
                        "notice {} has no question {question_id}",
                        short(&id)
                    )))
                }
                _ => {
                    return Err(CliError::usage(format!(
                        "several questions start with {question_id}; type more of the id"
                    )))
                }
            };
            store.answer_question(&id, &q, &text)?;
            if ctx.json {
                return print_json(&json!({ "notice": id, "question_id": q, "answered": true }));
            }
            say(format!(
                "answered question {} on notice {}",
                short(&q),
                short(&id)
            ));
            Ok(())
        }
        NoticeCmd::Read { id } => {
            let store = ctx.store()?;
            let id = resolve(&store, EntityKind::Notice, &id)?;
            let rev = store.mark_read(&id)?;
            if ctx.json {
                return print_json(&json!({ "notice": id, "revision": rev, "read": true }));
            }
            say(format!(
                "marked revision {rev} of notice {} read",
                short(&id)
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
    let category: Category = enum_value("category", &a.category, CATEGORIES)?;
    let subtype: Subtype = enum_value("subtype", &a.subtype, SUBTYPES)?;
    let kind: PeriodKind = enum_value("period", &a.period, PERIODS)?;
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
            "saved as a draft"
        } else {
            "published"
        },
    )
}

/// Report a successful write.
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
    say(format!("notice {id} {what}: {}", n.content.title));
    say("it reaches the village at the next `cunwu sync`");
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
    if let Some(c) = &category {
        enum_value::<Category>("category", c, CATEGORIES)?;
    }
    if let Some(s) = &status {
        if !NOTICE_STATUSES.contains(&s.as_str()) {
            return Err(CliError::usage(format!(
                "unknown notice status {s:?}; expected one of {}",
                NOTICE_STATUSES.join(", ")
            )));
        }
    }
    let store = ctx.store()?;
    let rows = store.list_notices(&NoticeFilter {
        category: category.map(|c| c.trim().to_ascii_lowercase()),
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
        say("no notices");
        return Ok(());
    }
    let mut t = Table::new(&[
        "ID",
        "CATEGORY",
        "STATUS",
        "REV",
        "PUBLISHED",
        "BALANCE",
        "Q",
        "READ",
        "TITLE",
    ]);
    for n in &rows {
        t.row(vec![
            short(&n.id).into(),
            json!(n.category).as_str().unwrap_or_default().into(),
            n.status.as_str().into(),
            n.revision.to_string(),
            n.published_at.map(time).unwrap_or_else(|| "-".into()),
            n.closing_fen.map(yuan).unwrap_or_default(),
            if n.open_questions > 0 {
                n.open_questions.to_string()
            } else {
                String::new()
            },
            if n.read {
                "✓".into()
            } else if n.revision > 0 {
                "new".into()
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
        say(format!(
            "published by {} ({}) from device {} · signature {}",
            p.member_name.as_deref().unwrap_or("an unknown member"),
            p.role.map(|r| r.as_str()).unwrap_or("?"),
            &p.device[..12],
            if p.signature_verified {
                "verified".to_string()
            } else {
                format!("NOT verified: {}", p.problem.as_deref().unwrap_or(""))
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
        (Some(s), Some(e)) => format!(" · {s} – {e}"),
        (Some(s), None) => format!(" · from {s}"),
        _ => String::new(),
    };
    let json_name = |v: serde_json::Value| v.as_str().unwrap_or("").to_string();
    say(format!(
        "id {} · {} / {} · {}{}",
        n.id,
        json_name(json!(n.category)),
        json_name(json!(n.subtype)),
        json_name(json!(n.period.kind)),
        period
    ));
    let mut st = format!(
        "status {} · revision {}",
        n.status.as_str(),
        n.current_revision()
    );
    if let Some(p) = n.published_at() {
        st += &format!(
            " · first published {} by {}",
            time(p),
            name_of(names, &n.created_by)
        );
    } else {
        st += &format!(
            " · drafted {} by {}",
            time(n.created_at),
            name_of(names, &n.created_by)
        );
    }
    say(st);
    if let Some(r) = &n.withdrawn_reason {
        say(format!("WITHDRAWN: {r}"));
    }
    if !n.content.body.is_empty() {
        say("");
        say(&n.content.body);
    }
    if !n.content.lines.is_empty() {
        say("");
        say("Finance lines");
        lines_table(&n.content.lines).print();
    }
    if let Some(t) = &n.totals {
        say("");
        say(totals_words(t));
    }
    let subtotals = n.content.subtotals();
    if !subtotals.is_empty() {
        say("");
        say("By account");
        subtotals_table(&subtotals).print();
    }
    if !n.revisions.is_empty() {
        say("");
        say("Revisions");
        let last = n.revisions.len() - 1;
        for (i, r) in n.revisions.iter().enumerate() {
            say(revision_heading(r, names));
            // every earlier revision in full: what residents read then
            if i < last {
                print_content(&r.content);
            } else {
                say("      (the current text, above)");
            }
            if let Some(next) = n.revisions.get(i + 1) {
                let changes = next.content.changes_from(&r.content);
                if !changes.is_empty() {
                    say(format!("      changed in revision {}:", next.number));
                    for c in &changes {
                        say(format!("        {}", change_words(c)));
                    }
                }
            }
        }
    }
    if !n.questions.is_empty() {
        say("");
        say("Questions");
        for q in &n.questions {
            let state = if !q.answers.is_empty() {
                "answered".to_string()
            } else if now > q.due_at {
                format!("OVERDUE since {}", time(q.due_at))
            } else {
                format!("reply due {}", time(q.due_at))
            };
            say(format!(
                "  [{}] {} {}: {}  ({state})",
                short(&q.id),
                name_of(names, &q.by),
                time(q.at),
                q.text
            ));
            for a in &q.answers {
                say(format!(
                    "      ↳ {} {}: {}",
                    name_of(names, &a.by),
                    time(a.at),
                    a.text
                ));
            }
        }
    }
    say("");
    if n.read_by.is_empty() {
        say("read by: nobody yet");
    } else {
        let who: Vec<String> = n
            .read_by
            .iter()
            .map(|(m, r)| {
                if *r >= n.current_revision() {
                    name_of(names, m)
                } else {
                    format!("{} (rev {r})", name_of(names, m))
                }
            })
            .collect();
        say(format!("read by ({}): {}", who.len(), who.join(", ")));
    }
}

// ---- words for people (issue 14: each in one place, for the catalogue) -------------

fn direction_word(d: Direction) -> &'static str {
    if d == Direction::Income {
        "收入"
    } else {
        "支出"
    }
}

fn lines_table(lines: &[FinanceLine]) -> Table {
    let mut t = Table::new(&[
        "  DATE", "", "ACCOUNT", "ITEM", "AMOUNT", "PAYEE", "VOUCHER",
    ]);
    for l in lines {
        t.row(vec![
            format!("  {}", l.date),
            direction_word(l.direction).into(),
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
    let mut t = Table::new(&["  ACCOUNT", "", "LINES", "SUBTOTAL"]);
    for s in subtotals {
        t.row(vec![
            format!("  {}", s.account),
            direction_word(s.direction).into(),
            s.lines.to_string(),
            yuan(s.amount_fen),
        ]);
    }
    t
}

fn totals_words(t: &FinanceTotals) -> String {
    format!(
        "opening {} · income {} · expense {} · closing {}",
        yuan(t.opening_fen),
        yuan(t.income_fen),
        yuan(t.expense_fen),
        yuan(t.closing_fen)
    )
}

fn revision_heading(r: &Revision, names: &std::collections::HashMap<String, String>) -> String {
    let mut line = format!(
        "  Revision {} · {} by {}",
        r.number,
        time(r.at),
        name_of(names, &r.by)
    );
    if !r.reason.is_empty() {
        line += &format!(" — correction: {}", r.reason);
    }
    line
}

/// An earlier revision in full: title, body, its lines, totals and subtotals.
fn print_content(c: &NoticeContent) {
    say(format!("      title: {}", c.title));
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
        l.date,
        direction_word(l.direction),
        l.account,
        l.item,
        yuan(l.amount_fen)
    )
}

/// One change a correction made, in one line.
fn change_words(c: &ContentChange) -> String {
    let money = |f: &Option<i64>| f.map(yuan).unwrap_or_else(|| "none".into());
    match c {
        ContentChange::Title { was, now } => format!("title: {was} → {now}"),
        ContentChange::Body { was, now } => {
            format!("body: {} → {}", clip(was, 40), clip(now, 40))
        }
        ContentChange::OpeningBalance { was, now } => {
            format!("opening balance {} → {}", money(was), money(now))
        }
        ContentChange::LineAmount {
            line,
            item,
            was,
            now,
        } => format!(
            "line {line} ({item}) amount {} → {}",
            yuan(*was),
            yuan(*now)
        ),
        ContentChange::Line { line, was, now } => {
            format!("line {line}: {} → {}", line_words(was), line_words(now))
        }
        ContentChange::LineAdded { line, now } => {
            format!("line {line} added: {}", line_words(now))
        }
        ContentChange::LineRemoved { line, was } => {
            format!("line {line} removed: {}", line_words(was))
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
