import FlowClickHouse
import FlowStore
import Foundation
import TestSupport
import Testing

/// The rollup tables of ClickHouse schema 003 (issue 19): fed once per message by the views over
/// `flows`, read where SQLite's planner reads its rollups, and the answers byte-identical to
/// SQLite's; repaired by the writer where they disagree with the raw rows; filled from the raw rows
/// for a store written before them.
/// The third serialized chain of ClickHouse tests (see ``ClickHouseSuite``): rollups, sightings
/// and the writer's sums.
@Suite(.ownThreads, .serialized, .enabled(if: ClickHouseServer.isInstalled, Comment(rawValue: ClickHouseServer.skipReason)))
struct ClickHouseRollupTests: ClickHouseSuite {}

extension ClickHouseRollupTests {
    /// A window over a whole day (the day level), an hour and minutes of the next day, and ragged
    /// raw edges at both ends; steps whose buckets align to the levels and steps that do not (a
    /// zone half an hour off UTC).
    static let rolledWindow = ["--from", "2026-10-31T23:58:41.5Z", "--to", "2026-11-02T01:37:20Z"]

    static func rolledQuestions(_ a: String, _ b: String) -> [[String]] {
        let w = rolledWindow
        return [
            ["top"] + w, ["top", "--by", "pair", "--limit", "1000"] + w, ["top", "--by", "port"] + w, ["top", "--by", "proto"] + w,
            ["top", "--metric", "packets", "--kind", "physical,virtual"] + w, ["top", "--endpoint", a, "--by", "pair"] + w,
            ["top", "--proto", "tcp", "--endpoint", "*"] + w,
            ["series", "--step", "5m"] + w, ["series", "--step", "1h", "--endpoint", a] + w, ["series", "--step", "1d"] + w,
            ["series", "--step", "10m", "--pair", "\(a),\(b)"] + w, ["series", "--step", "1h", "--tz", "Asia/Kolkata"] + w,
            ["series", "--step", "1d", "--tz", "Asia/Kolkata"] + w,
            ["rollup", "--step", "1h", "--group-by", "proto"] + w, ["rollup", "--step", "1h", "--group-by", "kind,src,dst,port"] + w,
            ["rollup", "--step", "1d", "--group-by", "dst,port", "--kind", "virtual"] + w,
            ["top", "--from", "2026-10-31", "--to", "2026-11-03", "--by", "pair"],
            ["series", "--step", "2d", "--from", "2026-10-30", "--to", "2026-11-05"],
            ["scope", "--endpoint", a] + w, ["scope", "--endpoint", b, "--proto", "tcp"] + w,
            // The generic path reads the rollup tables through the snapshot.
            ["top", "--where", "port = 443 or port = 22", "--by", "pair"] + w, ["rollup", "--step", "1h", "--group-by", "tag,proto"] + w,
            ["diff", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z", "--baseline", "2026-10-31T22:00:00Z..2026-11-01T00:00:00Z"],
        ]
    }

    /// The two busiest endpoints of the window (from SQLite's answer).
    static func busiest(_ db: String) async throws -> (String, String) {
        let top = try await Self.ok(["top", "--db", db, "--format", "json", "--limit", "2"] + rolledWindow)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(top.stdout.utf8)) as? [[String: Any]])
        return (try #require(rows.first?["endpoint"] as? String), try #require(rows.last?["endpoint"] as? String))
    }

