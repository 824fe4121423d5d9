package org.cunwu

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/**
 * The generated Kotlin bindings on the desktop JVM (JNA), driven through a real relay:
 * a cadre's phone and a resident's phone, each a store file in a temp folder, enroll
 * with invites from the relay's admin command, act, sync and see each other's work;
 * observers hear about it; bad input raises the typed exception with a readable
 * message. Mirrors bindings/python/tests/test_flow.py and ios/Tests.
 */
class CunwuFlowTest {
    @TempDir
    lateinit var dir: File
    private lateinit var relay: RelayProcess
    private lateinit var cadre: CunwuStore
    private lateinit var resident: CunwuStore

    /** Records every change a store reports. */
    class Changes : StoreObserver {
        val seen: MutableList<EntityChange> = Collections.synchronizedList(mutableListOf())
        override fun entitiesChanged(changes: List<EntityChange>) {
            seen.addAll(changes)
        }
        fun has(id: String, kind: EntityKind, origin: ChangeOrigin) =
            synchronized(seen) { seen.any { it.id == id && it.kind == kind && it.origin == origin } }
    }

    class Progress : SyncObserver {
        val pages: MutableList<SyncProgress> = Collections.synchronizedList(mutableListOf())
        val reports: MutableList<SyncReport> = Collections.synchronizedList(mutableListOf())
        val errors: MutableList<String> = Collections.synchronizedList(mutableListOf())
        val finished = CountDownLatch(1)
        override fun progress(progress: SyncProgress) {
            pages.add(progress)
        }
        override fun completed(report: SyncReport) {
            reports.add(report)
            finished.countDown()
        }
        override fun failed(error: String) {
            errors.add(error)
            finished.countDown()
        }
    }

    private fun enrolled(who: String, invite: String, name: String): CunwuStore {
        val store = CunwuStore.open(File(dir, "$who/cunwu.db").path)
        val membership = runBlocking { store.enroll(relay.url, invite, name) }
        assertEquals(RelayProcess.SPACE_NAME, membership.spaceName)
        assertEquals(relay.spaceId, membership.spaceId)
        return store
    }

    private fun roadNotice(title: String = "村道硬化施工通知") = NewNotice(
        category = NoticeCategory.VILLAGE,
        subtype = NoticeSubtype.OTHER,
        title = title,
        body = "下周一起村口至二组道路施工修路，请绕行。",
    )

    private fun streetlightRequest() =
        NewRequest(kind = "public_facility_repair", title = "村口路灯不亮", description = "村口第三盏路灯坏了一周。")

    private fun waitUntil(seconds: Long = 20, predicate: () -> Boolean): Boolean {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
        while (System.nanoTime() < deadline) {
            if (predicate()) return true
            Thread.sleep(50)
        }
        return predicate()
    }

    @BeforeEach
    fun village() {
        relay = RelayProcess(dir)
        cadre = enrolled("cadre", relay.cadreInvite, "王书记")
        resident = enrolled("resident", relay.invite("resident"), "李秀英")
    }

    @AfterEach
    fun tearDown() {
        cadre.close()
        resident.close()
        relay.stop()
    }

    @Test
    fun `cadre and resident see each other's work`() = runBlocking {
        assertEquals(Role.CADRE, cadre.me().role)
        assertEquals(Role.RESIDENT, resident.me().role)
        assertNotEquals(cadre.deviceId(), resident.deviceId())

        val cadreChanges = Changes()
        val residentChanges = Changes()
        cadre.subscribe(cadreChanges)
        resident.subscribe(residentChanges)

        val noticeId = cadre.postNotice(roadNotice())
        assertTrue(cadreChanges.has(noticeId, EntityKind.NOTICE, ChangeOrigin.LOCAL))
        val requestId = resident.fileRequest(streetlightRequest())
        assertTrue(residentChanges.has(requestId, EntityKind.REQUEST, ChangeOrigin.LOCAL))
        assertEquals(1u, resident.counts().pendingChanges)

        val sent = resident.sync()
        assertEquals(1u, sent.acked, "$sent")
        assertEquals(0u, sent.rejected, "$sent")
        val progress = Progress()
        val report = cadre.sync(progress)
        assertEquals(1u, report.acked, "$report")
        assertTrue(report.received >= 1u, "$report")
        assertTrue(progress.pages.isNotEmpty() && progress.pages.last().done)
        assertEquals(listOf(report), progress.reports.toList())
        assertTrue(progress.errors.isEmpty())
        resident.sync()

        // The resident sees the cadre's notice, and was told about it.
        assertTrue("村道硬化施工通知" in resident.listNotices(NoticeFilter()).map { it.title })
        assertTrue(residentChanges.has(noticeId, EntityKind.NOTICE, ChangeOrigin.REMOTE))
        val notice = resident.notice(noticeId)
        assertEquals(NoticeStatus.PUBLISHED, notice.status)
        assertEquals(cadre.me().id, notice.createdBy)
        assertEquals(listOf(noticeId), resident.search("修路").map { it.id })
        assertEquals(1u, resident.counts().unreadNotices)
        assertEquals(1u, resident.markRead(noticeId))

        // The cadre sees the resident's request, and was told about it.
        val requests = cadre.listRequests(RequestFilter())
        assertEquals(
            listOf(Triple(requestId, "村口路灯不亮", RequestStatus.SUBMITTED)),
            requests.map { Triple(it.id, it.title, it.status) },
        )
        assertEquals(resident.me().id, requests[0].filer)
        assertTrue(cadreChanges.has(requestId, EntityKind.REQUEST, ChangeOrigin.REMOTE))

        // The cadre accepts it; the resident sees the transition after syncing.
        cadre.transitionRequest(requestId, RequestStatus.ACCEPTED, "明天派电工去修")
        cadre.commentRequest(requestId, "电工已联系", false)
        cadre.sync()
        resident.sync()
        val mine = resident.request(requestId)
        assertEquals(RequestStatus.ACCEPTED, mine.status)
        assertEquals(
            listOf(Triple(RequestStatus.ACCEPTED, cadre.me().id, true)),
            mine.transitions.map { Triple(it.to, it.by, it.applied) },
        )
        assertEquals(listOf("电工已联系"), mine.comments.map { it.text })
        assertEquals(0u, resident.counts().pendingChanges)
    }

