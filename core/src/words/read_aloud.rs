//! Read aloud (issue 14, "Read aloud"): a notice (with its finance totals), a
//! request's current state and a vote's result as a short paragraph for the phone's
//! text-to-speech, for villagers who read little.
//!
//! What a voice reads has no ids, no figures and no symbols a voice would spell out
//! (¥ / % / #): labels are their spoken forms, amounts `money::spoken`, dates and
//! counts spelled out in characters (`dates::spoken_*`), and numbers inside people's
//! own text (a title's "2026年第三季度", a note's "10日内") are put into words too
//! ([`speakable`]). English paragraphs keep figures (English voices read them) but no
//! symbols. Every sentence comes from the catalogue (`read_aloud.ftl`); `now_ms` is
//! explicit, as everywhere in `words`.

use super::catalogue::{explanation, spoken, text, Arg, Lang, RequestKind};
use super::dates::{self, spoken_count, spoken_number};
use super::money;
use crate::model::deliberation::{Deliberation, Phase, VisibleResult, BALLOT_GRACE_MS};
use crate::model::notice::{Notice, NoticeStatus};
use crate::model::request::ServiceRequest;

/// The longest stretch of a notice's body read aloud, in characters; the rest is left
/// to the screen ("全文请在公告里查看").
pub const BODY_READ_CHARS: usize = 200;

/// A count as the language says it aloud (两 in Chinese for 2 before a measure word).
fn count(lang: Lang, n: u64) -> Arg<'static> {
    match lang {
        Lang::Zh => spoken_count(n).into(),
        Lang::En => n.into(),
    }
}

/// An amount for a voice: "一万两千四百元五角"; "12400 yuan and 50 fen".
pub fn spoken_amount(lang: Lang, fen: i64) -> String {
    match lang {
        Lang::Zh => money::spoken(fen).unwrap_or_else(|_| speakable(lang, &money::figures(fen))),
        Lang::En => {
            let abs = fen.unsigned_abs();
            let sign = if fen < 0 { "minus " } else { "" };
            match (abs / 100, abs % 100) {
                (y, 0) => format!("{sign}{y} yuan"),
                (0, f) => format!("{sign}{f} fen"),
                (y, f) => format!("{sign}{y} yuan and {f} fen"),
            }
        }
    }
}

