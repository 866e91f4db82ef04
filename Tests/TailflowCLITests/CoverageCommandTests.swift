import Foundation
import Testing
import TestSupport

/// `tailflow coverage` through the real binary: every format, the fields of the issue,
/// and the generator's never-reporting nodes found `silent`.
struct CoverageCommandTests {
    static let window = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T02:00:00Z"]

    @Test func everyFormatAndTheVerdicts() throws {
        let dir = TempDir()
        let db = try DiffCommandTests.store(dir)
        let run = try CLI.run(["coverage", "--format", "json"] + Self.window, db: db)
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

        let csv = try CLI.run(["coverage", "--format", "csv"] + Self.window, db: db)
        #expect(csv.stdout.hasPrefix("node,name,verdict,reports,messages,coverage,gaps,") && csv.stdout.split(separator: "\r\n").count == rows.count + 1)
        let nd = try CLI.run(["coverage", "--format", "ndjson"] + Self.window, db: db)
        #expect(nd.stdout.split(separator: "\n").count == rows.count)
        let table = try CLI.run(["coverage"] + Self.window, db: db)
        #expect(table.status == 0 && table.stdout.hasPrefix("NODE") && table.stdout.contains("silent"))

        // --endpoint chooses one node; an address that is no node, or a gap of nothing, is a usage error.
        let one = try QueryCommandTests.json(CLI.run(["coverage", "--format", "json", "--endpoint", "db-1"] + Self.window, db: db))
        #expect(one.count == 1 && (one.first?["name"] as? String ?? "").hasPrefix("db-1."))
        let address = try CLI.run(["coverage", "--endpoint", "192.0.2.1"] + Self.window, db: db)
        #expect(address.status == 2 && address.stderr.contains("coverage is per node"), "\(address.stderr)")
        let gap = try CLI.run(["coverage", "--gap", "0"] + Self.window, db: db)
        #expect(gap.status == 2 && gap.stderr.contains("--gap"))
    }
}
