# What the `cunwu` command line says to a person (cli/). Every id starts with cli-.
# --json output never comes from here.

cli-internal-error = internal error (please report)
cli-unknown-lang = { $from } "{ $value }" is not a language cunwu speaks; use zh or en
cli-list-separator = ,{" "}
cli-none = (none)
cli-no-reason = no reason given
cli-unknown-member = an unknown member

## Errors: the sentence for each kind, then the developer detail

cli-error-invalid = invalid input
cli-error-not-allowed = not allowed
cli-error-invalid-transition = that cannot be done now
cli-error-not-found = not found
cli-error-not-enrolled = this device is not enrolled in a space yet (run `cunwu enroll` with an invite first)
cli-error-bad-signature = a signature did not check out
cli-error-malformed = damaged or unreadable data
cli-error-unsupported-version = unsupported format version { $found } (this build reads versions 1 to { $supported }; update the app or relay that wrote it)
cli-error-too-large = too large
cli-error-database = the device's database has a problem
cli-error-network = the relay cannot be reached
cli-error-relay = the relay refused the request ({ $status })
cli-error-document = a document could not be changed
cli-error-io = a file could not be read or written
cli-error-with-detail = { $message } (detail: { $detail })

## The device, ids and members

cli-cannot-open-store = cannot open { $path }: { $detail }
cli-no-device = no Cunwu device in { $home } (run `cunwu --home { $home } enroll --relay URL --invite CODE --name NAME` first)
cli-no-runtime = cannot start the async runtime: { $detail }
cli-cannot-encode-json = cannot encode JSON: { $detail }
cli-what-notice = notice
cli-what-request = request
cli-what-deliberation = deliberation
cli-not-an-id = "{ $typed }" is not a { $what } id (ids are hexadecimal)
cli-no-such-id = no { $what } on this device has an id starting with { $prefix }
cli-ambiguous-id = { $n } { $what }s have ids starting with { $prefix }; type more of the id
cli-ambiguous-member-name = { $n } members are named { $name }; use the member id (see `cunwu members`)
cli-no-such-member = no member "{ $name }" in this space (see `cunwu members`)
cli-ambiguous-member-id = { $n } members have ids starting with { $prefix }; type more of the id

## Parsing what was typed

cli-what-category = category
cli-what-subtype = subtype
cli-what-period = period
cli-what-notice-status = notice status
cli-what-request-status = request status
cli-what-deciding-body = deciding body
cli-what-role = role
cli-unknown-value = unknown { $what } "{ $typed }"; expected one of { $expected }
cli-bad-date = { $what } "{ $typed }" is not a date of the form YYYY-MM-DD
cli-bad-line = --line { $n } ("{ $line }"): { $problem }
cli-line-fields = expected 5 to 7 comma-separated fields (date,income|expense,account,item,amount_fen[,payee[,voucher]]), got { $n }
cli-line-direction = direction "{ $typed }" must be income or expense (收入 or 支出)
cli-line-amount = amount "{ $typed }" must be a whole number of fen
cli-line-amount-too-large = amount { $typed } fen is too large: a line holds at most { $max } fen
cli-cannot-read = cannot read { $path }: { $detail }
cli-bad-lines-json = { $path } is not a JSON array of finance lines ({"{"}date, direction, account, item, amount_fen, payee_or_dept, voucher_no{"}"}): { $detail }
cli-amount-too-large = the amount { $fen } fen is too large to write in words (at most { $max } fen)

## Table headers

cli-col-id = ID
cli-col-category = CATEGORY
cli-col-status = STATUS
cli-col-revision = REV
cli-col-published = PUBLISHED
cli-col-balance = BALANCE
cli-col-questions = Q
cli-col-read = READ
cli-col-title = TITLE
cli-col-date = DATE
cli-col-account = ACCOUNT
cli-col-item = ITEM
cli-col-amount = AMOUNT
cli-col-payee = PAYEE
cli-col-voucher = VOUCHER
cli-col-kind = KIND
cli-col-filer = FILER
cli-col-assignee = ASSIGNEE
cli-col-updated = UPDATED
cli-col-body = BODY
cli-col-closes = CLOSES
cli-col-voted = VOTED
cli-col-name = NAME
cli-col-role = ROLE
cli-col-household = HOUSEHOLD
cli-col-group = GROUP
cli-col-devices = DEVICES

