import FlowModel
import Foundation
import Testing
import TestSupport

/// `tailflow coverage` through the real binary: every format, the fields of the issue,
/// and the generator's never-reporting nodes found `silent`.
@Suite(.ownThreads)
struct CoverageCommandTests {
    static let window = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T02:00:00Z"]

    @Test func everyFormatAndTheVerdicts() async throws {
        let dir = TempDir()
        let db = try await DiffCommandTests.store(dir)
        let run = try await CLI.run(["coverage", "--format", "json"] + Self.window, db: db)
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try QueryCommandTests.json(run)
        #expect(rows.count >= 10)
        let fields = ["node", "name", "verdict", "reports", "messages", "coverage", "gaps", "skewSeconds", "skewSource", "asymmetry",
                      "asymmetryPeer", "rejects"]
        for r in rows { #expect(Set(r.keys) == Set(fields), "\(r.keys)") }
        // The generated tailnet has nodes that never report; its reporters are healthy.
        let silent = rows.filter { $0["verdict"] as? String == "silent" }
        #expect(!silent.isEmpty && silent.allSatisfy { $0["reports"] as? Bool == false && $0["messages"] as? Int == 0 })
        let reporting = rows.filter { $0["reports"] as? Bool == true }
        #expect(!reporting.isEmpty && reporting.allSatisfy { $0["verdict"] as? String == "ok" && $0["skewSource"] as? String == "logged" },
                "\(run.stdout)")
        #expect(rows.first?["verdict"] as? String == "silent", "worst first")
        let gaps = try #require(silent.first?["gaps"] as? [[String: Any]])
        #expect(gaps.first?["from"] as? String == "2026-11-01T00:00:00Z" && gaps.first?["to"] as? String == "2026-11-01T02:00:00Z")
        #expect((gaps.first?["peerBytes"] as? Int ?? 0) > 0)

        let csv = try await CLI.run(["coverage", "--format", "csv"] + Self.window, db: db)
        #expect(csv.stdout.hasPrefix("node,name,verdict,reports,messages,coverage,gaps,") && csv.stdout.split(separator: "\r\n").count == rows.count + 1)
        let nd = try await CLI.run(["coverage", "--format", "ndjson"] + Self.window, db: db)
        #expect(nd.stdout.split(separator: "\n").count == rows.count)
        let table = try await CLI.run(["coverage"] + Self.window, db: db)
        #expect(table.status == 0 && table.stdout.hasPrefix("NODE") && table.stdout.contains("silent"))

        // --endpoint chooses one node; an address that is no node, or a gap of nothing, is a usage error.
        let one = try await QueryCommandTests.json(CLI.run(["coverage", "--format", "json", "--endpoint", "db-1"] + Self.window, db: db))
        #expect(one.count == 1 && (one.first?["name"] as? String ?? "").hasPrefix("db-1."))
        let address = try await CLI.run(["coverage", "--endpoint", "192.0.2.1"] + Self.window, db: db)
        #expect(address.status == 2 && address.stderr.contains("coverage is per node"), "\(address.stderr)")
        let gap = try await CLI.run(["coverage", "--gap", "0"] + Self.window, db: db)
        #expect(gap.status == 2 && gap.stderr.contains("--gap"))
    }
}

/// `tailflow generate --fault …` through the real binary: coverage finds exactly the faults
/// injected, each with its verdict and bounds, with and without `logged`.
@Suite(.ownThreads)
struct GenerateFaultTests {
    static let start = "2026-11-02T09:00:00Z"
    static let window = ["--from", "2026-11-02T09:00:00Z", "--to", "2026-11-02T11:00:00Z"]
    static let generate = ["generate", "--nodes", "24", "--seed", "11", "--start", start]
    static let faults = ["--fault", "silent:web-1:40m..2026-11-02T10:00:00Z", "--fault", "skew:db-1:90s",
                         "--fault", "drop:api-1:33%", "--fault", "never:carol-desktop"]

    /// The coverage rows of a generated store, by host name.
    static func coverage(_ dir: TempDir, _ name: String, _ args: [String], window: [String] = window) async throws -> [String: [String: Any]] {
        let db = dir.path("\(name).db"), jsonl = dir.path("\(name).jsonl"), devices = dir.path("\(name).devices.json")
        let g = try await CLI.run(generate + args + ["-o", jsonl, "--devices", devices])
        #expect(g.status == 0, "\(g.stderr)")
        #expect(try await CLI.run(["nodes", "import", devices], db: db).status == 0)
        let i = try await CLI.run(["ingest", jsonl], db: db)
        #expect(i.status == 0, "\(i.stderr)")
        let rows = try await QueryCommandTests.json(CLI.run(["coverage", "--format", "json"] + window, db: db))
        return Dictionary(uniqueKeysWithValues: rows.map { (String(($0["name"] as? String ?? "").prefix { $0 != "." }), $0) })
    }

