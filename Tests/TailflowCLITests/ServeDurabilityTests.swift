import FlowModel
import Foundation
import FlowStore
import GRDB
import Testing
import TestSupport

/// What `tailflow serve` promises about acknowledged data: committed before the answer,
/// batched across senders, refused (503) rather than queued without bound, kept across SIGKILL.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct ServeDurabilityTests {
    /// HEC bodies of `batches` × `perBatch` distinct messages (6 flow rows each), and the same messages as JSON Lines.
    static func hecBatches(_ batches: Int, _ perBatch: Int, offset: Int = 0) -> (bodies: [[UInt8]], jsonl: Data) {
        let jsonl = Synthetic.jsonl(count: (batches + offset) * perBatch, reporters: 50)
        let lines = String(decoding: jsonl, as: UTF8.self).split(separator: "\n").dropFirst(offset * perBatch)
        var bodies: [[UInt8]] = []
        var chosen = ""
        for b in 0..<batches {
            let part = lines.dropFirst(b * perBatch).prefix(perBatch)
            bodies.append(Array(part.map { #"{"time":1793527200,"event":\#($0)}"# }.joined(separator: "\n").utf8))
            chosen += part.joined(separator: "\n") + "\n"
        }
        return (bodies, Data(chosen.utf8))
    }

    /// (stable node ID, start) of every stored message.
    static func storedKeys(_ db: String) throws -> Set<String> {
        let queue = try DatabaseQueue(path: db, configuration: { var c = Configuration(); c.readonly = true; return c }())
        return try queue.read { db in
            let stable = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, stable_id FROM nodes").map { ($0[0] as Int64, $0[1] as String) })
            return Set(try FlowStore.storedMessages(db).map { "\(stable[$0.reporter] ?? "?") \($0.start)" })
        }
    }

    /// The keys of the messages in an HEC body built by ``hecBatches(_:_:offset:)``.
    static func keys(of body: [UInt8]) throws -> [String] {
        try String(decoding: body, as: UTF8.self).split(separator: "\n").map { line in
            let event = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["event"] as! [String: Any]
            let start = (event["start"] as! String)
            return "\(event["nodeId"] as! String) \(Timestamp.parseRFC3339(start)!)"
        }
    }

    /// Posts an HEC body with curl, a process of its own: a sender that needs no thread of this
    /// test process once started, so that the other tests running meanwhile cannot hold it back.
    static func post(_ body: [UInt8], to url: String, in dir: TempDir) async throws -> Int {
        let file = dir.path("body-\(UUID().uuidString).json")
        try Data(body).write(to: URL(fileURLWithPath: file))
        return try await curl(["--max-time", "300", "-H", "Authorization: Splunk T1-hec", "--data-binary", "@" + file, url]).status
    }

    /// A metric's value, read with curl: the HTTP client's eight connections may all be waiting for a commit.
    static func metric(_ server: ServeProcess, _ name: String) async throws -> Double {
        metricValue(try await curl([server.url + "/metrics"]).body, name) ?? 0
    }

    @Test func sigkillDuringAStreamLosesNoAcknowledgedEvent() async throws {
        let dir = TempDir()
        let db = dir.path("kill.db")
        let (bodies, jsonl) = Self.hecBatches(240, 40)
        let server = try await ServeProcess.started(db: db)
        let client = try Client()
        let url = server.url + "/services/collector/event"
        let acknowledged = Acknowledged()
        // Four senders stream batches until the server dies under them.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<4 {
                group.addTask {
                    for i in stride(from: sender, to: bodies.count, by: 4) {
                        guard let a = try? await client.post(url, bodies[i], Auth.hec) else { return }
                        if a.status == 200 { await acknowledged.add(i) }
                    }
                }
            }
            group.addTask {
                while await acknowledged.count < 30 { try await Task.sleep(for: .milliseconds(5)) }
                server.kill()
            }
            try await group.waitForAll()
        }
        let acked = await acknowledged.indices
        #expect(acked.count >= 30 && acked.count < bodies.count, "the kill came mid-stream (\(acked.count) of \(bodies.count) acknowledged)")
        // Every acknowledged event is in the store, as the restarted server sees it.
        let restarted = try await ServeProcess.started(db: db)
        let stored = try Self.storedKeys(db)
        for i in acked {
            let missing = try Self.keys(of: bodies[i]).filter { !stored.contains($0) }
            #expect(missing.isEmpty, "batch \(i) was acknowledged but \(missing.count) of its events are missing")
        }
        // The sender retries everything: the store ends exactly as one ingest of the whole stream.
        for body in bodies { #expect(try await client.post(restarted.url + "/services/collector/event", body, Auth.hec).status == 200) }
        #expect(restarted.stop() == 0)
        let reference = dir.path("ref.db")
        #expect(try await CLI.run(["ingest", "--quiet", "-"], db: reference, stdin: jsonl).status == 0)
        #expect(try Dump.content(db) == Dump.content(reference))
    }

    @Test func sendersAreCommittedTogetherRefusedWhenBehindAndFinishedOnShutdown() async throws {
        let dir = TempDir()
        let db = dir.path("group.db")
        // 8 bodies of 100 messages × 6 rows = 4,800 rows may wait; a ninth is refused. The writer
        // waits for the test's lock as long as a loaded machine may need (the default is 60 s).
        let server = try await ServeProcess.started(db: db, ServeProcess.tokens + ["--max-pending-rows", "5000"],
                                                    env: ["TAILFLOW_LOCK_WAIT": "15m"])
        let url = server.url + "/services/collector/event"

        // Another connection holds SQLite's write lock, as another writer would, so that submissions queue up.
        var lock: WriteLock?
        func hold() async throws { lock = try WriteLock(db) }
        func release() async throws { lock?.release() }

        func waitForPending(_ rows: Double) async throws {
            var pending = 0.0
            let deadline = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < deadline {
                pending = try await Self.metric(server, "tailflow_writer_pending_rows")
                if pending >= rows { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pending == rows, "pending rows: \(pending)")
        }

        // Phase 1: eight concurrent senders while the writer waits: two commits in all; a ninth sender gets 503.
        let first = Self.hecBatches(9, 100)
        try await hold()
        let senders = first.bodies.prefix(8).map { body in Task { try await Self.post(body, to: url, in: dir) } }
        try await waitForPending(4800)
        let ninth = dir.path("ninth.json")
        try Data(first.bodies[8]).write(to: URL(fileURLWithPath: ninth))
        let refused = try await curl(["-i", "-H", "Authorization: Splunk T1-hec", "--data-binary", "@" + ninth, url])
        #expect(refused.status == 503 && refused.body.lowercased().contains("retry-after: 1") && refused.body.contains(#""code":9"#), "\(refused)")
        let health = try await curl([server.url + "/services/collector/health"])
        #expect(health.status == 503 && health.body.contains(#""code":18"#))
        try await release()
        for sender in senders { #expect(try await sender.value == 200) }
        let commits = try await Self.metric(server, "tailflow_commits_total")
        #expect(commits >= 1 && commits <= 2, "eight senders, \(commits) commits")
        #expect(try Self.storedKeys(db).count == 800)

        // Phase 2: SIGTERM while senders wait for their commit: they are answered 200, then the server exits 0.
        let second = Self.hecBatches(4, 100, offset: 9)
        try await hold()
        let waiting = second.bodies.map { body in Task { try await Self.post(body, to: url, in: dir) } }
        try await waitForPending(2400)
        server.process.terminate()
        try await Task.sleep(for: .milliseconds(500))
        #expect(server.process.isRunning, "the server waits for the commits in flight")
        try await release()
        for sender in waiting { #expect(try await sender.value == 200) }
        #expect(server.stop() == 0)
        #expect(try Self.storedKeys(db).count == 1200)
    }

    /// A lock another process holds past the writer's wait (`TAILFLOW_LOCK_WAIT`) costs the
    /// senders of that commit a 503 with Retry-After, not a 500, and nothing else: once the lock
    /// is free the same bodies are stored, and the CLI names the lock and what to do.
    @Test func aLockHeldPastTheWaitIs503AndWritingGoesOn() async throws {
        let dir = TempDir()
        let db = dir.path("locked.db")
        let server = try await ServeProcess.started(db: db, env: ["TAILFLOW_LOCK_WAIT": "1s"])
        let url = server.url + "/services/collector/event"
        let batch = Self.hecBatches(2, 50)
        let body = dir.path("body.json")
        try Data(batch.bodies[0]).write(to: URL(fileURLWithPath: body))
        let lock = try WriteLock(db)
        let refused = try await curl(["-i", "-H", "Authorization: Splunk T1-hec", "--data-binary", "@" + body, url])
        #expect(refused.status == 503 && refused.body.lowercased().contains("retry-after: 5")
                    && refused.body.contains(#""code":9"#) && refused.body.contains("locked"), "\(refused)")
        #expect(server.stderr.contains("store locked"), "\(server.stderr)")
        let ingest = try await CLI.run(["ingest", "--quiet", "-"], db: db, stdin: batch.jsonl, env: ["TAILFLOW_LOCK_WAIT": "1s"])
        #expect(ingest.status == 1 && ingest.stderr.contains("another process held the store's write lock for longer than 1s")
                    && ingest.stderr.contains("TAILFLOW_LOCK_WAIT"), "\(ingest.stderr)")
        lock.release()
        #expect(try await curl(["-H", "Authorization: Splunk T1-hec", "--data-binary", "@" + body, url]).status == 200)
        #expect(server.stop() == 0)
        #expect(try Self.storedKeys(db) == Set(try Self.keys(of: batch.bodies[0])))
    }
}

/// Another process holding SQLite's write lock on a database (Python's sqlite3), until released.
final class WriteLock {
    let process = Process()
    let input = Pipe()

    init(_ db: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
            c.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            sys.stdin.read()
            c.execute("ROLLBACK")
            """, db]
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = input
        try process.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("locked") else { throw ServeError("could not lock \(db): \(line)") }
    }

    func release() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { release() }
}

/// Batch indices the server acknowledged.
actor Acknowledged {
    var indices: [Int] = []
    var count: Int { indices.count }
    func add(_ i: Int) { indices.append(i) }
}
