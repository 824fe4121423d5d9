//! Content for `cunwu demo`: taken from the sample village corpus
//! (`shared/data/village-corpus.json`) when it can be found, else built-in lines.
//!
//! The corpus is looked for at `$CUNWU_CORPUS`, at `../shared/data/` and
//! `shared/data/` from the current directory and from every ancestor of the
//! executable (the repository's `target/` sits inside the repository), and next to
//! this crate's source tree.

use cunwu_core::model::notice::{Category, FinanceLine, Period, PeriodKind, Subtype};
use cunwu_core::store::NewNotice;
use serde_json::Value;
use std::path::{Path, PathBuf};

const CORPUS: &str = "village-corpus.json";

/// A request as the demo files it.
pub struct DemoRequest {
    pub kind: String,
    pub title: String,
    pub description: String,
    pub place: Option<String>,
}

pub struct DemoContent {
    /// Where the content came from (a path, or "built-in").
    pub source: String,
    pub finance: NewNotice,
    pub village: NewNotice,
    /// The resident's 低保 request.
    pub low_income: DemoRequest,
    /// The migrant's request.
    pub migrant: DemoRequest,
    pub question: String,
    pub answer: String,
    pub vote_title: String,
    pub vote_body: String,
    pub vote_options: Vec<String>,
}

fn candidates() -> Vec<PathBuf> {
    let mut out = vec![];
    if let Some(p) = std::env::var_os("CUNWU_CORPUS").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    let rel = [
        Path::new("../shared/data").join(CORPUS),
        Path::new("shared/data").join(CORPUS),
    ];
    if let Ok(cwd) = std::env::current_dir() {
        out.extend(rel.iter().map(|r| cwd.join(r)));
    }
    if let Ok(exe) = std::env::current_exe() {
        for a in exe.ancestors().skip(1) {
            out.extend(rel.iter().map(|r| a.join(r)));
        }
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join("shared/data")
            .join(CORPUS),
    );
    out
}

/// The corpus JSON and its path, if one is found and parses.
fn find_corpus() -> Option<(PathBuf, Value)> {
    candidates()
        .into_iter()
        .filter(|p| p.is_file())
        .find_map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            v.get("notices")?.as_array()?;
            Some((std::fs::canonicalize(&p).unwrap_or(p), v))
        })
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn notice_from(v: &Value) -> Option<NewNotice> {
    Some(NewNotice {
        category: serde_json::from_value(v.get("category")?.clone()).ok()?,
        subtype: v
            .get("subtype")
            .and_then(|x| serde_json::from_value(x.clone()).ok())
            .unwrap_or(Subtype::Other),
        period: v
            .get("period")
            .and_then(|x| serde_json::from_value(x.clone()).ok())
            .unwrap_or_default(),
        title: s(v, "title"),
        body: s(v, "body"),
        opening_balance_fen: v.get("opening_balance_fen").and_then(Value::as_i64),
        lines: v
            .get("lines")
            .and_then(|x| serde_json::from_value::<Vec<FinanceLine>>(x.clone()).ok())
            .unwrap_or_default(),
        publish: true,
    })
}

/// A corpus request, with the corpus member who wrote it renamed to `as_name`.
fn request_from(v: &Value, corpus: &Value, as_name: &str) -> DemoRequest {
    let mut description = s(v, "description");
    for m in corpus
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = s(m, "name");
        if !n.is_empty() {
            description = description.replace(&n, as_name);
        }
    }
    let place = Some(s(v, "location")).filter(|p| !p.is_empty());
    DemoRequest {
        kind: s(v, "kind"),
        title: s(v, "title"),
        description,
        place,
    }
}

fn question_for(finance: &NewNotice) -> (String, String) {
    match finance.lines.first() {
        Some(l) => (
            format!(
                "请问“{}”这笔款项是否已经全部到账？有没有凭证可以查看？",
                l.item
            ),
            format!(
                "已于{}全部入账，凭证号{}，原始凭证在村部财务室，欢迎随时查阅。",
                l.date,
                if l.voucher_no.is_empty() {
                    "见账簿"
                } else {
                    &l.voucher_no
                }
            ),
        ),
        None => (
            "这笔钱具体用在哪里了？".into(),
            "已在村部公开栏张贴明细，欢迎查阅。".into(),
        ),
    }
}

