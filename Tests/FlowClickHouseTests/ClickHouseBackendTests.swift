import FlowClickHouse
import Foundation
import TestSupport
import Testing

/// The ClickHouse backend (issue 19) through the real binary, against a private
/// `clickhouse-server` each test starts and stops: answers byte-identical to the SQLite store's
/// on the same input, idempotent ingest, schema versions, credentials, clear refusals.
@Suite(.serialized, .enabled(if: ClickHouseServer.isInstalled, Comment(rawValue: ClickHouseServer.skipReason)))
struct ClickHouseBackendTests {
    /// Runs `tailflow args…` with a clean environment (plus `env`) and waits for it.
    static func tailflow(_ args: [String], env: [String: String] = [:]) throws -> ProcessOutput {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TailflowBinary.path)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        for k in ["TAILFLOW_DB", "TAILFLOW_STORE", "TAILFLOW_CLICKHOUSE_PASSWORD"] { environment.removeValue(forKey: k) }
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        return try runToEnd(p)
    }

    /// Runs a command that must succeed; returns its output.
    @discardableResult
    static func ok(_ args: [String], env: [String: String] = [:]) throws -> ProcessOutput {
        let out = try tailflow(args, env: env)
        guard out.status == 0 else { throw TestFailure("tailflow \(args.joined(separator: " ")) exited \(out.status): \(out.stderr)") }
        return out
    }

    static let window = ["--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z"]

    /// The same question on both stores: stdout and stderr must be the same bytes.
    static func expectSameAnswers(_ questions: [[String]], db: String, store: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for q in questions {
            let sqlite = try tailflow(q + ["--db", db, "--format", "json"])
            let clickhouse = try tailflow(q + ["--store", store, "--format", "json"])
            #expect(sqlite.status == 0, "\(q): \(sqlite.stderr)", sourceLocation: sourceLocation)
            #expect(clickhouse.status == sqlite.status, "\(q): \(clickhouse.stderr)", sourceLocation: sourceLocation)
            #expect(clickhouse.stdout == sqlite.stdout, "\(q.joined(separator: " ")): the answers differ", sourceLocation: sourceLocation)
            #expect(clickhouse.stderr == sqlite.stderr, "\(q.joined(separator: " ")): the notes differ", sourceLocation: sourceLocation)
        }
    }

    @Test func harnessStartsAPrivateServerAndStopsIt() throws {
        let server = try ClickHouseServer.start()
        #expect(server.ping())
        #expect(try server.query("SELECT 1+1").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        server.stop()
        #expect(!server.ping())
    }

    /// The tiny tailnet's worked answers (fixtures/tiny/expected-*.json), and every container of
    /// the shared fixtures giving SQLite's answers; a second ingest adds nothing.
    @Test func fixturesAnswerAsWorkedOutAndAsSQLite() throws {
        let server = try ClickHouseServer.start()
        defer { server.stop() }
        let dir = TempDir()
        let store = server.storeURL(database: "tiny")
        let db = dir.path("tiny.db")
        for target in [["--db", db], ["--store", store]] {
            try Self.ok(["ingest"] + target + [Fixtures.path("tiny/api-response.json")])
            try Self.ok(["nodes", "import"] + target + [Fixtures.path("tiny/devices.json")])
        }
        for (by, file) in [("endpoint", "expected-top-endpoint.json"), ("pair", "expected-top-pair.json")] {
            let out = try Self.ok(["top", "--store", store, "--by", by, "--format", "json"] + Self.window)
            let got = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? NSArray
            let want = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tiny/" + file))) as? NSArray
            #expect(got != nil && got == want, "top --by \(by) on clickhouse: \(out.stdout)")
        }
        let questions = [["top"] + Self.window, ["top", "--by", "pair"] + Self.window, ["top", "--by", "port"] + Self.window,
                         ["top", "--by", "proto"] + Self.window, ["series", "--step", "5m"] + Self.window,
                         ["rollup", "--step", "10m", "--group-by", "kind,src,dst,port"] + Self.window,
                         ["scope", "--endpoint", "alice-laptop"] + Self.window, ["scope", "--endpoint", "*"] + Self.window, ["nodes"]]
        try Self.expectSameAnswers(questions, db: db, store: store)
        // Ingested again: nothing new, the same answers.
        let again = try Self.ok(["ingest", "--store", store, "--format", "json", Fixtures.path("tiny/api-response.json")])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        try Self.expectSameAnswers(questions, db: db, store: store)

        for (i, container) in Fixtures.containers.enumerated() {
            let cdb = dir.path("c\(i).db"), cstore = server.storeURL(database: "c\(i)")
            try Self.ok(["ingest", "--db", cdb, Fixtures.path("containers/" + container)])
            try Self.ok(["ingest", "--store", cstore, Fixtures.path("containers/" + container)])
            try Self.ok(["ingest", "--store", cstore, Fixtures.path("containers/" + container)])
            try Self.expectSameAnswers([["top"] + Self.window, ["top", "--by", "pair"] + Self.window], db: cdb, store: cstore)
        }
    }

    /// A generated tailnet (servers, clients, a subnet router, an exit node with anonymised traffic,
    /// old clients without node info, nodes that never report): every question ClickHouse answers,
    /// with filters, byte-identical to SQLite's; ingesting the file again changes nothing.
    @Test func generatedTailnetAnswersAsSQLite() throws {
        let server = try ClickHouseServer.start()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), devices = dir.path("devices.json"), db = dir.path("gen.db")
        try Self.ok(["generate", "--nodes", "30", "--duration", "3h", "--seed", "7", "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "gen")
        // Half the device list before the flows, so resolution changes at query time.
        for target in [["--db", db], ["--store", store]] {
            try Self.ok(["ingest"] + target + [logs])
        }
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T03:00:00Z"]
        func questions() throws -> [[String]] {
            let top = try Self.ok(["top", "--db", db, "--format", "json", "--limit", "3"] + w)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(top.stdout.utf8)) as? [[String: Any]])
            let a = try #require(rows.first?["endpoint"] as? String), b = try #require(rows.last?["endpoint"] as? String)
            let name = (rows[1]["name"] as? String).map { String($0.split(separator: ".")[0]) } ?? b
            return [
                ["top"] + w, ["top", "--limit", "5"] + w, ["top", "--metric", "packets"] + w,
                ["top", "--by", "pair", "--limit", "1000"] + w, ["top", "--by", "pair", "--metric", "packets", "--limit", "4"] + w,
                ["top", "--by", "port"] + w, ["top", "--by", "proto"] + w,
                ["top", "--kind", "physical"] + w, ["top", "--kind", "virtual,subnet,exit,physical", "--by", "pair"] + w,
                ["top", "--proto", "udp"] + w, ["top", "--endpoint", name, "--by", "pair"] + w, ["top", "--endpoint", "*"] + w,
                ["series", "--step", "5m"] + w, ["series", "--step", "1h", "--endpoint", name] + w,
                ["series", "--step", "10m", "--pair", "\(a),\(b)"] + w, ["series", "--step", "15m", "--edge", "\(b),\(a)"] + w,
                ["series", "--step", "1d", "--from", "2026-10-31", "--to", "2026-11-03"],
                ["series", "--step", "1w", "--from", "2026-10-20", "--to", "2026-11-10"],
                ["series", "--step", "1h", "--endpoint", "100.64.255.254"] + w,
                ["top", "--from", "2026-10-01", "--to", "2026-10-02"],
                ["scope", "--endpoint", name] + w, ["scope", "--endpoint", a, "--kind", "physical,virtual"] + w,
                ["scope", "--endpoint", "*"] + w, ["scope", "--endpoint", b, "--proto", "tcp"] + w,
                ["rollup"] + w, ["rollup", "--step", "15m", "--group-by", "kind,proto"] + w,
                ["rollup", "--step", "1h", "--group-by", "src,dst"] + w,
                ["rollup", "--group-by", "dst,port,kind", "--kind", "virtual,physical"] + w,
                ["rollup", "--step", "30m", "--group-by", "port", "--endpoint", name] + w,
                ["rollup", "--step", "1d", "--group-by", "proto,src", "--from", "2026-10-30", "--to", "2026-11-03"],
                ["nodes"],
            ]
        }
        try Self.expectSameAnswers(try questions(), db: db, store: store)
        // The device list later: earlier answers improve on both backends alike.
        for target in [["--db", db], ["--store", store]] {
            try Self.ok(["nodes", "import"] + target + [devices])
        }
        try Self.expectSameAnswers(try questions(), db: db, store: store)
        let again = try Self.ok(["ingest", "--store", store, "--format", "json", logs])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        try Self.expectSameAnswers(try questions(), db: db, store: store)
        #expect(try server.query("SELECT count() FROM gen.flows").trimmingCharacters(in: .whitespacesAndNewlines)
                    == server.query("SELECT count() FROM (SELECT DISTINCT start_ns, reporter, digest, row FROM gen.flows)").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Schema versions, credentials, bad URLs, an unreachable server and unsupported commands:
    /// each a clear error, never a wrong answer.
    @Test func refusalsAreClear() throws {
        let server = try ClickHouseServer.start()
        defer { server.stop() }
        let store = server.storeURL(database: "refusals")
        // Questions never create a store.
        let missing = try Self.tailflow(["top", "--store", store])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no tailflow store in database refusals"), "\(missing.stderr)")
        try Self.ok(["ingest", "--store", store, Fixtures.path("tiny/api-response.json")])
        #expect(try server.query("SELECT name FROM refusals.schema_migrations").contains("001_clickhouse_store"))

        // A password from the environment; a wrong one names the server and ClickHouse's message.
        let withUser = server.storeURL(database: "refusals", user: ClickHouseServer.user)
        try Self.ok(["top", "--store", withUser] + Self.window, env: ["TAILFLOW_CLICKHOUSE_PASSWORD": ClickHouseServer.password])
        try Self.ok(["top"] + Self.window, env: ["TAILFLOW_STORE": withUser, "TAILFLOW_CLICKHOUSE_PASSWORD": ClickHouseServer.password])
        let wrong = try Self.tailflow(["top", "--store", withUser] + Self.window, env: ["TAILFLOW_CLICKHOUSE_PASSWORD": "nope"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("clickhouse server 127.0.0.1:\(server.httpPort)") && wrong.stderr.contains("assword"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("no tailflow store"), "\(wrong.stderr)")

        // Not yet on this backend: a clear refusal.
        for args in [["rollup", "--group-by", "kind,tag"], ["scope", "--endpoint", "db-1", "--flows"], ["scope", "--endpoint", "db-1", "--changes"], ["flows"], ["serve"], ["check"], ["prune"], ["top", "--tag", "tag:prod"],
                     ["top", "--where", "port = 22"], ["series", "--step", "1d", "--tz", "Europe/Berlin", "--from", "2026-10-20", "--to", "2026-11-01"]] {
            let out = try Self.tailflow(args + ["--store", store])
            #expect(out.status != 0, "\(args)")
            #expect(out.stderr.contains("not supported on the clickhouse backend yet"), "\(args): \(out.stderr)")
            #expect(out.stdout.isEmpty)
        }
        let cluster = try Self.tailflow(["top", "--store", store + "?cluster=two"])
        #expect(cluster.status == 1 && cluster.stderr.contains("not spread over a cluster: open it without ?cluster=two"), "\(cluster.stderr)")
        // Bad URLs are usage errors.
        for url in ["clickhouse://127.0.0.1:8123", "clickhouse://u:pw@127.0.0.1:8123/db", "clickhouse://127.0.0.1:99999/db", "postgres://x/y"] {
            let out = try Self.tailflow(["top", "--store", url])
            #expect(out.status == 2, "\(url): \(out.stderr)")
        }

        // A schema newer than this binary knows is refused, by writers and readers.
        _ = try server.query("INSERT INTO refusals.schema_migrations VALUES ('999_future', 0)")
        for args in [["ingest", Fixtures.path("tiny/api-response.json")], ["top"]] {
            let out = try Self.tailflow(args + ["--store", store])
            #expect(out.status == 1)
            #expect(out.stderr.contains("999_future") && out.stderr.contains("newer tailflow"), "\(out.stderr)")
        }
    }

    /// A server that is down when ingest starts and comes back: tailflow says it retries, and the
    /// answers then equal a clean run's.
    @Test func ingestRetriesUntilTheServerIsBack() throws {
        let server = try ClickHouseServer.start()
        defer { server.stop() }
        let dir = TempDir()
        let store = server.storeURL(database: "retry"), db = dir.path("clean.db")
        try Self.ok(["ingest", "--db", db, Fixtures.path("tiny/api-response.json")])
        server.stop()
        // Back after three seconds: the ingest meets a refused connection first and retries.
        let restart = Thread {
            Thread.sleep(forTimeInterval: 3)
            try? server.restart()
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TailflowBinary.path)
        p.arguments = ["ingest", "--store", store, Fixtures.path("tiny/api-response.json")]
        restart.start()
        let out = try runToEnd(p)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("retrying"), "\(out.stderr)")
        try Self.expectSameAnswers([["top"] + Self.window, ["top", "--by", "pair"] + Self.window], db: db, store: store)
    }

    @Test func storeURLs() throws {
        let u = try ClickHouseURL("clickhouse://alice@db.example:9123/flows?cluster=two")
        #expect(u.user == "alice" && u.host == "db.example" && u.port == 9123 && u.database == "flows" && u.cluster == "two")
        let d = try ClickHouseURL("clickhouse://[::1]/x")
        #expect(d.user == "default" && d.host == "::1" && d.port == 8123 && d.server == "[::1]:8123")
        #expect(throws: ClickHouseURLError.self) { try ClickHouseURL("clickhouse://h:1/bad-name") }
        #expect(throws: ClickHouseURLError.self) { try ClickHouseURL("clickhouse://h:1/db?shard=1") }
    }
}
