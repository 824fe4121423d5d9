import Foundation
import XCTest
import Cunwu

/// The generated Swift bindings driven through a real relay, on macOS: a cadre's
/// phone and a resident's phone (store files in a temp folder) enroll with invites
/// from the relay's admin command, act, sync and see each other's work; observers
/// hear about it; bad input throws the typed error with a readable message. Mirrors
/// android/jvm-test (Kotlin) and bindings/python/tests (Python).
final class CunwuTests: XCTestCase {
    var dir: URL!
    var relay: RelayProcess!
    var cadre: CunwuStore!
    var resident: CunwuStore!

    /// Records every change a store reports.
    final class Changes: StoreObserver {
        private let lock = NSLock()
        private var seen: [EntityChange] = []
        func entitiesChanged(changes: [EntityChange]) {
            lock.lock()
            seen.append(contentsOf: changes)
            lock.unlock()
        }
        func has(_ id: String, _ kind: EntityKind, _ origin: ChangeOrigin) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            return seen.contains { $0.id == id && $0.kind == kind && $0.origin == origin }
        }
    }

    final class Progress: SyncObserver {
        private let lock = NSLock()
        private var _pages: [SyncProgress] = []
        private var _reports: [SyncReport] = []
        private var _errors: [String] = []
        var pages: [SyncProgress] { lock.lock(); defer { lock.unlock() }; return _pages }
        var reports: [SyncReport] { lock.lock(); defer { lock.unlock() }; return _reports }
        var errors: [String] { lock.lock(); defer { lock.unlock() }; return _errors }
        func progress(progress: SyncProgress) { lock.lock(); _pages.append(progress); lock.unlock() }
        func completed(report: SyncReport) { lock.lock(); _reports.append(report); lock.unlock() }
        func failed(error: String) { lock.lock(); _errors.append(error); lock.unlock() }
    }

    func enrolled(_ who: String, invite: String, name: String) async throws -> CunwuStore {
        let store = try CunwuStore.open(path: dir.appendingPathComponent("\(who)/cunwu.db").path)
        let membership = try await store.enroll(relayUrl: relay.url, invite: invite, name: name)
        XCTAssertEqual(membership.spaceName, RelayProcess.spaceName)
        XCTAssertEqual(membership.spaceId, relay.spaceId)
        return store
    }

    func roadNotice(_ title: String = "村道硬化施工通知") -> NewNotice {
        NewNotice(category: .village, subtype: .other, title: title, body: "下周一起村口至二组道路施工修路，请绕行。")
    }

    func streetlightRequest() -> NewRequest {
        NewRequest(kind: "public_facility_repair", title: "村口路灯不亮", description: "村口第三盏路灯坏了一周。")
    }

    func waitUntil(seconds: Double = 20, _ predicate: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate() { return true }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return predicate()
    }

    override func setUp() async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cunwu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        relay = try await RelayProcess.start(in: dir)
        cadre = try await enrolled("cadre", invite: relay.cadreInvite, name: "王书记")
        resident = try await enrolled("resident", invite: try relay.invite(role: "resident"), name: "李秀英")
    }

    override func tearDown() async throws {
        relay?.stop()
        cadre = nil
        resident = nil
        try? FileManager.default.removeItem(at: dir)
    }

    func testCadreAndResidentSeeEachOthersWork() async throws {
        XCTAssertEqual(try cadre.me().role, .cadre)
        XCTAssertEqual(try resident.me().role, .resident)
        XCTAssertNotEqual(cadre.deviceId(), resident.deviceId())

        let cadreChanges = Changes(), residentChanges = Changes()
        _ = cadre.subscribe(observer: cadreChanges)
        _ = resident.subscribe(observer: residentChanges)

        let noticeId = try cadre.postNotice(notice: roadNotice())
        XCTAssertTrue(cadreChanges.has(noticeId, .notice, .local))
        let requestId = try resident.fileRequest(request: streetlightRequest())
        XCTAssertTrue(residentChanges.has(requestId, .request, .local))
        XCTAssertEqual(try resident.counts().pendingChanges, 1)

        let sent = try await resident.sync()
        XCTAssertEqual(sent.acked, 1)
        XCTAssertEqual(sent.rejected, 0)
        let progress = Progress()
        let report = try await cadre.sync(observer: progress)
        XCTAssertEqual(report.acked, 1)
        XCTAssertGreaterThanOrEqual(report.received, 1)
        XCTAssertEqual(progress.pages.last?.done, true)
        XCTAssertEqual(progress.reports, [report])
        XCTAssertEqual(progress.errors, [])
        _ = try await resident.sync()

        // The resident sees the cadre's notice, and was told about it.
        XCTAssertTrue(try resident.listNotices(filter: NoticeFilter()).map(\.title).contains("村道硬化施工通知"))
        XCTAssertTrue(residentChanges.has(noticeId, .notice, .remote))
        let notice = try resident.notice(id: noticeId)
        XCTAssertEqual(notice.status, .published)
        XCTAssertEqual(notice.createdBy, try cadre.me().id)
        XCTAssertEqual(try resident.search(query: "修路").map(\.id), [noticeId])
        XCTAssertEqual(try resident.counts().unreadNotices, 1)
        XCTAssertEqual(try resident.markRead(noticeId: noticeId), 1)

        // The cadre sees the resident's request, and was told about it.
        let requests = try cadre.listRequests(filter: RequestFilter())
        XCTAssertEqual(requests.map(\.id), [requestId])
        XCTAssertEqual(requests.first?.title, "村口路灯不亮")
        XCTAssertEqual(requests.first?.status, .submitted)
        XCTAssertEqual(requests.first?.filer, try resident.me().id)
        XCTAssertTrue(cadreChanges.has(requestId, .request, .remote))

        // The cadre accepts it; the resident sees the transition after syncing.
        try cadre.transitionRequest(id: requestId, to: .accepted, note: "明天派电工去修")
        try cadre.commentRequest(id: requestId, text: "电工已联系", internal: false)
        _ = try await cadre.sync()
        _ = try await resident.sync()
        let mine = try resident.request(id: requestId)
        XCTAssertEqual(mine.status, .accepted)
        XCTAssertEqual(mine.transitions.map(\.to), [.accepted])
        let cadreId = try cadre.me().id
        XCTAssertEqual(mine.transitions.map(\.by), [cadreId])
        XCTAssertEqual(mine.transitions.map(\.applied), [true])
        XCTAssertEqual(mine.comments.map(\.text), ["电工已联系"])
        XCTAssertEqual(try resident.counts().pendingChanges, 0)
    }

    func testBadInputThrowsTypedErrors() async throws {
        do {
            _ = try cadre.postNotice(notice: roadNotice("   "))
            XCTFail("an empty title was accepted")
        } catch let CunwuError.InvalidInput(message) {
            XCTAssertTrue(message.contains("title must not be empty"), message)
        }

        do {
            _ = try resident.postNotice(notice: roadNotice())
            XCTFail("a resident posted a notice")
        } catch let CunwuError.NotAllowed(message) {
            XCTAssertTrue(message.contains("cadre"), message)
        }

        do {
            _ = try resident.fileRequest(request: NewRequest(kind: "no_such_kind", title: "x", description: ""))
            XCTFail("an unknown request kind was accepted")
        } catch let CunwuError.InvalidInput(message) {
            XCTAssertTrue(message.contains("no_such_kind"), message)
        }

        do {
            _ = try cadre.notice(id: String(repeating: "0", count: 32))
            XCTFail("found a notice that does not exist")
        } catch CunwuError.NotFound {
        }

        let requestId = try resident.fileRequest(request: streetlightRequest())
        do {
            try resident.transitionRequest(id: requestId, to: .resolved, note: "")
            XCTFail("a resident resolved a submitted request")
        } catch let CunwuError.InvalidInput(message) {
            XCTAssertFalse(message.isEmpty)
        }

        let stranger = try CunwuStore.open(path: dir.appendingPathComponent("stranger/cunwu.db").path)
        XCTAssertNil(try stranger.membership())
        do {
            _ = try await stranger.sync()
            XCTFail("an unenrolled store synced")
        } catch CunwuError.NotEnrolled {
        }
        do {
            _ = try await stranger.enroll(relayUrl: relay.url, invite: "not-an-invite", name: "陌生人")
            XCTFail("a made-up invite was accepted")
        } catch let CunwuError.NotAllowed(message) {
            XCTAssertTrue(message.contains("invite"), message)
        }
        do {
            _ = try await stranger.enroll(relayUrl: relay.url, invite: relay.cadreInvite, name: "陌生人")
            XCTFail("a used invite was accepted again")
        } catch let CunwuError.NotAllowed(message) {
            XCTAssertTrue(message.contains("invite"), message)
        }
        XCTAssertNil(try stranger.membership())

        // Nothing reachable: a typed network error, and the work stays in the outbox.
        relay.stop()
        do {
            _ = try await resident.sync()
            XCTFail("synced with no relay")
        } catch CunwuError.Network {
        }
        XCTAssertEqual(try resident.counts().pendingChanges, 1)
    }

    func testDeliberationBallotsAndTally() async throws {
        _ = try await cadre.sync() // the cadre's roster learns of the resident before the eligibility snapshot
        XCTAssertEqual(try cadre.roster().members.count, 2)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let deliberationId = try cadre.createDeliberation(deliberation: NewDeliberation(
            title: "是否修建村文化广场",
            body: "广场选址在老学校旧址。",
            decidingBody: .villagersMeeting,
            options: ["同意", "不同意"],
            opensAt: now,
            closesAt: now + 86_400_000
        ))
        try cadre.openVoting(id: deliberationId)
        try cadre.castBallot(deliberationId: deliberationId, option: 0)
        _ = try await cadre.sync()
        _ = try await resident.sync()

        let seen = try resident.deliberation(id: deliberationId)
        XCTAssertEqual(seen.phase, .voting)
        let members: Set<String> = try [cadre.me().id, resident.me().id]
        XCTAssertEqual(Set(seen.eligible), members)
        try resident.castBallot(deliberationId: deliberationId, option: 0)
        XCTAssertEqual(try resident.myBallot(deliberationId: deliberationId), Ballot(deliberationId: deliberationId, option: 0))
        _ = try await resident.sync()
        _ = try await cadre.sync()

        let tally = try cadre.tally(deliberationId: deliberationId)
        XCTAssertEqual(tally.eligible, 2)
        XCTAssertEqual(tally.participants, 2)
        XCTAssertEqual(tally.counts, [2, 0])
        XCTAssertTrue(tally.quorumMet)
        XCTAssertEqual(tally.decided, 0)
        XCTAssertEqual(try resident.listDeliberations().map(\.title), ["是否修建村文化广场"])
    }

    func testBackgroundSyncAndSyncOnce() async throws {
        let heard = Changes()
        _ = resident.subscribe(observer: heard)
        let progress = Progress()
        let handle = resident.startBackgroundSync(intervalSecs: 1, observer: progress)
        XCTAssertTrue(handle.isRunning())
        let synced = try await waitUntil { !progress.reports.isEmpty || !progress.errors.isEmpty }
        XCTAssertTrue(synced, "the background loop never finished a sync")

        let noticeId = try cadre.postNotice(notice: roadNotice("秋季防火通知"))
        // The one-shot entry point (BGTaskScheduler / WorkManager), by store path; it
        // reuses the cadre's open store, so the cadre's outbox empties.
        let report = try await syncOnce(dbPath: cadre.path())
        XCTAssertEqual(report.acked, 1)
        XCTAssertEqual(try cadre.counts().pendingChanges, 0)

        handle.syncNow()
        let arrived = try await waitUntil { heard.has(noticeId, .notice, .remote) }
        XCTAssertTrue(arrived)
        XCTAssertTrue(try resident.listNotices(filter: NoticeFilter()).map(\.title).contains("秋季防火通知"))
        XCTAssertEqual(progress.errors, [])

        handle.stop()
        let stopped = try await waitUntil(seconds: 10) { !handle.isRunning() }
        XCTAssertTrue(stopped)
    }
}
