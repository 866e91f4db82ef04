import FlowGenerate
import FlowIngest
import FlowModel
import FlowQuery
import FlowStore
@testable import FlowWeb
import Foundation
import Testing
import TestSupport

/// The configuration audit log in the pages (SPEC §13): `/changes`, and markers on every series chart.
@Suite(.ownThreads)
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

    /// The HTML between `marker` and the end of its section.
    static func section(_ html: String, from marker: String) -> String {
        guard let start = html.range(of: marker) else { return "" }
        let rest = html[start.lowerBound...]
        return String(rest[..<(rest.range(of: "</section>")?.lowerBound ?? rest.endIndex)])
    }

    @Test func theChangesPageFiltersByWhereShowsValuesAsTextAndAgreesWithItsCommand() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-changes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (store, window, generator) = try Self.store(dir)
        let engine = QueryEngine(store: store)
        let pages = WebPages(engine: engine)
        let q = PageQuery([("from", Timestamp.formatRFC3339(window.from)), ("to", Timestamp.formatRFC3339(window.to))])
        let all = try engine.changeRecords(ChangeQuery(window: window))
        func rows(_ html: String) -> Int { html.components(separatedBy: #"<td data-field="action""#).count - 1 }

        // where= is the filter language over changes, as the CLI reads it, and it is carried into the command.
        let node = generator.nodeIDs[3]
        let page = pages.render(.changes, query: q.with(["where": "node = \(node)"]))
        #expect(page.status == 200)
        #expect(rows(page.html) == all.filter { $0.targetID == node }.count && rows(page.html) > 0)
        #expect(page.html.contains("--where &#39;node = \(node)&#39;") || page.html.contains("--where 'node = \(node)'"), "\(page.html)")
        let refused = pages.render(.changes, query: q.with(["where": "port = 22"]))
        #expect(refused.status == 400 && refused.html.contains("does not apply to configuration changes"))
        // The expression and the caret under its mistake keep their spacing.
        #expect(refused.html.contains("<pre>  port = 22\n  ^^^^</pre>"), "\(refused.html)")

        // The Rows box shows the limit the command under the table uses.
        let plain = pages.render(.changes, query: q)
        #expect(plain.html.contains(#"<input name="limit" value="" placeholder="500""#), "\(plain.html)")
        #expect(plain.html.contains("--limit 500"))
        let ten = pages.render(.changes, query: q.with(["limit": "10"]))
        #expect(ten.html.contains(#"<input name="limit" value="10""#) && ten.html.contains("--limit 10"))

        // A policy file (a JSON string) reads as its text: cut, with the whole of it indented behind a click;
        // data-value keeps the exact JSON value. The ID columns stay in the downloads.
        let policy = try #require(all.first { $0.property == "ACL" && $0.new?.hasPrefix("\"") == true })
        let shown = plain.html.replacing(try Regex(#"data-value="[^"]*""#), with: "")
        #expect(!shown.contains(#"\&quot;"#) && !shown.contains(#"\""#))
        #expect(plain.html.contains(#"data-field="new" data-value="&quot;{\&quot;acls\&quot;:"#))
        let text = try #require(JSONText.unquoted(policy.new!))
        #expect(plain.html.contains("<summary>" + String(text.prefix(AnswerTable.jsonShown - 1)).replacingOccurrences(of: "\"", with: "&quot;") + "…</summary>"))
        #expect(plain.html.contains("<pre>{\n  &quot;acls&quot;: ["))
        #expect(!plain.html.contains(#"<td data-field="actorId""#) && !plain.html.contains(#"<td data-field="targetId""#))
    }

    @Test func healthCoverageAndTheEndpointsDiffListTheChangesOfTheirWindows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-changes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (store, window, generator) = try Self.store(dir)
        let engine = QueryEngine(store: store)
        let pages = WebPages(engine: engine)
        let q = PageQuery([("from", Timestamp.formatRFC3339(window.from)), ("to", Timestamp.formatRFC3339(window.to))])
        let all = try engine.changeRecords(ChangeQuery(window: window))
        func rows(_ html: String) -> Int { html.components(separatedBy: #"<td data-field="action""#).count - 1 }

        let health = pages.render(.health, query: q)
        #expect(health.status == 200)
        let coverage = Self.section(health.html, from: "Coverage per node")
        let aside = Self.section(coverage, from: #"data-aside="changes""#)
        #expect(aside.contains("\(all.count) configuration changes from") && rows(aside) == all.count, "\(aside)")
        #expect(aside.contains(#"href="/changes?from="#))
        // The rejects section says it is empty once.
        let rejects = Self.section(health.html, from: "Rejected input")
        #expect(rejects.contains("Nothing was rejected.") && !rejects.contains("No rows in this window."), "\(rejects)")

        // The endpoint's "what is new" lists its node's changes and the tailnet-wide ones of the window.
        let node = generator.nodeIDs[3]
        let endpoint = pages.render(.endpoint(node), query: q)
        let diff = Self.section(endpoint.html, from: "What is new")
        let mine = all.filter { $0.targetID == node || $0.isTailnetWide }
        #expect(rows(Self.section(diff, from: #"data-aside="changes""#)) == mine.count && mine.count > 0, "\(diff)")

        // A window without changes says so in one line.
        let before = q.with(["from": Timestamp.formatRFC3339(window.from - 3_600_000_000_000), "to": Timestamp.formatRFC3339(window.from)])
        let quiet = Self.section(pages.render(.health, query: before).html, from: "Coverage per node")
        #expect(quiet.contains("No configuration changes from") && rows(quiet) == 0)
    }
}
