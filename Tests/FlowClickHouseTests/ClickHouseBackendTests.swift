import FlowClickHouse
import FlowStore
import Foundation
import TestSupport
import Testing

/// What the ClickHouse suites of this target share. They are three serialized chains (this
/// suite, ``ClickHouseOperationsTests``, ``ClickHouseRollupTests``): each test starts a server of
/// its own, and one chain of them all was the whole test run's longest path.
protocol ClickHouseSuite {}

extension ClickHouseSuite {
    /// Runs `tailflow args…` without the caller's store variables (plus `env`), holding no thread
    /// (``TailflowBinary/run(_:env:stdin:)``).
    static func tailflow(_ args: [String], env: [String: String] = [:]) async throws -> ProcessOutput {
        try await TailflowBinary.run(args, env: env)
    }

    /// Runs a command that must succeed; returns its output.
    @discardableResult
    static func ok(_ args: [String], env: [String: String] = [:]) async throws -> ProcessOutput {
        let out = try await tailflow(args, env: env)
        guard out.status == 0 else { throw TestFailure("tailflow \(args.joined(separator: " ")) exited \(out.status): \(out.stderr)") }
        return out
    }

    /// The same question on both stores: stdout and stderr must be the same bytes.
    static func expectSameAnswers(_ questions: [[String]], db: String, store: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for q in questions {
            let sqlite = try await tailflow(q + ["--db", db, "--format", "json"])
            let clickhouse = try await tailflow(q + ["--store", store, "--format", "json"])
            #expect(sqlite.status == 0, "\(q): \(sqlite.stderr)", sourceLocation: sourceLocation)
            #expect(clickhouse.status == sqlite.status, "\(q): \(clickhouse.stderr)", sourceLocation: sourceLocation)
            #expect(clickhouse.stdout == sqlite.stdout, "\(q.joined(separator: " ")): the answers differ", sourceLocation: sourceLocation)
            #expect(clickhouse.stderr == sqlite.stderr, "\(q.joined(separator: " ")): the notes differ", sourceLocation: sourceLocation)
        }
    }

    static var window: [String] { ["--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z"] }
}

/// The ClickHouse backend (issue 19) through the real binary, against a private
/// `clickhouse-server` each test starts and stops: answers byte-identical to the SQLite store's
/// on the same input, idempotent ingest, schema versions, credentials, clear refusals.
@Suite(.ownThreads, .serialized, .enabled(if: ClickHouseServer.isInstalled, Comment(rawValue: ClickHouseServer.skipReason)))
struct ClickHouseBackendTests: ClickHouseSuite {
    @Test func harnessStartsAPrivateServerAndStopsIt() async throws {
        let server = try await ClickHouseServer.started()
        #expect(server.ping())
        #expect(try server.query("SELECT 1+1").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        server.stop()
        #expect(!server.ping())
    }