    @Test(arguments: [false, true])
    func coverageFindsExactlyTheInjectedFaults(omitLogged: Bool) async throws {
        let dir = TempDir()
        // Nodes that never report by design: the tailnet's, whatever the duration.
        let clean = try await Self.coverage(dir, "clean", ["--duration", "10m"], window: ["--from", Self.start, "--to", "2026-11-02T09:10:00Z"])
        let byDesign = Set(clean.filter { $0.value["verdict"] as? String == "silent" }.keys)
        #expect(!byDesign.isEmpty && !byDesign.contains("carol-desktop"))

        let rows = try await Self.coverage(dir, "faults", ["--duration", "2h"] + Self.faults + (omitLogged ? ["--omit-logged"] : []))
        let flagged = rows.filter { $0.value["verdict"] as? String != "ok" }.mapValues { $0["verdict"] as? String ?? "" }
        var expected = ["web-1": "gaps", "db-1": "skew", "api-1": "asymmetric", "carol-desktop": "silent"]
        for n in byDesign { expected[n] = "silent" }
        #expect(flagged == expected)

        let gaps = try #require(rows["web-1"]?["gaps"] as? [[String: Any]])
        let from = try #require(Timestamp.parseRFC3339(gaps.first?["from"] as? String ?? ""))
        let to = try #require(Timestamp.parseRFC3339(gaps.first?["to"] as? String ?? ""))
        let s: Int64 = 1_000_000_000
        #expect(gaps.count == 1 && abs(from - Timestamp.parseRFC3339("2026-11-02T09:40:00Z")!) <= 5 * s
            && abs(to - Timestamp.parseRFC3339("2026-11-02T10:00:00Z")!) <= 5 * s, "\(gaps)")
        let skew = try #require(rows["db-1"]?["skewSeconds"] as? Double)
        #expect(abs(skew - 90) <= 5 && rows["db-1"]?["skewSource"] as? String == (omitLogged ? "peers" : "logged"))
        #expect((rows["api-1"]?["asymmetry"] as? Double ?? 0) >= 0.2)
        #expect(rows["carol-desktop"]?["messages"] as? Int == 0)
        for (name, r) in rows where expected[name] == nil {
            #expect(abs(r["skewSeconds"] as? Double ?? 0) < 5, "\(name)")
        }
    }

    /// Log streaming's records carry no `logged` but `logtail.server_time`, which stands in for it.
    @Test func logtailServerTimeGivesTheSkewWithoutLogged() async throws {
        let dir = TempDir()
        let window = ["--from", Self.start, "--to", "2026-11-02T09:30:00Z"]
        let rows = try await Self.coverage(dir, "logtail", ["--duration", "30m", "--container", "logtail", "--omit-logged", "--fault", "skew:db-1:90s"],
                                     window: window)
        let reporting = rows.values.filter { $0["messages"] as? Int ?? 0 > 0 }
        #expect(reporting.count >= 15 && reporting.allSatisfy { $0["skewSource"] as? String == "logged" })
        #expect(abs((rows["db-1"]?["skewSeconds"] as? Double ?? 0) - 90) <= 5 && rows["db-1"]?["verdict"] as? String == "skew")
    }

    @Test func badFaultsAreUsageErrorsThatSayWhy() async throws {
        for (fault, says) in [("silent:web-1", "silent needs FROM..TO"), ("silent:web-1:1h..40m", "FROM must be before TO"),
                              ("silent:web-1:soon..1h", "soon is neither"), ("skew:db-1:fast", "fast is not a duration"),
                              ("drop:api-1:150%", "at most 1"), ("drop:api-1", "drop needs a SHARE"), ("never:nobody", "no node nobody"),
                              ("never:ivan-thinkpad", "never reports"), ("late:db-1:5s", "unknown fault late"), ("never:db-1:now", "no argument")] {
            let r = try await CLI.run(Self.generate + ["--duration", "1m", "--fault", fault])
            #expect(r.status == 2 && r.stderr.contains("--fault \(fault)") && r.stderr.contains(says), "\(fault): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }
}