/// People's own text made fit for a voice. In Chinese, figures become words: a year
/// before 年 digit by digit (二〇二六年), a number with a leading zero or of nine or
/// more digits (a phone or voucher number) digit by digit, a decimal with 点, a
/// percentage as 百分之…, any other number as a number (十日, 三十).
/// In both languages ¥ # and similar symbols are dropped or said in words.
pub fn speakable(lang: Lang, s: &str) -> String {
    const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if lang == Lang::Zh && c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut int: String = chars[start..i].iter().collect();
            // thousands separators: 14,260
            while chars.get(i) == Some(&',')
                && i + 3 < chars.len()
                && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
                && !chars.get(i + 4).is_some_and(char::is_ascii_digit)
            {
                int.extend(&chars[i + 1..i + 4]);
                i += 4;
            }
            let mut frac = String::new();
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    frac.push(chars[i]);
                    i += 1;
                }
            }
            let percent = chars.get(i) == Some(&'%') || chars.get(i) == Some(&'％');
            if percent {
                i += 1;
                out.push_str("百分之");
            }
            let digit_by_digit = |d: &str| -> String {
                d.chars()
                    .map(|c| DIGITS[c.to_digit(10).unwrap_or(0) as usize])
                    .collect()
            };
            let year = int.len() == 4 && frac.is_empty() && chars.get(i) == Some(&'年');
            if year {
                out.extend(
                    digit_by_digit(&int)
                        .chars()
                        .map(|c| if c == '零' { '〇' } else { c }),
                );
            } else if (int.len() > 1 && int.starts_with('0')) || int.len() >= 9 {
                out.push_str(&digit_by_digit(&int));
            } else {
                out.push_str(&spoken_number(int.parse().unwrap_or(0)));
            }
            if !frac.is_empty() {
                out.push('点');
                out.push_str(&digit_by_digit(&frac));
            }
            continue;
        }
        match (lang, c) {
            (_, '¥' | '￥' | '#' | '＃' | '*' | '@' | '_' | '|' | '\\' | '~' | '^' | '`') => {}
            (Lang::Zh, '%' | '％') => out.push_str("百分之"),
            (Lang::En, '%' | '％') => out.push_str(" percent"),
            (Lang::Zh, '/') => out.push('或'),
            (Lang::En, '/') => out.push_str(" or "),
            (Lang::Zh, '&') => out.push('和'),
            (Lang::En, '&') => out.push_str(" and "),
            (Lang::Zh, '-') => out.push(' '),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Sentences joined into a paragraph, each closed by the language's full stop (a
/// sentence that already ends in one is not closed twice).
fn paragraph(lang: Lang, sentences: Vec<String>) -> String {
    let mut parts = vec![];
    for s in sentences {
        let s = s
            .trim()
            .trim_end_matches(['。', '.', '；', ';', '，', ','])
            .to_string();
        if s.is_empty() {
            continue;
        }
        let s = match lang {
            // a sentence that starts with a lower-case explanation
            Lang::En => {
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            Lang::Zh => s,
        };
        parts.push(text(lang, "read-sentence", &[("text", s.into())]));
    }
    parts.join(match lang {
        Lang::Zh => "",
        Lang::En => " ",
    })
}

/// The start of a long body, cut after the last full sentence within
/// [`BODY_READ_CHARS`]; `true` when something was left out.
fn body_excerpt(body: &str) -> (String, bool) {
    let body = body.trim();
    if body.chars().count() <= BODY_READ_CHARS {
        return (body.to_string(), false);
    }
    let head: String = body.chars().take(BODY_READ_CHARS).collect();
    let cut = head
        .char_indices()
        .rev()
        .find(|(_, c)| matches!(c, '。' | '！' | '？' | '!' | '?'))
        .map(|(i, c)| i + c.len_utf8());
    (head[..cut.unwrap_or(head.len())].to_string(), true)
}

/// A notice for a voice: its category and title, when it was published (or that it is
/// a draft, corrected, withdrawn), a finance notice's period and totals (opening
/// balance, income, expense, closing balance), open questions, and the start of the
/// body.
pub fn read_notice(lang: Lang, n: &Notice, now_ms: i64) -> String {
    let mut s = vec![text(
        lang,
        "read-notice-head",
        &[
            ("category", spoken(lang, &n.category).into()),
            ("subtype", spoken(lang, &n.subtype).into()),
            ("title", speakable(lang, &n.content.title).into()),
        ],
    )];
    match n.status {
        NoticeStatus::Draft => s.push(text(lang, "read-notice-draft", &[])),
        NoticeStatus::Published => {
            if let Some(at) = n.published_at() {
                s.push(text(
                    lang,
                    "read-notice-published",
                    &[("date", dates::spoken_date(lang, at, now_ms).into())],
                ))
            }
        }
        NoticeStatus::Corrected => {
            if let Some(r) = n.revisions.last() {
                s.push(text(
                    lang,
                    "read-notice-corrected",
                    &[
                        ("date", dates::spoken_date(lang, r.at, now_ms).into()),
                        ("revision", count(lang, r.number.into())),
                        ("reason", speakable(lang, &r.reason).into()),
                    ],
                ))
            }
        }
        NoticeStatus::Withdrawn => s.push(text(
            lang,
            "read-notice-withdrawn",
            &[(
                "reason",
                speakable(lang, n.withdrawn_reason.as_deref().unwrap_or("")).into(),
            )],
        )),
    }
    if let Some(t) = &n.totals {
        if let (Some(start), Some(end)) = (&n.period.start, &n.period.end) {
            s.push(text(
                lang,
                "read-notice-period",
                &[
                    (
                        "start",
                        dates::spoken_civil_date(lang, start, now_ms).into(),
                    ),
                    ("end", dates::spoken_civil_date(lang, end, now_ms).into()),
                ],
            ));
        }
        s.push(text(
            lang,
            "read-notice-totals",
            &[
                ("opening", spoken_amount(lang, t.opening_fen).into()),
                ("income", spoken_amount(lang, t.income_fen).into()),
                ("expense", spoken_amount(lang, t.expense_fen).into()),
                ("closing", spoken_amount(lang, t.closing_fen).into()),
            ],
        ));
    }
    let open = n.unanswered();
    if open > 0 && n.status.is_live() {
        s.push(text(
            lang,
            "read-notice-open-questions",
            &[("n", count(lang, open as u64))],
        ));
    }
    let (body, cut) = body_excerpt(&n.content.body);
    s.push(speakable(lang, &body));
    if cut {
        s.push(text(lang, "read-notice-more", &[]));
    }
    paragraph(lang, s)
}

/// A request for a voice: what it is, when it was filed (and that a cadre filed it on
/// the person's behalf), its status with the plain explanation, the village's latest
/// note, when it should be done, what is still needed, the rating.
pub fn read_request(lang: Lang, r: &ServiceRequest, now_ms: i64) -> String {
    let mut s = vec![text(
        lang,
        "read-request-head",
        &[
            ("kind", spoken(lang, &RequestKind(&r.kind)).into()),
            ("title", speakable(lang, &r.title).into()),
        ],
    )];
    let filed = dates::spoken_date(lang, r.created_at, now_ms);
    s.push(if r.filed_by.is_some() {
        text(
            lang,
            "read-request-filed-for-someone",
            &[("date", filed.into())],
        )
    } else {
        text(lang, "read-request-filed", &[("date", filed.into())])
    });
    s.push(text(
        lang,
        "read-request-status",
        &[
            ("status", spoken(lang, &r.status).into()),
            ("explain", explanation(lang, &r.status).into()),
        ],
    ));
    if let Some(t) = r.transitions.iter().rev().find(|t| t.applied) {
        if !t.note.trim().is_empty() {
            s.push(text(
                lang,
                "read-request-note",
                &[("note", speakable(lang, &t.note).into())],
            ));
        }
    }
    if r.status.is_open() {
        if let Some(by) = &r.expected_by {
            s.push(text(
                lang,
                "read-request-expected",
                &[("date", dates::spoken_civil_date(lang, by, now_ms).into())],
            ));
        }
        let missing: Vec<String> = r
            .materials
            .iter()
            .filter(|m| !m.provided)
            .map(|m| speakable(lang, &m.name))
            .collect();
        if !missing.is_empty() {
            let sep = text(lang, "read-list-separator", &[]);
            s.push(text(
                lang,
                "read-request-materials",
                &[("list", missing.join(&sep).into())],
            ));
        }
    }
    if let Some(rating) = &r.rating {
        s.push(text(
            lang,
            "read-request-rated",
            &[("stars", count(lang, rating.stars.into()))],
        ));
    }
    paragraph(lang, s)
}

/// A vote for a voice: the deciding body and title, the phase and its deadline, and
/// what the member may see of the result (`Deliberation::visible_result`): why it is
/// hidden, or turnout, votes per option, the outcome under the quorum and majority
/// rules, and whether it is final or provisional (and when it becomes final).
pub fn read_vote(lang: Lang, d: &Deliberation, result: &VisibleResult, now_ms: i64) -> String {
    let mut s = vec![text(
        lang,
        "read-vote-head",
        &[
            ("body", spoken(lang, &d.deciding_body).into()),
            ("title", speakable(lang, &d.title).into()),
        ],
    )];
    let phase = d.phase(now_ms);
    let close = dates::spoken_when(lang, d.effective_close(), now_ms);
    match phase {
        Phase::Discussion => s.push(text(lang, "read-vote-discussion", &[])),
        Phase::Voting => s.push(text(lang, "read-vote-voting", &[("when", close.into())])),
        Phase::Closed => s.push(text(lang, "read-vote-closed", &[("when", close.into())])),
    }
    match result {
        VisibleResult::Hidden(why) => {
            // "voting has not opened" was just said by the phase
            if phase != Phase::Discussion {
                s.push(text(
                    lang,
                    "read-vote-hidden",
                    &[("why", explanation(lang, why).into())],
                ));
            }
        }
        VisibleResult::Shown(t) => {
            s.push(text(
                lang,
                "read-vote-turnout",
                &[
                    ("eligible", count(lang, t.eligible.into())),
                    ("participants", count(lang, t.participants.into())),
                ],
            ));
            let options: Vec<String> = d
                .options
                .iter()
                .zip(&t.counts)
                .map(|(o, n)| {
                    text(
                        lang,
                        "read-vote-option",
                        &[
                            ("option", speakable(lang, o).into()),
                            ("n", count(lang, (*n).into())),
                        ],
                    )
                })
                .collect();
            let sep = text(lang, "read-list-separator", &[]);
            s.push(text(
                lang,
                "read-vote-counts",
                &[("list", options.join(&sep).into())],
            ));
            if phase == Phase::Closed {
                let outcome = match (t.quorum_met, t.decided) {
                    (false, _) => text(lang, "read-vote-no-quorum", &[]),
                    (true, Some(i)) => text(
                        lang,
                        "read-vote-decided",
                        &[(
                            "option",
                            speakable(
                                lang,
                                d.options.get(i as usize).map(String::as_str).unwrap_or(""),
                            )
                            .into(),
                        )],
                    ),
                    (true, None) => text(lang, "read-vote-no-majority", &[]),
                };
                s.push(outcome);
                s.push(if d.result_final(now_ms) {
                    text(lang, "read-vote-final", &[])
                } else {
                    let final_at = d.effective_close() + BALLOT_GRACE_MS;
                    text(
                        lang,
                        "read-vote-provisional",
                        &[("when", dates::spoken_when(lang, final_at, now_ms).into())],
                    )
                });
            }
        }
    }
    paragraph(lang, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DAY_MS;
    use crate::model::deliberation::{DecidingBody, Tally};
    use crate::model::notice::{Category, NoticeContent, Period, Revision, Subtype};
    use crate::model::request::{Material, Status, TransitionRecord};
    use serde_json::Value;
    use std::collections::BTreeMap;

    const NOW: i64 = 1_796_083_200_000; // 2026-12-01 00:00 UTC, 08:00 in the village

    fn corpus() -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/village-corpus.json");
        let bytes = std::fs::read(&p)
            .unwrap_or_else(|e| panic!("the village corpus {} is needed: {e}", p.display()));
        serde_json::from_slice(&bytes).expect("the corpus parses")
    }

    /// A published notice from a corpus entry (as cli/src/corpus.rs reads one).
    fn notice_from(v: &Value, at: i64) -> Notice {
        let category: Category = serde_json::from_value(v["category"].clone()).unwrap();
        let subtype: Subtype =
            serde_json::from_value(v.get("subtype").cloned().unwrap_or("other".into()))
                .unwrap_or(Subtype::Other);
        let period: Period = v
            .get("period")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .unwrap_or_default();
        let content: NoticeContent = serde_json::from_value(v.clone()).unwrap();
        content.validate(category).unwrap();
        Notice {
            id: "0".repeat(32),
            category,
            subtype,
            period,
            status: NoticeStatus::Published,
            created_by: "a".repeat(32),
            created_at: at,
            totals: content.totals(),
            revisions: vec![Revision {
                number: 1,
                content: content.clone(),
                by: "a".repeat(32),
                at,
                reason: String::new(),
                arrived_at: None,
                event: None,
            }],
            content,
            withdrawn_reason: None,
            questions: vec![],
            read_by: BTreeMap::new(),
            reviewed_by: vec![],
            attachments: vec![],
            updated_at: at,
        }
    }

    fn no_figures_or_symbols(p: &str) {
        assert!(
            !p.contains(|c: char| c.is_ascii_digit()),
            "figures in {p:?}"
        );
        assert!(!p.contains(['¥', '%', '#', '/']), "symbols in {p:?}");
        assert!(!p.contains("0000"), "an id in {p:?}");
    }

    #[test]
    fn finance_notices_from_the_corpus_read_their_totals_in_words() {
        let c = corpus();
        let mut finance = 0;
        for v in c["notices"].as_array().unwrap() {
            let n = notice_from(v, NOW - 3 * DAY_MS);
            let p = read_notice(Lang::Zh, &n, NOW);
            no_figures_or_symbols(&p);
            assert!(p.contains(&speakable(Lang::Zh, &n.content.title)), "{p}");
            if let Some(t) = &n.totals {
                finance += 1;
                for fen in [t.income_fen, t.expense_fen, t.closing_fen] {
                    let words = money::spoken(fen).unwrap();
                    assert!(p.contains(&words), "{words} not in {p}");
                }
                assert!(p.contains("财务公开"), "{p}");
                let en = read_notice(Lang::En, &n, NOW);
                assert!(en.contains(&spoken_amount(Lang::En, t.closing_fen)), "{en}");
                assert!(en.contains("closing balance"), "{en}");
            }
        }
        assert!(finance >= 1, "the corpus has finance notices with lines");
        // the first corpus notice, in full
        let n = notice_from(&c["notices"][0], NOW - 3 * DAY_MS);
        let p = read_notice(Lang::Zh, &n, NOW);
        assert!(
            p.starts_with("财务公开，季度账目：青石村二〇二六年第三季度财务收支公开。十一月二十八日发布。账目期间从七月一日到九月三十日。"),
            "{p}"
        );
        assert!(p.contains("期末结余"), "{p}");
    }

    #[test]
    fn a_notice_says_its_status() {
        let c = corpus();
        let mut n = notice_from(&c["notices"][4], NOW - DAY_MS);
        n.status = NoticeStatus::Withdrawn;
        n.withdrawn_reason = Some("工期调整，3月后重新公示".into());
        let p = read_notice(Lang::Zh, &n, NOW);
        assert!(
            p.contains("这条公告已经撤回，原因：工期调整，三月后重新公示。"),
            "{p}"
        );
        no_figures_or_symbols(&p);
        n.status = NoticeStatus::Draft;
        assert!(read_notice(Lang::En, &n, NOW).contains("This is a draft"));
    }

    #[test]
    fn a_long_body_is_cut_at_a_sentence() {
        let body = "第一句话。".repeat(60);
        let (head, cut) = body_excerpt(&body);
        assert!(cut && head.ends_with('。') && head.chars().count() <= BODY_READ_CHARS);
    }

    #[test]
    fn speakable_puts_figures_into_words() {
        let zh = |s| speakable(Lang::Zh, s);
        assert_eq!(zh("2026年第三季度"), "二〇二六年第三季度");
        assert_eq!(zh("10日内"), "十日内");
        assert_eq!(zh("50%用于"), "百分之五十用于");
        assert_eq!(zh("约8.5万元"), "约八点五万元");
        assert_eq!(zh("电话13812345678"), "电话一三八一二三四五六七八");
        assert_eq!(zh("记-2026-071"), "记 两千零二十六 零七一");
        assert_eq!(zh("¥120"), "一百二十");
        assert_eq!(zh("合计14,260元，3人"), "合计一万四千两百六十元，三人");
        assert_eq!(zh("1,2345"), "一,两千三百四十五");
        assert_eq!(speakable(Lang::En, "50% / #3"), "50 percent  or  3");
    }

    fn request(status: Status) -> ServiceRequest {
        ServiceRequest {
            id: "1".repeat(32),
            kind: "social_assistance".into(),
            title: "申请低保".into(),
            description: "家里2口人".into(),
            place: None,
            filer: "b".repeat(32),
            filed_by: Some("a".repeat(32)),
            created_at: NOW - 2 * DAY_MS,
            status,
            transitions: vec![TransitionRecord {
                from: Status::Submitted,
                to: Status::Accepted,
                by: "a".repeat(32),
                at: NOW - DAY_MS,
                note: "请在3日内补交户口本".into(),
                applied: true,
                on_behalf_of: None,
            }],
            assignments: vec![],
            assignee: None,
            expected_by: Some("2026-12-15".into()),
            materials: vec![
                Material {
                    name: "户口本".into(),
                    provided: false,
                },
                Material {
                    name: "身份证".into(),
                    provided: true,
                },
            ],
            attachments: vec![],
            comments: vec![],
            rating: None,
            updated_at: NOW - DAY_MS,
        }
    }

    #[test]
    fn a_request_reads_its_state_in_plain_words() {
        let r = request(Status::Accepted);
        let p = read_request(Lang::Zh, &r, NOW);
        assert_eq!(
            p,
            "申请事项：低保救助，申请低保。十一月二十九日由村干部代为提交。\
             现在已受理，村里已收到您的申请，正在安排办理。村里的说明：请在三日内补交户口本。\
             预计十二月十五日前办好。还需要准备：户口本。"
        );
        no_figures_or_symbols(&p);
        let en = read_request(Lang::En, &r, NOW);
        assert!(
            en.contains("Status: Accepted, the village has received your request"),
            "{en}"
        );
        assert!(en.contains("Still needed: 户口本."), "{en}");
        // a request the corpus files
        let c = corpus();
        for v in c["requests"].as_array().unwrap() {
            let mut r = request(Status::Submitted);
            r.kind = v["kind"].as_str().unwrap().into();
            r.title = v["title"].as_str().unwrap().into();
            r.transitions.clear();
            let p = read_request(Lang::Zh, &r, NOW);
            no_figures_or_symbols(&p);
            assert!(p.contains("现在已提交"), "{p}");
        }
    }

    fn vote(closes_in: i64) -> Deliberation {
        let c = corpus();
        let v = &c["deliberations"][0];
        Deliberation {
            id: "2".repeat(32),
            title: v["title"].as_str().unwrap().into(),
            body: v["body"].as_str().unwrap().into(),
            deciding_body: DecidingBody::VillagerReps,
            options: vec!["同意".into(), "不同意".into(), "弃权".into()],
            group: None,
            secret: false,
            hide_results: false,
            opens_at: NOW - 3 * DAY_MS,
            closes_at: NOW + closes_in,
            created_by: "a".repeat(32),
            created_at: NOW - 4 * DAY_MS,
            opened_at: Some(NOW - 3 * DAY_MS),
            closed_at: None,
            eligible: (0..9).map(|i| format!("{i:032}")).collect(),
            snapshot_roster_version: None,
            persons: vec![],
            member_persons: Default::default(),
            register_heads: vec![],
            tellers: vec![],
            comments: vec![],
            attachments: vec![],
            updated_at: NOW - DAY_MS,
        }
    }

    fn tally(counts: Vec<u32>) -> Tally {
        let participants = counts.iter().sum();
        Tally {
            deliberation: "2".repeat(32),
            eligible: 9,
            participants,
            decided: counts
                .iter()
                .position(|c| 2 * c > participants)
                .map(|i| i as u32),
            quorum_met: 3 * participants >= 18,
            counts,
            final_result: false,
            roll: BTreeMap::new(),
            as_of: 0,
            in_hall: 0,
        }
    }

    #[test]
    fn a_vote_reads_its_result_provisional_then_final() {
        // closed an hour ago: inside the grace period, provisional
        let d = vote(-3_600_000);
        let shown = VisibleResult::Shown(tally(vec![6, 1, 0]));
        let p = read_vote(Lang::Zh, &d, &shown, NOW);
        no_figures_or_symbols(&p);
        assert!(
            p.starts_with("村民代表会议：村集体光伏电站收益分配方案。投票已在今天七点整结束。"),
            "{p}"
        );
        assert!(p.contains("九人有投票权，七人参加了投票。"), "{p}");
        assert!(p.contains("“同意”六票，“不同意”一票，“弃权”零票"), "{p}");
        assert!(p.contains("结果是“同意”"), "{p}");
        assert!(
            p.contains("这是初步结果") && p.contains("今天九点整以后"),
            "{p}"
        );
        // a day later it is final
        let p = read_vote(Lang::Zh, &d, &shown, NOW + DAY_MS);
        assert!(p.ends_with("这是最终结果。"), "{p}");
        let en = read_vote(Lang::En, &d, &shown, NOW + DAY_MS);
        assert!(en.contains("\"同意\" 6 votes, \"不同意\" one vote"), "{en}");
        assert!(en.ends_with("This is the final result."), "{en}");
        // too few took part
        let p = read_vote(
            Lang::Zh,
            &d,
            &VisibleResult::Shown(tally(vec![2, 1, 0])),
            NOW,
        );
        assert!(p.contains("参加的人数不够"), "{p}");
        // secret ballot while open: why nothing is shown
        let open = vote(DAY_MS);
        let p = read_vote(
            Lang::Zh,
            &open,
            &VisibleResult::Hidden(crate::model::deliberation::Hidden::UntilClose),
            NOW,
        );
        assert!(p.contains("正在投票，明天八点整截止"), "{p}");
        assert!(p.contains("截止后由中继统一计票公布"), "{p}");
        no_figures_or_symbols(&p);
    }
}
