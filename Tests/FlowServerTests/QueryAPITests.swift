import Foundation
import Testing
import TestSupport

/// The query API answers with exactly what the CLI prints; health and metrics.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct QueryAPITests {
    static let window = ["from": "2026-11-01T09:00:00Z", "to": "2026-11-01T11:00:00Z"]

    /// (command, parameters) pairs covering every question and most options.
    static let questions: [(String, [String: String])] = [
        ("top", [:]),
        ("top", ["by": "pair", "metric": "packets", "limit": "3"]),
        ("top", ["by": "port", "kind": "virtual,subnet"]),
        ("top", ["by": "proto", "kind": "virtual,subnet,exit,physical"]),
        ("top", ["endpoint": "db-1", "proto": "tcp"]),
        ("top", ["tag": "tag:prod"]),
        ("series", ["step": "1m"]),
        ("series", ["step": "30s", "endpoint": "alice-laptop"]),
        ("series", ["step": "1m", "pair": "alice-laptop,db-1"]),
        ("series", ["step": "1m", "edge": "db-1,alice-laptop"]),
        ("rollup", ["step": "1h", "group-by": "kind,proto,src,dst"]),
        ("rollup", ["step": "30m", "group-by": "tag,user,os,port"]),
        ("scope", ["endpoint": "nKq3vX1CNTRL"]),
        ("scope", ["endpoint": "100.101.1.10", "flows": "true", "limit": "4"]),
        ("flows", ["limit": "5", "match": "5432"]),
        ("flows", ["user": "alice@example.com"]),
        ("diff", ["baseline": "2026-11-01T07:00:00Z..2026-11-01T09:00:00Z"]),
        ("diff", ["by": "endpoint", "factor": "1", "baseline": "2026-11-01T11:00:00Z..2026-11-01T12:00:00Z", "where": "proto = tcp"]),
        ("diff", ["by": "port", "baseline": "1d", "limit": "2"]),
        ("coverage", [:]),
        ("coverage", ["gap": "1m", "endpoint": "db-1"]),
    ]

    static func query(_ parameters: [String: String]) -> String {
        parameters.sorted { $0.key < $1.key }.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~")))!)"
        }.joined(separator: "&")
    }

    static func cliArguments(_ command: String, _ parameters: [String: String]) -> [String] {
        var args = [command]
        for (key, value) in parameters.sorted(by: { $0.key < $1.key }) {
            if key == "flows" { args.append("--flows") } else { args += ["--\(key)", value] }
        }
        return args + ["--format", "json"]
    }

    @Test func everyQuestionMatchesTheCLIWhileTheServerRuns() async throws {
        let dir = TempDir()
        let db = dir.path("q.db")
        let api = try Fixtures.bytes("tiny/api-response.json")
        try await TestServer.run(db: db) { app in
            #expect(try await app.post("/api/v1/ingest", api, Auth.ingest).status == 200)
            #expect(try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db).status == 0)

            for (command, own) in Self.questions + [("nodes", [:])] {
                let parameters = command == "nodes" ? own : own.merging(Self.window) { a, _ in a }
                let answer = try await app.get("/api/v1/\(command)?" + Self.query(parameters), Auth.read)
                let cli = try await CLI.run(Self.cliArguments(command, parameters), db: db)
                #expect(cli.status == 0, "\(command) \(parameters): \(cli.stderr)")
                #expect(answer.status == 200 && answer["Content-Type"] == "application/json", "\(command): \(answer.body)")
                #expect(answer.body == cli.stdout, "\(command) \(parameters)")
                #expect(answer.body.count > 3, "\(command) \(parameters) answers something")
            }
            // The rollup's new keys and names, as worked by hand in TailflowCLITests/RollupGroupTests.
            let groups = try await app.get("/api/v1/rollup?step=1h&group-by=src,tag&format=ndjson&" + Self.query(Self.window), Auth.read)
            #expect(groups.body.contains(#"{"time":"2026-11-01T10:00:00Z","src":"nDb1x9ZCNTRL","srcName":"db-1.tail7f3e.ts.net","tag":"tag:prod","bytes":1200000,"packets":100}"#))
            // Who opened the connections: alice's laptop connected to db-1:5432.
            let scope = try await app.get("/api/v1/scope?endpoint=db-1&" + Self.query(Self.window), Auth.read)
            #expect(scope.body.contains(#""ports": [5432], "firstSeen""#) && scope.body.contains(#""outboundPorts": [], "inboundPorts": [5432]}"#))
            // Other formats, as the CLI's.
            let csv = try await app.get("/api/v1/top?format=csv&" + Self.query(Self.window), Auth.read)
            let cliCSV = try await CLI.run(Self.cliArguments("top", Self.window).dropLast(2) + ["--format", "csv"], db: db)
            #expect(csv.body == cliCSV.stdout && csv["Content-Type"] == "text/csv; charset=utf-8")

            // A question that cannot be answered as asked: 400 with the reason, naming parameters as
            // the HTTP API spells them (`step`, not the CLI's `--step`).
            let bad: [(String, String)] = [
                ("top?by=nonsense", "by 'nonsense' is not a ranking"), ("top?step=1m", "takes no parameter 'step'"),
                ("series?step=0s", "step '0s' is not a duration"), ("scope", "scope needs endpoint"),
                ("top?from=tomorrow", "from 'tomorrow' is not a time"), ("top?tz=Mars/Olympus", "tz 'Mars/Olympus' is not a time zone"), ("top?from=now&to=-1h", "from ("),
                ("top?endpoint=no-such-node", "no-such-node"),
                ("diff?from=-1h&baseline=-2h..now", "baseline ["), ("diff?factor=0.1", "factor '0.1'"), ("coverage?gap=0s", "gap '0s'"), ("top?limit=5&limit=6", "given twice"),
                ("top?limit=0", "limit '0' must be"), ("series?pair=a", "pair takes two endpoints"),
                ("series?pair=a,b&edge=a,b", "at most one of endpoint, pair and edge"), ("rollup?group-by=colour", "group-by 'colour'"),
                ("flows?after=x", "after 'x' is not a cursor"), ("top?format=xml", "format 'xml'"),
            ]
            for (path, reason) in bad {
                let a = try await app.get("/api/v1/" + path, Auth.read)
                let message = a.object["error"] as? String ?? ""
                #expect(a.status == 400 && message.contains(reason), "\(path): \(a.body)")
                #expect(!message.contains("--"), "\(path): \(message)")
            }
        }
    }

    @Test func healthAndPrometheusMetrics() async throws {
        let dir = TempDir()
        let hec = try Fixtures.bytes("containers/splunk-hec.json")
        try await TestServer.run(db: dir.path("m.db")) { app in
            let health = try await app.get("/healthz")
            #expect(health.status == 200 && health.object["status"] as? String == "ok")
            #expect(try await app.post("/services/collector/event", hec, Auth.hec).status == 200)
            #expect(try await app.post("/_bulk", Array(#"{"create":{}}"#.utf8) + [0x0A] + Array("{\"bad\n".utf8), Auth.bulk).status == 200)
            _ = try await app.get("/api/v1/top", Auth.read)
            _ = try await app.get("/api/v1/top")  // 401
            _ = try await app.get("/no/such/route")
            let metrics = try await app.get("/metrics")
            #expect(metrics.status == 200 && (metrics["Content-Type"] ?? "").hasPrefix("text/plain"))
            let lines = metrics.body.split(separator: "\n").map(String.init)
            func value(_ name: String) -> Double? { metricValue(metrics.body, name) }
            #expect(value("tailflow_stored_rows_total") == 8)   // the 6 HEC fixture messages hold 8 flow rows
            #expect(value("tailflow_stored_messages_total") == 6)
            #expect(value(#"tailflow_received_messages_total{receiver="hec"}"#) == 6)
            #expect(value(#"tailflow_rejected_items_total{receiver="bulk"}"#) == 1)
            #expect(value("tailflow_recorded_rejects_total") == 1)
            #expect((value("tailflow_database_size_bytes") ?? 0) > 0)
            // The write-ahead log's own size (issue 14 item 7); the database size includes it.
            let wal = try #require(value("tailflow_wal_size_bytes"))
            #expect(wal >= 0 && wal <= value("tailflow_database_size_bytes") ?? 0)
            #expect(value(#"tailflow_http_request_duration_seconds_count{route="hec",status="200"}"#) == 1)
            #expect(value(#"tailflow_http_request_duration_seconds_count{route="top",status="200"}"#) == 1)
            #expect(value(#"tailflow_http_request_duration_seconds_count{route="top",status="401"}"#) == 1)
            #expect(value(#"tailflow_http_request_duration_seconds_count{route="healthz",status="200"}"#) == 1)
            #expect(!metrics.body.contains("no/such/route"), "unmatched paths are not labels")
            #expect(lines.contains { $0.hasPrefix(#"tailflow_http_request_duration_seconds_bucket{route="hec",status="200",le="0.25"}"#) })
        }
    }
}
