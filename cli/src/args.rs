//! The command line, as clap derive types. One device per `--home DIR`; `--json`
//! is global, so every command can print machine-readable output on stdout.
//!
//! The names here are a contract: scripts outside the repository call them.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cunwu",
    version,
    about = "Cunwu (村务): one village-governance device on the command line",
    long_about = "Cunwu (村务): one village-governance device on the command line.\n\n\
        Each --home DIR is one device (its store is DIR/cunwu.db). Everything works offline;\n\
        `cunwu sync` exchanges changes with the relay, `cunwu bundle` with a nearby device.\n\
        Times are shown in China Standard Time (UTC+8); amounts in yuan (stored as fen).\n\
        Ids may be abbreviated to any unique prefix.\n\n\
        Output is in Simplified Chinese unless --lang en or CUNWU_LANG=en is given (the system\n\
        locale is not consulted); --json output is the same in every language. Categories,\n\
        kinds, statuses, roles and deciding bodies may be given by identifier or Chinese name\n\
        (e.g. --category 财务公开 or --category finance). This help text is in English."
)]
pub struct Cli {
    /// The device directory [default: $CUNWU_HOME, else ./.cunwu]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print JSON on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Language of the text output: zh (default) or en [default: $CUNWU_LANG, else zh]
    #[arg(long, global = true, value_name = "zh|en")]
    pub lang: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Join a space by redeeming an invite code at the relay
    Enroll(EnrollArgs),
    /// This device: membership, counts, pending and rejected changes
    Status,
    /// Members of the space (from the signed roster)
    Members,
    /// Notices: party affairs, village affairs, finances
    #[command(subcommand)]
    Notice(NoticeCmd),
    /// Service requests
    #[command(subcommand)]
    Request(RequestCmd),
    /// Deliberations and votes
    #[command(subcommand)]
    Deliberation(DeliberationCmd),
    /// Full-text search over notices, requests and deliberations
    Search(SearchArgs),
    /// Exchange changes with the relay
    Sync(SyncArgs),
    /// Photos, voice notes and scans of requests, notices and deliberations
    #[command(subcommand)]
    Attachment(AttachmentCmd),
    /// Phone-to-phone transfer as a file
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Invites (cadres)
    #[command(subcommand)]
    Invite(InviteCmd),
    /// The register of villagers and households (村民名册; kept by cadres)
    #[command(subcommand)]
    Register(RegisterCmd),
    /// Villagers putting a matter forward for a meeting, with co-signs (村民提议)
    #[command(subcommand)]
    Proposal(ProposalCmd),
    /// Major matters decided by 四议两公开 (cadres record each step)
    #[command(subcommand)]
    Matter(MatterCmd),
    /// The party branch online (党员活动; party members and cadres)
    #[command(subcommand)]
    Party(PartyCmd),
    /// Check the store for damage, fix it, and fetch damaged parts again on the next sync
    Repair,
    /// An amount in fen as people read and hear it: figures, uppercase (大写), spoken
    Amount(AmountArgs),
    /// Run a whole village in this process: relay, cadre, resident, migrant
    #[cfg(feature = "demo")]
    Demo,
}

#[derive(Debug, Args)]
pub struct AmountArgs {
    /// The amount in fen (1元 = 100 fen), e.g. 1240050 for 12,400.50元
    #[arg(allow_negative_numbers = true)]
    pub fen: i64,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Relay URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    pub relay: String,
    /// Invite code from a cadre or the relay admin
    #[arg(long)]
    pub invite: String,
    /// Your name as the village knows it
    #[arg(long)]
    pub name: String,
}

