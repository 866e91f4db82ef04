import FlowClickHouse
import FlowStore
import Foundation
import TestSupport
import Testing

/// `?cluster=NAME` (issue 19): two local `clickhouse-server`s configured as a two-shard cluster,
/// each at its own loopback address with the same HTTP port (as shards on different hosts are),
/// give the single server's and SQLite's answers byte for byte, and hold each row once.
extension ClickHouseOperationsTests {
    /// Two servers forming cluster `two` (one shard each), started by the test.
    static func startCluster() throws -> [ClickHouseServer] {
        let hosts = ["127.0.0.1", "127.0.0.2"]
        let http = try ClickHouseServer.freePort(on: hosts)
        let tcp = try hosts.map { try ClickHouseServer.freePort(on: [$0]) }
        let shards = zip(hosts, tcp).map { "<shard><replica><host>\($0)</host><port>\($1)</port></replica></shard>" }.joined()
        var servers: [ClickHouseServer] = []
        for (host, port) in zip(hosts, tcp) {
            servers.append(try ClickHouseServer.start(remoteServers: "<two>\(shards)</two>", ports: (http, port), host: host))
        }
        return servers
    }


    @Test func clusterAnswersAsOneServerAndSQLite() async throws {
        let shards = try await offThePool { try Self.startCluster() }
        defer { for s in shards { s.stop() } }
        let single = try await ClickHouseServer.started()
        defer { single.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), devices = dir.path("devices.json"), db = dir.path("gen.db")
        try await Self.ok(["generate", "--nodes", "30", "--duration", "3h", "--seed", "11", "-o", logs, "--devices", devices])
        let cluster = shards[0].storeURL(database: "gen") + "?cluster=two"
        let one = single.storeURL(database: "gen")
        for target in [["--db", db], ["--store", cluster], ["--store", one]] {
            try await Self.ok(["ingest"] + target + [logs])
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        // Every shard holds a part of the rows, and each row once.
        let parts = try shards.map { try Self.count($0, "SELECT count() FROM gen.flows_local") }
        let total = try Self.count(single, "SELECT count() FROM gen.flows")
        #expect(parts.allSatisfy { $0 > 0 } && parts.reduce(0, +) == total, "shards hold \(parts), one server \(total)")
        #expect(try Self.count(shards[1], "SELECT count() FROM gen.flows") == total)
        // A reporter's rows are on one shard only.
        let reporters = try shards.map { Set(try $0.query("SELECT DISTINCT reporter FROM gen.flows_local").split(separator: "\n")) }
        #expect(reporters[0].isDisjoint(with: reporters[1]) && !reporters[0].isEmpty && !reporters[1].isEmpty)
        // Each shard rolls up its own rows; the rollups over both hold what the raw rows do.
        for table in ["sightings_1m", "sightings_1h", "sightings_1d"] {
            #expect(try shards.allSatisfy { try Self.count($0, "SELECT count() FROM gen.\(table)_local") > 0 }, "\(table)")
        }
        for table in ["rollup_1m", "rollup_1h", "rollup_1d"] {
            #expect(try shards.allSatisfy { try Self.count($0, "SELECT count() FROM gen.\(table)_local") > 0 }, "\(table)")
            #expect(try Self.count(shards[0], "SELECT sum(tx_bytes) FROM gen.\(table)")
                        == Self.count(single, "SELECT sum(tx_bytes) FROM gen.flows WHERE kind != 255"), "\(table)")
        }

        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T03:00:00Z"]
        let top = try await Self.ok(["top", "--db", db, "--format", "json", "--limit", "3"] + w)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(top.stdout.utf8)) as? [[String: Any]])
        let a = try #require(rows.first?["endpoint"] as? String), b = try #require(rows.last?["endpoint"] as? String)
        let questions: [[String]] = [
            ["top"] + w, ["top", "--metric", "packets", "--limit", "5"] + w, ["top", "--by", "pair", "--limit", "1000"] + w,
            ["top", "--by", "port"] + w, ["top", "--by", "proto"] + w, ["top", "--endpoint", a, "--by", "pair"] + w,
            ["top", "--kind", "physical"] + w, ["top", "--endpoint", "*"] + w,
            ["series", "--step", "5m"] + w, ["series", "--step", "10m", "--pair", "\(a),\(b)"] + w,
            ["series", "--step", "1h", "--endpoint", b] + w,
            ["rollup", "--step", "15m", "--group-by", "kind,proto"] + w, ["rollup", "--step", "1h", "--group-by", "src,dst,port"] + w,
            ["scope", "--endpoint", a] + w, ["scope", "--endpoint", b, "--proto", "tcp"] + w, ["scope", "--endpoint", "*"] + w,
            ["nodes"], ["top", "--from", "2026-10-01", "--to", "2026-10-02"],
            // Pushed down too (raw rows in SQLite's order, --tag), and the generic snapshot path.
            ["flows"] + w, ["flows", "--limit", "500", "--endpoint", a] + w, ["scope", "--endpoint", a, "--flows"] + w,
            ["top", "--tag", "tag:prod"] + w, ["top", "--where", "port = 443", "--by", "pair"] + w,
            ["rollup", "--step", "1h", "--group-by", "tag"] + w, ["coverage"] + w,
            ["diff", "--from", "2026-11-01T02:00:00Z", "--to", "2026-11-01T03:00:00Z", "--baseline", "2h"],
        ]
        try await Self.expectSameAnswers(questions, db: db, store: cluster)
        try await Self.expectSameAnswers(questions, db: db, store: one)
        // The other server of the cluster answers the same.
        try await Self.expectSameAnswers([["top", "--by", "pair"] + w, ["scope", "--endpoint", a] + w],
                                   db: db, store: shards[1].storeURL(database: "gen") + "?cluster=two")

        // The same file again adds nothing on the cluster.
        let again = try await Self.ok(["ingest", "--store", cluster, "--format", "json", logs])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        let after = try shards.map { try Self.count($0, "SELECT count() FROM gen.flows_local") }
        #expect(after == parts)
        try await Self.expectSameAnswers([["top", "--by", "pair", "--limit", "1000"] + w, ["series", "--step", "5m"] + w], db: db, store: cluster)
        // Each server records the schema it has.
        for s in shards {
            #expect(try s.query("SELECT name FROM gen.schema_migrations").contains("001_clickhouse_store"))
        }
        // A cluster's store opened as one server's is refused (and the other way round, in refusalsAreClear).
        let plain = try await Self.tailflow(["top", "--store", shards[0].storeURL(database: "gen")])
        #expect(plain.status == 1 && plain.stderr.contains("is spread over cluster two: open it with ?cluster=two"), "\(plain.stderr)")
        // An unknown cluster is a clear error.
        let unknown = try await Self.tailflow(["ingest", "--store", shards[0].storeURL(database: "x") + "?cluster=nope", logs])
        #expect(unknown.status == 1 && unknown.stderr.contains("no cluster 'nope'"), "\(unknown.stderr)")
    }
}

extension ClickHouseSuite {
    static func count(_ server: ClickHouseServer, _ sql: String) throws -> Int {
        Int(try server.query(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }
}
