import FlowClickHouse
import Foundation
import TestSupport
import Testing

/// `tailflow migrate` (issue 19): a SQLite store copied into ClickHouse and a ClickHouse store
/// copied back into a new SQLite file answer the same questions byte for byte; migrating twice
/// adds nothing.
extension ClickHouseOperationsTests {
    static func summary(_ out: ProcessOutput) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any], "\(out.stdout)")
    }

    @Test func migrateCopiesBothWaysIdempotently() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), devices = dir.path("devices.json"), db = dir.path("source.db"), back = dir.path("back.db")
        try await Self.ok(["generate", "--nodes", "25", "--duration", "2h", "--seed", "5", "--changes", "--change-interval", "10m",
                     "-o", logs, "--devices", devices])
        try await Self.ok(["ingest", "--db", db, logs])
        try await Self.ok(["nodes", "import", "--db", db, devices])
        try #"{"Regions": {"1": {"RegionID": 1, "RegionCode": "nyc", "RegionName": "New York City", "Nodes": []}}}"#
            .write(toFile: dir.path("derp.json"), atomically: true, encoding: .utf8)
        try await Self.ok(["derp", "import", "--db", db, dir.path("derp.json")])
        // A reject, so that rejects travel too.
        let bad = dir.path("bad.jsonl")
        try "{\"nodeId\": \"n1\", \"start\": \"x\"}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(try await Self.tailflow(["ingest", "--db", db, bad]).status == 3)
        let store = server.storeURL(database: "migrated")

        let first = try await Self.summary(try Self.ok(["migrate", "--from", db, "--to", store, "--format", "json"]))
        let messages = try #require(first["sourceMessages"] as? Int)
        #expect(messages > 0 && first["messages"] as? Int == messages && first["duplicates"] as? Int == 0, "\(first)")
        #expect(first["rejects"] as? Int == 1, "\(first)")
        #expect((first["changes"] as? Int ?? 0) > 0 && (first["notCopied"] as? [Any])?.isEmpty == true, "\(first)")
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T02:00:00Z"]
        let top = try await Self.ok(["top", "--db", db, "--format", "json", "--limit", "2"] + w)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(top.stdout.utf8)) as? [[String: Any]])
        let a = try #require(rows.first?["endpoint"] as? String), b = try #require(rows.last?["endpoint"] as? String)
        let questions: [[String]] = [
            ["top"] + w, ["top", "--by", "pair", "--limit", "1000"] + w, ["top", "--by", "port"] + w, ["top", "--by", "proto"] + w,
            ["series", "--step", "10m"] + w, ["series", "--step", "5m", "--pair", "\(a),\(b)"] + w,
            ["rollup", "--step", "30m", "--group-by", "kind,src,dst"] + w, ["scope", "--endpoint", a] + w, ["nodes"], ["rejects"],
            // Raw rows in the source's order (the migration keeps its node ids), through both paths.
            ["flows", "--limit", "400"] + w, ["changes"] + w, ["scope", "--endpoint", a, "--changes"] + w, ["derp"], ["flows", "--limit", "50", "--where", "port = 443"] + w,
        ]
        try await Self.expectSameAnswers(questions, db: db, store: store)

        // Twice = once: nothing new, the same rows.
        let rowsBefore = try Self.count(server, "SELECT count() FROM migrated.flows")
        let nodesBefore = try Self.count(server, "SELECT count() FROM migrated.nodes")
        let second = try await Self.summary(try Self.ok(["migrate", "--from", db, "--to", store, "--format", "json"]))
        #expect(second["messages"] as? Int == 0 && second["duplicates"] as? Int == messages && second["rejects"] as? Int == 0
                    && second["nodes"] as? Int == 0 && second["changes"] as? Int == 0, "\(second)")
        #expect(try Self.count(server, "SELECT count() FROM migrated.flows") == rowsBefore)
        #expect(try Self.count(server, "SELECT count() FROM migrated.nodes") == nodesBefore)
        try await Self.expectSameAnswers(questions, db: db, store: store)

        // And back into a new SQLite file: the same answers as the original, and again nothing new.
        let home = try await Self.summary(try Self.ok(["migrate", "--from", store, "--to", back, "--format", "json"]))
        #expect(home["messages"] as? Int == messages && home["sourceMessages"] as? Int == messages, "\(home)")
        for q in questions {
            let original = try await Self.tailflow(q + ["--db", db, "--format", "json"])
            let copy = try await Self.tailflow(q + ["--db", back, "--format", "json"])
            #expect(copy.status == 0 && copy.stdout == original.stdout && copy.stderr == original.stderr, "\(q): the answers differ")
        }
        let again = try await Self.summary(try Self.ok(["migrate", "--from", store, "--to", back, "--format", "json"]))
        #expect(again["messages"] as? Int == 0 && again["duplicates"] as? Int == messages && again["rejects"] as? Int == 0, "\(again)")

        // Usage: one side must be ClickHouse, the other a file.
        for args in [["--from", db, "--to", back], ["--from", store, "--to", store]] {
            #expect(try await Self.tailflow(["migrate"] + args).status == 2)
        }
        let missing = try await Self.tailflow(["migrate", "--from", dir.path("nope.db"), "--to", store])
        #expect(missing.status == 1 && missing.stderr.contains("nope.db"), "\(missing.stderr)")
    }
}