## Enrolment, status, members, invites

cli-already-enrolled = { $home } is already enrolled in { $space } as member { $member }; use another --home for another device
cli-enrolled = enrolled in { $space } as { $name } ({ $role })
cli-enrolled-ids = member { $member } · device { $device }
cli-enrolled-next = run `cunwu sync` to fetch what the village has published
cli-status-no-device = no Cunwu device in { $home } (run `cunwu enroll` first)
cli-status-not-enrolled = device { $device } in { $home } is not enrolled yet (run `cunwu enroll`)
cli-status-space = space     { $space } ({ $id })
cli-status-member = member    { $name } — { $role } ({ $id })
cli-status-device = device    { $id }
cli-status-relay = relay     { $url }
cli-status-counts = counts    { $unread } unread notices · { $open } open requests ({ $mine } mine, { $assigned } assigned to me) · { $votes } votes to cast
cli-status-pending = pending   { $n } change(s) not yet acknowledged by the relay
cli-status-pending-line = {"          "}· [{ $state }] { $summary } { $id } ({ $when })
cli-status-rejected-none = rejected  none
cli-status-rejected = rejected  { $n } change(s) refused by the relay and undone on this device:
cli-status-rejected-line = {"          "}✗ { $summary } { $id } ({ $when }): { $reason }
cli-flag-me = me
cli-flag-revoked = revoked
cli-flag-migrant = migrant
cli-invite-code = invite code: { $code }
cli-invite-details = role { $role } · expires { $expires } · redeem once with `cunwu enroll --invite { $code }`

## Notices

cli-notice-published = notice { $id } published: { $title }
cli-notice-drafted = notice { $id } saved as a draft: { $title }
cli-notice-corrected = notice { $id } corrected: { $title }
cli-notice-withdrawn = notice { $id } withdrawn: { $title }
cli-reaches-village-at-sync = it reaches the village at the next `cunwu sync`
cli-question-asked = question { $question } asked on notice { $notice }
cli-question-reply-due = the village must { $deadline }
cli-no-such-question = notice { $notice } has no question { $question }
cli-ambiguous-question = several questions start with { $question }; type more of the id
cli-question-answered = answered question { $question } on notice { $notice }
cli-notice-marked-read = marked revision { $revision } of notice { $notice } read
cli-no-notices = no notices
cli-unread-mark = new
cli-notice-provenance = published by { $name } ({ $role }) from device { $device } · signature { $signature }
cli-signature-verified = verified
cli-signature-not-verified = NOT verified: { $problem }
cli-period-range = {" "}· { $start } – { $end }
cli-period-from = {" "}· from { $start }
cli-notice-kind-line = id { $id } · { $category } / { $subtype } · { $period_kind }{ $period }
cli-notice-status-line = status { $status } · revision { $revision }
cli-notice-first-published = {" "}· first published { $when } by { $name }
cli-notice-drafted-by = {" "}· drafted { $when } by { $name }
cli-notice-withdrawn-reason = WITHDRAWN: { $reason }
cli-finance-lines = Finance lines
cli-finance-totals = opening { $opening } · income { $income } · expense { $expense } · closing { $closing }
cli-revisions = Revisions
cli-revision-line = {"  "}Revision { $number } · { $when } by { $name }
cli-revision-reason = {" "}— correction: { $reason }
cli-questions = Questions
cli-question-answered-state = answered
cli-question-due-state = { $by }, { $left }
cli-question-line = {"  "}[{ $id }] { $name } { $when }: { $text }  ({ $state })
cli-answer-line = {"      "}↳ { $name } { $when }: { $text }
cli-read-by-nobody = read by: nobody yet
cli-read-old-revision = { $name } (rev { $revision })
cli-read-by = read by ({ $n }): { $names }
cli-diff-title = {"      "}title was: { $old }
cli-diff-body = {"      "}body was: { $old }
cli-diff-closing = {"      "}closing balance was { $old } (now { $new })
cli-diff-lines = {"      "}finance lines changed ({ $old } → { $new })