    @Test
    fun `bad input raises typed exceptions`() {
        val empty = assertThrows<CunwuException.InvalidInput> { cadre.postNotice(roadNotice(title = "   ")) }
        assertTrue("title must not be empty" in empty.message!!, empty.message)

        val refused = assertThrows<CunwuException.NotAllowed> { resident.postNotice(roadNotice()) }
        assertTrue("cadre" in refused.message!!, refused.message)

        val kind = assertThrows<CunwuException.InvalidInput> {
            resident.fileRequest(NewRequest(kind = "no_such_kind", title = "x", description = ""))
        }
        assertTrue("no_such_kind" in kind.message!!, kind.message)

        assertThrows<CunwuException.NotFound> { cadre.notice("0".repeat(32)) }

        val requestId = resident.fileRequest(streetlightRequest())
        val transition = assertThrows<CunwuException.InvalidInput> {
            resident.transitionRequest(requestId, RequestStatus.RESOLVED, "")
        }
        assertTrue(transition.message!!.isNotBlank())

        // An observer that throws does not fail or undo the write it is told about.
        cadre.subscribe(object : StoreObserver {
            override fun entitiesChanged(changes: List<EntityChange>) {
                throw IllegalStateException("a bug in the app's observer")
            }
        })
        cadre.postNotice(roadNotice("停水通知"))
        assertTrue("停水通知" in cadre.listNotices(NoticeFilter()).map { it.title })

        val stranger = CunwuStore.open(File(dir, "stranger/cunwu.db").path)
        assertNull(stranger.membership())
        assertThrows<CunwuException.NotEnrolled> { runBlocking { stranger.sync() } }
        val unknown = assertThrows<CunwuException.NotAllowed> {
            runBlocking { stranger.enroll(relay.url, "not-an-invite", "陌生人") }
        }
        assertTrue("invite" in unknown.message!!, unknown.message)
        val used = assertThrows<CunwuException.NotAllowed> {
            runBlocking { stranger.enroll(relay.url, relay.cadreInvite, "陌生人") }
        }
        assertTrue("invite" in used.message!!, used.message)
        assertNull(stranger.membership())
        stranger.close()

        // Nothing reachable: a typed network error, and the work stays in the outbox.
        relay.stop()
        assertThrows<CunwuException.Network> { runBlocking { resident.sync() } }
        assertEquals(1u, resident.counts().pendingChanges)
    }

    @Test
    fun `deliberation ballots and tally`() = runBlocking {
        cadre.sync() // the cadre's roster learns of the resident before the eligibility snapshot
        assertEquals(2, cadre.roster().members.size)
        val now = System.currentTimeMillis()
        val deliberationId = cadre.createDeliberation(
            NewDeliberation(
                title = "是否修建村文化广场",
                body = "广场选址在老学校旧址。",
                decidingBody = DecidingBody.VILLAGERS_MEETING,
                options = listOf("同意", "不同意"),
                opensAt = now,
                closesAt = now + 86_400_000,
            ),
        )
        cadre.openVoting(deliberationId)
        cadre.castBallot(deliberationId, 0u)
        cadre.sync()
        resident.sync()

        val seen = resident.deliberation(deliberationId)
        assertEquals(DeliberationPhase.VOTING, seen.phase)
        assertEquals(setOf(cadre.me().id, resident.me().id), seen.eligible.toSet())
        resident.castBallot(deliberationId, 0u)
        assertEquals(Ballot(deliberationId, 0u), resident.myBallot(deliberationId))
        resident.sync()
        cadre.sync()

        val tally = cadre.tally(deliberationId)
        assertEquals(Triple(2u, 2u, listOf(2u, 0u)), Triple(tally.eligible, tally.participants, tally.counts))
        assertTrue(tally.quorumMet)
        assertEquals(0u, tally.decided)
        assertEquals(listOf("是否修建村文化广场"), resident.listDeliberations().map { it.title })
    }

    @Test
    fun `background sync and syncOnce`() {
        val heard = Changes()
        resident.subscribe(heard)
        val progress = Progress()
        val handle = resident.startBackgroundSync(1u, progress)
        assertTrue(handle.isRunning())
        assertTrue(progress.finished.await(20, TimeUnit.SECONDS), "the background loop never finished a sync")

        val noticeId = cadre.postNotice(roadNotice("秋季防火通知"))
        // The one-shot entry point (WorkManager / BGTaskScheduler), by store path; it
        // reuses the cadre's open store, so the cadre's outbox empties.
        val report = runBlocking { syncOnce(cadre.path()) }
        assertEquals(1u, report.acked, "$report")
        assertEquals(0u, cadre.counts().pendingChanges)

        handle.syncNow()
        assertTrue(waitUntil { heard.has(noticeId, EntityKind.NOTICE, ChangeOrigin.REMOTE) })
        assertTrue("秋季防火通知" in resident.listNotices(NoticeFilter()).map { it.title })
        assertTrue(progress.errors.isEmpty(), "${progress.errors}")

        handle.stop()
        assertTrue(waitUntil(10) { !handle.isRunning() })
        handle.close()
    }
}