    static func text(_ server: ClickHouseServer, _ sql: String) throws -> String {
        try server.query(sql).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whole days, hours and minutes come from the rollups, the edges from raw rows; the answers
    /// are SQLite's. Re-ingest adds nothing to the rollups; a rollup row that disagrees with the raw
    /// rows shows in the answers (they are read from the rollups) until an ingest that meets stored
    /// messages of that time repairs it.
    @Test func rollupsAnswerAcrossLevelsAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl"), devices = dir.path("devices.json"), db = dir.path("r.db")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-10-31T22:00:00Z", "--duration", "28h", "--rate", "0.5", "--seed", "5",
                     "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "r")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [logs])
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        // Each level holds the raw rows' sums.
        let raw = try Self.text(server, "SELECT sum(tx_bytes), sum(rx_packets) FROM r.flows WHERE kind != 255")
        for table in ["rollup_1m", "rollup_1h", "rollup_1d"] {
            #expect(try Self.text(server, "SELECT sum(tx_bytes), sum(rx_packets) FROM r.\(table)") == raw, "\(table)")
        }
        #expect(try Self.count(server, "SELECT count() FROM r.rollup_1d") < Self.count(server, "SELECT count() FROM r.rollup_1m"))
        let (a, b) = try await Self.busiest(db)
        let questions = Self.rolledQuestions(a, b)
        try await Self.expectSameAnswers(questions, db: db, store: store)

        // The same file again: nothing stored, the rollups unchanged (after their merges too).
        let before = try ["rollup_1m", "rollup_1h", "rollup_1d"].map {
            try Self.text(server, "SELECT count(), sum(tx_bytes), sum(rx_bytes) FROM (SELECT bucket, reporter, kind, proto, port, side, src, dst, sum(tx_bytes) AS tx_bytes, sum(rx_bytes) AS rx_bytes FROM r.\($0) GROUP BY bucket, reporter, kind, proto, port, side, src, dst)")
        }
        let again = try await Self.ok(["ingest", "--store", store, "--format", "json", logs])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        for t in ["rollup_1m", "rollup_1h", "rollup_1d"] { _ = try server.query("OPTIMIZE TABLE r.\(t) FINAL") }
        let after = try ["rollup_1m", "rollup_1h", "rollup_1d"].map {
            try Self.text(server, "SELECT count(), sum(tx_bytes), sum(rx_bytes) FROM (SELECT bucket, reporter, kind, proto, port, side, src, dst, sum(tx_bytes) AS tx_bytes, sum(rx_bytes) AS rx_bytes FROM r.\($0) GROUP BY bucket, reporter, kind, proto, port, side, src, dst)")
        }
        #expect(after == before)
        try await Self.expectSameAnswers([questions[0], questions[1], questions[7]], db: db, store: store)

        // A day bucket's sums off by a few bytes (as a server dying between an insert's raw rows and
        // its rollups would leave them): the day's answers show it, which proves they come from the
        // rollup; an ingest meeting stored messages of that day repairs it.
        _ = try server.query("""
            INSERT INTO r.rollup_1d SELECT bucket, reporter, kind, proto, port, side, src, dst, 0, 1000, 0, 1000
            FROM r.rollup_1d WHERE bucket = 1793491200
            """)
        _ = try server.query("""
            INSERT INTO r.rollup_1m SELECT bucket, reporter, kind, proto, port, side, src, dst, 0, 18446744073709551615, 0, 0
            FROM r.rollup_1m WHERE bucket = 1793581800 AND tx_bytes > 0 LIMIT 1
            """)
        let skewed = try await Self.tailflow(["top", "--store", store, "--format", "json"] + Self.rolledWindow)
        let truth = try await Self.tailflow(["top", "--db", db, "--format", "json"] + Self.rolledWindow)
        #expect(skewed.status == 0 && skewed.stdout != truth.stdout, "a wrong rollup row did not change the answer: the rollups are not read")
        let slice = dir.path("slice.jsonl")
        let lines = try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n")
        // Messages from both damaged days (the file is in time order): the first and the last.
        try (lines.prefix(3) + lines.suffix(3)).map { $0 + "\n" }.joined().write(toFile: slice, atomically: true, encoding: .utf8)
        // Six messages already stored, one batch: the repair covers its span (both days).
        let repaired = try await Self.ok(["ingest", "--store", store, "--format", "json", slice])
        #expect(repaired.stdout.contains("\"storedMessages\": 0") || repaired.stdout.contains("\"storedMessages\":0"), "\(repaired.stdout)")
        for table in ["rollup_1m", "rollup_1h", "rollup_1d"] {
            #expect(try Self.text(server, "SELECT sum(tx_bytes), sum(rx_packets) FROM r.\(table)") == raw, "\(table) after the repair")
        }
        try await Self.expectSameAnswers(questions, db: db, store: store)
    }