## Requests

cli-no-requests = no requests
cli-request-filed = request { $id } filed
cli-request-now = request { $id } is now { $status }
cli-request-assigned = request { $id } assigned to { $name }
cli-request-internal-note = request { $id } has a new internal note
cli-request-comment = request { $id } has a new comment
cli-request-rated = request { $id } rated { $stars }/5
cli-request-done = { $what }: { $title }
cli-request-kind-line = id { $id } · { $kind } · status { $status }
cli-request-filed-line = filed { $when } by { $name }
cli-request-entered-by = {" "}(entered by { $name })
cli-request-assigned-to = {" "}· assigned to { $name }
cli-request-expected-by = {" "}· expected by { $date }
cli-request-place = place: { $place }
cli-request-materials = materials: { $list }
cli-history = History
cli-history-filed = {"  "}{ $when } { $name }: { $status }
cli-history-transition = {"  "}{ $when } { $name }: { $from } → { $to }
cli-history-note = {" "}— { $note }
cli-history-superseded = {"  "}[superseded: not allowed after what came before; kept in the history]
cli-comments = Comments
cli-internal-tag = {" "}[internal]
cli-comment-line = {"  "}{ $when } { $name }{ $tag }: { $text }
cli-rating = rating { $stars } { $text }

## Deliberations

cli-no-deliberations = no deliberations
cli-ballot-cast = ballot cast for [{ $index }] { $option } in { $title }
cli-ballot-recast = you may vote again until the close; your last ballot counts
cli-deliberation-voting = deliberation { $id } is open for voting: { $title }
cli-deliberation-comments-open = deliberation { $id } is open for comments: { $title }
cli-deliberation-comment = deliberation { $id } has a new comment: { $title }
cli-deliberation-closed = deliberation { $id } is closed: { $title }
cli-deliberation-eligible = { $n } eligible voters · closes { $when }
cli-deliberation-roster-warning = eligibility comes from this device's roster: if members joined since your last sync, the relay will reject the opening (see `cunwu status`); then sync and run `cunwu deliberation start ID`
cli-consultation-has-no-options = { $title } is a consultation; it has no options to vote on
cli-no-such-option = no option "{ $typed }"; choose one of { $options }
cli-bad-closes-in-hours = --closes-in-hours must be more than 0 and at most a year
cli-deliberation-kind-line = id { $id } · { $body }
cli-deliberation-group = {" "}({ $group })
cli-deliberation-secret = {" "}· secret ballot
cli-deliberation-hidden-results = {" "}· results hidden until the close
cli-deliberation-status-closes = status { $status } · opened by { $name } { $created } · closes { $close }
cli-deliberation-status-closed = status { $status } · opened by { $name } { $created } · closed { $close }
cli-options = Options
cli-option-votes = {"  "}{ $n ->
    [one] 1 vote
   *[other] { $n } votes
}
cli-option-mine = {"  "}← your ballot
cli-tally-decided = decided: { $option }
cli-tally-no-majority = no option has a majority
cli-tally-no-quorum = quorum not met
cli-quorum-met = met
cli-quorum-not-met = not met
cli-tally-final = {" "}(final)
cli-tally-so-far = {" "}(so far)
cli-tally-line = tally: { $participants } of { $eligible } eligible took part · quorum { $quorum } · { $decided }{ $state }
cli-roll = roll: { $list }
cli-tally-hidden = tally: { $why }

## Search

cli-search-nothing = nothing found for "{ $query }"

## Sync and bundles

