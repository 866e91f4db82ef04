import FlowClickHouse
import FlowStore
import Foundation
import TestSupport
import Testing

/// ClickHouse schema 005 (issue 19, ingest speed): tailflow's writer sums the rollups and
/// sightings of what it inserts, instead of the materialized views over `flows` (which still sum
/// rows an older writer sends); the tables hold what the views wrote.
extension ClickHouseBackendTests {
    /// What the rollup tables hold, summed per key, against what schema 003's views compute from
    /// the raw rows: the same rows (a hash of each key and its four sums), per table.
    static func rollupsMatchRawRows(_ server: ClickHouseServer, _ database: String) throws -> Bool {
        let port = "if(src_port = 0, dst_port, if(dst_port = 0, src_port, least(src_port, dst_port)))"
        for (table, seconds) in [("rollup_1m", 60), ("rollup_1h", 3600), ("rollup_1d", 86400)] {
            let held = try Self.text(server, """
                SELECT count(), sum(cityHash64(bucket, reporter, kind, proto, port, side, src, dst, tp, tb, rp, rb)) FROM (
                    SELECT bucket, reporter, kind, proto, port, side, src, dst, sum(tx_packets) AS tp, sum(tx_bytes) AS tb,
                           sum(rx_packets) AS rp, sum(rx_bytes) AS rb
                    FROM \(database).\(table) GROUP BY bucket, reporter, kind, proto, port, side, src, dst)
                """)
            let raw = try Self.text(server, """
                SELECT count(), sum(cityHash64(bucket, reporter, kind, proto, port, side, src, dst, tp, tb, rp, rb)) FROM (
                    SELECT intDiv(start_ns, \(seconds) * 1000000000) * \(seconds) AS bucket, reporter, kind, proto, \(port) AS port,
                           toUInt8(if(src_port = dst_port, 1, if(port = dst_port, 2, 3))) AS side, src, dst,
                           sum(tx_packets) AS tp, sum(tx_bytes) AS tb, sum(rx_packets) AS rp, sum(rx_bytes) AS rb
                    FROM \(database).flows WHERE kind != 255 GROUP BY bucket, reporter, kind, proto, port, side, src, dst)
                """)
            if held != raw || held.hasPrefix("0\t") { return false }
        }
        return true
    }

    /// The materialized views of a database, by name.
    static func views(_ server: ClickHouseServer, _ database: String) throws -> [String] {
        try server.query("SELECT name FROM system.tables WHERE database = '\(database)' AND engine = 'MaterializedView' ORDER BY name")
            .split(separator: "\n").map(String.init)
    }

