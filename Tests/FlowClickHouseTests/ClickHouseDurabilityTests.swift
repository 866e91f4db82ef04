import FlowClickHouse
import FlowStore
import Foundation
import TestSupport
import Testing

/// The ClickHouse server killed in the middle of an ingest (issue 19): tailflow says so, retries
/// with back-off, and once the server is back the answers equal a clean run's (nothing lost,
/// nothing doubled); a server that stays down is an error naming it.
/// The second serialized chain of ClickHouse tests (see ``ClickHouseSuite``): a server killed
/// or down mid-ingest, the insert wire formats, a two-shard cluster, `migrate`.
@Suite(.ownThreads, .serialized, .enabled(if: ClickHouseServer.isInstalled, Comment(rawValue: ClickHouseServer.skipReason)))
struct ClickHouseOperationsTests: ClickHouseSuite {}

extension ClickHouseOperationsTests {
    /// Starts `tailflow args…` without waiting.
    static func spawn(_ args: [String]) throws -> (Process, Pipe, Pipe) {
        let p = TailflowBinary.process(args)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        return (p, out, err)
    }

    /// Waits until the store holds some rows of the ingest (its first commit landed), at most 120 s.
    static func waitForRows(_ server: ClickHouseServer, _ table: String) throws -> Int {
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let n = try? count(server, "SELECT count() FROM \(table)"), n > 0 { return n }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestFailure("no rows reached \(table) within 120 s")
    }

    @Test func serverKilledMidIngestLosesAndDoublesNothing() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), db = dir.path("clean.db")
        // Eight hours of 100 nodes: an ingest of several seconds even on an idle machine, so several
        // commits (the pipeline commits every 2 s or 500,000 rows) and the kill comes mid-ingest. Two
        // hours were one commit on an idle machine: the kill came after the end and tested nothing.
        try await Self.ok(["generate", "--nodes", "100", "--duration", "8h", "--seed", "3", "-o", logs])
        try await Self.ok(["ingest", "--db", db, logs])
        let store = server.storeURL(database: "killed")

        // Killed (SIGKILL, as a crash) once the first batch landed; back once tailflow said it retries.
        // All of it waits on a thread of its own, never on the tests' two-thread pool.
        let (status, landed, stdout, stderr) = try await offThePool {
            let (p, out, err) = try Self.spawn(["ingest", "--store", store, "--format", "json", logs])
            let landed = try Self.waitForRows(server, "killed.flows")
            server.kill9()
            var said = Data()
            let deadline = Date().addingTimeInterval(120)
            while !String(decoding: said, as: UTF8.self).contains("retrying"), Date() < deadline {
                let chunk = err.fileHandleForReading.availableData
                if chunk.isEmpty { break }  // tailflow ended
                said.append(chunk)
            }
            try server.restart()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: said + err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, landed, stdout, stderr)
        }
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("clickhouse server 127.0.0.1:\(server.httpPort)") && stderr.contains("retrying"), "\(stderr)")
        let total = try Self.count(server, "SELECT count() FROM killed.flows")
        #expect(landed < total, "the kill came after the ingest (\(landed) of \(total) rows): it tested nothing")
        #expect(total == (try Self.count(server, "SELECT count() FROM (SELECT DISTINCT start_ns, reporter, digest, row FROM killed.flows)")),
                "rows were doubled")
        #expect(!stdout.isEmpty)
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T09:00:00Z"]
        let questions = [["top"] + w, ["top", "--by", "pair", "--limit", "10000"] + w, ["top", "--by", "port", "--limit", "10000"] + w,
                         ["series", "--step", "5m"] + w, ["nodes"]]
        try await Self.expectSameAnswers(questions, db: db, store: store)
    }

    @Test func serverThatStaysDownIsAnErrorNamingIt() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), db = dir.path("clean.db")
        // Long enough to be still running when the server goes (see above).
        try await Self.ok(["generate", "--nodes", "100", "--duration", "8h", "--seed", "4", "-o", logs])
        try await Self.ok(["ingest", "--db", db, logs])
        let store = server.storeURL(database: "down")
        let (status, stderr) = try await offThePool {
            let (p, _, err) = try Self.spawn(["ingest", "--store", store, logs])
            _ = try Self.waitForRows(server, "down.flows")
            server.kill9()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, stderr)
        }
        #expect(status == 1, "\(stderr)")
        #expect(stderr.contains("tailflow: clickhouse server 127.0.0.1:\(server.httpPort): cannot reach the server"), "\(stderr)")
        #expect(stderr.contains("retrying (attempt 8)"), "\(stderr)")
        // One budget of attempts, whichever statement the server died in: an insert's re-reads
        // of what landed count against the insert's own budget, not a fresh one each.
        let retries = stderr.split(separator: "\n").filter { $0.contains("; retrying (attempt ") }
        #expect(retries.count == 7 && !stderr.contains("retrying (attempt 9)"), "\(retries.count) retries:\n\(stderr)")
        // Back up: the same ingest again completes the store, nothing doubled.
        try await offThePool { try server.restart() }
        try await Self.ok(["ingest", "--store", store, logs])
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T09:00:00Z"]
        try await Self.expectSameAnswers([["top", "--by", "pair", "--limit", "10000"] + w, ["series", "--step", "5m"] + w], db: db, store: store)
        #expect(try Self.count(server, "SELECT count() FROM down.flows")
                    == (try Self.count(server, "SELECT count() FROM (SELECT DISTINCT start_ns, reporter, digest, row FROM down.flows)")))
    }
}

