package org.cunwu

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.security.MessageDigest
import kotlin.random.Random

/**
 * Issue 12 on the JVM through a real relay: a resident files a request with a photo,
 * the cadre has the request after the document sync and the photo after the attachment
 * lane, with progress; the bytes are the bytes. Mirrors
 * bindings/python/tests/test_attachments.py.
 */
class AttachmentsTest {
    @TempDir
    lateinit var dir: File
    private lateinit var relay: RelayProcess
    private lateinit var cadre: CunwuStore
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
        resident = enrolled("resident", relay.invite("resident"), "李秀英")
    }

    @AfterEach
    fun tearDown() {
        cadre.close()
        resident.close()
        relay.stop()
    }

    private fun sha(f: File): String =
        MessageDigest.getInstance("SHA-256").digest(f.readBytes()).joinToString("") { "%02x".format(it) }

    private class Seen : AttachmentObserver {
        val done = mutableListOf<ULong>()
        override fun progress(progress: BlobProgress) {
            synchronized(done) { done.add(progress.done) }
        }
    }

    @Test
    fun `a photo reaches the cadre after the request`(): Unit = runBlocking {
        // a JPEG: its magic, then bytes standing in for the picture
        val photo = File(dir, "水管.jpg")
        photo.writeBytes(byteArrayOf(0xFF.toByte(), 0xD8.toByte(), 0xFF.toByte(), 0xE0.toByte()) + Random(7).nextBytes(200_000))
        val id = resident.fileRequest(
            NewRequest(
                kind = "public_facility_repair",
                title = "水管爆了",
                description = "村东头水管爆裂",
                attachments = listOf(photo.path),
            ),
        )
        assertEquals(AttachmentState.PENDING, resident.attachments(id).single().state)
        resident.sync()
        cadre.sync()
        assertEquals("水管爆了", cadre.request(id).title)
        assertEquals(AttachmentState.NOT_DOWNLOADED, cadre.attachments(id).single().state)

        val sent = resident.syncAttachments()
        assertEquals(1u, sent.blobsSent)
        val seen = Seen()
        val got = cadre.syncAttachments(seen)
        assertEquals(1u, got.blobsReceived)
        val held = cadre.attachments(id).single()
        assertEquals(AttachmentState.DOWNLOADED, held.state)
        assertTrue(seen.done.isNotEmpty())
        val out = File(dir, "out.jpg")
        cadre.fetchAttachment(held.attachment.hash, out.path)
        assertEquals(sha(photo), sha(out))
    }
}
