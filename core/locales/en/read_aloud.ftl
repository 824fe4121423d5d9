# Read aloud: short paragraphs for the phone's text-to-speech. Used by
# core/src/words/read_aloud.rs. Numbers, dates and amounts come in already spoken.

read-sentence = { $text }.
read-list-separator = ,{" "}

## Notices

read-notice-head = { $category }, { $subtype }: { $title }
read-notice-published = Published { $date }
read-notice-corrected = Corrected { $date }; this is version { $revision }. The reason: { $reason }
read-notice-draft = This is a draft and has not been published
read-notice-withdrawn = This notice has been withdrawn. The reason: { $reason }
read-notice-period = The accounts run from { $start } to { $end }
read-notice-totals = Opening balance { $opening }; income this period { $income }; expenses { $expense }; closing balance { $closing }
read-notice-open-questions = { $n ->
    [one] One question is waiting for the village's answer
   *[other] { $n } questions are waiting for the village's answer
}
read-notice-more = The full text is in the notice

## Requests

read-request-head = Request: { $kind }, { $title }
read-request-filed = Filed { $date }
read-request-filed-for-someone = Filed { $date } by a village cadre on the person's behalf
read-request-status = Status: { $status }, { $explain }
read-request-note = The village says: { $note }
read-request-expected = Expected to be done by { $date }
read-request-materials = Still needed: { $list }
read-request-rated = Rated { $stars ->
    [one] one star
   *[other] { $stars } stars
}

## Votes

read-vote-head = { $body }: { $title }
read-vote-discussion = Under discussion; voting has not started
read-vote-voting = Voting is open until { $when }
read-vote-closed = Voting ended { $when }
read-vote-hidden = { $why }
read-vote-turnout = { $eligible } people may vote, and { $participants } took part
read-vote-option = "{ $option }" { $n ->
    [one] one vote
   *[other] { $n } votes
}
read-vote-counts = Votes for each option: { $list }
read-vote-decided = The result is "{ $option }", with more than half of those who took part
read-vote-no-majority = No option has more than half of those who took part
read-vote-no-quorum = Too few people took part, so this vote does not count
read-vote-provisional = This result is provisional: ballots cast offline may still arrive, and it becomes final { $when }
read-vote-final = This is the final result