/// The insert wire formats (issue 19): Native (the writer's), RowBinary and JSONEachRow, plain and
/// gzipped (`Content-Encoding: gzip`), store the same rows, column for column (messages without
/// rows and without `logged` among them), and the answers equal SQLite's.
extension ClickHouseOperationsTests {
    @Test func everyInsertWireFormatStoresTheSameRows() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), db = dir.path("clean.db")
        // Big enough that each insert body is well over the 16 KiB gzip threshold.
        try await Self.ok(["generate", "--nodes", "30", "--duration", "1h", "--seed", "8", "-o", logs])
        // Every 50th message without its rows (stored as one row of kind 255), every 7th without `logged` (NULL).
        var lines: [String] = []
        for (i, line) in try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n").enumerated() {
            var message = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if i % 50 == 0 {
                for key in ["virtualTraffic", "subnetTraffic", "exitTraffic", "physicalTraffic"] { message[key] = nil }
            }
            if i % 7 == 0 { message["logged"] = nil }
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: message), as: UTF8.self))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: logs, atomically: true, encoding: .utf8)
        try await Self.ok(["ingest", "--db", db, logs])
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T01:00:00Z"]
        var stored: Set<String> = []
        for (name, format, gzip) in [("nat", "Native", "1"), ("natplain", "Native", "0"), ("rbplain", "RowBinary", "0"), ("js", "JSONEachRow", "1")] {
            let store = server.storeURL(database: name)
            try await Self.ok(["ingest", "--store", store, logs], env: ["TAILFLOW_CLICKHOUSE_INSERT_FORMAT": format, "TAILFLOW_CLICKHOUSE_GZIP": gzip])
            try await Self.expectSameAnswers([["top", "--by", "pair", "--limit", "10000"] + w, ["top", "--by", "port", "--limit", "10000"] + w,
                                        ["series", "--step", "1m"] + w], db: db, store: store)
            let rows = try server.query("""
                SELECT count(), countIf(kind = 255), countIf(isNull(logged_ms)), sum(cityHash64(start_ns, end_ns, reporter, digest, row, kind,
                    proto, src, src_port, dst, dst_port, tx_packets, tx_bytes, rx_packets, rx_bytes, ifNull(logged_ms, -1), isNull(logged_ms), summed))
                FROM \(name).flows
                """).trimmingCharacters(in: .whitespacesAndNewlines)
            let counts = rows.split(separator: "\t").prefix(3).compactMap { Int($0) }
            #expect(counts.count == 3 && counts[1] > 0 && counts[2] > 0, "\(format): no message without rows or without logged stored: \(rows)")
            stored.insert(rows)
        }
        #expect(stored.count == 1, "the formats stored different rows: \(stored)")
    }
}
