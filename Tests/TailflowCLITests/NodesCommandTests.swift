import Foundation
import Testing
import TestSupport

@Suite(.ownThreads)
struct NodesCommandTests {
    @Test func importsADeviceListAndListsItInEveryFormat() async throws {
        let dir = TempDir()
        let db = dir.path("t.db")
        let imported = try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db)
        #expect(imported.status == 0 && imported.stdout.contains("imported 6 nodes"))
        _ = try await CLI.run(["ingest", Fixtures.path("tiny/api-response.json")], db: db)

        let json = try await CLI.run(["nodes", "--format", "json"], db: db)
        let nodes = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(nodes.count == 6)
        let printer = try #require(nodes.first { $0["nodeId"] as? String == "nPr5Wz3CNTRL" })
        #expect(printer["name"] as? String == "printer.tail7f3e.ts.net")
        #expect(printer["user"] as? String == "bob@example.com")
        #expect(printer["reporter"] as? Bool == false)
        #expect(printer["lastSeen"] is NSNull)
        let db1 = try #require(nodes.first { $0["nodeId"] as? String == "nDb1x9ZCNTRL" })
        #expect(db1["tags"] as? [String] == ["tag:db", "tag:prod"])
        #expect(db1["addresses"] as? [String] == ["100.101.1.20", "fd7a:115c:a1e0::14"])
        #expect(db1["reporter"] as? Bool == true)
        #expect(db1["lastSeen"] as? String == "2026-11-01T10:00:01.2Z")

        let csv = try await CLI.run(["nodes", "list", "--format", "csv"], db: db)
        let lines = csv.stdout.split(separator: "\r\n")
        #expect(lines.first == "nodeId,name,os,user,tags,addresses,reporter,firstSeen,lastSeen,routes")
        #expect(lines.count == 7)
        #expect(lines.contains { $0.hasPrefix("nDb1x9ZCNTRL,db-1.tail7f3e.ts.net,linux,,tag:db tag:prod,100.101.1.20 fd7a:115c:a1e0::14,true,") })

        let ndjson = try await CLI.run(["nodes", "--format", "ndjson"], db: db)
        #expect(ndjson.stdout.split(separator: "\n").count == 6)

        // By default the name first, no node ID, within 120 columns; --wide adds IDs and addresses.
        let narrow = try await CLI.run(["nodes"], db: db).stdout.split(separator: "\n").map(String.init)
        #expect(narrow.first?.hasPrefix("NAME") == true && narrow.first?.contains("NODE ID") == false)
        #expect(narrow.allSatisfy { $0.count <= 120 }, "\(narrow)")
        let table = try await CLI.run(["nodes", "--wide"], db: db)
        let rows = table.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first?.hasPrefix("NODE ID") == true && rows.first?.contains("ADDRESSES") == true)
        // Aligned: every column starts at the same offset on every line.
        let nameColumn = try #require(rows.first?.range(of: "NAME")?.lowerBound.utf16Offset(in: rows[0]))
        for row in rows.dropFirst() {
            #expect(row.count > nameColumn)
            let before = row.prefix(nameColumn)
            #expect(before.hasSuffix("  "), "\(row)")
        }
    }

    @Test func badDeviceListIsAnErrorNamingTheDevice() async throws {
        let dir = TempDir()
        let file = dir.path("devices.json")
        try Data(#"{"devices":[{"nodeId":"n1"},{"name":"no id"}]}"#.utf8).write(to: URL(fileURLWithPath: file))
        let r = try await CLI.run(["nodes", "import", file], db: dir.path("t.db"))
        #expect(r.status == 1)
        #expect(r.stderr.contains("devices[1].nodeId: missing"), "\(r.stderr)")
    }
}
