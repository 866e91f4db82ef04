import Foundation
import Testing
import TestSupport

/// `scope`'s `outboundPorts` and `inboundPorts`: who opened the connections, through the real binary.
@Suite(.ownThreads)
struct ScopeDirectionTests {
    static let window = QueryCommandTests.window

    static func scope(_ endpoint: String, db: String, format: String = "json", _ more: [String] = []) async throws -> CLI.Result {
        let r = try await CLI.run(["scope", "--endpoint", endpoint, "--format", format] + window + more, db: db)
        #expect(r.status == 0, "\(endpoint): \(r.stderr)")
        return r
    }

    /// fixtures/tiny: alice's laptop (A) connects to db-1:5432 and to 192.168.10.5:443 through the
    /// router; old-ci connects to the printer's port 22; exit traffic is anonymised (ports 0).
    @Test func portsEachWayAsWorkedOutByHand() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        func directions(_ endpoint: String, _ more: [String] = []) async throws -> [String] {
            try await QueryCommandTests.json(Self.scope(endpoint, db: db, more)).map { row in
                func list(_ key: String) -> String { (row[key] as? [Int] ?? [-1]).map(String.init).joined(separator: ",") }
                return "\(row["peer"]!) out(\(list("outboundPorts"))) in(\(list("inboundPorts")))"
            }
        }
        #expect(try await directions("alice-laptop") == ["nDb1x9ZCNTRL out(5432) in()", "* out() in()", "192.168.10.5 out(443) in()"])
        #expect(try await directions("db-1") == ["nKq3vX1CNTRL out() in(5432)"])
        #expect(try await directions("printer") == ["nCi4Lm8CNTRL out() in(22)"])
        #expect(try await directions("old-ci") == ["nPr5Wz3CNTRL out(22) in()"])
        #expect(try await directions("192.168.10.5") == ["nKq3vX1CNTRL out() in(443)"])
        // Physical rows: the reporter reaches the peer's WireGuard port.
        #expect(try await directions("alice-laptop", ["--kind", "physical"]) == ["203.0.113.7 out(41641) in()"])

        // Every format carries both fields.
        let ndjson = try await Self.scope("db-1", db: db, format: "ndjson").stdout
        #expect(ndjson.contains(#""ports":[5432],"#) && ndjson.contains(#""outboundPorts":[],"inboundPorts":[5432]}"#))
        let csv = try await Self.scope("alice-laptop", db: db, format: "csv").stdout.split(separator: "\r\n").map(String.init)
        let header = csv[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let first = csv[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let row = Dictionary(uniqueKeysWithValues: zip(header, first))
        #expect(header.suffix(2) == ["outboundPorts", "inboundPorts"])
        #expect(row["peer"] == "nDb1x9ZCNTRL" && row["outboundPorts"] == "5432" && row["inboundPorts"] == "")
        let table = try await Self.scope("alice-laptop", db: db, format: "table").stdout
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines[0].contains("PROTOCOLS  PORTS OUT  PORTS IN  PORTS"))
        let db1 = try #require(lines.first { $0.hasPrefix("db-1.tail7f3e.ts.net") })
        let column = try #require(lines[0].range(of: "PORTS OUT")).lowerBound.utf16Offset(in: lines[0])
        #expect(db1.dropFirst(column).hasPrefix("5432       -         5432"))
    }

    /// On a generated tailnet over whole hours (read from rollups): the ports each way are those
    /// of the raw rows the endpoint's `flows` lists, by their `initiator`, and every port of a
    /// peer with a direction is in `ports`.
    @Test func rollupLevelsKeepDirection() async throws {
        let dir = TempDir()
        let db = dir.path("g.db")
        let data = dir.path("g.jsonl")
        #expect(try await CLI.run(["generate", "--nodes", "12", "--duration", "2h", "--start", "2026-11-01T09:00:00Z", "--seed", "5",
                             "-o", data, "--devices", dir.path("devices.json")]).status == 0)
        #expect(try await CLI.run(["nodes", "import", dir.path("devices.json")], db: db).status == 0)
        #expect(try await CLI.run(["ingest", data], db: db).status == 0)
        let window = ["--from", "2026-11-01T09:00:00Z", "--to", "2026-11-01T11:00:00Z"]
        let top = try await QueryCommandTests.json(CLI.run(["top", "--format", "json"] + window, db: db))
        let busiest = try #require(top.first?["endpoint"] as? String)
        let peers = try await QueryCommandTests.json(CLI.run(["scope", "--endpoint", busiest, "--format", "json"] + window, db: db))
        var outbound = Set<Int>(), inbound = Set<Int>()
        for p in peers {
            let out = Set(p["outboundPorts"] as! [Int]), into = Set(p["inboundPorts"] as! [Int]), all = Set(p["ports"] as! [Int])
            #expect(out.union(into).isSubset(of: all), "\(p["peer"]!)")
            outbound.formUnion(out)
            inbound.formUnion(into)
        }
        #expect(!outbound.union(inbound).isEmpty)
        // The raw rows of the endpoint: a row whose src is the endpoint and that src opened is outbound, and so on.
        let flows = try await QueryCommandTests.json(CLI.run(["flows", "--endpoint", busiest, "--limit", "1000000", "--format", "json"] + window, db: db))
        var rawOut = Set<Int>(), rawIn = Set<Int>()
        for f in flows where f["kind"] as? String != "physical" {
            guard let initiator = f["initiator"] as? String else { continue }
            let srcIsMe = f["srcNode"] as? String == busiest
            let service = initiator == "src" ? f["dstPort"] as! Int : f["srcPort"] as! Int
            if (initiator == "src") == srcIsMe { rawOut.insert(service) } else { rawIn.insert(service) }
        }
        // Counted edges are a subset of the rows (the other end's report may be the one counted), but
        // both ends report the same conversation: each way, the sets agree.
        #expect(outbound == rawOut && inbound == rawIn)
    }
}
