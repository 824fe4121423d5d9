"""Attachments through the Python binding and a real relay: a resident files a request
with only a voice note, the text reaches the cadre in the document sync, the voice note
follows on the attachment lane (fetched eagerly), a scan attached by the cadre waits
until it is opened (fetched on demand, progress reported), and the bytes that arrive
are the bytes that were attached. The Kotlin suite (AttachmentsTest.kt) runs the same.
"""

import asyncio
import hashlib
import os
import threading

import pytest

import cunwu_ffi as cw
from cunwu_ffi import CunwuError


def run(coro):
    return asyncio.run(coro)


class Changes(cw.StoreObserver):
    def __init__(self):
        self.seen = []

    def entities_changed(self, changes):
        self.seen.extend(changes)


class Bytes(cw.AttachmentObserver):
    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def progress(self, progress):
        with self.lock:
            self.seen.append((progress.hash, progress.done, progress.size, progress.upload))


def enrolled(relay, tmp_path, who, invite, name):
    store = cw.CunwuStore.open(str(tmp_path / who / "cunwu.db"))
    run(store.enroll(relay.url, invite, name))
    return store


def voice_note(path, size):
    # an AMR file: its magic, then frames (random bytes stand in for speech)
    path.write_bytes(b"#!AMR\n" + os.urandom(size - 6))
    return path


def scan(path, size):
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(size - 9))
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_voice_note_request_and_a_scan_on_demand(relay, tmp_path):
    cadre = enrolled(relay, tmp_path, "cadre", relay.cadre_invite, "王书记")
    resident = enrolled(relay, tmp_path, "resident", relay.invite("resident"), "李奶奶")

    note = voice_note(tmp_path / "录音.amr", 150_000)
    request_id = resident.file_request(
        cw.NewRequest(kind="social_assistance", title="", description="", attachments=[str(note)])
    )
    mine = resident.attachments(request_id)
    assert [a.attachment.mime for a in mine] == ["audio/amr"]
    assert mine[0].state == cw.AttachmentState.PENDING
    assert resident.attachments_pending().count == 1

    # the document first: the cadre has the request before any byte of the voice note moved
    run(resident.sync())
    run(cadre.sync())
    seen = cadre.attachments(request_id)
    assert len(seen) == 1 and seen[0].state == cw.AttachmentState.NOT_DOWNLOADED
    assert seen[0].attachment.size == 150_000

    sent = run(resident.sync_attachments())
    assert sent.blobs_sent == 1 and sent.blob_bytes_sent >= 150_000
    assert resident.attachments(request_id)[0].state == cw.AttachmentState.UPLOADED

    heard = Changes()
    cadre.subscribe(heard)
    got = run(cadre.sync_attachments())
    assert got.blobs_received == 1
    # the screens hear that the request's voice note is here
    assert any(c.id == request_id and c.origin == cw.ChangeOrigin.REMOTE for c in heard.seen)
    held = cadre.attachments(request_id)[0]
    assert held.state == cw.AttachmentState.DOWNLOADED
    out = tmp_path / "heard.amr"
    run(cadre.fetch_attachment(held.attachment.hash, str(out)))
    assert sha(out) == sha(note)

    # a scan is fetched only when opened
    pdf = scan(tmp_path / "低保审批表.pdf", 300_000)
    [ref] = cadre.attach_files(request_id, [str(pdf)])
    assert ref.mime == "application/pdf"
    run(cadre.sync())
    run(cadre.sync_attachments())
    run(resident.sync())
    run(resident.sync_attachments())
    views = {a.attachment.hash: a for a in resident.attachments(request_id)}
    assert views[ref.hash].state == cw.AttachmentState.NOT_DOWNLOADED
    bar = Bytes()
    opened = tmp_path / "opened.pdf"
    run(resident.fetch_attachment(ref.hash, str(opened), bar))
    assert sha(opened) == sha(pdf)
    assert bar.seen and bar.seen[-1][1] == 300_000
    assert resident.attachments_pending().count == 0


def test_a_file_is_judged_by_its_bytes_not_its_name(relay, tmp_path):
    resident = enrolled(relay, tmp_path, "resident", relay.invite("resident"), "李奶奶")
    fake = tmp_path / "照片.jpg"
    fake.write_bytes(b"MZ\x90\x00" + os.urandom(2000))  # a program named like a photo
    with pytest.raises(CunwuError) as refused:
        resident.file_request(
            cw.NewRequest(kind="other", title="照片", description="", attachments=[str(fake)])
        )
    assert "jpg" in str(refused.value) or "type" in str(refused.value) or "类型" in str(refused.value)
