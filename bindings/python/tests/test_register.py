"""The village register through cunwu-ffi and a real relay (issue 11): a cadre keeps the
register, invites a person on it (their phone is linked to them in the signed roster),
opens a villagers' meeting over the register, records ballots and attendance in the
hall, and every phone counts the same; follow-up lists say who still needs a visit.
"""

import asyncio
import time

import pytest

import cunwu_ffi as cw
from cunwu_ffi import CunwuError


def run(coro):
    return asyncio.run(coro)


def person(name, household, group="一组", **flags):
    return cw.PersonDetails(name=name, household=household, group=group, adult=True, **flags)


def test_register_hall_ballots_and_follow_up(relay, tmp_path):
    cadre = cw.CunwuStore.open(str(tmp_path / "cadre" / "cunwu.db"))
    run(cadre.enroll(relay.url, relay.cadre_invite, "王书记"))
    names = ["李秀英", "张大爷", "王奶奶", "赵叔"]
    ids = [cadre.register_add(person(n, f"H0{i}", party=(i == 0))) for i, n in enumerate(names)]
    run(cadre.sync())
    assert [p.details.name for p in cadre.persons()] == names
    assert cadre.persons()[0].details.party

    # a migrant villager's phone, linked to her record on the register
    invite = run(cadre.create_invite_for_person(cw.Role.RESIDENT, ids[0], True, "东莞"))
    resident = cw.CunwuStore.open(str(tmp_path / "resident" / "cunwu.db"))
    run(resident.enroll(relay.url, invite.code, "李秀英"))
    me = resident.me()
    assert me.person == ids[0] and me.migrant and me.lives_in == "东莞" and me.party
    assert resident.persons() == [], "the register stays with cadres"
    with pytest.raises(CunwuError):
        resident.register_add(person("冒名", "H99"))

    now = int(time.time() * 1000)
    run(cadre.sync())
    vote = cadre.create_deliberation(
        cw.NewDeliberation(
            title="是否修建村文化广场",
            body="",
            deciding_body=cw.DecidingBody.VILLAGERS_MEETING,
            options=["同意", "不同意"],
            opens_at=now,
            closes_at=now + 86_400_000,
        )
    )
    cadre.open_voting(vote)
    assert cadre.deliberation(vote).persons == ids
    run(cadre.sync())
    run(resident.sync())
    resident.cast_ballot(vote, 0)
    run(resident.sync())
    # in the hall: the resident again (the hall ballot wins), one more, one present
    cadre.record_ballot(vote, ids[0], 1)
    cadre.record_ballot(vote, ids[1], 0)
    cadre.record_attendance(vote, ids[2])
    with pytest.raises(CunwuError):
        cadre.record_ballot(vote, ids[1], 1)
    run(cadre.sync())
    run(resident.sync())
    for store in (cadre, resident):
        t = store.tally(vote)
        assert (t.eligible, t.participants, t.counts, t.in_hall) == (4, 3, [1, 1], 3), t
        assert t.quorum_met
    left = cadre.not_voted(vote)
    assert [p.name for p in left.persons] == ["赵叔"] and left.complete
    assert not left.persons[0].has_phone

    # the resident puts a matter forward; with 4 adults one signature is a tenth
    proposal = resident.propose("修缮村小学围墙", "", cw.DecidingBody.VILLAGERS_MEETING)
    run(resident.sync())
    run(cadre.sync())
    view = cadre.proposal(proposal)
    assert view.proposal.signers == [ids[0]] and view.support.due, view
    assert resident.proposal(proposal).support is None
    with pytest.raises(CunwuError):
        cadre.co_sign(proposal)  # the clerk's phone is linked to nobody