/// Finance lines and opening balance, shared by `notice post` and `notice correct`.
#[derive(Debug, Args, Default)]
pub struct FinanceArgs {
    /// Opening balance in fen (finance notices with lines)
    #[arg(long, value_name = "FEN", allow_hyphen_values = true)]
    pub opening_balance_fen: Option<i64>,
    /// A finance line: 'date,income|expense,account,item,amount_fen[,payee[,voucher]]' (repeatable)
    #[arg(long = "line", value_name = "LINE")]
    pub lines: Vec<String>,
    /// A JSON file holding an array of finance lines
    /// ({date, direction, account, item, amount_fen, payee_or_dept, voucher_no})
    #[arg(long, value_name = "FILE")]
    pub lines_json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum NoticeCmd {
    /// Post a notice (cadres); published at once unless --draft
    Post(NoticePostArgs),
    /// List notices, newest first
    List {
        /// party, village or finance
        #[arg(long)]
        category: Option<String>,
        /// draft, published, corrected or withdrawn
        #[arg(long)]
        status: Option<String>,
        /// Only notices this member has not read
        #[arg(long)]
        unread: bool,
        /// newest (by publication time) or recent (by latest activity: reads, questions, corrections)
        #[arg(long, default_value = "newest")]
        order: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A notice: current text, totals, revisions, questions, who read it
    Show { id: String },
    /// Change a draft's text or finance data before it is published (cadres)
    Edit {
        id: String,
        /// New title [default: unchanged]
        #[arg(long)]
        title: Option<String>,
        /// New body [default: unchanged]
        #[arg(long)]
        body: Option<String>,
        /// Replaces the finance data when given
        #[command(flatten)]
        finance: FinanceArgs,
    },
    /// Publish a draft (cadres)
    Publish { id: String },
    /// Publish a corrected revision; the earlier ones stay readable (cadres)
    Correct {
        id: String,
        /// New title [default: unchanged]
        #[arg(long)]
        title: Option<String>,
        /// New body [default: unchanged]
        #[arg(long)]
        body: Option<String>,
        /// Why it was corrected
        #[arg(long)]
        reason: String,
        /// Replaces the finance data when given
        #[command(flatten)]
        finance: FinanceArgs,
    },
    /// Withdraw a notice (cadres)
    Withdraw {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Ask a question about a notice
    Ask { id: String, text: String },
    /// Answer a question on a notice (cadres)
    Answer {
        id: String,
        question_id: String,
        text: String,
    },
    /// Mark the current revision read
    Read { id: String },
    /// Sign off a draft finance disclosure (村务监督委员会 members; 民主理财)
    Review {
        id: String,
        /// What the committee member checked or found
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Who has not read a notice, by group and household, phone or none (cadres)
    Unread { id: String },
}

#[derive(Debug, Args)]
pub struct NoticePostArgs {
    /// party, village or finance
    #[arg(long)]
    pub category: String,
    /// resolution, implementation, relief_funds, subsidy_list, homestead, land_contract,
    /// work_allowance, quarterly_accounts or other
    #[arg(long, default_value = "other")]
    pub subtype: String,
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub body: String,
    /// monthly, quarterly or ad_hoc
    #[arg(long, default_value = "ad_hoc")]
    pub period: String,
    /// First day of the period (YYYY-MM-DD)
    #[arg(long)]
    pub period_start: Option<String>,
    /// Last day of the period (YYYY-MM-DD)
    #[arg(long)]
    pub period_end: Option<String>,
    /// Keep it as a draft instead of publishing
    #[arg(long)]
    pub draft: bool,
    #[command(flatten)]
    pub finance: FinanceArgs,
}

#[derive(Debug, Subcommand)]
pub enum RequestCmd {
    /// File a service request
    File(RequestFileArgs),
    /// List the requests this device may see, most recently updated first
    List {
        /// submitted, accepted, in_progress, referred, resolved, rejected, withdrawn, reopened
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        /// Only requests filed by or for me
        #[arg(long)]
        mine: bool,
        /// Only requests assigned to this member (id or name)
        #[arg(long)]
        assignee: Option<String>,
        /// Only requests that are not resolved, rejected or withdrawn
        #[arg(long)]
        open: bool,
        /// newest (by filing time) or recent (by latest activity: transitions, comments)
        #[arg(long, default_value = "newest")]
        order: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A request: status, every transition (superseded ones too), comments
    Show { id: String },
    /// Move a request to another status
    Transition {
        id: String,
        /// accepted, in_progress, referred, resolved, rejected (cadres); withdrawn, reopened (filer)
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Assign a request to a member (cadres)
    Assign {
        id: String,
        /// Member id or name
        #[arg(long)]
        to: String,
    },
    /// Comment on a request
    Comment {
        id: String,
        text: String,
        /// Internal note that the filer never receives (cadres)
        #[arg(long)]
        internal: bool,
    },
    /// Rate a resolved request (filer)
    Rate {
        id: String,
        #[arg(long)]
        stars: u8,
        #[arg(long, default_value = "")]
        text: String,
    },
}

#[derive(Debug, Args)]
pub struct RequestFileArgs {
    /// social_assistance, medical_insurance, social_insurance, disability, homestead_building,
    /// certificate, legal_mediation, public_facility_repair or other
    #[arg(long)]
    pub kind: String,
    /// May be left out when the request carries an attachment (a voice note says it)
    #[arg(long, default_value = "")]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// A photo (JPEG, PNG, WebP), voice note (M4A/AAC, Opus/Ogg, AMR) or scan (PDF) to
    /// attach; repeatable. The request syncs at once; the files follow on their own lane
    #[arg(long = "attach", value_name = "FILE")]
    pub attach: Vec<std::path::PathBuf>,
    /// Where (free text)
    #[arg(long)]
    pub place: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub lat: Option<f64>,
    #[arg(long, allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// File on behalf of this member (cadres; id or name)
    #[arg(long = "for", value_name = "MEMBER")]
    pub on_behalf_of: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeliberationCmd {
    /// Create a deliberation and open its vote (cadres; a consultation is only created)
    Open(DeliberationOpenArgs),
    /// List deliberations
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// A deliberation with its options, comments and tally
    Show { id: String },
    /// Open voting on an existing deliberation (e.g. one created as a draft of a vote,
    /// or after the relay refused an opening; sync first)
    Start { id: String },
    /// Cast (or re-cast) your ballot
    Vote {
        id: String,
        /// Option label, or its index as shown by `deliberation show`
        #[arg(long)]
        option: String,
    },
    /// Comment during the discussion
    Comment { id: String, text: String },
    /// Close the vote now (cadres)
    Close { id: String },
    /// Record a paper ballot cast in the hall (tellers: cadres and named tellers)
    RecordBallot {
        id: String,
        /// The person on the register (id, unique prefix or name)
        #[arg(long)]
        person: String,
        /// Option label, or its index as shown by `deliberation show`
        #[arg(long)]
        option: String,
    },
    /// Record that a person attended the meeting (tellers); counts toward the quorum
    RecordAttendance {
        id: String,
        #[arg(long)]
        person: String,
    },
    /// Name the persons who record ballots in the hall besides cadres (cadres)
    Tellers {
        id: String,
        /// A person on the register (repeat)
        #[arg(long = "person")]
        persons: Vec<String>,
    },
    /// Who has not voted yet, by group and household, phone or none (cadres)
    NotVoted { id: String },
}

#[derive(Debug, Args)]
pub struct DeliberationOpenArgs {
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub body: String,
    /// villagers_meeting, villager_reps, household_reps, party_members, group_meeting or consultation_only
    #[arg(long)]
    pub body_kind: String,
    /// An option to vote on (repeat; at least two for a vote)
    #[arg(long = "option")]
    pub options: Vec<String>,
    /// Secret ballot: only the relay's signed tally is shared
    #[arg(long)]
    pub secret: bool,
    /// Results hidden until the close
    #[arg(long)]
    pub hide_results: bool,
    /// How long the vote stays open
    #[arg(long, default_value_t = 72.0)]
    pub closes_in_hours: f64,
    /// The group, for a group meeting
    #[arg(long)]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to find, e.g. 低保 or 修路
    pub query: String,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Attempts on network errors (with backoff)
    #[arg(long, default_value_t = 3)]
    pub attempts: u32,
    /// Per-request timeout in seconds
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum BundleCmd {
    /// Write what this device holds (or what a peer lacks) to FILE
    Export {
        file: PathBuf,
        /// The peer's summary from `bundle have`: export only what it lacks
        #[arg(long = "for", value_name = "HAVE_FILE")]
        have: Option<PathBuf>,
    },
    /// Check and merge a bundle file
    Import { file: PathBuf },
    /// Write this device's summary, for a peer to export only what it lacks
    Have { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum InviteCmd {
    /// Ask the relay for an invite code (cadres)
    Create {
        /// resident, villager_rep, party_member or cadre
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        household: String,
        #[arg(long, default_value = "")]
        group: String,
        /// The person on the register this invite enrols (id, unique prefix or name)
        #[arg(long)]
        person: Option<String>,
        /// The person lives or works away from the village
        #[arg(long)]
        migrant: bool,
        /// Where a migrant lives or works (a city)
        #[arg(long, value_name = "CITY")]
        lives_in: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProposalCmd {
    /// Put a matter forward (you must be linked to a person on the register)
    Create {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        /// villagers_meeting (a tenth of adult villagers, or a third of households, call it)
        /// or villager_reps (a fifth of the representatives)
        #[arg(long, default_value = "villagers_meeting")]
        meeting: String,
    },
    /// Support a proposal, as the villager this phone is linked to
    Cosign { id: String },
    /// Withdraw your proposal
    Withdraw { id: String },
    /// Take a proposal up and call the meeting (cadres)
    TakeUp {
        id: String,
        /// The deliberation opened for it
        #[arg(long)]
        deliberation: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Proposals, newest first; cadres see which are due for a meeting
    List,
    /// One proposal with its signers and support
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum RegisterCmd {
    /// Add a person to the register (cadres)
    Add(PersonArgs),
    /// Everyone on the register, by group and household
    List {
        /// Also list persons who moved away or died
        #[arg(long)]
        all: bool,
    },
    /// One person with their history on the register
    Show { person: String },
    /// Correct a person's record: the given fields replace the recorded ones (cadres)
    Amend {
        person: String,
        #[command(flatten)]
        fields: PersonArgs,
    },
    /// Record that a person moved away or died (cadres)
    Leave {
        person: String,
        /// moved_away (迁出) or deceased (去世)
        #[arg(long)]
        reason: String,
        /// The date, YYYY-MM-DD
        #[arg(long)]
        on: String,
    },
}

/// A person's record. On `register add` a flag given is true and one left out false;
/// on `register amend` a field left out keeps its recorded value (`--party=false` clears).
#[derive(Debug, Args, Default)]
pub struct PersonArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub household: Option<String>,
    #[arg(long)]
    pub group: Option<String>,
    /// 18 or over (when no birth date is given)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub adult: Option<bool>,
    /// Birth date, YYYY-MM-DD (adulthood follows from it)
    #[arg(long, value_name = "DATE")]
    pub born: Option<String>,
    /// A member of the party branch
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub party: Option<bool>,
    /// Represents the household (one per household)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub household_rep: Option<bool>,
    /// A villager representative
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub villager_rep: Option<bool>,
    /// A member of the villagers' supervision committee
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub supervisor: Option<bool>,
    /// Lives or works away from the village (give --lives-in)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub migrant: Option<bool>,
    /// Where a migrant lives or works (a city)
    #[arg(long, value_name = "CITY")]
    pub lives_in: Option<String>,
    /// A cadre post, e.g. 村委会主任
    #[arg(long)]
    pub post: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MatterCmd {
    /// Record a major matter (cadres); its steps follow with `matter step`
    Create {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
    },
    /// Record the next step: proposal, consultation, party_review, decision,
    /// decision_disclosure, result_disclosure (cadres; refused out of order)
    Step(MatterStepArgs),
    /// A matter: its steps, who recorded each, attendance, outcome, links
    Show { id: String },
    /// Matters, newest first
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct MatterStepArgs {
    pub id: String,
    /// The step (identifier or name, e.g. consultation or 两委会商议)
    #[arg(long)]
    pub stage: String,
    /// When the meeting was held, YYYY-MM-DD or "YYYY-MM-DD HH:MM" village time [default: now]
    #[arg(long)]
    pub held: Option<String>,
    /// How many attended ...
    #[arg(long, requires = "expected")]
    pub present: Option<u32>,
    /// ... of how many expected
    #[arg(long, requires = "present")]
    pub expected: Option<u32>,
    /// agreed or not_agreed (a meeting that does not agree stops the matter)
    #[arg(long, default_value = "agreed")]
    pub outcome: String,
    #[arg(long, default_value = "")]
    pub note: String,
    /// The deliberation that voted on it
    #[arg(long)]
    pub deliberation: Option<String>,
    /// The notice that disclosed (the two disclosures)
    #[arg(long)]
    pub notice: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PartyCmd {
    /// Activities of the branch: 党员大会, 支委会, 党小组会, 党课, 主题党日
    #[command(subcommand)]
    Activity(ActivityCmd),
}

#[derive(Debug, Subcommand)]
pub enum ActivityCmd {
    /// Create an activity (cadres)
    Create {
        /// members_meeting, committee_meeting, group_meeting, party_lecture or theme_day (or 党员大会 ...)
        #[arg(long)]
        kind: String,
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        agenda: String,
        /// When it starts, YYYY-MM-DD or "YYYY-MM-DD HH:MM" village time
        #[arg(long)]
        starts: String,
        #[arg(long, default_value = "")]
        place: String,
        /// An online meeting link, for members far away
        #[arg(long)]
        link: Option<String>,
    },
    /// Sign in: the secretary for a person (in the hall, or --online), or a party
    /// member for themselves (online) [default person: the one this member is]
    SignIn {
        id: String,
        #[arg(long)]
        person: Option<String>,
        /// Attended online (a member signing in on their own phone always is)
        #[arg(long)]
        online: bool,
    },
    /// Record a person's absence with its reason (cadres)
    Absent {
        id: String,
        #[arg(long)]
        person: String,
        #[arg(long)]
        reason: String,
    },
    /// Write the minutes (cadres)
    Minutes {
        id: String,
        #[arg(long)]
        text: String,
    },
    /// An activity: agenda, time, place, who attended, minutes
    Show { id: String },
    /// Activities, latest first
    List {
        #[arg(long)]
        year: Option<i32>,
    },
    /// A person's attendance over a year's activities [default person: the one this member is]
    Attendance {
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        year: i32,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttachmentCmd {
    /// Attach files to a request, notice or deliberation; prints each file's hash
    Add {
        /// The request, notice or deliberation (id or unique prefix)
        #[arg(long)]
        to: String,
        /// The comment (request, deliberation) or question (notice) the files belong to
        #[arg(long)]
        event: Option<String>,
        /// The finance line (from 1) the files document (a voucher)
        #[arg(long)]
        line: Option<u32>,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
    },
    /// The attachments of a request, notice or deliberation, with their state on this device
    List { id: String },
    /// Write an attachment to a file, fetching it from the relay first if this device lacks it
    Fetch {
        hash: String,
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}