cli-sync-contacting = sync: contacting { $url } …
cli-sync-progress = sync: page { $page } · ↑ { $sent } · ↓ { $received_bytes } · { $received } change(s) received
cli-sync-unreachable = cannot reach the relay at { $url } ({ $detail }); local changes stay on this device until the next sync
cli-synced = synced with { $url }: sent { $sent } (acked { $acked }), received { $received }, rejected { $rejected } · { $trips } round trip(s) in all, { $up } up, { $down } down
cli-sync-rejected = the relay REJECTED { $n } of your change(s); they were undone on this device:
cli-sync-rejected-hint = (`cunwu status` lists every rejected change with its reason)
cli-sync-refused-incoming = { $n } incoming change(s) failed this device's checks and were not applied
cli-bundle-wrote = wrote { $size } to { $file }
cli-bundle-wrote-incremental = wrote { $size } to { $file } (only what the peer lacks)
cli-bundle-imported = imported { $file }: { $applied } change(s) applied, { $duplicates } already here, { $parked } waiting for earlier changes, { $refused } refused, { $tallies } tally(ies)
cli-bundle-have = wrote this device's summary ({ $size }) to { $file }
cli-bundle-have-hint = give it to the other device: `cunwu bundle export OUT --for THIS_FILE` there

## Repair

cli-repair-no-damage = integrity check: no damage found
cli-repair-found = integrity check found { $n } problem(s):
cli-repair-quarantined = quarantined entity { $id } ({ $why }); it will be fetched again from the relay
cli-repair-outbox-restored = { $n } local change(s) had lost their outbox row and will be sent with the next sync
cli-repair-lost = local change { $hash } can never be sent: { $why }
cli-repair-parked-dropped = dropped { $n } unreadable waiting change(s); the relay will send them again
cli-repair-restored = put { $n } kept local change(s) back into their documents
cli-repair-rebuilt = lists and search rebuilt from the documents
cli-repair-next-sync = the next `cunwu sync` fetches everything again from the relay (nothing is sent twice)
cli-repair-clean = after repair: no damage left
cli-repair-left = after repair, { $n } problem(s) remain until the next sync:

## cunwu demo

