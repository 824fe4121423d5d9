package org.cunwu

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File

/**
 * Issue 11 on the JVM through a real relay: a major matter's steps (四议两公开) in order
 * and one out of order refused; a party activity read by a party member and not by a
 * resident, and a member's yearly attendance. Mirrors bindings/python/tests/test_affairs.py.
 * Every test returns Unit (JUnit skips a test method that returns a value).
 */
class AffairsTest {
    @TempDir
    lateinit var dir: File
    private lateinit var relay: RelayProcess
    private lateinit var cadre: CunwuStore
    private lateinit var member: CunwuStore
    private lateinit var resident: CunwuStore

    private fun enrolled(who: String, invite: String, name: String): CunwuStore {
        val store = CunwuStore.open(File(dir, "$who/cunwu.db").path)
        runBlocking { store.enroll(relay.url, invite, name) }
        return store
    }

    @BeforeEach
    fun village() {
        relay = RelayProcess(dir)
        cadre = enrolled("cadre", relay.cadreInvite, "王书记")
        member = enrolled("member", relay.invite("party_member"), "刘志强")
        resident = enrolled("resident", relay.invite("resident"), "李秀英")
    }

    @AfterEach
    fun tearDown() {
        cadre.close()
        member.close()
        resident.close()
        relay.stop()
    }

    private fun step(stage: MatterStage) = StepInput(
        stage = stage,
        heldAt = System.currentTimeMillis(),
        attendance = Attendance(present = 7u, expected = 9u),
        outcome = MatterOutcome.AGREED,
    )

    @Test
    fun `a matter step out of order is refused`(): Unit = runBlocking {
        val id = cadre.createMatter("修建村道", "一事一议")
        cadre.recordMatterStep(id, step(MatterStage.PROPOSAL))
        val e = assertThrows<CunwuException.InvalidInput> {
            cadre.recordMatterStep(id, step(MatterStage.PARTY_REVIEW))
        }
        assertTrue("out of order" in (e.message ?: ""), e.message)
        cadre.recordMatterStep(id, step(MatterStage.CONSULTATION))
        cadre.sync()
        resident.sync()
        val m = resident.matter(id)
        assertEquals(MatterStatus.IN_PROGRESS, m.status)
        assertEquals(MatterStage.PARTY_REVIEW, m.next)
        assertEquals(2, m.steps.count { it.applied })
        Unit
    }

    @Test
    fun `a party activity reaches party members only and counts attendance`(): Unit = runBlocking {
        val starts = System.currentTimeMillis()
        val id = cadre.createPartyActivity(
            NewActivity(
                kind = ActivityKind.MEMBERS_MEETING,
                title = "党员大会",
                startsAt = starts,
                place = "村委会",
                onlineLink = "https://meeting.example/7",
            ),
        )
        val person = "0123456789abcdef0123456789abcdef"
        cadre.signInPartyActivity(id, person, SignInMode.ONLINE)
        cadre.sync()
        member.sync()
        resident.sync()
        assertEquals("党员大会", member.partyActivity(id).title)
        assertThrows<CunwuException.NotFound> { resident.partyActivity(id) }
        assertTrue(resident.listPartyActivities(null).isEmpty())
        val year = java.time.Instant.ofEpochMilli(starts).atZone(java.time.ZoneOffset.ofHours(8)).year
        val y = member.partyAttendance(person, year)
        assertEquals(listOf(1u, 1u, 1u, 0u), listOf(y.activities, y.present, y.online, y.absent))
        Unit
    }
}