pub fn load(resident: &str, migrant: &str) -> DemoContent {
    let mut c = built_in(resident, migrant);
    let Some((path, corpus)) = find_corpus() else {
        return c;
    };
    let notices = corpus
        .get("notices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let requests = corpus
        .get("requests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let delibs = corpus
        .get("deliberations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut used = false;
    if let Some(n) = notices.iter().filter_map(notice_from).find(|n| {
        n.category == Category::Finance && !n.lines.is_empty() && n.opening_balance_fen.is_some()
    }) {
        c.finance = n;
        used = true;
    }
    if let Some(n) = notices
        .iter()
        .filter_map(notice_from)
        .find(|n| n.category == Category::Village)
    {
        c.village = n;
        used = true;
    }
    if let Some(r) = requests.iter().find(|r| {
        s(r, "kind") == "social_assistance"
            && format!("{}{}", s(r, "title"), s(r, "description")).contains("低保")
    }) {
        c.low_income = request_from(r, &corpus, resident);
        used = true;
    }
    if let Some(r) = requests
        .iter()
        .find(|r| s(r, "description").contains("东莞"))
    {
        c.migrant = request_from(r, &corpus, migrant);
        used = true;
    }
    if let Some(d) = delibs.iter().find(|d| {
        s(d, "deciding_body") == "villagers_meeting"
            && d.get("options")
                .and_then(Value::as_array)
                .is_some_and(|o| o.len() >= 2)
    }) {
        c.vote_title = s(d, "title");
        c.vote_body = s(d, "body");
        c.vote_options = d["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        used = true;
    }
    let (q, a) = question_for(&c.finance);
    c.question = q;
    c.answer = a;
    if used {
        c.source = path.display().to_string();
    }
    c
}

fn built_in(resident: &str, _migrant: &str) -> DemoContent {
    let line = |date: &str,
                direction: &str,
                account: &str,
                item: &str,
                amount_fen: i64,
                payee: &str,
                voucher: &str| FinanceLine {
        date: date.into(),
        direction: serde_json::from_value(Value::String(direction.into())).expect("direction"),
        account: account.into(),
        item: item.into(),
        amount_fen,
        payee_or_dept: payee.into(),
        voucher_no: voucher.into(),
    };
    let finance = NewNotice {
        category: Category::Finance,
        subtype: Subtype::QuarterlyAccounts,
        period: Period {
            kind: PeriodKind::Quarterly,
            start: Some("2026-07-01".into()),
            end: Some("2026-09-30".into()),
        },
        title: "青石村2026年第三季度财务收支公开".into(),
        body: "现将本村2026年7月至9月集体财务收支情况公开如下，如有疑问请于10日内提出。".into(),
        opening_balance_fen: Some(18_643_250),
        lines: vec![
            line(
                "2026-07-05",
                "income",
                "发包及上交收入",
                "村集体山林承包费（第二期）",
                3_600_000,
                "云山县林丰合作社",
                "记-2026-071",
            ),
            line(
                "2026-07-18",
                "expense",
                "管理费用",
                "村干部7月误工补贴",
                1_240_000,
                "村委会",
                "记-2026-072",
            ),
            line(
                "2026-08-02",
                "income",
                "补助收入",
                "县财政美丽乡村建设补助资金",
                15_000_000,
                "云山县财政局",
                "记-2026-081",
            ),
        ],
        publish: true,
    };
    let (question, answer) = question_for(&finance);
    DemoContent {
        source: "built-in".into(),
        finance,
        village: NewNotice {
            category: Category::Village,
            subtype: Subtype::Resolution,
            period: Period::default(),
            title: "关于二组至三组通组道路硬化工程的决议公开".into(),
            body: "经村民代表会议表决通过，二组至三组通组道路实施硬化，下周一开始修路，请沿线村民配合。".into(),
            opening_balance_fen: None,
            lines: vec![],
            publish: true,
        },
        low_income: DemoRequest {
            kind: "social_assistance".into(),
            title: "申请城乡最低生活保障".into(),
            description: format!("本人{resident}，独居，患有高血压，生活困难，申请办理低保。"),
            place: None,
        },
        migrant: DemoRequest {
            kind: "legal_mediation".into(),
            title: "在外务工被拖欠工资".into(),
            description: "我在东莞一家工厂打工，老板拖欠我三个月工资，现在联系不上，能不能请驻村律师帮忙？".into(),
            place: None,
        },
        question,
        answer,
        vote_title: "修订《青石村村规民约》".into(),
        vote_body: "村两委起草了村规民约修订稿，请全体村民表决。".into(),
        vote_options: vec!["同意修订稿".into(), "不同意".into()],
    }
}