cli-demo-failed = demo: { $detail }
cli-demo-title = Cunwu demo — { $space }
cli-demo-content = content: { $source }
cli-demo-relay = relay:   in-process at { $url } on { $file }
cli-demo-cadre-label = cadre, Party branch secretary
cli-demo-resident-label = resident, group 2
cli-demo-migrant-label = resident, migrant working in { $city }
cli-demo-step-enrol = 1. enrolment (invite codes redeemed at the relay)
cli-demo-enrolled = {"   "}{ $name } ({ $label }) · device { $device }
cli-demo-step-offline = 2. offline work (no sync yet)
cli-demo-posts-finance = {"   "}[{ $who }] posts finance notice 「{ $title }」 ({ $lines } lines, closing balance { $closing })
cli-demo-posts-village = {"   "}[{ $who }] posts village notice 「{ $title }」
cli-demo-files = {"   "}[{ $who }] files request 「{ $title }」 ({ $kind })
cli-demo-files-from = {"   "}[{ $who }] files request 「{ $title }」 ({ $kind }) from { $city }
cli-demo-step-sync = 3. everyone syncs
cli-demo-step-read = 4. offline again: residents read; the migrant asks about the accounts
cli-demo-read = {"   "}[{ $a }] and [{ $b }] mark both notices read
cli-demo-asks = {"   "}[{ $who }] asks: { $text }
cli-demo-step-cadre = 5. the cadre handles the requests, answers, and opens a vote for the whole village
cli-demo-accepts = {"   "}[{ $who }] accepts 「{ $a }」 and 「{ $b }」 ({ $status })
cli-demo-answers = {"   "}[{ $who }] answers: { $text }
cli-demo-opens-vote = {"   "}[{ $who }] opens a { $body } vote 「{ $title }」 ({ $n } eligible)
cli-demo-step-vote = 6. the residents vote (offline), then sync; the cadre closes the vote
cli-demo-votes = {"   "}[{ $a }] and [{ $b }] vote 「{ $option }」
cli-demo-closes = {"   "}[{ $who }] closes the vote
cli-demo-step-views = 7. what each device shows
cli-demo-rejected = {"   "}[{ $who }] REJECTED by the relay: { $why }
cli-demo-synced = {"   "}sync [{ $who }] { $syncs } sync(s): sent { $sent }, received { $received }, rejected { $rejected } · { $trips } round trip(s) in all, { $up } up, { $down } down
cli-demo-view = {"   "}── { $name } ({ $role }) ──
cli-demo-view-notice = {"   "}notice   [{ $status } r{ $revision }] { $title }
cli-demo-view-closing = {" "}· closing { $amount }
cli-demo-view-questions = {" "}· { $n } question(s), { $answered } answered
cli-demo-view-read-by = {" "}· read by { $n }
cli-demo-view-request = {"   "}request  [{ $status }] { $title } — filed by { $filer } · { $comments } comment(s)
cli-demo-view-decided = {" "}· decided: { $option }
cli-demo-view-tally = { $counts } · { $participants }/{ $eligible } took part{ $decided }
cli-demo-view-no-tally = no tally
cli-demo-view-vote = {"   "}vote     [{ $status }] { $title } — { $tally }
cli-demo-view-outbox = {"   "}outbox   { $pending } pending, { $rejected } rejected
cli-demo-converged = converged: yes
cli-demo-not-converged = converged: NO
cli-demo-elapsed = ({ $seconds } s)
cli-demo-differences = the devices did not converge ({ $n } difference(s))
cli-demo-p-notices = { $a }'s notices differ from { $b }'s
cli-demo-p-deliberations = { $a }'s deliberations or tally differ from { $b }'s
cli-demo-p-requests = { $a }'s requests differ from what { $b } sees of them
cli-demo-p-outbox = { $a } still has { $pending } pending and { $rejected } rejected change(s)
cli-demo-p-request-count = { $a } sees { $n } requests, expected 2
cli-demo-p-notice-count = { $a } sees { $n } notices, expected 2
cli-demo-p-tally = unexpected tally: { $tally }
cli-demo-p-document = document { $id } differs on { $a }'s device
cli-demo-next = What to try next: run a relay and devices by hand (see README.md):
cli-demo-next-build = {"  "}cargo build --release -p cunwu-relay -p cunwu-cli
cli-demo-next-space = {"  "}./target/release/cunwu-relay space create --name 青石村     # prints the space id and the first cadre invite
cli-demo-next-serve = {"  "}./target/release/cunwu-relay serve                          # 127.0.0.1:8700, ./cunwu-relay.db
cli-demo-next-enroll = {"  "}./target/release/cunwu --home ./cadre enroll --relay http://127.0.0.1:8700 --invite CODE --name 陈建国
cli-demo-next-invite = {"  "}./target/release/cunwu --home ./cadre invite create --role resident   # an invite for a resident's device
cli-demo-next-post = {"  "}./target/release/cunwu --home ./cadre notice post --category village --title 停水通知 --body 明天上午停水
cli-demo-next-sync = {"  "}./target/release/cunwu --home ./cadre sync
cli-demo-next-help = `cunwu --help` lists every command; add --lang zh for Chinese, --json for scripts.

