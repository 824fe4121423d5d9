# Labels: every enum value a person sees. Each has a short label (the message value), one
# plain sentence (.explain) and a spoken form (.spoken: no symbols, no abbreviations).
# The Labelled impls in core/src/words/catalogue.rs give each value its message id.

# How an explanation is put: the label, then one sentence.
explain-format = { $label }: { $text }

## Notice categories (Category)

category-party = Party affairs
    .explain = matters the Party branch makes public
    .spoken = Party affairs
category-village = Village affairs
    .explain = village business the villagers' committee makes public
    .spoken = Village affairs
category-finance = Village accounts
    .explain = what the village collective took in, spent and has left, for everyone to check
    .spoken = Village accounts

## Notice subtypes (Subtype)

subtype-resolution = Resolution
    .explain = a decision of the villagers' meeting or the villager representatives
    .spoken = Resolution
subtype-implementation = Progress report
    .explain = how a decided matter is being carried out
    .spoken = Progress report
subtype-relief_funds = Relief funds
    .explain = how minimum-income, extreme-poverty and disaster relief money was paid out
    .spoken = Relief funds
subtype-subsidy_list = Subsidy list
    .explain = who received which subsidy, and how much
    .spoken = Subsidy list
subtype-homestead = Homestead
    .explain = homestead applications and their approval
    .spoken = Homestead
subtype-land_contract = Land contracts
    .explain = contracting and transfer of collective land and forest
    .spoken = Land contracts
subtype-work_allowance = Work allowances
    .explain = allowances and wages paid to cadres and villagers for their work
    .spoken = Work allowances
subtype-quarterly_accounts = Quarterly accounts
    .explain = the collective's income and spending over a quarter, line by line
    .spoken = Quarterly accounts
subtype-other = Other
    .explain = a notice of none of the kinds above
    .spoken = Other

## Accounting periods (PeriodKind)

period-monthly = Monthly
    .explain = accounts made public every month
    .spoken = Monthly
period-quarterly = Quarterly
    .explain = accounts made public every quarter
    .spoken = Quarterly
period-ad_hoc = Single matter
    .explain = accounts of one matter, made public on their own
    .spoken = Single matter

## Directions (Direction)

direction-income = Income
    .explain = money coming into the village collective's account
    .spoken = Income
direction-expense = Expense
    .explain = money paid out of the village collective's account
    .spoken = Expense

## Notice statuses (NoticeStatus)

notice-status-draft = Draft
    .explain = not published yet; only cadres can see it
    .spoken = Draft
notice-status-published = Published
    .explain = made public to the whole village
    .spoken = Published
notice-status-corrected = Corrected
    .explain = changed after it was published; every earlier version can still be read
    .spoken = Corrected
notice-status-withdrawn = Withdrawn
    .explain = the village has withdrawn this notice; it no longer holds
    .spoken = Withdrawn

## Request statuses (request Status)

request-status-submitted = Submitted
    .explain = your request has been handed in and waits for the village to take it up
    .spoken = Submitted
request-status-accepted = Accepted
    .explain = the village has received your request and is arranging the work
    .spoken = Accepted
request-status-in_progress = In progress
    .explain = the village is working on it
    .spoken = In progress
request-status-referred = Referred
    .explain = passed on to the township or the office in charge
    .spoken = Referred
request-status-resolved = Resolved
    .explain = the matter is done; you can rate how it was handled
    .spoken = Resolved
request-status-rejected = Declined
    .explain = the village did not take this up; the reason is in the history
    .spoken = Declined
request-status-withdrawn = Withdrawn
    .explain = the person who filed it withdrew it
    .spoken = Withdrawn
request-status-reopened = Reopened
    .explain = the person who filed it was not satisfied and asked for it to be handled again
    .spoken = Reopened

## Request kinds (request::catalogue)

request-kind-social_assistance = Minimum income support
    .explain = applying for minimum income support, extreme-poverty support or emergency aid
    .spoken = Minimum income support
