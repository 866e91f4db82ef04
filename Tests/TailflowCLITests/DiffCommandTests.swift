import Foundation
import Testing
import TestSupport

/// `tailflow diff` through the real binary: its numbers are two `top` answers, in every format,
/// with the usual filters, and nonsense or overlapping windows are usage errors.
@Suite(.ownThreads)
struct DiffCommandTests {
    /// Two hours of a generated 20-node tailnet (2026-11-01 00:00–02:00).
    static func store(_ dir: TempDir) async throws -> String {
        let db = dir.path("gen.db")
        let jsonl = dir.path("gen.jsonl"), devices = dir.path("devices.json")
        let g = try await CLI.run(["generate", "--nodes", "20", "--duration", "2h", "--rate", "0.3", "--seed", "5", "-o", jsonl, "--devices", devices])
        #expect(g.status == 0, "\(g.stderr)")
        try await CLI.run(["nodes", "import", devices], db: db)
        let i = try await CLI.run(["ingest", jsonl], db: db)
        #expect(i.status == 0, "\(i.stderr)")
        return db
    }

    static let window = ["--from", "2026-11-01T01:00:00Z", "--to", "2026-11-01T01:30:00Z"]
    static let baseline = ["--baseline", "2026-11-01T00:00:00Z..2026-11-01T01:00:00Z"]
    static let baselineWindow = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T01:00:00Z"]

    @Test func numbersAreTopOverEachWindowInEveryFormat() async throws {
        let dir = TempDir()
        let db = try await Self.store(dir)
        for (by, keys) in [("pair", ["a", "b"]), ("endpoint", ["endpoint"]), ("port", ["proto", "port"])] {
            for filters in [[], ["--where", "proto = tcp"], ["--kind", "virtual"]] {
                let run = try await CLI.run(["diff", "--by", by, "--factor", "1", "--limit", "100000", "--format", "json"] + Self.window + Self.baseline + filters, db: db)
                #expect(run.status == 0, "\(run.stderr)")
                let rows = try QueryCommandTests.json(run)
                let topBy = by == "endpoint" ? "endpoint" : by
                func top(_ w: [String]) async throws -> [String: (Int, Int)] {
                    let t = try await QueryCommandTests.json(CLI.run(["top", "--by", topBy, "--limit", "100000", "--format", "json"] + w + filters, db: db))
                    return Dictionary(uniqueKeysWithValues: t.map { r in (keys.map { "\(r[$0]!)" }.joined(separator: "|"), (r["bytes"] as! Int, r["packets"] as! Int)) })
                }
                let now = try await top(Self.window), then = try await top(Self.baselineWindow)
                #expect(!rows.isEmpty && rows.count == Set(now.keys).union(then.keys).count, "\(by) \(filters)")
                for r in rows {
                    let key = keys.map { "\(r[$0]!)" }.joined(separator: "|")
                    #expect(r["bytes"] as? Int == now[key]?.0 ?? 0 && r["packets"] as? Int == now[key]?.1 ?? 0, "\(by) \(key)")
                    #expect(r["baselineBytes"] as? Int == then[key]?.0 ?? 0 && r["baselinePackets"] as? Int == then[key]?.1 ?? 0, "\(by) \(key)")
                    let change = r["change"] as? String
                    #expect(change == (then[key] == nil ? "new" : now[key] == nil ? "gone" : (r["factor"] as! Double) >= 1 ? "up" : "down"))
                }
                // The other formats carry the same rows.
                let csv = try await CLI.run(["diff", "--by", by, "--factor", "1", "--limit", "100000", "--format", "csv"] + Self.window + Self.baseline + filters, db: db)
                #expect(csv.stdout.split(separator: "\r\n").count == rows.count + 1 && csv.stdout.hasPrefix("change,"))
                let nd = try await CLI.run(["diff", "--by", by, "--factor", "1", "--limit", "100000", "--format", "ndjson"] + Self.window + Self.baseline + filters, db: db)
                #expect(nd.stdout.split(separator: "\n").count == rows.count)
                let table = try await CLI.run(["diff", "--by", by, "--factor", "1", "--limit", "100000"] + Self.window + Self.baseline + filters, db: db)
                #expect(table.status == 0 && table.stdout.hasPrefix("CHANGE"))
            }
        }
        // The default baseline (the 7 days before) holds nothing here: every row is new, and a note says why.
        let fresh = try await CLI.run(["diff", "--format", "json", "--limit", "5", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T00:30:00Z"], db: db)
        #expect(try QueryCommandTests.json(fresh).allSatisfy { $0["change"] as? String == "new" && $0["factor"] is NSNull })
        #expect(fresh.stderr.contains("baseline") && fresh.stderr.contains("holds no data") && fresh.stderr.contains("showing 5 of"))
    }

    @Test func nonsenseWindowsAreUsageErrors() async throws {
        let dir = TempDir()
        let db = try await Self.store(dir)
        let cases: [([String], String)] = [
            (["--baseline", "2026-11-01T00:00:00Z..2026-11-01T01:10:00Z"], "overlaps the window"),
            (["--baseline", "2026-11-01T01:00:00Z..2026-11-01T00:00:00Z"], "baseline is empty"),
            (["--baseline", "last tuesday"], "--baseline"),
            (["--factor", "0"], "--factor"),
            (["--by", "proto"], "proto"),
        ]
        for (args, message) in cases {
            let r = try await CLI.run(["diff"] + Self.window + args, db: db)
            #expect(r.status == 2 && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
        }
        let backwards = try await CLI.run(["diff", "--from", "2026-11-01T02:00:00Z", "--to", "2026-11-01T01:00:00Z"], db: db)
        #expect(backwards.status == 2 && backwards.stderr.contains("window is empty"))
    }
}