    /// The tiny tailnet's worked answers (fixtures/tiny/expected-*.json), and every container of
    /// the shared fixtures giving SQLite's answers; a second ingest adds nothing.
    @Test func fixturesAnswerAsWorkedOutAndAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let store = server.storeURL(database: "tiny")
        let db = dir.path("tiny.db")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [Fixtures.path("tiny/api-response.json")])
            try await Self.ok(["nodes", "import"] + target + [Fixtures.path("tiny/devices.json")])
        }
        for (by, file) in [("endpoint", "expected-top-endpoint.json"), ("pair", "expected-top-pair.json")] {
            let out = try await Self.ok(["top", "--store", store, "--by", by, "--format", "json"] + Self.window)
            let got = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? NSArray
            let want = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("tiny/" + file))) as? NSArray
            #expect(got != nil && got == want, "top --by \(by) on clickhouse: \(out.stdout)")
        }
        let questions = [["top"] + Self.window, ["top", "--by", "pair"] + Self.window, ["top", "--by", "port"] + Self.window,
                         ["top", "--by", "proto"] + Self.window, ["series", "--step", "5m"] + Self.window,
                         ["rollup", "--step", "10m", "--group-by", "kind,src,dst,port"] + Self.window,
                         ["scope", "--endpoint", "alice-laptop"] + Self.window, ["scope", "--endpoint", "*"] + Self.window, ["nodes"]]
        try await Self.expectSameAnswers(questions, db: db, store: store)
        // Ingested again: nothing new, the same answers.
        let again = try await Self.ok(["ingest", "--store", store, "--format", "json", Fixtures.path("tiny/api-response.json")])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        try await Self.expectSameAnswers(questions, db: db, store: store)

        for (i, container) in Fixtures.containers.enumerated() {
            let cdb = dir.path("c\(i).db"), cstore = server.storeURL(database: "c\(i)")
            try await Self.ok(["ingest", "--db", cdb, Fixtures.path("containers/" + container)])
            try await Self.ok(["ingest", "--store", cstore, Fixtures.path("containers/" + container)])
            try await Self.ok(["ingest", "--store", cstore, Fixtures.path("containers/" + container)])
            try await Self.expectSameAnswers([["top"] + Self.window, ["top", "--by", "pair"] + Self.window], db: cdb, store: cstore)
        }
    }

    /// A generated tailnet (servers, clients, a subnet router, an exit node with anonymised traffic,
    /// old clients without node info, nodes that never report): every question ClickHouse answers,
    /// with filters, byte-identical to SQLite's; ingesting the file again changes nothing.
    @Test func generatedTailnetAnswersAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("day.jsonl"), devices = dir.path("devices.json"), db = dir.path("gen.db")
        try await Self.ok(["generate", "--nodes", "30", "--duration", "3h", "--seed", "7", "--changes", "--change-interval", "10m",
                     "--fault", "silent:db-1:1h..90m", "--fault", "skew:web-1:90s", "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "gen")
        // Half the device list before the flows, so resolution changes at query time.
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [logs])
        }
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T03:00:00Z"]
        func questions() async throws -> [[String]] {
            let top = try await Self.ok(["top", "--db", db, "--format", "json", "--limit", "3"] + w)
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
                // The generic path: the QueryEngine over the ClickHouse snapshot.
                ["flows"] + w, ["flows", "--limit", "2000", "--kind", "physical,virtual"] + w, ["flows", "--match", "db", "--limit", "30"] + w,
                ["flows", "--match", "443", "--limit", "40"] + w, ["flows", "--match", "ALICE", "--limit", "40", "--kind", "virtual,physical"] + w,
                ["flows", "--endpoint", name, "--limit", "50", "--proto", "tcp"] + w, ["flows", "--where", "port = 443", "--limit", "20"] + w,
                ["scope", "--endpoint", name, "--flows"] + w, ["scope", "--endpoint", name, "--changes"] + w,
                ["top", "--tag", "tag:prod"] + w, ["top", "--user", "alice@example.com", "--by", "pair"] + w,
                ["top", "--where", "tag = tag:db or port in (22, 443)", "--by", "pair"] + w, ["series", "--step", "30m", "--tag", "tag:web"] + w,
                ["scope", "--endpoint", a, "--where", "proto = tcp"] + w,
                ["rollup", "--step", "1h", "--group-by", "tag,user"] + w, ["rollup", "--step", "1h", "--group-by", "os,kind"] + w,
                ["series", "--step", "1d", "--tz", "Europe/Berlin", "--from", "2026-10-30", "--to", "2026-11-03"],
                ["diff", "--from", "2026-11-01T02:00:00Z", "--to", "2026-11-01T03:00:00Z", "--baseline", "2026-11-01T00:00:00Z..2026-11-01T02:00:00Z"],
                ["diff", "--by", "port", "--from", "2026-11-01T02:00:00Z", "--to", "2026-11-01T03:00:00Z", "--baseline", "2h"],
                ["coverage"] + w, ["changes"] + w, ["changes", "--limit", "3"] + w, ["derp", "list"],
            ]
        }
        try await Self.expectSameAnswers(try questions(), db: db, store: store)
        // Charts and tables print alike too.
        let charts = [["top", "--format", "svg"] + w, ["series", "--step", "10m", "--format", "svg"] + w,
                      ["scope", "--endpoint", "web-1", "--format", "table"] + w, ["flows", "--format", "table", "--limit", "40"] + w]
        for q in charts {
            let sqlite = try await Self.ok(q + ["--db", db]), clickhouse = try await Self.ok(q + ["--store", store])
            #expect(clickhouse.stdout == sqlite.stdout && clickhouse.stderr == sqlite.stderr, "\(q.joined(separator: " "))")
        }
        // A page of raw rows continues after its last row's cursor alike.
        let page = try await Self.ok(["flows", "--limit", "7", "--format", "json", "--db", db] + w)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(page.stdout.utf8)) as? [[String: Any]])
        let cursor = try #require(rows.last?["cursor"] as? String)
        try await Self.expectSameAnswers([["flows", "--limit", "9", "--after", cursor] + w], db: db, store: store)
        // The device list later: earlier answers improve on both backends alike.
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        try await Self.expectSameAnswers(try questions(), db: db, store: store)
        let again = try await Self.ok(["ingest", "--store", store, "--format", "json", logs])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        try await Self.expectSameAnswers(try questions(), db: db, store: store)
        #expect(try server.query("SELECT count() FROM gen.flows").trimmingCharacters(in: .whitespacesAndNewlines)
                    == server.query("SELECT count() FROM (SELECT DISTINCT start_ns, reporter, digest, row FROM gen.flows)").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `coverage` on a store without `logged` (log streaming): the skew comes from the peers, and
    /// the peers' reports are read in the middle of the message scan, the reports of a reporter
    /// whose clock turns out to be off read a second time and taken out. ClickHouse gives
    /// SQLite's answer byte for byte, on windows on and off the minutes, with a short `--gap`,
    /// filters and one node, and again after the same file is ingested a second time.
    @Test func coverageWithoutLoggedAnswersAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let logs = dir.path("nolog.jsonl"), devices = dir.path("devices.json"), db = dir.path("nolog.db")
        try await Self.ok(["generate", "--nodes", "24", "--duration", "2h", "--seed", "11", "--start", "2026-11-02T09:00:00Z", "--omit-logged",
                           "--fault", "silent:web-1:40m..1h", "--fault", "skew:db-1:90s", "--fault", "drop:api-1:33%",
                           "--fault", "never:carol-desktop", "-o", logs, "--devices", devices])
        let store = server.storeURL(database: "nolog")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [devices])
            try await Self.ok(["ingest"] + target + [logs])
        }
        let w = ["--from", "2026-11-02T09:00:00Z", "--to", "2026-11-02T11:00:00Z"]
        let questions = [["coverage"] + w, ["coverage", "--from", "2026-11-02T09:07:13Z", "--to", "2026-11-02T10:51:49Z"],
                         ["coverage", "--gap", "30s"] + w, ["coverage", "--kind", "virtual", "--proto", "tcp"] + w,
                         ["coverage", "--endpoint", "db-1"] + w, ["coverage", "--endpoint", "web-1", "--gap", "5m"] + w,
                         ["coverage", "--from", "2026-11-02T10:00:00Z", "--to", "2026-11-02T10:30:00Z"]]
        try await Self.expectSameAnswers(questions, db: db, store: store)

        // The path in question was taken: the skews come from the peers, and the skewed
        // reporter's reports were among the evidence read before its skew was known.
        let out = try await Self.ok(["coverage", "--store", store, "--format", "json"] + w)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: rows.map { (String(($0["name"] as? String ?? "").prefix { $0 != "." }), $0) })
        #expect(byName["db-1"]?["verdict"] as? String == "skew" && byName["db-1"]?["skewSource"] as? String == "peers", "\(out.stdout)")
        #expect(byName["web-1"]?["verdict"] as? String == "gaps" && byName["carol-desktop"]?["verdict"] as? String == "silent")
        #expect(rows.filter { ($0["messages"] as? Int ?? 0) > 0 }.allSatisfy { $0["skewSource"] as? String != "logged" })

        let again = try await Self.ok(["ingest", "--store", store, "--format", "json", logs])
        #expect(again.stdout.contains("\"storedMessages\": 0") || again.stdout.contains("\"storedMessages\":0"), "\(again.stdout)")
        try await Self.expectSameAnswers(questions, db: db, store: store)
    }

    /// Subnet routes, the DERP map and relayed rows, totals without addresses: the tables' labels
    /// for what is not a node read alike on both backends (the generic path reads the DERP map
    /// and the routes from ClickHouse).
    @Test func labelsRoutesAndDERPMapAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let db = dir.path("labels.db"), store = server.storeURL(database: "labels")
        var devices = try String(contentsOfFile: Fixtures.path("tiny/devices.json"), encoding: .utf8)
        devices = devices.replacingOccurrences(of: #""nodeId": "nRt7Pq2CNTRL","#,
                                               with: #""nodeId": "nRt7Pq2CNTRL", "advertisedRoutes": ["192.168.0.0/16"], "enabledRoutes": ["192.168.10.0/24"],"#)
        try devices.write(toFile: dir.path("devices.json"), atomically: true, encoding: .utf8)
        try #"""
            {"Regions": {
              "1": {"RegionID": 1, "RegionCode": "nyc", "RegionName": "New York City", "Nodes": []},
              "9": {"RegionID": 9, "RegionCode": "dfw", "RegionName": "Dallas", "Nodes": []}
            }}
            """#.write(toFile: dir.path("derpmap.json"), atomically: true, encoding: .utf8)
        try """
            {"nodeId":"nKq3vX1CNTRL","start":"2026-11-01T10:02:00Z","end":"2026-11-01T10:02:05Z","physicalTraffic":[{"src":"100.101.1.20:0","dst":"127.3.3.40:1","txPkts":10,"txBytes":1000,"rxPkts":9,"rxBytes":900},{"src":"100.101.1.30:0","dst":"127.3.3.40:9","txPkts":3,"txBytes":300,"rxPkts":2,"rxBytes":200}]}
            {"nodeId":"nCi4Lm8CNTRL","start":"2026-11-01T10:02:00Z","end":"2026-11-01T10:02:05Z","virtualTraffic":[{"txPkts":4,"txBytes":400,"rxPkts":0,"rxBytes":0}]}

            """.write(toFile: dir.path("relayed.jsonl"), atomically: true, encoding: .utf8)
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [dir.path("devices.json")])
            try await Self.ok(["ingest"] + target + [Fixtures.path("tiny/api-response.json"), dir.path("relayed.jsonl")])
            let imported = try await Self.ok(["derp", "import"] + target + [dir.path("derpmap.json")])
            #expect(imported.stdout == "imported 2 DERP regions\n", "\(imported.stdout)")
        }
        for q in [["derp"], ["flows", "--kind", "physical"] + Self.window, ["flows", "--kind", "subnet"] + Self.window,
                  ["top", "--kind", "physical"] + Self.window, ["top"] + Self.window, ["scope", "--endpoint", "alice-laptop", "--kind", "physical"] + Self.window,
                  ["top", "--where", "dst in 192.168.0.0/16"] + Self.window] {
            let sqlite = try await Self.ok(q + ["--db", db, "--format", "table"]), clickhouse = try await Self.ok(q + ["--store", store, "--format", "table"])
            #expect(clickhouse.stdout == sqlite.stdout && clickhouse.stderr == sqlite.stderr,
                    "\(q.joined(separator: " ")):\n\(sqlite.stdout)\nclickhouse:\n\(clickhouse.stdout)")
        }
        let derp = try await Self.ok(["derp", "--store", store, "--format", "csv"])
        #expect(derp.stdout == "region,code,name\r\n1,nyc,New York City\r\n9,dfw,Dallas\r\n", "\(derp.stdout)")
    }

    /// A physical row whose destination address is owned by another reporter: its source is its
    /// own reporter, which the answers' SQL takes as a reporter without testing it (the owner
    /// joins carry only the ends' owners' flags), so the reporter's own observation counts, as
    /// in SQLite. Without that, x→y of such a row would wait for y to report it.
    @Test func physicalRowsToAnotherReportersAddressAnswerAsSQLite() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let db = dir.path("physical.db"), store = server.storeURL(database: "physical")
        try #"""
            {"devices": [
              {"nodeId": "nAa1xCNTRL", "name": "edge-a.tail7f3e.ts.net", "addresses": ["100.64.0.1", "fd7a:115c:a1e0::1"], "os": "linux"},
              {"nodeId": "nBb2yCNTRL", "name": "edge-b.tail7f3e.ts.net", "addresses": ["100.64.0.2", "192.0.2.10"], "os": "linux"}
            ]}
            """#.write(toFile: dir.path("devices.json"), atomically: true, encoding: .utf8)
        try """
            {"nodeId":"nAa1xCNTRL","start":"2026-11-01T10:02:00Z","end":"2026-11-01T10:02:05Z","physicalTraffic":[{"src":"203.0.113.5:41641","dst":"192.0.2.10:41641","txPkts":10,"txBytes":1000,"rxPkts":7,"rxBytes":700}]}
            {"nodeId":"nBb2yCNTRL","start":"2026-11-01T10:02:00Z","end":"2026-11-01T10:02:05Z","virtualTraffic":[{"proto":6,"src":"100.64.0.2:443","dst":"100.64.0.1:50000","txPkts":3,"txBytes":300,"rxPkts":2,"rxBytes":200}]}
            {"nodeId":"nBb2yCNTRL","start":"2026-11-01T10:03:00Z","end":"2026-11-01T10:03:05Z","physicalTraffic":[{"src":"192.0.2.10:41641","dst":"203.0.113.5:41641","txPkts":5,"txBytes":500,"rxPkts":4,"rxBytes":400}]}

            """.write(toFile: dir.path("physical.jsonl"), atomically: true, encoding: .utf8)
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [dir.path("devices.json")])
            try await Self.ok(["ingest"] + target + [dir.path("physical.jsonl")])
        }
        for q in [["top", "--kind", "physical"], ["top", "--by", "pair", "--kind", "physical"], ["top", "--by", "pair"], ["top"],
                  ["series", "--step", "1m", "--kind", "physical"], ["rollup", "--step", "1m", "--group-by", "src,dst", "--kind", "physical"]] {
            let sqlite = try await Self.ok(q + Self.window + ["--db", db, "--format", "json"])
            let clickhouse = try await Self.ok(q + Self.window + ["--store", store, "--format", "json"])
            #expect(clickhouse.stdout == sqlite.stdout, "\(q.joined(separator: " ")):\n\(sqlite.stdout)\nclickhouse:\n\(clickhouse.stdout)")
            if q.contains("top") && q.contains("physical") {
                // The case is the one meant: A's own 1,000 bytes to B's address count.
                #expect(sqlite.stdout.contains("edge-b"), "\(sqlite.stdout)")
            }
        }
    }

    /// `tailflow serve --store clickhouse://…`: a real HEC POST is acknowledged once ClickHouse
    /// holds it, and the query API then answers from ClickHouse as `tailflow` answers from a SQLite
    /// file of the same input; a re-sent batch adds nothing.
    @Test func serveReceivesIntoClickHouseAndAnswersFromIt() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let store = server.storeURL(database: "served"), db = dir.path("direct.db")
        let hec = Fixtures.path("containers/splunk-hec.json")
        try await Self.ok(["ingest", "--db", db, hec])

        let p = TailflowBinary.process(["serve", "--store", store, "--listen", "127.0.0.1:0", "--allow-weak-tokens",
                                        "--hec-token", "T1-hec", "--read-token", "T4-read"])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        p.standardInput = FileHandle.nullDevice
        try p.run()
        defer {
            if p.isRunning {
                p.terminate()
                p.waitUntilExit()
            }
        }
        let reading = out.fileHandleForReading
        let text = try await offThePool {
            var text = ""
            while !text.contains("\n") {
                let data = reading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            return text
        }
        let line = try #require(text.split(separator: "\n").first, "serve did not start: \(text)")
        let port = try #require(Int(line.split(separator: ":").last ?? ""), "\(line)")
        let base = "http://127.0.0.1:\(port)"

        func curl(_ args: [String]) async throws -> ProcessOutput {
            let c = Process()
            c.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            c.arguments = ["-sS", "--max-time", "60", "-w", "\n%{http_code}"] + args
            return try await runToEnd(c)
        }
        for _ in 0..<2 {
            let posted = try await curl(["-H", "Authorization: Splunk T1-hec", "--data-binary", "@" + hec, base + "/services/collector/event"])
            #expect(posted.stdout.hasSuffix("\n200") && posted.stdout.contains("Success"), "\(posted.stdout) \(posted.stderr)")
            // Acknowledged means stored: the answers read it at once.
            let w = "from=2026-11-01T10:00:00Z&to=2026-11-01T11:00:00Z"
            for (path, args) in [("top", ["top"]), ("top?by=pair&", ["top", "--by", "pair"]), ("flows", ["flows"]),
                                 ("scope?endpoint=alice-laptop&", ["scope", "--endpoint", "alice-laptop"]), ("nodes", ["nodes"])] {
                let url = base + "/api/v1/" + (path.hasSuffix("&") ? path + w : path + "?" + (path == "nodes" ? "" : w))
                let answer = try await curl(["-H", "Authorization: Bearer T4-read", url])
                let direct = try await Self.ok(args + ["--db", db, "--format", "json"] + (args == ["nodes"] ? [] : Self.window))
                #expect(answer.stdout == direct.stdout + "\n200", "\(path): \(answer.stdout)\nsqlite: \(direct.stdout)")
            }
        }
        #expect(try server.query("SELECT count() FROM served.flows").trimmingCharacters(in: .whitespacesAndNewlines)
                    == server.query("SELECT count() FROM (SELECT DISTINCT start_ns, reporter, digest, row FROM served.flows)").trimmingCharacters(in: .whitespacesAndNewlines))
        let health = try await curl([base + "/healthz"])
        #expect(health.stdout.hasSuffix("\n200"), "\(health.stdout)")
        // The pages answer from ClickHouse too.
        let page = try await curl(["-H", "Authorization: Bearer T4-read", base + "/?from=2026-11-01T10:00:00Z&to=2026-11-01T11:00:00Z"])
        #expect(page.stdout.hasSuffix("\n200") && page.stdout.contains("alice-laptop"), "\(page.stdout.suffix(300))")
    }

    /// Schema versions, credentials, bad URLs, an unreachable server and unsupported commands:
    /// each a clear error, never a wrong answer.
    @Test func refusalsAreClear() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let store = server.storeURL(database: "refusals")
        let dir = TempDir()
        // Questions never create a store.
        let missing = try await Self.tailflow(["top", "--store", store])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no tailflow store in database refusals"), "\(missing.stderr)")
        try await Self.ok(["ingest", "--store", store, Fixtures.path("tiny/api-response.json")])
        #expect(try server.query("SELECT name FROM refusals.schema_migrations").contains("001_clickhouse_store"))

        // A password from the environment; a wrong one names the server and ClickHouse's message.
        let withUser = server.storeURL(database: "refusals", user: ClickHouseServer.user)
        try await Self.ok(["top", "--store", withUser] + Self.window, env: ["TAILFLOW_CLICKHOUSE_PASSWORD": ClickHouseServer.password])
        try await Self.ok(["top"] + Self.window, env: ["TAILFLOW_STORE": withUser, "TAILFLOW_CLICKHOUSE_PASSWORD": ClickHouseServer.password])
        let wrong = try await Self.tailflow(["top", "--store", withUser] + Self.window, env: ["TAILFLOW_CLICKHOUSE_PASSWORD": "nope"])
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("clickhouse server 127.0.0.1:\(server.httpPort)") && wrong.stderr.contains("assword"), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("no tailflow store"), "\(wrong.stderr)")

        // Not yet on this backend: a clear refusal.
        for args in [["check"], ["prune"], ["backup", "--output", dir.path("b.db")], ["export", "--output", dir.path("x.tar")], ["import", dir.path("x.tar")]] {
            let out = try await Self.tailflow(args + ["--store", store])
            #expect(out.status != 0, "\(args)")
            #expect(out.stderr.contains("not supported on the clickhouse backend yet"), "\(args): \(out.stderr)")
            #expect(out.stdout.isEmpty)
        }
        let cluster = try await Self.tailflow(["top", "--store", store + "?cluster=two"])
        #expect(cluster.status == 1 && cluster.stderr.contains("not spread over a cluster: open it without ?cluster=two"), "\(cluster.stderr)")
        // Bad URLs are usage errors.
        for url in ["clickhouse://127.0.0.1:8123", "clickhouse://u:pw@127.0.0.1:8123/db", "clickhouse://127.0.0.1:99999/db", "postgres://x/y"] {
            let out = try await Self.tailflow(["top", "--store", url])
            #expect(out.status == 2, "\(url): \(out.stderr)")
        }

        // A schema newer than this binary knows is refused, by writers and readers.
        _ = try server.query("INSERT INTO refusals.schema_migrations VALUES ('999_future', 0)")
        for args in [["ingest", Fixtures.path("tiny/api-response.json")], ["top"]] {
            let out = try await Self.tailflow(args + ["--store", store])
            #expect(out.status == 1)
            #expect(out.stderr.contains("999_future") && out.stderr.contains("newer tailflow"), "\(out.stderr)")
        }
    }

    /// A server that is down when ingest starts and comes back: tailflow says it retries, and the
    /// answers then equal a clean run's.
    @Test func ingestRetriesUntilTheServerIsBack() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let store = server.storeURL(database: "retry"), db = dir.path("clean.db")
        try await Self.ok(["ingest", "--db", db, Fixtures.path("tiny/api-response.json")])
        server.stop()
        // Back after three seconds: the ingest meets a refused connection first and retries.
        let restart = Thread {
            Thread.sleep(forTimeInterval: 3)
            try? server.restart()
        }
        restart.start()
        let out = try await TailflowBinary.run(["ingest", "--store", store, Fixtures.path("tiny/api-response.json")])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("retrying"), "\(out.stderr)")
        try await Self.expectSameAnswers([["top"] + Self.window, ["top", "--by", "pair"] + Self.window], db: db, store: store)
    }

    /// The node tables kept between questions (`NodeTablesCache`): a question takes them from the
    /// cache file while the server's version of them is the one kept, and reads them again once a
    /// device list or an ingest changes them. The file is forged in between (a node renamed, every
    /// address owner dropped): the answers show the forgery, so the kept tables are what the
    /// answer resolved with and named from, and a `nodes import` or an ingest then brings back
    /// SQLite's answers. `TAILFLOW_CLICKHOUSE_CACHE=off` answers alike.
    @Test func keptNodeTablesAreTakenOnlyWhileTheServerHasThem() async throws {
        let server = try await ClickHouseServer.started()
        defer { server.stop() }
        let dir = TempDir()
        let cache = dir.path("cache")
        let env = ["TAILFLOW_CLICKHOUSE_CACHE": cache]
        let logs = dir.path("a.jsonl"), later = dir.path("b.jsonl"), devices = dir.path("devices.json"), db = dir.path("kept.db")
        try await Self.ok(["generate", "--nodes", "12", "--duration", "2h", "--seed", "5", "-o", logs, "--devices", devices])
        try await Self.ok(["generate", "--nodes", "12", "--duration", "2h", "--seed", "5", "--start", "2026-11-01T02:00:00Z", "-o", later])
        let last = dir.path("c.jsonl")
        try await Self.ok(["generate", "--nodes", "12", "--duration", "1h", "--seed", "5", "--start", "2026-11-01T04:00:00Z", "-o", last])
        let store = server.storeURL(database: "kept")
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [devices])
            try await Self.ok(["ingest"] + target + [logs])
        }
        let w = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T04:00:00Z"]
        let questions = [["top"] + w, ["top", "--by", "pair", "--limit", "1000"] + w, ["series", "--step", "10m"] + w,
                         ["rollup", "--step", "1h", "--group-by", "src,dst"] + w, ["top", "--endpoint", "db-1"] + w, ["nodes"]]
        func same(_ env: [String: String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
            for q in questions {
                let sqlite = try await Self.ok(q + ["--db", db, "--format", "json"])
                let clickhouse = try await Self.ok(q + ["--store", store, "--format", "json"], env: env)
                #expect(clickhouse.stdout == sqlite.stdout, "\(q.joined(separator: " ")): the answers differ", sourceLocation: sourceLocation)
                #expect(clickhouse.stderr == sqlite.stderr, "\(q.joined(separator: " ")): the notes differ", sourceLocation: sourceLocation)
            }
        }
        try await same(env)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".nodes") }
        try #require(files.count == 1, "\(files)")
        let file = cache + "/" + files[0]
        // Forged (and sealed again): db-1 renamed, the address owners gone. The answers resolve and name with it.
        func forged(seal: Bool = true) throws -> String {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(text.contains("db-1.") && text.hasSuffix("\n"), "\(text.prefix(400))")
            var lines = text.split(separator: "\n").map(String.init)
            let sealLine = lines.removeLast()
            #expect(sealLine.hasPrefix("end\t"), "\(sealLine)")
            let body = lines.filter { !$0.hasPrefix("a\t") }.joined(separator: "\n").replacingOccurrences(of: "db-1.", with: "forged-1.") + "\n"
            return seal ? NodeTablesCache.sealed(body) : body + sealLine + "\n"
        }
        /// Written as the cache writes its files (mode 0600), whatever the umask.
        func write(_ text: String, to path: String) throws {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        }
        func forge() throws { try write(forged(), to: file) }
        let pairs = ["top", "--by", "pair", "--limit", "1000"] + w
        let sqliteTop = try await Self.ok(pairs + ["--db", db, "--format", "json"])
        // Not taken, so the answers stay the server's: a file changed after its seal, one cut short,
        // one others may write, one owned by another user, a symbolic link to a sealed forgery.
        let sealedForgery = try forged()
        let elsewhere = dir.path("elsewhere.nodes")
        try write(sealedForgery, to: elsewhere)
        var refusals: [(String, () throws -> Void)] = [
            ("changed after its seal", { try write(forged(seal: false), to: file) }),
            ("cut short", { try write(String(sealedForgery.prefix(sealedForgery.count / 2)), to: file) }),
            ("writable by others", {
                try write(sealedForgery, to: file)
                try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: file)
            }),
            ("a symbolic link", {
                try FileManager.default.removeItem(atPath: file)
                try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: elsewhere)
            }),
        ]
        if geteuid() == 0 {
            refusals.append(("owned by another user", {
                try write(sealedForgery, to: file)
                #expect(chown(file, 65534, 65534) == 0)
            }))
        }
        for (what, damage) in refusals {
            try damage()
            let answer = try await Self.ok(pairs + ["--store", store, "--format", "json"], env: env)
            #expect(answer.stdout == sqliteTop.stdout, "a cache file \(what) was taken")
            // Read again from the server and kept anew (a regular file of this user's, sealed).
            let kept = try #require(try? String(contentsOfFile: file, encoding: .utf8), "\(what)")
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect(attributes[.type] as? FileAttributeType == .typeRegular && kept.contains("db-1.") && kept.contains("\nend\t"), "\(what)")
        }
        try forge()
        let top = try await Self.ok(pairs + ["--store", store, "--format", "json"], env: env)
        #expect(top.stdout != sqliteTop.stdout)
        #expect(top.stdout.contains("\"a\": \"100."), "no address resolved, so raw addresses are endpoints")
        #expect(!sqliteTop.stdout.contains("\"a\": \"100."))
        let nodes = try await Self.ok(["nodes", "--store", store, "--format", "json"], env: env)
        #expect(nodes.stdout.contains("forged-1."), "\(nodes.stdout.prefix(300))")
        // A device list changes the node tables: the next questions read them again.
        var list = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: devices))) as? [String: Any])
        var entries = try #require(list["devices"] as? [[String: Any]])
        entries[entries.count - 1]["name"] = "renamed-9.tail7f3e.ts.net"
        list["devices"] = entries
        try JSONSerialization.data(withJSONObject: list).write(to: URL(fileURLWithPath: devices))
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["nodes", "import"] + target + [devices])
        }
        try await same(env)
        // And so does an ingest (its reporters and sightings).
        try forge()
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [later])
        }
        try await same(env)
        // An ingest that leaves every address's owner and every owner's reporting as they were
        // still changes the node tables' version (its batches insert into `reporters` and
        // `node_seen`): the tables are read again, but the answer asked at once with the kept
        // owners stands (asked once, not twice).
        for target in [["--db", db], ["--store", store]] {
            try await Self.ok(["ingest"] + target + [last])
        }
        var traced = env
        traced["TAILFLOW_CLICKHOUSE_TRACE"] = "1"
        let sqlitePairs = try await Self.ok(pairs + ["--db", db, "--format", "json"])
        let once = try await Self.ok(pairs + ["--store", store, "--format", "json"], env: traced)
        #expect(once.stdout == sqlitePairs.stdout)
        let requests = once.stderr.split(separator: "\n").filter { $0.hasPrefix("clickhouse: ") }
        #expect(requests.contains { $0.contains("materialize('m')") }, "the node tables were not read again: \(requests)")
        #expect(requests.filter { $0.contains("SELECT a, b, sum(abB)") }.count == 1, "\(requests)")
        try await same(["TAILFLOW_CLICKHOUSE_CACHE": "off"])
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
