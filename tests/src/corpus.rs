//! The sample village (../shared/data/village-corpus.json) and villages of any size
//! built from it, for tests, the demo and benchmarks. Larger villages cycle through
//! the corpus texts with numbered variations, so search and compression see realistic
//! Chinese text rather than random bytes.

use cunwu_core::model::deliberation::DecidingBody;
use cunwu_core::model::notice::{Category, Direction, FinanceLine, Period, PeriodKind, Subtype};
use cunwu_core::store::{NewDeliberation, NewNotice, NewRequest};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
pub struct Corpus {
    pub space: SpaceInfo,
    pub members: Vec<CMember>,
    pub notices: Vec<CNotice>,
    pub requests: Vec<CRequest>,
    pub deliberations: Vec<CDeliberation>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SpaceInfo {
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CMember {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub household: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub migrant: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CNotice {
    pub category: Category,
    pub subtype: Subtype,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub period: Option<CPeriod>,
    #[serde(default)]
    pub opening_balance_fen: Option<i64>,
    #[serde(default)]
    pub lines: Vec<CLine>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CPeriod {
    pub start: Option<String>,
    pub end: Option<String>,
    #[serde(default)]
    pub kind: Option<PeriodKind>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CLine {
    pub date: String,
    pub direction: Direction,
    pub account: String,
    pub item: String,
    pub amount_fen: i64,
    #[serde(default)]
    pub payee_or_dept: String,
    #[serde(default)]
    pub voucher_no: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CRequest {
    pub kind: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CDeliberation {
    pub title: String,
    pub body: String,
    pub deciding_body: DecidingBody,
    #[serde(default)]
    pub options: Vec<String>,
}

/// The corpus file: $CUNWU_CORPUS, else ../shared/data/village-corpus.json from the workspace.
pub fn path() -> PathBuf {
    if let Ok(p) = std::env::var("CUNWU_CORPUS") {
        return p.into();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/village-corpus.json")
}

pub fn load() -> Corpus {
    let p = path();
    let text = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", p.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("corpus {} does not parse: {e}", p.display()))
}

impl Corpus {
    /// The i-th notice of a village built from the corpus.
    pub fn notice(&self, i: usize) -> NewNotice {
        let n = &self.notices[i % self.notices.len()];
        let round = i / self.notices.len();
        let suffix = if round == 0 {
            String::new()
        } else {
            format!("（第{}期）", round + 1)
        };
        let period = n.period.as_ref().map(|p| Period {
            kind: p.kind.unwrap_or_default(),
            start: p.start.clone(),
            end: p.end.clone(),
        });
        NewNotice {
            category: n.category,
            subtype: n.subtype,
            period: period.unwrap_or_default(),
            title: format!("{}{suffix}", n.title),
            body: n.body.clone(),
            opening_balance_fen: n.opening_balance_fen,
            lines: n
                .lines
                .iter()
                .map(|l| FinanceLine {
                    date: l.date.clone(),
                    direction: l.direction,
                    account: l.account.clone(),
                    item: l.item.clone(),
                    amount_fen: l.amount_fen + (round as i64 % 7) * 100,
                    payee_or_dept: l.payee_or_dept.clone(),
                    voucher_no: l.voucher_no.clone(),
                })
                .collect(),
            publish: true,
        }
    }

    pub fn request(&self, i: usize) -> NewRequest {
        let r = &self.requests[i % self.requests.len()];
        let round = i / self.requests.len();
        NewRequest {
            kind: r.kind.clone(),
            title: if round == 0 {
                r.title.clone()
            } else {
                format!("{}（{}）", r.title, round + 1)
            },
            description: r.description.clone(),
            place: r
                .location
                .as_ref()
                .map(|t| cunwu_core::model::request::Place {
                    text: t.clone(),
                    lat: None,
                    lon: None,
                }),
            on_behalf_of: None,
            materials: vec![],
            attachments: vec![],
        }
    }

    pub fn deliberation(&self, i: usize, now: i64) -> NewDeliberation {
        let d = &self.deliberations[i % self.deliberations.len()];
        let round = i / self.deliberations.len();
        let options = if d.deciding_body == DecidingBody::ConsultationOnly {
            vec![]
        } else {
            d.options.clone()
        };
        NewDeliberation {
            title: if round == 0 {
                d.title.clone()
            } else {
                format!("{}（{}）", d.title, round + 1)
            },
            body: d.body.clone(),
            deciding_body: d.deciding_body,
            options,
            group: (d.deciding_body == DecidingBody::GroupMeeting)
                .then(|| self.space.groups.first().cloned().unwrap_or("一组".into())),
            secret: false,
            hide_results: false,
            opens_at: now - 60_000,
            closes_at: now + 7 * 24 * 3600 * 1000,
        }
    }
}
