import Foundation
import Testing
import TestSupport

/// Names for what is not a node: DERP regions, subnet hosts, `*`; tables only (JSON keeps its values).
@Suite(.ownThreads)
struct LabelTests {
    static let window = QueryCommandTests.window

    static let derpMap = #"""
        {"Regions": {
          "1": {"RegionID": 1, "RegionCode": "nyc", "RegionName": "New York City",
                "Nodes": [{"Name": "1a", "RegionID": 1, "HostName": "derp1.tailscale.com", "IPv4": "192.0.2.1"}]},
          "9": {"RegionID": 9, "RegionCode": "dfw", "RegionName": "Dallas", "Avoid": false, "Nodes": []}
        }, "omitDefaultRegions": false}
        """#

    /// alice's laptop (A) relayed through DERP 1 and 9 and region 7 (not in the map), and old-ci
    /// sent a connection with neither src nor dst (totals only).
    static let relayed = """
        {"nodeId":"nKq3vX1CNTRL","start":"2026-11-01T10:02:00Z","end":"2026-11-01T10:02:05Z","physicalTraffic":[{"src":"100.101.1.20:0","dst":"127.3.3.40:1","txPkts":10,"txBytes":1000,"rxPkts":9,"rxBytes":900},{"src":"100.101.1.30:0","dst":"127.3.3.40:9","txPkts":3,"txBytes":300,"rxPkts":2,"rxBytes":200},{"src":"100.101.1.40:0","dst":"127.3.3.40:7","txPkts":1,"txBytes":70,"rxPkts":1,"rxBytes":70}]}
        {"nodeId":"nCi4Lm8CNTRL","start":"2026-11-01T10:02:00Z","end":"2026-11-01T10:02:05Z","virtualTraffic":[{"txPkts":4,"txBytes":400,"rxPkts":0,"rxBytes":0}]}

