import FlowGenerate
import FlowIngest
import FlowModel
import FlowQuery
import FlowStore
@testable import FlowWeb
import Foundation
import Testing

/// The configuration audit log in the pages (SPEC §13): `/changes`, and markers on every series chart.
struct ChangesPageTests {
    static let hostile = "<img src=x onerror=alert(1)>"

    /// Three hours of a generated tailnet with its configuration changes, plus one change whose actor is named like an attack.
    static func store(_ dir: URL) throws -> (FlowStore, TimeWindow, FlowLogGenerator) {
        let start = Timestamp.parseRFC3339("2026-11-01T22:00:00Z")!, hour: Int64 = 3_600_000_000_000
        let store = try FlowStore(path: dir.appendingPathComponent("changes.db").path)
        var config = GeneratorConfig(start: start, duration: 3 * hour)
        config.nodes = 12
        config.rate = 0.3
        config.changes = true
        config.changeInterval = 15 * 60_000_000_000
        let generator = FlowLogGenerator(config)
        var bytes: [UInt8] = []
        _ = try generator.write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        let node = generator.nodeIDs[3]
        let evil = #"{"eventTime":"2026-11-01T23:30:00Z","eventGroupID":"evil","origin":"CONFIG_API","actor":{"id":"u1","loginName":"\#(hostile)","displayName":"x"},"target":{"id":"\#(node)","name":"n","type":"NODE","property":"TAGS"},"action":"UPDATE","old":[],"new":["tag:x"]}"#
        bytes += Array(("\n" + evil + "\n").utf8)
        let summary = try Ingester(store: store).ingest(bytes: bytes, source: "generated")
        precondition(summary.rejected == 0 && summary.storedChanges > 5)
        return (store, TimeWindow(from: start, to: start + 3 * hour), generator)
    }

    @Test func theChangesPageAndTheMarkersOnEverySeriesChart() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-changes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (store, window, generator) = try Self.store(dir)
        let engine = QueryEngine(store: store)
        let pages = WebPages(engine: engine)
        let q = PageQuery([("from", Timestamp.formatRFC3339(window.from)), ("to", Timestamp.formatRFC3339(window.to))])
        let all = try engine.changeRecords(ChangeQuery(window: window))

        let page = pages.render(.changes, query: q)
        #expect(page.status == 200, "\(page.html.prefix(2000))")
        #expect(page.html.contains(#"data-answer="changes""#))
        #expect(page.html.components(separatedBy: #"<td data-field="action""#).count - 1 == all.count)
        #expect(!page.html.contains(Self.hostile) && page.html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(page.html.contains("/api/v1/changes?") && page.html.contains("tailflow changes --from"))
        let filtered = pages.render(.changes, query: q.with(["type": "TAGS"]))
        #expect(filtered.html.components(separatedBy: #"<td data-field="action""#).count - 1 == all.filter { $0.property == "TAGS" }.count)
        #expect(pages.render(.changes, query: q.with(["kind": "virtual"])).status == 400)

        // Every change of the window is a marker on the overview's chart, its actor and action in the hover text.
        let overview = pages.render(.overview, query: q)
        #expect(overview.html.components(separatedBy: #"<g class="marker""#).count - 1 == all.count)
        #expect(overview.html.contains("UPDATE TAGS on n") && !overview.html.contains(Self.hostile))
        let login = try #require(all.first { $0.actorLogin != nil && $0.actorLogin != Self.hostile }?.actorLogin)
        #expect(overview.html.contains(login + " ("))

        // An endpoint's chart marks its node's changes and the tailnet-wide ones; so does a pair's.
        let node = generator.nodeIDs[3]
        let mine = all.filter { $0.targetID == node || $0.isTailnetWide }
        let endpoint = pages.render(.endpoint(node), query: q)
        #expect(endpoint.status == 200)
        #expect(endpoint.html.components(separatedBy: #"<g class="marker""#).count - 1 == mine.count)
        let other = generator.nodeIDs[4]
        let both = all.filter { $0.targetID == node || $0.targetID == other || $0.isTailnetWide }
        let pair = pages.render(.pair(node, other), query: q)
        #expect(pair.html.components(separatedBy: #"<g class="marker""#).count - 1 == both.count)
        #expect(mine.count < all.count)
    }
}