request-kind-medical_insurance = Medical insurance
    .explain = joining, paying for and claiming rural residents' medical insurance
    .spoken = Medical insurance
request-kind-social_insurance = Pension insurance
    .explain = joining, paying for and drawing rural residents' pension insurance
    .spoken = Pension insurance
request-kind-disability = Disability services
    .explain = disability cards and disability allowances
    .spoken = Disability services
request-kind-homestead_building = Homestead and building
    .explain = applying for a homestead plot or to build a house on one
    .spoken = Homestead and building
request-kind-certificate = Certificate
    .explain = asking the village to issue a certificate
    .spoken = Certificate
request-kind-legal_mediation = Legal mediation
    .explain = settling disputes between neighbours, and legal advice
    .spoken = Legal mediation
request-kind-public_facility_repair = Public repairs
    .explain = a street light, road or water pipe is broken and the village should fix it
    .spoken = Public repairs
request-kind-other = Other matter
    .explain = a matter of none of the kinds above
    .spoken = Other matter
# A kind this village added (outside the catalogue): shown by its name.
request-kind-unlisted = { $kind }
    .explain = a matter this village offers: "{ $kind }"
    .spoken = { $kind }

## Roles (Role)

role-resident = Resident
    .explain = a villager, who reads notices, files requests and votes
    .spoken = Resident
role-villager_rep = Villager representative
    .explain = elected by villagers to vote in the representatives' meeting
    .spoken = Villager representative
role-party_member = Party member
    .explain = a Party member of the village, who takes part in the Party members' meeting
    .spoken = Party member
role-cadre = Village cadre
    .explain = a member of the village committees, who publishes notices and handles requests
    .spoken = Village cadre
role-township = Township official
    .explain = an official of the township government, who can see and handle referred matters
    .spoken = Township official

## Deciding bodies (DecidingBody)

body-villagers_meeting = Villagers' meeting
    .explain = all villagers vote; it counts when more than half take part
    .spoken = Villagers' meeting
body-villager_reps = Representatives' meeting
    .explain = villager representatives vote; it counts when two thirds or more take part
    .spoken = Villager representatives' meeting
body-household_reps = Household meeting
    .explain = one person from each household votes; it counts when two thirds or more take part
    .spoken = Household representatives' meeting
body-party_members = Party members' meeting
    .explain = all Party members vote; it counts when more than half take part
    .spoken = Party members' meeting
body-group_meeting = Group meeting
    .explain = the villagers of one group vote; it counts when two thirds or more take part
    .spoken = Village group meeting
body-consultation_only = Consultation
    .explain = views are gathered; there is no vote
    .spoken = Consultation

## Deliberation phases (Phase)

phase-discussion = Discussion
    .explain = everyone can comment; voting has not started
    .spoken = Under discussion
phase-voting = Voting
    .explain = voting is open until the deadline
    .spoken = Voting open
phase-closed = Closed
    .explain = voting has ended
    .spoken = Closed

## Where a result comes from (ResultView) and why it is not shown yet (Hidden)

result-counted = Counted here
    .explain = the result is counted from the ballots this phone holds
    .spoken = Counted on this phone
result-relay_only = Relay's count
    .explain = only the count signed by the relay server counts
    .spoken = Counted by the relay server
hidden-consultation = No vote
    .explain = a consultation has no vote and so no result
    .spoken = No vote
hidden-not_opened = Not open yet
    .explain = voting has not started
    .spoken = Voting has not started
hidden-until_close = Shown after the close
    .explain = secret ballots or hidden results: the relay counts and publishes them after the close
    .spoken = Shown after the close
hidden-awaiting_relay = Waiting for the count
    .explain = voting has closed; the relay's count has not reached this phone yet, so sync
    .spoken = Waiting for the count

## Local changes (ChangeState)

change-pending = Waiting to send
    .explain = saved on this phone and not sent yet
    .spoken = Waiting to send