    /// The writer's rollups and sightings equal the views' (every key, sum and first/last sighting
    /// at every level); the answers are SQLite's. A store with schema 004's views (as before 005)
    /// is upgraded by the next ingest: its views then skip the writer's rows (else that ingest's
    /// sums would count twice) and still sum an older writer's.
    @Test func writerRollupsEqualTheViewsAndTheUpgradeFiltersThem() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl"), devices = dir.path("devices.json"), db = dir.path("w.db")
        try await Self.ok(["generate", "--nodes", "12", "--start", "2026-10-31T22:00:00Z", "--duration", "28h", "--rate", "0.5", "--seed", "7",
                           "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "w")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [logs])
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        #expect(try Self.views(server, "w").count == 7)
        #expect(try Self.rollupsMatchRawRows(server, "w"), "the writer's rollups are not the views' rows")
        #expect(try Self.sightingsMatchRawRows(server, "w"), "the writer's sightings are not the views' rows")
        let (a, b) = try await Self.busiest(db)
        try await Self.expectSameAnswers(Self.rolledQuestions(a, b), db: db, store: store)

        // Stores from before 005: the first half of the file, then schema 004's views (summing every
        // row). `up` lacks the 005 record and column, as an older store; `ctl` keeps them, so the
        // writer does not upgrade it: its views and the writer both sum (the control: the test sees a
        // double count).
        let lines = try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n")
        let first = dir.path("first.jsonl"), second = dir.path("second.jsonl")
        try lines.prefix(lines.count / 2).map { $0 + "\n" }.joined().write(toFile: first, atomically: true, encoding: .utf8)
        try lines.dropFirst(lines.count / 2).map { $0 + "\n" }.joined().write(toFile: second, atomically: true, encoding: .utf8)
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schema/clickhouse")
        for database in ["up", "ctl"] {
            try await Self.ok(["ingest", "--store", server.storeURL(database: database), first])
            for file in ["003_rollups.sql", "004_sightings.sql"] {
                let sql = try String(contentsOf: schema.appendingPathComponent(file), encoding: .utf8)
                for statement in sql.components(separatedBy: ";\n") {
                    let text = statement.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                    guard text.hasPrefix("CREATE MATERIALIZED VIEW IF NOT EXISTS ") else { continue }
                    let name = text.split(separator: " ")[6]
                    _ = try server.query("DROP TABLE IF EXISTS \(database).\(name)")
                    _ = try server.query(text.replacingOccurrences(of: "IF NOT EXISTS ", with: "IF NOT EXISTS \(database).")
                        .replacingOccurrences(of: " TO rollup_", with: " TO \(database).rollup_")
                        .replacingOccurrences(of: " TO sightings_", with: " TO \(database).sightings_")
                        .replacingOccurrences(of: "FROM flows", with: "FROM \(database).flows"))
                }
            }
            #expect(try Self.views(server, database).count == 7)
        }
        let up = server.storeURL(database: "up")
        let kept = try server.query("SELECT name, applied_ns FROM up.schema_migrations WHERE name != '005_client_rollups' FORMAT TabSeparated")
        _ = try server.query("DROP TABLE up.schema_migrations")
        _ = try server.query("CREATE TABLE up.schema_migrations (name String, applied_ns Int64) ENGINE = MergeTree ORDER BY name")
        _ = try server.query("INSERT INTO up.schema_migrations FORMAT TabSeparated\n" + kept)
        _ = try server.query("ALTER TABLE up.flows DROP COLUMN summed")
        let refused = try await Self.tailflow(["top", "--store", up])
        #expect(refused.status == 1 && refused.stderr.contains("lacks schema migration 005_client_rollups"), "\(refused.stderr)")
        for database in ["up", "ctl"] { try await Self.ok(["ingest", "--store", server.storeURL(database: database), second]) }
        #expect(!(try Self.rollupsMatchRawRows(server, "ctl")), "views summing the writer's rows too went unseen: the test tests nothing")
        try await Self.ok(["nodes", "import", "--store", up, devices])
        #expect(try Self.text(server, "SELECT count() FROM up.flows") == Self.text(server, "SELECT count() FROM w.flows"))
        #expect(try Self.rollupsMatchRawRows(server, "up"), "after the upgrade the rollups are not the raw rows' sums")
        #expect(try Self.sightingsMatchRawRows(server, "up"))
        let questions = [["top"] + Self.rolledWindow, ["series", "--step", "1h"] + Self.rolledWindow, ["scope", "--endpoint", a] + Self.rolledWindow]
        try await Self.expectSameAnswers(questions, db: db, store: up)
        // A writer older than 005 still running (it sends no `summed`): the views sum its rows.
        let before = try Self.text(server, "SELECT sum(tx_bytes) FROM up.rollup_1d")
        _ = try server.query("""
            INSERT INTO up.flows (start_ns, end_ns, reporter, digest, row, kind, proto, src, src_port, dst, dst_port,
                                  tx_packets, tx_bytes, rx_packets, rx_bytes, logged_ms)
            SELECT start_ns, end_ns, reporter, digest + 1, row, kind, proto, src, src_port, dst, dst_port,
                   tx_packets, tx_bytes, rx_packets, rx_bytes, logged_ms FROM up.flows WHERE tx_bytes > 0 LIMIT 50
            """)
        #expect(try Self.text(server, "SELECT sum(tx_bytes) FROM up.rollup_1d") != before)
        #expect(try Self.rollupsMatchRawRows(server, "up"), "an older writer's rows were not summed by the views")
        #expect(try Self.sightingsMatchRawRows(server, "up"))
    }
    /// A 005 upgrade that stopped after its `ADD COLUMN` (a failure later on, an answer lost and
    /// the statement retried, one server of a cluster done and the other not) is run again from its
    /// start by the next writer: the column is there already and ClickHouse 18.16 has no
    /// `ADD COLUMN IF NOT EXISTS`, so that statement is skipped, not refused.
    @Test func anInterruptedUpgradeIsRunAgain() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("logs.jsonl")
        try await Self.ok(["generate", "--nodes", "8", "--start", "2026-11-01T00:00:00Z", "--duration", "2h", "--rate", "0.5", "--seed", "3", "-o", logs])
        let lines = try String(contentsOfFile: logs, encoding: .utf8).split(separator: "\n")
        let first = dir.path("first.jsonl"), second = dir.path("second.jsonl")
        try lines.prefix(lines.count / 2).map { $0 + "\n" }.joined().write(toFile: first, atomically: true, encoding: .utf8)
        try lines.dropFirst(lines.count / 2).map { $0 + "\n" }.joined().write(toFile: second, atomically: true, encoding: .utf8)
        let store = server.storeURL(database: "half")
        try await Self.ok(["ingest", "--store", store, first])
        // Undo the end of 005: its record and one re-created view; the column stays.
        let kept = try server.query("SELECT name, applied_ns FROM half.schema_migrations WHERE name != '005_client_rollups' FORMAT TabSeparated")
        _ = try server.query("DROP TABLE half.schema_migrations")
        _ = try server.query("CREATE TABLE half.schema_migrations (name String, applied_ns Int64) ENGINE = MergeTree ORDER BY name")
        _ = try server.query("INSERT INTO half.schema_migrations FORMAT TabSeparated\n" + kept)
        _ = try server.query("DROP TABLE half.rollup_1h_feed")
        #expect(try Self.views(server, "half").count == 6)
        try await Self.ok(["ingest", "--store", store, second])
        #expect(try Self.text(server, "SELECT count() FROM half.schema_migrations WHERE name = '005_client_rollups'") == "1")
        #expect(try Self.views(server, "half").count == 7)
        #expect(try Self.rollupsMatchRawRows(server, "half"))
        #expect(try Self.sightingsMatchRawRows(server, "half"))
    }
}