        """

    /// The tiny tailnet, its device list with router-1's routes, the relayed rows and the DERP map.
    static func store(_ dir: TempDir) async throws -> String {
        let db = dir.path("labels.db")
        var devices = try String(contentsOfFile: Fixtures.path("tiny/devices.json"), encoding: .utf8)
        devices = devices.replacingOccurrences(of: #""nodeId": "nRt7Pq2CNTRL","#,
                                               with: #""nodeId": "nRt7Pq2CNTRL", "advertisedRoutes": ["192.168.0.0/16"], "enabledRoutes": ["192.168.10.0/24"],"#)
        devices = devices.replacingOccurrences(of: #""nodeId": "nEx6Hy4CNTRL","#,
                                               with: #""nodeId": "nEx6Hy4CNTRL", "advertisedRoutes": ["0.0.0.0/0", "::/0"],"#)
        try devices.write(toFile: dir.path("devices.json"), atomically: true, encoding: .utf8)
        try derpMap.write(toFile: dir.path("derpmap.json"), atomically: true, encoding: .utf8)
        try relayed.write(toFile: dir.path("relayed.jsonl"), atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["nodes", "import", dir.path("devices.json")], db: db).status == 0)
        #expect(try await CLI.run(["ingest", Fixtures.path("tiny/api-response.json"), dir.path("relayed.jsonl")], db: db).status == 0)
        let imported = try await CLI.run(["derp", "import", dir.path("derpmap.json")], db: db)
        #expect(imported.status == 0 && imported.stdout == "imported 2 DERP regions\n", "\(imported.stderr)")
        return db
    }

    static func run(_ args: [String], db: String, format: String = "table") async throws -> String {
        let r = try await CLI.run(args + window + ["--format", format], db: db)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return r.stdout
    }

    /// The cells of the table row that starts with `first`.
    static func line(_ table: String, _ first: String) -> String? {
        table.split(separator: "\n").map(String.init).first { $0.hasPrefix(first) }
    }

    @Test func derpRegionsSubnetHostsAndStarReadAsWhatTheyAre() async throws {
        let dir = TempDir()
        let db = try await Self.store(dir)
        // The map as imported.
        let regions = try await CLI.run(["derp", "--format", "csv"], db: db)
        #expect(regions.stdout == "region,code,name\r\n1,nyc,New York City\r\n9,dfw,Dallas\r\n")

        // Raw rows: each relay row names its region; JSON keeps null.
        let flows = try await Self.run(["flows", "--kind", "physical"], db: db)
        #expect(flows.contains("DERP 1 (nyc)"))
        #expect(flows.contains("DERP 9 (dfw)") && flows.contains("DERP 7 ") && !flows.contains("DERP 41641"))
        let flowsJSON = try await QueryCommandTests.json(CLI.run(["flows", "--kind", "physical", "--format", "json"] + Self.window, db: db))
        #expect(flowsJSON.filter { $0["dst"] as? String == "127.3.3.40" }.count == 3)
        #expect(flowsJSON.allSatisfy { $0["dstName"] is NSNull })
        // A subnet host: its route and the router that carries it (the enabled route, not the advertised one).
        let subnet = try await Self.run(["flows", "--kind", "subnet"], db: db)
        #expect(subnet.contains("192.168.10.0/24 via router-1") && !subnet.contains("192.168.0.0/16"))
        // No address: anonymised exit traffic; neither end: totals.
        let exit = try await Self.run(["flows", "--kind", "exit"], db: db)
        #expect(exit.contains("(anonymised exit traffic)"))
        let totals = try await Self.run(["flows", "--match", "old-ci"], db: db)
        #expect(totals.contains("(unattributed totals)"))

        // Aggregates: the relays by the regions seen, a subnet host with its address, `*` by what it held.
        let scope = try await Self.run(["scope", "--endpoint", "alice-laptop", "--kind", "physical"], db: db)
        #expect(Self.line(scope, "DERP 1 (nyc), DERP 7, DERP 9 (dfw) ") != nil, "\(scope)")
        let scopeJSON = try await QueryCommandTests.json(CLI.run(["scope", "--endpoint", "alice-laptop", "--kind", "physical", "--format", "json"] + Self.window, db: db))
        #expect(scopeJSON.contains { $0["peer"] as? String == "127.3.3.40" && $0["peerName"] is NSNull })
        let top = try await Self.run(["top"], db: db)
        #expect(Self.line(top, "192.168.10.5 (192.168.10.0/24 via router-1) ") != nil, "\(top)")
        #expect(Self.line(top, "(anonymised exit traffic, unattributed totals) ") != nil, "\(top)")
        #expect(Self.line(try await Self.run(["top", "--kind", "physical"], db: db), "DERP relays ") != nil)
        let pairs = try await Self.run(["top", "--by", "pair"], db: db)
        #expect(Self.line(pairs, "(unattributed totals) ").map { $0.components(separatedBy: "(unattributed totals)").count } == 3, "\(pairs)")
        #expect(Self.line(pairs, "(anonymised exit traffic) ")?.contains("alice-laptop") == true, "\(pairs)")
        let rollup = try await Self.run(["rollup", "--group-by", "src,dst"], db: db)
        #expect(rollup.contains("192.168.10.5 (192.168.10.0/24 via router-1)") && rollup.contains("(anonymised exit traffic)"))
        // --wide shows the keys beside; machine formats keep `*` and null names.
        let json = try await QueryCommandTests.json(CLI.run(["top", "--format", "json"] + Self.window, db: db))
        #expect(json.contains { $0["endpoint"] as? String == "*" && $0["name"] is NSNull })
        #expect(json.contains { $0["endpoint"] as? String == "192.168.10.5" && $0["name"] is NSNull })
        let csv = try await Self.run(["top"], db: db, format: "csv")
        #expect(!csv.contains("anonymised") && !csv.contains("via router-1"))

        // The HTML report's tables (the pages' renderer) read the same; their data-value stays exact.
        let html = try await CLI.run(["report", "-o", "-"] + Self.window, db: db)
        #expect(html.status == 0 && html.stdout.contains("192.168.10.5 (192.168.10.0/24 via router-1)"), "\(html.stderr)")
        #expect(html.stdout.contains("(anonymised exit traffic"))

        // Routes are node facts: listed, kept when a newer message says nothing of routes.
        let nodes = try await QueryCommandTests.json(CLI.run(["nodes", "--format", "json"], db: db))
        #expect(nodes.first { $0["nodeId"] as? String == "nRt7Pq2CNTRL" }?["routes"] as? [String] == ["192.168.10.0/24"])
        #expect(nodes.first { $0["nodeId"] as? String == "nKq3vX1CNTRL" }?["routes"] as? [String] == [])
        // A newer report of the router (its own srcNode, after the import) renames it; its routes stand.
        let later = #"{"nodeId":"nRt7Pq2CNTRL","start":"2030-01-01T00:00:00Z","end":"2030-01-01T00:00:05Z","srcNode":{"nodeId":"nRt7Pq2CNTRL","name":"router-2.tail7f3e.ts.net","addresses":["100.101.1.30"]},"virtualTraffic":[{"proto":6,"src":"100.101.1.30:40000","dst":"100.101.1.20:5432","txBytes":1}]}"#
        try later.write(toFile: dir.path("later.jsonl"), atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", dir.path("later.jsonl")], db: db).status == 0)
        let renamed = try await QueryCommandTests.json(CLI.run(["nodes", "--format", "json"], db: db)).first { $0["nodeId"] as? String == "nRt7Pq2CNTRL" }
        #expect(renamed?["name"] as? String == "router-2.tail7f3e.ts.net" && renamed?["routes"] as? [String] == ["192.168.10.0/24"])
        #expect(try await Self.run(["flows", "--kind", "subnet"], db: db).contains("192.168.10.0/24 via router-2"))
    }

    @Test func badMapsAndRoutesAreClearErrors() async throws {
        let dir = TempDir()
        let db = dir.path("bad.db")
        for (text, mention) in [
            (#"{"Regions": {"1": {"RegionID": "one", "RegionCode": "nyc"}}}"#, #"Regions["1"].RegionID: expected a number, got a string"#),
            (#"{"Regions": {"2": {"RegionID": 3}}}"#, #"Regions["2"].RegionID: 3 under the key "2""#),
            (#"{"regions": []}"#, #"not a DERP map (no "Regions" key)"#),
            (#"{"Regions": {"1": {"RegionID": 1,}}"#, "bad.json:1: JSON syntax error"),
        ] {
            try text.write(toFile: dir.path("bad.json"), atomically: true, encoding: .utf8)
            let r = try await CLI.run(["derp", "import", dir.path("bad.json")], db: db)
            #expect(r.status == 1 && r.stderr.contains(mention), "\(text): \(r.stderr)")
        }
        try #"{"devices": [{"nodeId": "n1", "enabledRoutes": ["192.168.1.0/24", "10.0.0.0/33"]}]}"#
            .write(toFile: dir.path("devices.json"), atomically: true, encoding: .utf8)
        let devices = try await CLI.run(["nodes", "import", dir.path("devices.json")], db: db)
        #expect(devices.status == 1 && devices.stderr.contains(#"devices[0].enabledRoutes[1]: "10.0.0.0/33" is not a route"#), "\(devices.stderr)")
    }
}
