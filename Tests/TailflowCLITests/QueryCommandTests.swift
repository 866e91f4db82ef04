import Foundation
import Testing
import TestSupport

/// The query commands of SPEC §4–5, through the real binary.
@Suite(.ownThreads)
struct QueryCommandTests {
    static let window = ["--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z"]

    /// The tiny tailnet with its device list.
    static func tiny(_ dir: TempDir, devices: Bool = true) async throws -> String {
        let db = dir.path("tiny.db")
        if devices { try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db) }
        try await CLI.run(["ingest", Fixtures.path("tiny/api-response.json")], db: db)
        return db
    }

    static func json(_ r: CLI.Result) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], "\(r.stderr)")
    }

    @Test func theSharedFixtureCheckPasses() throws {
        let script = Fixtures.root.deletingLastPathComponent().appendingPathComponent("tools/check_fixtures.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, CLI.binary]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains(" 0 failed"))
    }

    /// `--from -24h` is read as a time, not as an option named `-24h`.
    @Test func relativeTimesAfterASpace() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let spaced = try await CLI.run(["top", "--from", "-10000d", "--to", "now", "--format", "json"], db: db)
        #expect(spaced.status == 0, "\(spaced.stderr)")
        let joined = try await CLI.run(["top", "--from=-10000d", "--format", "json"], db: db)
        let rows = try Self.json(spaced)
        #expect(spaced.stdout == joined.stdout && rows.count == 6)
    }

    @Test func seriesRollupAndPhysicalAsWorkedOutByHand() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let series = try await Self.json(CLI.run(["series", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T10:03:00Z", "--step", "1m",
                                            "--edge", "nDb1x9ZCNTRL,nKq3vX1CNTRL", "--format", "json"], db: db))
        #expect(series.map { $0["time"] as? String } == ["2026-11-01T10:00:00Z", "2026-11-01T10:01:00Z", "2026-11-01T10:02:00Z"])
        #expect(series.map { $0["bytes"] as? Int } == [1_200_000, 0, 0])
        #expect(series.map { $0["packets"] as? Int } == [100, 0, 0])
        // The same edge by names.
        let byName = try await CLI.run(["series", "--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T10:03:00Z", "--step", "1m",
                                  "--edge", "db-1,alice-laptop.tail7f3e.ts.net", "--format", "json"], db: db)
        #expect(try Self.json(byName).map { $0["bytes"] as? Int } == [1_200_000, 0, 0])

        let rollup = try await Self.json(CLI.run(["rollup"] + Self.window + ["--step", "1h", "--group-by", "kind", "--format", "json"], db: db))
        #expect(rollup.map { "\($0["kind"]!) \($0["bytes"]!) \($0["packets"]!)" } == ["exit 53000 70", "subnet 32000 22", "virtual 1249400 231"])
        #expect(rollup.allSatisfy { $0["time"] as? String == "2026-11-01T10:00:00Z" })

        let physical = try await Self.json(CLI.run(["top"] + Self.window + ["--kind", "physical", "--by", "pair", "--format", "json"], db: db))
        #expect(physical.count == 1)
        #expect(physical.first?["a"] as? String == "203.0.113.7" && physical.first?["b"] as? String == "nKq3vX1CNTRL")
        #expect(physical.first?["abBytes"] as? Int == 1_240_000 && physical.first?["baBytes"] as? Int == 60000)
        #expect(physical.first?["abPackets"] as? Int == 112 && physical.first?["baPackets"] as? Int == 130)

        let ports = try await Self.json(CLI.run(["top"] + Self.window + ["--by", "port", "--format", "json"], db: db))
        #expect(ports.first?["port"] as? Int == 5432 && ports.first?["bytes"] as? Int == 1_248_000)
        let protos = try await Self.json(CLI.run(["top"] + Self.window + ["--by", "proto", "--metric", "packets", "--format", "json"], db: db))
        #expect(protos.map { $0["proto"] as? Int } == [6])
    }

    @Test func aLaterDeviceImportImprovesEarlierAnswers() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir, devices: false)
        // D never reports and C's messages name nobody: D is a bare address.
        let before = try await Self.json(CLI.run(["top"] + Self.window + ["--format", "json"], db: db))
        #expect(before.contains { $0["endpoint"] as? String == "100.101.1.60" && $0["name"] is NSNull })
        try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db)
        let after = try await Self.json(CLI.run(["top"] + Self.window + ["--format", "json"], db: db))
        #expect(!after.contains { $0["endpoint"] as? String == "100.101.1.60" })
        #expect(after.contains { $0["endpoint"] as? String == "nPr5Wz3CNTRL" && $0["name"] as? String == "printer.tail7f3e.ts.net" })
    }

    @Test func scopeListsEveryPeerWithPortsAndTimes() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let peers = try await Self.json(CLI.run(["scope"] + Self.window + ["--endpoint", "100.101.1.10", "--format", "json"], db: db))
        #expect(peers.map { $0["peer"] as? String } == ["nDb1x9ZCNTRL", "*", "192.168.10.5"])
        let db1 = peers[0]
        #expect(db1["sentBytes"] as? Int == 48000 && db1["receivedBytes"] as? Int == 1_200_000)
        #expect(db1["ports"] as? [Int] == [5432] && db1["protocols"] as? [Int] == [6])
        #expect(db1["firstSeen"] as? String == "2026-11-01T10:00:00Z")
        #expect(db1["lastSeen"] as? String == "2026-11-01T10:00:06.2Z")
        let flows = try await Self.json(CLI.run(["scope"] + Self.window + ["--endpoint", "alice-laptop", "--flows", "--format", "json"], db: db))
        #expect(flows.count == 6)
        #expect(try await CLI.run(["scope"] + Self.window, db: db).status == 2)
    }

    @Test func flowsAreNewestFirstPagedAndSearchable() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let all = try await Self.json(CLI.run(["flows"] + Self.window + ["--format", "json", "--kind", "virtual,subnet,exit,physical"], db: db))
        #expect(all.count == 8)
        let times = all.map { $0["time"] as! String }
        #expect(times == times.sorted(by: >))
        var paged: [[String: Any]] = []
        var after: String? = nil
        repeat {
            let page = try await Self.json(CLI.run(["flows"] + Self.window + ["--format", "json", "--kind", "virtual,subnet,exit,physical", "--limit", "3"]
                                             + (after.map { ["--after", $0] } ?? []), db: db))
            #expect(page.count <= 3)
            paged += page
            after = page.count == 3 ? page.last?["cursor"] as? String : nil
        } while after != nil
        #expect(paged.map { $0["cursor"] as! String } == all.map { $0["cursor"] as! String })
        let printer = try await Self.json(CLI.run(["flows"] + Self.window + ["--match", "PRINTER", "--format", "json"], db: db))
        #expect(printer.count == 1 && printer[0]["dstName"] as? String == "printer.tail7f3e.ts.net" && printer[0]["dstPort"] as? Int == 22)
        let port = try await Self.json(CLI.run(["flows"] + Self.window + ["--match", "5432", "--format", "json"], db: db))
        #expect(port.count == 2)
        let bob = try await Self.json(CLI.run(["flows"] + Self.window + ["--match", "bob@", "--format", "json"], db: db))
        #expect(bob.count == 1)
        let exit = try await Self.json(CLI.run(["flows"] + Self.window + ["--kind", "exit", "--format", "json"], db: db))
        #expect(exit.count == 2 && exit.contains { $0["src"] is NSNull })
        #expect(try await CLI.run(["flows"] + Self.window + ["--after", "garbage"], db: db).status == 2)
    }

    @Test func filtersNarrowTheEdges() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let prod = try await Self.json(CLI.run(["top"] + Self.window + ["--tag", "tag:prod", "--by", "pair", "--format", "json"], db: db))
        #expect(prod.map { $0["a"] as? String } == ["nDb1x9ZCNTRL"])
        let bob = try await Self.json(CLI.run(["top"] + Self.window + ["--user", "bob@example.com", "--format", "json"], db: db))
        #expect(Set(bob.map { $0["endpoint"] as! String }) == ["nPr5Wz3CNTRL", "nCi4Lm8CNTRL"])
        let udp = try await Self.json(CLI.run(["top"] + Self.window + ["--proto", "udp", "--format", "json"], db: db))
        #expect(udp.isEmpty)
        let limited = try await Self.json(CLI.run(["top"] + Self.window + ["--limit", "2", "--metric", "packets", "--format", "json"], db: db))
        #expect(limited.map { $0["endpoint"] as? String } == ["nKq3vX1CNTRL", "nDb1x9ZCNTRL"])
    }

    @Test func unknownAmbiguousAndNonsenseArgumentsAreUsageErrors() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let twin = dir.path("twin.json")
        try Data(#"{"devices":[{"nodeId":"nTwin1","name":"db-1.other.ts.net","addresses":["100.101.9.9"]}]}"#.utf8).write(to: URL(fileURLWithPath: twin))
        try await CLI.run(["nodes", "import", twin], db: db)
        let cases: [([String], String)] = [
            (["top"] + Self.window + ["--endpoint", "nosuch"], "unknown endpoint 'nosuch'"),
            // (A well-formed address never seen is an empty answer, not a usage error: AnswerNotesTests.)
            (["top"] + Self.window + ["--endpoint", "db-1"], "ambiguous endpoint 'db-1': it names 2 nodes: nDb1x9ZCNTRL (db-1.tail7f3e.ts.net), nTwin1 (db-1.other.ts.net)"),
            (["top", "--from", "2026-11-02", "--to", "2026-11-01"], "must be before --to"),
            (["top", "--from", "tomorrow"], "--from 'tomorrow' is not a time"),
            (["series"] + Self.window + ["--step", "0m"], "--step '0m' is not a duration"),
            (["series", "--from", "2020-01-01", "--to", "2026-01-01", "--step", "1s"], "buckets; the limit is"),
            (["series"] + Self.window + ["--pair", "db-1.tail7f3e.ts.net"], "--pair takes two endpoints"),
            (["top"] + Self.window + ["--kind", "wormhole"], "--kind 'wormhole' is not a traffic kind"),
            (["rollup"] + Self.window + ["--group-by", "colour"], "--group-by 'colour' is not a key"),
            (["top"] + Self.window + ["--by", "colour"], "colour"),
        ]
        for (args, message) in cases {
            let r = try await CLI.run(args, db: db)
            #expect(r.status == 2, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        // A full name is not ambiguous.
        #expect(try await CLI.run(["top"] + Self.window + ["--endpoint", "db-1.tail7f3e.ts.net"], db: db).status == 0)
    }

    @Test func tableOutputIsAlignedForPeople() async throws {
        let dir = TempDir()
        let db = try await Self.tiny(dir)
        let r = try await CLI.run(["top"] + Self.window, db: db)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 7)
        #expect(lines[0].hasPrefix("ENDPOINT"))
        #expect(lines[1].contains("alice-laptop.tail7f3e.ts.net") && lines[1].contains("1.3 MiB"))
        // Right-aligned numbers end in the same column.
        #expect(Set(lines.map(\.count)).count == 1, "\(r.stdout)")
        let csv = try await CLI.run(["top"] + Self.window + ["--format", "csv"], db: db)
        #expect(csv.stdout.hasPrefix("endpoint,name,sentBytes,receivedBytes,sentPackets,receivedPackets,bytes,packets\r\n"))
        #expect(csv.stdout.contains("\r\n*,,50000,3000,40,30,53000,70\r\n"))
        let ndjson = try await CLI.run(["top"] + Self.window + ["--format", "ndjson"], db: db)
        #expect(ndjson.stdout.split(separator: "\n").count == 6)
    }
}