# issue 14: finance notices read as accounts; times the village saw
cli-notice-edited = notice { $id } draft edited: { $title }
cli-by-account = By account
cli-col-lines = LINES
cli-col-subtotal = SUBTOTAL
cli-revision-current = {"      "}(the current text, above)
cli-revision-changed-in = {"      "}changed in revision { $number }:
cli-revision-title = title: { $title }
cli-change-title = title: { $was } → { $now }
cli-change-body = body: { $was } → { $now }
cli-change-opening = opening balance { $was } → { $now }
cli-change-line-amount = line { $line } ({ $item }) amount { $was } → { $now }
cli-change-line = line { $line }: { $was } → { $now }
cli-change-line-added = line { $line } added: { $now }
cli-change-line-removed = line { $line } removed: { $was }
cli-phone-said = {" "}(the author's phone said { $when })

# issue 14: a closed vote says what it is; true warnings
cli-deliberation-status = status { $status } · opened by { $name } { $created } · { $close }
cli-close-early = closed early { $closed } (deadline was { $deadline })
cli-close-closed = closed { $closed }
cli-close-closes = closes { $closes }
cli-standing-running = {" "}(so far; voting closes { $closes })
cli-standing-offline = {" "}(provisional: ballots cast offline before the close may still arrive; final at { $at })
cli-standing-awaiting = {" "}(provisional: the relay's final count (due { $at }) has not reached this device yet; sync)
cli-standing-final = {" "}(final)
cli-snapshot-kept = the relay keeps this eligibility snapshot: { $voters } voter(s) from roster version { $version }, the roster this device holds;
cli-snapshot-later = members who joined after roster version { $version } cannot vote in this deliberation (sync before opening a vote to include them)

# issue 14: filing on someone's behalf, end to end
cli-col-filed = FILED
cli-history-filed-for = { $name }: { $status } for { $filer }
cli-history-filed-by = { $name }: { $status }
cli-history-acted-for = { $name } for { $filer }: { $from } → { $to }
cli-history-acted = { $name }: { $from } → { $to }
cli-history-assigned = { $name }: assigned to { $assignee }
cli-rated-for = {" "}(rated by { $name } for { $filer })
cli-unknown-order = unknown order "{ $typed }"; expected newest or recent
cli-sync-left = {" "}· { $percent }% done, about { $left } left
cli-sync-eta-seconds = , about { $seconds } s
cli-sync-eta-minutes = , about { $minutes } min

## Register of villagers, ballots in the hall, follow-up lists (issue 11)

cli-col-flags = roles
cli-col-phone = phone
cli-register-added = Added to the register: { $name } (id { $id })
cli-register-amended = Corrected { $name }'s record; the old record stays in the history
cli-register-left = Recorded as moved away or deceased ({ $on }); the person stays in the register's history
cli-register-empty = Nobody is on the register yet. Cadres add villagers with `cunwu register add`
cli-register-count = { $n } persons
cli-register-where = { $group } · { $household }
cli-register-history = History on the register:
cli-register-what-add = added
cli-register-what-amend = corrected
cli-register-what-leave = moved away or deceased
cli-register-bad-reason = Unknown reason "{ $typed }": write moved_away or deceased
cli-register-needs = Adding a villager needs { $flag }
cli-register-needs-age = Give a birth date with --born YYYY-MM-DD, or --adult for someone 18 or over
cli-register-none-here = This phone holds no register (only cadres' and township officials' phones do; sync first)
cli-no-such-person = No one called "{ $name }" on the register
cli-ambiguous-person-name = { $n } persons on the register are called "{ $name }"; use the id
cli-ambiguous-person-id = { $n } persons have ids starting { $prefix }; type more of it
cli-person-party = party member
cli-person-household_rep = household representative
cli-person-villager_rep = villager representative
cli-person-supervisor = supervision committee
cli-person-migrant = away ({ $city })
cli-invite-for-person = This invite enrols { $name } from the register
cli-hall-ballot-recorded = Recorded { $name }'s ballot in the hall: [{ $index }] { $option }. A ballot in the hall wins over the person's ballot on a phone; it counts once
cli-hall-attendance-recorded = Recorded { $name } as present; counted toward the quorum
cli-tellers-named = Tellers: { $names }
cli-deliberation-over-register = Counted over the register: { $n } may vote, { $phones } of them with a phone
cli-tally-in-hall = of them recorded in the hall: { $n }
cli-follow-up-none = Everyone on the register has { $what }
cli-follow-up-count = { $n } have not { $what } yet (of { $of })
cli-follow-up-incomplete = This is a secret vote: ballots stay with each voter and the relay; this phone knows only the hall records and what reached it
cli-follow-up-has-phone = has a phone
cli-follow-up-no-phone = no phone: visit
cli-follow-up-read = read it
cli-follow-up-voted = voted
cli-col-support = support
cli-proposal-created = Put forward "{ $title }" (id { $id }). Other villagers support it with `cunwu proposal cosign { $id }`
cli-proposal-cosigned = You support "{ $title }"
cli-proposal-withdrawn = Withdrew "{ $title }"
cli-proposal-taken-up = Took up "{ $title }" and called the meeting
cli-no-proposals = No proposals from villagers yet
cli-proposal-for = For the { $meeting } · put forward { $when }
cli-proposal-signers = { $n } have signed
cli-proposal-support = { $n } have signed; { $needed } are needed
cli-proposal-due = { $n } have signed ({ $needed } needed): the committee must call the meeting
cli-demo-register = {"   "}[{ $who }] keeps the register of villagers: { $n } persons, { $without } elders without a phone; each invite names the person on the register it enrols
cli-demo-hall = {"   "}[{ $who }] as teller records ballots cast in the hall: { $names } vote 「{ $option }」 (villagers without a phone count too, each once)

## Four deliberations, two disclosures (cunwu matter), party activities (cunwu party activity), supervision (cunwu notice review)

cli-notice-reviewed = signed off finance disclosure { $id }: { $title }
cli-notice-reviewed-by = signed off by { $name } of the supervision committee, { $when } { $note }
cli-bad-time = cannot read the time "{ $typed }" of { $what }; write YYYY-MM-DD or "YYYY-MM-DD HH:MM" (Beijing time)
cli-what-stage = step
cli-what-outcome = outcome
cli-what-activity-kind = activity kind
cli-party-no-person = this member is not linked to a person on the register; name them with --person
cli-matter-created = recorded major matter { $id }: { $title }
cli-matter-status-line = id { $id } · { $status } · next: { $next }
cli-matter-step-line = - { $stage }: { $outcome }, { $held }, recorded by { $name }
cli-matter-attendance = , { $present } of { $expected } attended
cli-matter-notice = , notice { $id }
cli-matter-deliberation = , vote { $id }
cli-matter-superseded = (recorded twice; not applied)
cli-matter-none = no major matters yet
cli-matter-col-next = next
cli-matter-step-recorded = recorded "{ $stage }": { $title }; next: { $next }
cli-activity-created = created party activity { $id }: { $title }
cli-activity-signed-in = signed in: { $title } ({ $id })
cli-activity-absence-recorded = absence recorded: { $title } ({ $id })
cli-activity-minutes-written = minutes written: { $title } ({ $id })
cli-activity-when-where = when: { $when } · where: { $place } · online: { $link }
cli-activity-agenda = agenda: { $agenda }
cli-activity-present = - { $person }: { $mode }
cli-activity-absent = - { $person }: absent ({ $reason })
cli-activity-minutes = minutes ({ $name }): { $text }
cli-activity-none = no party activities yet
cli-activity-col-when = when
cli-activity-col-attendance = attendance
cli-activity-counts = { $present } present, { $absent } absent
cli-activity-year = { $year }: { $activities } activities, present at { $present } ({ $online } online), absent from { $absent }, { $unrecorded } not recorded

# Attachments (cunwu attachment, cunwu sync)
cli-attachment-added = Attached { $name } ({ $size }) to { $to }; it uploads on the next sync
cli-attachment-none = No attachments
cli-attachment-line = { $kind } { $name } ({ $size }) · { $state }
cli-attachment-bad-hash = “{ $typed }” is not an attachment hash (64 hex characters, see `cunwu attachment list`)
cli-attachment-fetched = Wrote { $name } ({ $size }) to { $out }
cli-attachment-no-parent = No request, notice or deliberation on this device has an id starting with { $prefix }
cli-attachment-ambiguous-parent = { $n } items have ids starting with { $prefix }; type more of the id
cli-attachment-uploading = Uploading { $name }
cli-attachment-downloading = Downloading { $name }
cli-blobs-synced = Attachments: sent { $sent } ({ $up }), received { $received } ({ $down })
cli-blobs-on-the-way = { $n } attachment(s) still on the way ({ $left } left)
cli-blobs-failed = An attachment did not get through: { $detail } (the next sync tries again)
cli-request-attachments = Attachments ({ $n }):
cli-request-attachments-hint = (`cunwu attachment list { $id }` shows each one's state and full hash)
cli-demo-voice-note = {"   "}[{ $who }] cannot type easily and adds a voice note ({ $size })
cli-demo-blobs = {"   "}[{ $who }] attachments: sent { $sent } ({ $up }), received { $received } ({ $down })
cli-attachment-state-why = { $state }: { $why }
cli-attachment-state-done = { $state } ({ $done } of { $size })
