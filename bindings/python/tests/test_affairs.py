"""Issue 11 through the Python bindings and a real relay: a major matter's six steps
(四议两公开) in order, one out of order refused; the party branch's activity read by a
party member and not by a resident, a member's yearly attendance. Mirrors
android/jvm-test/.../AffairsTest.kt.
"""

import asyncio
import time

import pytest

import cunwu_ffi as cw
from cunwu_ffi import CunwuError


def run(coro):
    return asyncio.run(coro)


def enrolled(relay, tmp_path, who, invite, name):
    store = cw.CunwuStore.open(str(tmp_path / who / "cunwu.db"))
    run(store.enroll(relay.url, invite, name))
    return store


def step(stage, notice=None):
    return cw.StepInput(
        stage=stage,
        held_at=int(time.time() * 1000),
        attendance=cw.Attendance(present=7, expected=9),
        outcome=cw.MatterOutcome.AGREED,
        notice=notice,
    )


def test_a_matter_goes_through_its_steps_in_order(relay, tmp_path):
    cadre = enrolled(relay, tmp_path, "cadre", relay.cadre_invite, "王书记")
    resident = enrolled(relay, tmp_path, "resident", relay.invite("resident"), "李秀英")
    mid = cadre.create_matter("修建村道", "一事一议")
    cadre.record_matter_step(mid, step(cw.MatterStage.PROPOSAL))
    with pytest.raises(CunwuError.InvalidInput) as e:
        cadre.record_matter_step(mid, step(cw.MatterStage.PARTY_REVIEW))
    assert "out of order" in str(e.value)
    with pytest.raises(CunwuError.NotAllowed):
        resident.create_matter("私自登记", "")
    notice = cadre.post_notice(
        cw.NewNotice(
            category=cw.NoticeCategory.VILLAGE,
            subtype=cw.NoticeSubtype.RESOLUTION,
            title="村道硬化决议公开",
            body="村民代表会议通过",
        )
    )
    for s in [
        cw.MatterStage.CONSULTATION,
        cw.MatterStage.PARTY_REVIEW,
        cw.MatterStage.DECISION,
        cw.MatterStage.DECISION_DISCLOSURE,
    ]:
        cadre.record_matter_step(mid, step(s, notice if s == cw.MatterStage.DECISION_DISCLOSURE else None))
    run(cadre.sync())
    run(resident.sync())
    m = resident.matter(mid)
    assert m.status == cw.MatterStatus.IN_PROGRESS
    assert m.next == cw.MatterStage.RESULT_DISCLOSURE
    assert [s.step.stage for s in m.steps if s.applied][-1] == cw.MatterStage.DECISION_DISCLOSURE
    assert m.steps[-1].step.notice == notice
    assert [x.id for x in resident.list_matters(10, 0)] == [mid]


def test_a_party_activity_reaches_party_members_only_and_counts_attendance(relay, tmp_path):
    cadre = enrolled(relay, tmp_path, "cadre", relay.cadre_invite, "王书记")
    member = enrolled(relay, tmp_path, "member", relay.invite("party_member"), "刘志强")
    resident = enrolled(relay, tmp_path, "resident", relay.invite("resident"), "李秀英")
    starts = int(time.time() * 1000)
    aid = cadre.create_party_activity(
        cw.NewActivity(
            kind=cw.ActivityKind.THEME_DAY,
            title="主题党日",
            starts_at=starts,
            place="村委会",
            online_link="https://meeting.example/1",
        )
    )
    person = "0123456789abcdef0123456789abcdef"
    cadre.sign_in_party_activity(aid, person, cw.SignInMode.ONLINE)
    for s in (cadre, member, resident):
        run(s.sync())
    assert member.party_activity(aid).title == "主题党日"
    with pytest.raises(CunwuError.NotFound):
        resident.party_activity(aid)
    assert resident.list_party_activities(None) == []
    year = time.gmtime((starts + 8 * 3600 * 1000) / 1000).tm_year
    y = member.party_attendance(person, year)
    assert (y.activities, y.present, y.online, y.absent) == (1, 1, 1, 0)
    assert member.party_attendance(person, year - 1).activities == 0


def test_a_finance_disclosure_waits_for_the_supervision_committee(relay, tmp_path):
    cadre = enrolled(relay, tmp_path, "cadre", relay.cadre_invite, "王书记")
    person = cadre.register_add(
        cw.PersonDetails(name="周明", household="周家", group="一组", adult=True, supervisor=True)
    )
    run(cadre.sync())
    invite = relay.admin(
        "invite", "create", "--space", relay.space_id, "--role", "resident", "--person", person
    )["invite"]
    supervisor = enrolled(relay, tmp_path, "supervisor", invite, "周明")
    run(cadre.sync())
    nid = cadre.post_notice(
        cw.NewNotice(
            category=cw.NoticeCategory.FINANCE,
            subtype=cw.NoticeSubtype.QUARTERLY_ACCOUNTS,
            title="第三季度财务公开",
            body="收支明细",
            publish=False,
        )
    )
    run(cadre.sync())
    with pytest.raises(CunwuError.NotAllowed) as e:
        cadre.publish_notice(nid)
    assert "supervision committee" in str(e.value)
    run(supervisor.sync())
    assert supervisor.notice(nid).status == cw.NoticeStatus.DRAFT
    supervisor.review_notice(nid, "账目核对无误")
    assert run(supervisor.sync()).rejected == 0
    run(cadre.sync())
    cadre.publish_notice(nid)
    run(cadre.sync())
    run(supervisor.sync())
    n = supervisor.notice(nid)
    assert n.status == cw.NoticeStatus.PUBLISHED
    assert [r.by for r in n.reviewed_by] == [supervisor.me().id]