    /// `scope` over several days, where the planner reads 2-day buckets from the day table and a
    /// busy endpoint's first and last minutes are refined to raw rows in one scan: the answers are
    /// SQLite's, and no peer is last seen after the window's end (a 2-day level's day rows once
    /// stood for buckets reaching a day past the window, so peers seen on its second day were
    /// "last seen" after the window ended).
    @Test func scopeOverDaysAnswersAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("days.jsonl"), devices = dir.path("devices.json"), db = dir.path("days.db")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-11-01T00:00:00Z", "--duration", "100h", "--rate", "0.05", "--seed", "11",
                           "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "days")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [logs])
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        let (a, b) = try await Self.busiest(db)
        // 2026-11-02 is a day bucket, 11-03 and 11-04 one 2-day bucket, 11-05 ends in hours,
        // minutes and raw rows (with data after the window's end); the first four days are two
        // 2-day buckets.
        let windows = [["--from", "2026-11-01T13:17:00Z", "--to", "2026-11-05T02:00:30Z"], ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-05T00:00:00Z"]]
        let questions = [["scope", "--endpoint", a] + windows[0], ["scope", "--endpoint", b] + windows[0],
                         ["scope", "--endpoint", "*"] + windows[0], ["scope", "--endpoint", a] + windows[1]]
        try await Self.expectSameAnswers(questions, db: db, store: store)
        let scope = try await Self.ok(["scope", "--endpoint", a, "--store", store, "--format", "json"] + windows[0])
        let peers = try #require(try JSONSerialization.jsonObject(with: Data(scope.stdout.utf8)) as? [[String: Any]])
        #expect(peers.count > 1)
        for peer in peers {
            let last = try #require(peer["lastSeen"] as? String)
            #expect(last < "2026-11-05T02:01", "\(peer["peer"] ?? "?") last seen \(last), after the window")
        }
    }

