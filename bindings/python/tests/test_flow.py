"""The cunwu-ffi Python module driven through a real relay: two phones (a cadre and a
resident) in temp folders enroll with invites from the relay's admin command, act,
sync, and see each other's work; observers hear about it; bad input raises the typed
error with a readable message. The Kotlin (android/jvm-test) and Swift
(ios/Tests) suites run the same flow.
"""

import asyncio
import threading
import time

import pytest

import cunwu_ffi as cw
from cunwu_ffi import CunwuError


def run(coro):
    return asyncio.run(coro)


class Changes(cw.StoreObserver):
    """Records every change a store reports."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def entities_changed(self, changes):
        with self.lock:
            self.seen.extend(changes)

    def has(self, entity_id, kind, origin):
        with self.lock:
            return any(c.id == entity_id and c.kind == kind and c.origin == origin for c in self.seen)


class Progress(cw.SyncObserver):
    def __init__(self):
        self.pages = []
        self.reports = []
        self.errors = []
        self.done = threading.Event()

    def progress(self, progress):
        self.pages.append(progress)

    def completed(self, report):
        self.reports.append(report)
        self.done.set()

    def failed(self, error):
        self.errors.append(error)
        self.done.set()


def enrolled(relay, tmp_path, who, invite, name):
    store = cw.CunwuStore.open(str(tmp_path / who / "cunwu.db"))
    membership = run(store.enroll(relay.url, invite, name))
    assert membership.space_name == relay.SPACE_NAME
    assert membership.space_id == relay.space_id
    return store


@pytest.fixture
def village(relay, tmp_path):
    cadre = enrolled(relay, tmp_path, "cadre", relay.cadre_invite, "王书记")
    resident = enrolled(relay, tmp_path, "resident", relay.invite("resident"), "李秀英")
    return cadre, resident


def road_notice(title="村道硬化施工通知"):
    return cw.NewNotice(
        category=cw.NoticeCategory.VILLAGE,
        subtype=cw.NoticeSubtype.OTHER,
        title=title,
        body="下周一起村口至二组道路施工修路，请绕行。",
    )


def streetlight_request():
    return cw.NewRequest(kind="public_facility_repair", title="村口路灯不亮", description="村口第三盏路灯坏了一周。")


def wait_until(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_cadre_and_resident_see_each_others_work(village):
    cadre, resident = village
    assert cadre.me().role == cw.Role.CADRE
    assert resident.me().role == cw.Role.RESIDENT
    assert cadre.device_id() != resident.device_id()

    cadre_changes, resident_changes = Changes(), Changes()
    cadre.subscribe(cadre_changes)
    resident.subscribe(resident_changes)

    notice_id = cadre.post_notice(road_notice())
    assert cadre_changes.has(notice_id, cw.EntityKind.NOTICE, cw.ChangeOrigin.LOCAL)
    request_id = resident.file_request(streetlight_request())
    assert resident_changes.has(request_id, cw.EntityKind.REQUEST, cw.ChangeOrigin.LOCAL)
    assert resident.counts().pending_changes == 1

    sent = run(resident.sync())
    assert sent.acked == 1 and sent.rejected == 0, sent
    progress = Progress()
    report = run(cadre.sync(progress))
    assert report.acked == 1 and report.received >= 1, report
    assert progress.pages and progress.pages[-1].done
    assert progress.reports == [report] and progress.errors == []
    run(resident.sync())

    # The resident sees the cadre's notice, and was told about it.
    titles = [n.title for n in resident.list_notices(cw.NoticeFilter())]
    assert "村道硬化施工通知" in titles
    assert resident_changes.has(notice_id, cw.EntityKind.NOTICE, cw.ChangeOrigin.REMOTE)
    notice = resident.notice(notice_id)
    assert notice.status == cw.NoticeStatus.PUBLISHED
    assert notice.created_by == cadre.me().id
    assert [h.id for h in resident.search("修路")] == [notice_id]
    assert resident.counts().unread_notices == 1
    assert resident.mark_read(notice_id) == 1

    # The cadre sees the resident's request, and was told about it.
    requests = cadre.list_requests(cw.RequestFilter())
    assert [(r.id, r.title, r.status) for r in requests] == [(request_id, "村口路灯不亮", cw.RequestStatus.SUBMITTED)]
    assert requests[0].filer == resident.me().id
    assert cadre_changes.has(request_id, cw.EntityKind.REQUEST, cw.ChangeOrigin.REMOTE)

    # The cadre accepts it; the resident sees the transition after syncing.
    cadre.transition_request(request_id, cw.RequestStatus.ACCEPTED, "明天派电工去修")
    cadre.comment_request(request_id, "电工已联系", False)
    run(cadre.sync())
    run(resident.sync())
    mine = resident.request(request_id)
    assert mine.status == cw.RequestStatus.ACCEPTED
    assert [(t.to, t.by, t.applied) for t in mine.transitions] == [(cw.RequestStatus.ACCEPTED, cadre.me().id, True)]
    assert [c.text for c in mine.comments] == ["电工已联系"]
    assert resident.counts().pending_changes == 0


def test_bad_input_raises_typed_errors(relay, village, tmp_path):
    cadre, resident = village

    with pytest.raises(CunwuError.InvalidInput) as empty:
        cadre.post_notice(road_notice(title="   "))
    assert "title must not be empty" in str(empty.value)

    with pytest.raises(CunwuError.NotAllowed) as refused:
        resident.post_notice(road_notice())
    assert "cadre" in str(refused.value)

    with pytest.raises(CunwuError.InvalidInput) as kind:
        resident.file_request(cw.NewRequest(kind="no_such_kind", title="x", description=""))
    assert "no_such_kind" in str(kind.value)

    with pytest.raises(CunwuError.NotFound):
        cadre.notice("0" * 32)

    request_id = resident.file_request(streetlight_request())
    with pytest.raises(CunwuError.InvalidInput) as transition:
        resident.transition_request(request_id, cw.RequestStatus.RESOLVED, "")
    assert str(transition.value)

    # An observer that throws does not fail or undo the write it is told about.
    class Broken(cw.StoreObserver):
        def entities_changed(self, changes):
            raise RuntimeError("a bug in the app's observer")

    cadre.subscribe(Broken())
    cadre.post_notice(road_notice("停水通知"))
    assert "停水通知" in [n.title for n in cadre.list_notices(cw.NoticeFilter())]

    stranger = cw.CunwuStore.open(str(tmp_path / "stranger" / "cunwu.db"))
    assert stranger.membership() is None
    with pytest.raises(CunwuError.NotEnrolled):
        run(stranger.sync())
    with pytest.raises(CunwuError.NotAllowed) as unknown:
        run(stranger.enroll(relay.url, "not-an-invite", "陌生人"))
    assert "invite" in str(unknown.value)
    with pytest.raises(CunwuError.NotAllowed) as used:
        run(stranger.enroll(relay.url, relay.cadre_invite, "陌生人"))
    assert "invite" in str(used.value)
    assert stranger.membership() is None

    # Nothing reachable: a typed network error, and the work stays in the outbox.
    relay.stop()
    with pytest.raises(CunwuError.Network):
        run(resident.sync())
    assert resident.counts().pending_changes == 1


def test_deliberation_ballots_and_tally(village):
    cadre, resident = village
    run(cadre.sync())  # the cadre's roster learns of the resident before the eligibility snapshot
    assert len(cadre.roster().members) == 2
    now = int(time.time() * 1000)
    deliberation_id = cadre.create_deliberation(
        cw.NewDeliberation(
            title="是否修建村文化广场",
            body="广场选址在老学校旧址。",
            deciding_body=cw.DecidingBody.VILLAGERS_MEETING,
            options=["同意", "不同意"],
            opens_at=now,
            closes_at=now + 86_400_000,
        )
    )
    cadre.open_voting(deliberation_id)
    cadre.cast_ballot(deliberation_id, 0)
    run(cadre.sync())
    run(resident.sync())

    seen = resident.deliberation(deliberation_id)
    assert seen.phase == cw.DeliberationPhase.VOTING
    assert sorted(seen.eligible) == sorted([cadre.me().id, resident.me().id])
    resident.cast_ballot(deliberation_id, 0)
    assert resident.my_ballot(deliberation_id) == cw.Ballot(deliberation_id=deliberation_id, option=0)
    run(resident.sync())
    run(cadre.sync())

    tally = cadre.tally(deliberation_id)
    assert (tally.eligible, tally.participants, tally.counts) == (2, 2, [2, 0])
    assert tally.quorum_met and tally.decided == 0
    assert [d.title for d in resident.list_deliberations()] == ["是否修建村文化广场"]


def test_background_sync_and_sync_once(village, tmp_path):
    cadre, resident = village
    heard = Changes()
    resident.subscribe(heard)
    progress = Progress()
    handle = resident.start_background_sync(1, progress)
    assert handle.is_running()
    assert progress.done.wait(20), "the background loop never finished a sync"

    notice_id = cadre.post_notice(road_notice("秋季防火通知"))
    # The one-shot entry point (WorkManager / BGTaskScheduler), by store path; it
    # reuses the cadre's open store, so the cadre's outbox empties.
    report = run(cw.sync_once(cadre.path()))
    assert report.acked == 1, report
    assert cadre.counts().pending_changes == 0

    handle.sync_now()
    assert wait_until(lambda: heard.has(notice_id, cw.EntityKind.NOTICE, cw.ChangeOrigin.REMOTE))
    assert "秋季防火通知" in [n.title for n in resident.list_notices(cw.NoticeFilter())]
    assert progress.errors == []

    handle.stop()
    assert wait_until(lambda: not handle.is_running(), 10)


def test_the_largest_finance_notice_syncs_and_reads_on_512_kib_threads(village):
    """Sync runs on the bindings' own 512 KiB threads; the reads below run on a Python
    thread of 512 KiB too (iOS gives secondary threads that much)."""
    cadre, resident = village
    lines = [
        cw.FinanceLine(
            date="2026-11-30",
            direction=cw.Direction.INCOME if i % 2 == 0 else cw.Direction.EXPENSE,
            account="其他收入" if i % 2 == 0 else "其他支出",
            item=f"第{i}笔 村道硬化工程款",
            amount_fen=1000 + i,
        )
        for i in range(2000)
    ]
    notice_id = cadre.post_notice(
        cw.NewNotice(
            category=cw.NoticeCategory.FINANCE,
            subtype=cw.NoticeSubtype.OTHER,
            title="2026年11月财务公开",
            body="明细如下",
            opening_balance_fen=0,
            lines=lines,
        )
    )
    assert run(cadre.sync()).acked == 1
    out = {}

    def on_small_stack():
        try:
            report = run(resident.sync())
            notice = resident.notice(notice_id)
            out["result"] = (report.refused_incoming, len(notice.content.lines), len(resident.list_notices(cw.NoticeFilter())))
        except BaseException as e:  # surfaced below
            out["error"] = e

    old = threading.stack_size(512 * 1024)
    try:
        t = threading.Thread(target=on_small_stack)
        t.start()
        t.join(timeout=120)
    finally:
        threading.stack_size(old)
    assert "error" not in out, out.get("error")
    refused, n_lines, listed = out["result"]
    assert (refused, n_lines) == (0, 2000)
    assert listed >= 1