change-sent = Sent
    .explain = sent, waiting for the relay to confirm
    .spoken = Sent
change-acked = Confirmed
    .explain = the relay has it; everyone in the village will receive it
    .spoken = Confirmed
change-rejected = Refused
    .explain = the relay did not accept this change and this phone has undone it
    .spoken = Refused

## Kinds of content (EntityKind)

entity-notice = Notice
    .explain = something the village makes public
    .spoken = Notice
entity-request = Request
    .explain = something a villager asks the village to do
    .spoken = Request
entity-request_notes = Internal notes
    .explain = cadres' own notes on a request, which the person who filed it does not see
    .spoken = Internal notes
entity-deliberation = Deliberation
    .explain = a matter for everyone to discuss or vote on
    .spoken = Deliberation
entity-ballot = Ballot
    .explain = one person's vote in one deliberation
    .spoken = Ballot
entity-register = register of villagers
    .explain = the village's record of its villagers and households, kept by cadres
    .spoken = register of villagers
entity-proposal = villagers' proposal
    .explain = a matter villagers put forward and co-sign; with enough support the committee must call a meeting
    .spoken = villagers' proposal
entity-matter = Major matter
    .explain = a major village matter decided by the four deliberations and two disclosures
    .spoken = Major matter
entity-party_activity = Party activity
    .explain = a meeting or activity of the party branch, seen by party members and cadres
    .spoken = Party activity

## Local changes (as listed among pending and rejected changes)

event-notice-create = created a notice
event-notice-edit_draft = edited a notice draft
event-notice-publish = published a notice
event-notice-correct = corrected a notice
event-notice-withdraw = withdrew a notice
event-notice-ask = asked about a notice
event-notice-answer = answered a question on a notice
event-notice-read = read a notice
event-request-file = filed a request
event-request-edit_description = edited a request's description
event-request-transition = moved a request on
event-request-assign = assigned a request
event-request-expect_by = set when a request should be done
event-request-materials = listed the materials a request needs
event-request-comment = commented on a request
event-request-rate = rated a request
event-request_notes-open = started internal notes
event-request_notes-note = wrote an internal note
event-deliberation-create = started a deliberation
event-deliberation-open = opened voting
event-deliberation-comment = commented on a deliberation
event-deliberation-close = closed voting
event-ballot-cast = cast a ballot
event-deliberation-tellers = named the tellers
event-ballot-record = recorded a ballot cast in the hall
event-ballot-attend = recorded attendance
event-register-add = added a villager to the register
event-register-amend = corrected a villager's record
event-register-leave = recorded a villager moving away or dying
event-proposal-propose = put a matter forward
event-proposal-co_sign = co-signed a proposal
event-proposal-withdraw = withdrew a proposal
event-proposal-take_up = took up a proposal and called the meeting

## Register of villagers (PersonStatus, Departure)

person-active = On the register
    .explain = this person is on the register of villagers
    .spoken = on the register
person-moved_away = Moved away
    .explain = moved their registration out of the village; kept in the register's history
    .spoken = moved away
person-deceased = Deceased
    .explain = has died; kept in the register's history
    .spoken = deceased
departure-moved_away = Moved away
    .explain = moved their registration out of the village
    .spoken = moved away
departure-deceased = Died
    .explain = the villager died
    .spoken = died

proposal-open = Collecting support
    .explain = villagers are still co-signing it
    .spoken = collecting support
proposal-taken_up = Meeting called
    .explain = the committee took it up and called the meeting
    .spoken = meeting called
proposal-withdrawn = Withdrawn
    .explain = the proposer withdrew it
    .spoken = withdrawn
event-matter-create = recorded a major matter
event-matter-step = recorded a step of a major matter
event-party_activity-create = created a party activity
event-party_activity-sign_in = signed in to a party activity
event-party_activity-absent = recorded an absence
event-party_activity-minutes = wrote the minutes

## Four deliberations, two disclosures (matter Stage, Outcome, MatterStatus)

