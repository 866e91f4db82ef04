import FlowModel
import FlowQuery
import FlowStore
@testable import FlowWeb
import Foundation
import Testing
import TestSupport

/// `/health` shows coverage, the endpoint page what is new (diff): the same answers as the engine's.
@Suite(.ownThreads)
struct CoverageDiffPagesTests {
    @Test func healthShowsCoverageOfTheWindowAsked() throws {
        let f = try #require(WebFixture.shared)
        let pages = WebPages(engine: f.engine)
        let from = f.window.from + 3_600_000_000_000, to = f.window.to
        let q = PageQuery([("from", Timestamp.formatRFC3339(from)), ("to", Timestamp.formatRFC3339(to)), ("gap", "5m")])
        let page = pages.render(.health, query: q)
        #expect(page.status == 200, "\(page.html.prefix(2000))")
        let rows = try f.engine.coverage(QueryOptions(window: TimeWindow(from: from, to: to)),
                                         thresholds: CoverageThresholds(gap: 300_000_000_000))
        #expect(!rows.isEmpty)
        // The worst `coverageShown` nodes, in the engine's order; `nodes=N` lists them all.
        let shown = rows.prefix(WebPages.coverageShown)
        #expect(HTMLReportTests.cells(page.html, answer: "coverage", field: "name") == shown.compactMap(\.name).map(Self.escaped))
        #expect(HTMLReportTests.cells(page.html, answer: "coverage", field: "verdict") == shown.map(\.verdict.rawValue))
        // The node ID column is the CLI's wide column, left out of the page; each node's name (its ID when it
        // has none) links to its page.
        #expect(HTMLReportTests.cells(page.html, answer: "coverage", field: "node").isEmpty)
        for row in shown { #expect(page.html.contains("href=\"/endpoint/\(row.node)"), "\(row.node)") }
        #expect(page.html.contains("all \(rows.count) nodes →") == (rows.count > WebPages.coverageShown))
        let all = pages.render(.health, query: q.with(["nodes": String(rows.count)]))
        #expect(HTMLReportTests.cells(all.html, answer: "coverage", field: "name") == rows.compactMap(\.name).map(Self.escaped))
        #expect(pages.render(.health, query: q.with(["nodes": "0"])).status == 400)
        #expect(page.html.contains("tailflow coverage --from \(Timestamp.formatRFC3339(from)) --to \(Timestamp.formatRFC3339(to)) --gap 5m"))
        #expect(page.html.contains("/api/v1/coverage?from="))
        // Without a window: the last hour of stored traffic; an unknown parameter is a 400 page.
        let latest = pages.render(.health, query: PageQuery())
        #expect(latest.status == 200 && !HTMLReportTests.cells(latest.html, answer: "coverage", field: "verdict").isEmpty)
        #expect(pages.render(.health, query: PageQuery([("by", "pair")])).status == 400)
    }

    @Test func theEndpointPageShowsWhatIsNew() throws {
        let f = try #require(WebFixture.shared)
        let pages = WebPages(engine: f.engine)
        let top = try #require(try f.engine.topEndpoints(QueryOptions(window: f.window), limit: 1).first)
        // The last hour against the 7 days before it, which hold the fixture's first two hours.
        let from = f.window.to - 3_600_000_000_000
        let q = PageQuery([("from", Timestamp.formatRFC3339(from)), ("to", Timestamp.formatRFC3339(f.window.to))])
        let page = pages.render(.endpoint(top.endpoint), query: q)
        #expect(page.status == 200)
        var o = QueryOptions(window: TimeWindow(from: from, to: f.window.to))
        o.endpoint = top.endpoint
        let diff = try f.engine.diff(o, baseline: DiffQuestion.defaultBaseline(o.window), by: .pair)
        #expect(!diff.isEmpty)
        #expect(HTMLReportTests.cells(page.html, answer: "diff", field: "bytes") == diff.prefix(10).map { String($0.bytes) })
        #expect(HTMLReportTests.cells(page.html, answer: "diff", field: "change") == diff.prefix(10).map(\.change.rawValue))
        #expect(page.html.contains("tailflow diff --from"))
    }

    /// A value as the page's attributes carry it (the fixture has a hostile node name).
    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
