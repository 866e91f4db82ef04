import Foundation
import Testing
import TestSupport

/// `rollup --group-by tag,user,os,port` and the names beside `src`/`dst`, through the real binary.
@Suite(.ownThreads)
struct RollupGroupTests {
    static let window = QueryCommandTests.window

    static func rollup(_ args: [String], db: String, format: String = "json") async throws -> CLI.Result {
        let r = try await CLI.run(["rollup", "--step", "1h"] + window + args + ["--format", format], db: db)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return r
    }

    static func lines(_ rows: [[String: Any]], _ key: String) -> [String] {
        rows.map { "\($0[key].map { $0 is NSNull ? "null" : "\($0)" } ?? "absent") \($0["bytes"]!) \($0["packets"]!)" }
    }

    /// The tiny tailnet worked by hand (fixtures/tiny/expected.md's counted edges): A↔B 1,248,000 B / 220
    /// packets on tcp/5432, A↔192.168.10.5 32,000 / 22 on 443, C↔D 1,400 / 11 on 22, A↔* 53,000 / 70 on port 0.
    @Test func tagUserOSAndPortAsWorkedOutByHand() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        // alice (A) is at one end of everything but C↔D, whose D is bob's.
        let users = try await QueryCommandTests.json(Self.rollup(["--group-by", "user"], db: db))
        #expect(Self.lines(users, "user") == ["alice@example.com 1333000 312", "bob@example.com 1400 11"])
        // B carries two tags: A↔B counts under each; what has no tagged end is null, sorted first.
        let tags = try await QueryCommandTests.json(Self.rollup(["--group-by", "tag"], db: db))
        #expect(Self.lines(tags, "tag") == ["null 85000 92", "tag:ci 1400 11", "tag:db 1248000 220", "tag:prod 1248000 220"])
        let oses = try await QueryCommandTests.json(Self.rollup(["--group-by", "os"], db: db))
        #expect(Self.lines(oses, "os") == ["linux 1249400 231", "macOS 1333000 312"])
        let ports = try await QueryCommandTests.json(Self.rollup(["--group-by", "port"], db: db))
        #expect(Self.lines(ports, "port") == ["0 53000 70", "22 1400 11", "443 32000 22", "5432 1248000 220"])
        #expect(ports.allSatisfy { $0["time"] as? String == "2026-11-01T10:00:00Z" })
        // Keys combine: the groups of both, in the order given.
        let both = try await QueryCommandTests.json(Self.rollup(["--group-by", "port,user"], db: db))
        #expect(both.map { "\($0["port"]!) \($0["user"]!) \($0["bytes"]!)" }
                == ["0 alice@example.com 53000", "22 bob@example.com 1400", "443 alice@example.com 32000", "5432 alice@example.com 1248000"])
        #expect(both.first.map { Array($0.keys).sorted() } == ["bytes", "packets", "port", "time", "user"])

        // src and dst carry their names; an address has none.
        let edges = try await QueryCommandTests.json(Self.rollup(["--group-by", "src,dst"], db: db))
        let named = edges.map { "\($0["src"]!)=\($0["srcName"]!) \($0["dst"]!)=\($0["dstName"]!)" }
        #expect(named.contains("nDb1x9ZCNTRL=db-1.tail7f3e.ts.net nKq3vX1CNTRL=alice-laptop.tail7f3e.ts.net"))
        #expect(named.contains("192.168.10.5=<null> nKq3vX1CNTRL=alice-laptop.tail7f3e.ts.net"))
        #expect(edges.count == 8)

        // Every format carries the same fields; the table shows names first, IDs with --wide.
        let csv = try await Self.rollup(["--group-by", "src,tag"], db: db, format: "csv").stdout
        #expect(csv.hasPrefix("time,src,srcName,tag,bytes,packets\r\n"))
        #expect(csv.contains("2026-11-01T10:00:00Z,nDb1x9ZCNTRL,db-1.tail7f3e.ts.net,tag:db,1200000,100\r\n"))
        let ndjson = try await Self.rollup(["--group-by", "src,tag"], db: db, format: "ndjson").stdout
        #expect(ndjson.contains(#"{"time":"2026-11-01T10:00:00Z","src":"nDb1x9ZCNTRL","srcName":"db-1.tail7f3e.ts.net","tag":"tag:db","bytes":1200000,"packets":100}"#))
        let table = try await Self.rollup(["--group-by", "src,user"], db: db, format: "table").stdout
        #expect(table.hasPrefix("TIME "))
        #expect(table.contains("db-1.tail7f3e.ts.net") && !table.contains("nDb1x9ZCNTRL") && table.contains("USER"))
        let wide = try await CLI.run(["rollup", "--step", "1h", "--group-by", "src,user", "--wide"] + Self.window, db: db).stdout
        #expect(wide.contains("nDb1x9ZCNTRL") && wide.contains("db-1.tail7f3e.ts.net"))
        let bad = try await CLI.run(["rollup", "--group-by", "team"] + Self.window, db: db)
        #expect(bad.status == 2 && bad.stderr.contains("use kind, proto, src, dst, tag, user, os or port"))
    }

    /// On a generated tailnet: each group is exactly the traffic the `--where` test of the same
    /// value keeps (a different code path: the filter compiler against the grouping).
    @Test func eachGroupIsTheTrafficItsWhereTestKeeps() async throws {
        let dir = TempDir()
        let db = dir.path("g.db")
        let data = dir.path("g.jsonl")
        let gen = try await CLI.run(["generate", "--nodes", "24", "--duration", "3h", "--start", "2026-11-01T09:00:00Z", "--seed", "13",
                               "-o", data, "--devices", dir.path("devices.json")])
        #expect(gen.status == 0, "\(gen.stderr)")
        #expect(try await CLI.run(["nodes", "import", dir.path("devices.json")], db: db).status == 0)
        #expect(try await CLI.run(["ingest", data], db: db).status == 0)
        // A ragged window: minute and hour rollups and raw rows all serve it.
        let window = ["--from", "2026-11-01T09:17:30Z", "--to", "2026-11-01T11:43:00Z", "--step", "30m"]
        func sums(_ args: [String]) async throws -> [String: Int] {
            let r = try await CLI.run(["rollup"] + window + args + ["--format", "json"], db: db)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            var out: [String: Int] = [:]
            for row in try QueryCommandTests.json(r) { out[row["time"] as! String, default: 0] += row["bytes"] as! Int }
            return out
        }
        for (key, term) in [("tag", "tag"), ("user", "user"), ("os", "os"), ("port", "port")] {
            let rows = try await QueryCommandTests.json(CLI.run(["rollup"] + window + ["--group-by", key, "--format", "json"], db: db))
            let values = Set(rows.compactMap { $0[key].flatMap { $0 is NSNull ? nil : "\($0)" } })
            #expect(values.count >= 2, "\(key): \(values)")
            for value in values.sorted().prefix(6) {
                var grouped: [String: Int] = [:]
                for row in rows where row[key].map({ "\($0)" }) == value { grouped[row["time"] as! String, default: 0] += row["bytes"] as! Int }
                #expect(grouped == (try await sums(["--where", "\(term) = \"\(value)\""])), "\(key) = \(value)")
            }
            // Null: neither end has one.
            if key != "port" {
                var grouped: [String: Int] = [:]
                for row in rows where row[key] is NSNull { grouped[row["time"] as! String, default: 0] += row["bytes"] as! Int }
                let list = values.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
                #expect(grouped == (try await sums(["--where", "not \(term) in (\(list))"])), "\(key) = null")
            }
        }
        // Names are the nodes' own.
        let nodes = try await QueryCommandTests.json(CLI.run(["nodes", "--format", "json"], db: db))
        let names = Dictionary(uniqueKeysWithValues: nodes.map { ($0["nodeId"] as! String, $0["name"] as? String) })
        let edges = try await QueryCommandTests.json(CLI.run(["rollup"] + window + ["--group-by", "src,dst", "--format", "json"], db: db))
        #expect(!edges.isEmpty)
        for row in edges {
            for end in ["src", "dst"] {
                let id = row[end] as! String
                #expect((row[end + "Name"] as? String) == (names[id] ?? nil), "\(end) \(id)")
            }
        }
    }
}