matter-stage-proposal = Party branch proposal
    .explain = the party branch proposes the matter
    .spoken = Party branch proposal
matter-stage-consultation = Two committees' consultation
    .explain = the party branch and the villagers' committee consult together
    .spoken = Two committees' consultation
matter-stage-party_review = Party members' review
    .explain = the party members' meeting reviews the matter
    .spoken = Party members' review
matter-stage-decision = Villagers' decision
    .explain = the villagers' meeting or representatives' meeting decides
    .spoken = Villagers' decision
matter-stage-decision_disclosure = Decision disclosed
    .explain = the decision is made public to the whole village
    .spoken = Decision disclosed
matter-stage-result_disclosure = Result disclosed
    .explain = the result of carrying out the decision is made public
    .spoken = Result disclosed
matter-outcome-agreed = Agreed
    .explain = the meeting agreed; the matter goes to its next step
    .spoken = Agreed
matter-outcome-not_agreed = Not agreed
    .explain = the meeting did not agree; the matter stops here
    .spoken = Not agreed
matter-status-in_progress = In progress
    .explain = steps remain to be taken
    .spoken = In progress
matter-status-stopped = Stopped
    .explain = a meeting did not agree, so the matter goes no further
    .spoken = Stopped
matter-status-completed = Completed
    .explain = all six steps are done
    .spoken = Completed

## Party activities (ActivityKind, SignInMode)

activity-kind-members_meeting = Party members' meeting
    .explain = a meeting of all party members
    .spoken = Party members' meeting
activity-kind-committee_meeting = Branch committee meeting
    .explain = a meeting of the party branch committee
    .spoken = Branch committee meeting
activity-kind-group_meeting = Party group meeting
    .explain = a meeting of a party group
    .spoken = Party group meeting
activity-kind-party_lecture = Party lecture
    .explain = a lecture for party members
    .spoken = Party lecture
activity-kind-theme_day = Theme party day
    .explain = the monthly theme day of the party branch
    .spoken = Theme party day
sign-in-in_person = Signed in at the meeting
    .explain = attended in person, recorded by the branch secretary
    .spoken = Signed in at the meeting
sign-in-online = Attended online
    .explain = took part remotely on a phone; counts as present
    .spoken = Attended online

## Attachments (attachment::Kind, AttachmentState)

attachment-kind-voice = Voice
    .explain = A voice note or recording (M4A, Opus, AMR)
    .spoken = voice note
attachment-kind-photo = Photo
    .explain = A photo (JPEG, PNG, WebP)
    .spoken = photo
attachment-kind-document = Document
    .explain = A scan or document (PDF), downloaded when opened
    .spoken = document

## Attachments on this phone (AttachmentState)

attachment-state-pending = Waiting to upload
    .explain = saved on this phone and not at the relay yet; it continues by itself when there is signal
    .spoken = Waiting to upload
attachment-state-uploading = Uploading
    .explain = going to the relay; after a cut it continues where it stopped
    .spoken = Uploading
attachment-state-uploaded = Uploaded
    .explain = the relay holds all of it; everyone who may read it can fetch it
    .spoken = Uploaded
attachment-state-not_downloaded = Not downloaded
    .explain = not on this phone yet; photos and voice notes come by themselves, documents when opened
    .spoken = Not downloaded
attachment-state-downloading = Downloading
    .explain = coming to this phone; after a cut it continues where it stopped
    .spoken = Downloading
attachment-state-downloaded = Downloaded
    .explain = all of it is on this phone, checked against its fingerprint
    .spoken = Downloaded
attachment-state-failed = Failed
    .explain = the last transfer did not succeed; the next sync tries again
    .spoken = Failed

# Attachments still on the way: { $count } of them, { $left } left (already formatted)
attachments-on-the-way = { $count ->
    [one] 1 attachment on the way ({ $left } left)
   *[other] { $count } attachments on the way ({ $left } left)
}