    /// Messages that arrive late, into buckets already rolled up and merged: the rollups add them,
    /// and the answers are SQLite's after the same two ingests.
    @Test func lateDataJoinsRolledBuckets() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl"), db = dir.path("late.db")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-10-31T22:00:00Z", "--duration", "28h", "--rate", "0.3", "--seed", "9", "-o", logs])
        let lines = try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n")
        let early = dir.path("early.jsonl"), late = dir.path("late.jsonl")
        // Every fifth message comes late.
        try lines.enumerated().filter { $0.offset % 5 != 0 }.map { $0.element + "\n" }.joined().write(toFile: early, atomically: true, encoding: .utf8)
        try lines.enumerated().filter { $0.offset % 5 == 0 }.map { $0.element + "\n" }.joined().write(toFile: late, atomically: true, encoding: .utf8)
        let store = server.storeURL(database: "late")
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["ingest"] + target + [early]) }
        for t in ["rollup_1m", "rollup_1h", "rollup_1d"] { _ = try server.query("OPTIMIZE TABLE late.\(t) FINAL") }
        let rolled = try Self.count(server, "SELECT count() FROM late.rollup_1d")
        #expect(rolled > 0)
        let (a, b) = try await Self.busiest(db)
        try await Self.expectSameAnswers([["top"] + Self.rolledWindow, ["series", "--step", "1h"] + Self.rolledWindow], db: db, store: store)
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["ingest"] + target + [late]) }
        #expect(try Self.text(server, "SELECT sum(tx_bytes) FROM late.rollup_1d") == Self.text(server, "SELECT sum(tx_bytes) FROM late.flows"))
        try await Self.expectSameAnswers(Self.rolledQuestions(a, b), db: db, store: store)
    }

    /// A store written before schemas 003 and 004 gets its rollups and sightings from the raw rows
    /// it holds when a writer upgrades it; the answers are SQLite's.
    @Test func storeBeforeRollupsIsFilledOnUpgrade() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl"), devices = dir.path("devices.json"), db = dir.path("old.db")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-10-31T22:00:00Z", "--duration", "28h", "--rate", "0.3", "--seed", "3",
                     "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "old")
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["ingest"] + target + [logs]) }
        // As a store written before 003 (and 004): no rollup or sightings tables, no record of 003 or 004.
        for t in ["rollup_1m_feed", "rollup_1h_feed", "rollup_1d_feed", "rollup_1m", "rollup_1h", "rollup_1d",
                  "sightings_1m_feed", "sightings_1h_feed", "sightings_1d_feed", "sightings_1m", "sightings_1h", "sightings_1d"] {
            _ = try server.query("DROP TABLE IF EXISTS old.\(t)")
        }
        let kept = try server.query("SELECT name, applied_ns FROM old.schema_migrations WHERE name NOT IN ('003_rollups', '004_sightings', '005_client_rollups') FORMAT TabSeparated")
        _ = try server.query("DROP TABLE old.schema_migrations")
        _ = try server.query("CREATE TABLE old.schema_migrations (name String, applied_ns Int64) ENGINE = MergeTree ORDER BY name")
        _ = try server.query("INSERT INTO old.schema_migrations FORMAT TabSeparated\n" + kept)
        _ = try server.query("ALTER TABLE old.flows DROP COLUMN summed")  // 005's
        // A question does not upgrade the store; a writer does.
        let refused = try await Self.tailflow(["top", "--store", store])
        #expect(refused.status == 1 && refused.stderr.contains("lacks schema migration 003_rollups"), "\(refused.stderr)")
        for target in [["--db", db], ["--store", store]] { try await Self.ok(["nodes", "import"] + target + [devices]) }
        let raw = try Self.text(server, "SELECT sum(tx_bytes), sum(rx_packets) FROM old.flows WHERE kind != 255")
        for table in ["rollup_1m", "rollup_1h", "rollup_1d"] {
            #expect(try Self.text(server, "SELECT sum(tx_bytes), sum(rx_packets) FROM old.\(table)") == raw, "\(table)")
        }
        #expect(try Self.sightingsMatchRawRows(server, "old"), "the upgrade did not fill the sightings from the raw rows")
        let (a, b) = try await Self.busiest(db)
        try await Self.expectSameAnswers(Self.rolledQuestions(a, b), db: db, store: store)
    }

    /// The store protocol's rollup read gives a reporter's sums each time it is asked within one
    /// snapshot, as SQLite does (the snapshot once handed each reporter's sums of a segment out only
    /// the first time, so a question reading them twice saw nothing the second time).
    @Test func aSnapshotGivesTheSameRollupsEachTimeItIsAsked() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-11-01T00:00:00Z", "--duration", "3h", "--seed", "3", "-o", logs])
        let store = server.storeURL(database: "again")
        try await Self.ok(["ingest", "--store", store, logs])
        let clickhouse = try ClickHouseStore(url: ClickHouseURL(store), password: nil, create: false)
        let from = Int64(1_793_491_200), to = from + 3 * 3600  // 2026-11-01T00:00:00Z, three hours
        let (first, again) = try clickhouse.read { snapshot in
            var first: [Int64: Int] = [:], again: [Int64: Int] = [:]
            for reporter in Int64(1)...Int64(20) {
                try snapshot.rollups(step: 3600, reporter: reporter, fromBucket: from, toBucket: to) { _, _ in first[reporter, default: 0] += 1 }
            }
            for reporter in Int64(1)...Int64(20) {
                try snapshot.rollups(step: 3600, reporter: reporter, fromBucket: from, toBucket: to) { _, _ in again[reporter, default: 0] += 1 }
            }
            return (first, again)
        }
        #expect(first.values.reduce(0, +) > 0, "no hour sums were read: the test tests nothing")
        #expect(again == first)
    }
}
