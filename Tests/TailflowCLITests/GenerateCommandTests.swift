import Foundation
import Testing
import TestSupport

@Suite(.ownThreads)
struct GenerateCommandTests {
    @Test func deterministicAnyContainerAndItsDevicesNameTheNodes() async throws {
        let dir = TempDir()
        let args = ["generate", "--nodes", "10", "--duration", "10m", "--start", "2026-11-02T09:00:00Z", "--seed", "3"]
        let a = try await CLI.run(args)
        let b = try await CLI.run(args)
        #expect(a.status == 0 && !a.stdout.isEmpty)
        #expect(a.stdout == b.stdout)
        #expect(try await CLI.run(args.dropLast(2) + ["--seed", "4"]).stdout != a.stdout)

        let db = dir.path("g.db")
        for container in ["jsonl", "array", "concatenated", "api", "logtail", "splunk", "elastic"] {
            let file = dir.path("g.\(container).gz")
            let r = try await CLI.run(args + ["--container", container, "--gzip", "-o", file, "--devices", dir.path("devices.json")])
            #expect(r.status == 0, "\(container): \(r.stderr)")
            let ingest = try await CLI.run(["ingest", "--format", "json", file], db: db)
            #expect(ingest.status == 0, "\(container): \(ingest.stderr)")
            #expect(ingest.stdout.contains(#""rejected":0"#))
            if container != "jsonl" { #expect(ingest.stdout.contains(#""storedMessages":0"#), "\(container) is the same data: \(ingest.stdout)") }
        }
        #expect(try await CLI.run(["nodes", "import", dir.path("devices.json")], db: db).status == 0)
        let nodes = try await #require(try JSONSerialization.jsonObject(with: Data(CLI.run(["nodes", "--format", "json"], db: db).stdout.utf8)) as? [[String: Any]])
        #expect(nodes.count == 10)
        #expect(nodes.allSatisfy { ($0["name"] as? String)?.hasSuffix(".ts.net") == true })
        let top = try await CLI.run(["top", "--from", "2026-11-02T09:00:00Z", "--to", "2026-11-02T09:10:00Z", "--format", "json"], db: db)
        #expect(top.status == 0 && top.stdout.count > 100)
    }

    @Test func badOptionsAreUsageErrors() async throws {
        for args in [["generate", "--nodes", "3"], ["generate", "--duration", "soon"], ["generate", "--container", "xml"],
                     ["generate", "--start", "yesterday"], ["generate", "--rate", "0"]] {
            let r = try await CLI.run(args)
            #expect(r.status == 2, "\(args)")
            #expect(!r.stderr.isEmpty)
        }
    }
}
