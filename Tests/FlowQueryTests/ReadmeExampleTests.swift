import Foundation
import TestSupport
import Testing

// The README's library example, verbatim (the test below checks that the README still holds it).
// BEGIN README
import FlowIngest
import FlowModel
import FlowQuery
import FlowStore

/// Stores flow logs, then ranks the endpoints of one day by bytes.
func topTalkers(store path: String, logs: [String]) throws -> [TopEndpointRow] {
    let store = try FlowStore(path: path)
    _ = try Ingester(store: store).ingest(paths: logs)
    var options = QueryOptions(window: try TimeWindow.parse(from: "2026-11-01", to: "2026-11-02"))
    options.kinds = [.virtual, .subnet]
    return try QueryEngine(store: store).topEndpoints(options, limit: 10)
}
// END README

@Suite(.ownThreads) struct ReadmeExampleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theReadmeHoldsTheExampleThisFileCompiles() throws {
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex(of: "// BEGIN README")), end = try #require(lines.firstIndex(of: "// END README"))
        let block = "```swift\n" + lines[(begin + 1)..<end].joined(separator: "\n") + "\n```"
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains(block), "README.md's library example differs from ReadmeExampleTests.swift")
    }

    @Test func theReadmeExampleRanksTheFixturesTalkers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixtures = ProcessInfo.processInfo.environment["TAILFLOW_FIXTURES"]
            ?? Self.repository.deletingLastPathComponent().appendingPathComponent("shared/fixtures").path
        let rows = try topTalkers(store: dir.appendingPathComponent("t.db").path, logs: [fixtures + "/containers/messages.jsonl"])
        #expect(!rows.isEmpty)
        let ranked = rows.sorted { a, b in
            a.bytes != b.bytes ? a.bytes > b.bytes : a.endpoint.utf8.lexicographicallyPrecedes(b.endpoint.utf8)
        }
        #expect(rows == ranked)
    }
}
