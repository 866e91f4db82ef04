import FlowModel
import FlowQuery
import FlowStore
@testable import FlowWeb
import Foundation
import Testing
import TestSupport

@Suite(.ownThreads)
struct WebPagesTests {
    static func query(_ f: WebFixture, _ extra: [(String, String)] = []) -> PageQuery {
        PageQuery([("from", Timestamp.formatRFC3339(f.window.from)), ("to", Timestamp.formatRFC3339(f.window.to))] + extra)
    }

    static func routes(_ f: WebFixture) throws -> [WebPages.Route] {
        let top = try f.engine.topPairs(QueryOptions(window: f.window), limit: 1)
        let pair = try #require(top.first)
        return [.overview, .graph, .flows, .nodes, .health, .changes, .endpoint(pair.a), .pair(pair.a, pair.b)]
    }

    @Test func everyPageRendersAndEscapesHostileNames() throws {
        let f = try #require(WebFixture.shared)
        let pages = WebPages(engine: f.engine)
        let hostileNode = try #require(try f.store.nodes().first { $0.name == WebFixture.hostileName })
        for route in try Self.routes(f) + [.endpoint(hostileNode.nodeID)] {
            let q: PageQuery = (route == .nodes || route == .health) ? PageQuery() : Self.query(f)
            let page = pages.render(route, query: q)
            #expect(page.status == 200, "\(route): \(page.html.prefix(3000))")
            #expect(!page.html.contains("<script>alert"), "\(route) lets a node name run")
            #expect(!page.html.contains(WebFixture.hostileTag), "\(route) prints a tag unescaped")
            #expect(page.html.contains("data-answer="), "\(route) has no machine table")
            // The only script is our own, served by tailflow.
            let scripts = page.html.components(separatedBy: "<script").count - 1
            #expect(scripts <= 1)
            if scripts == 1 { #expect(page.html.contains("<script src=\"/assets/zoom.js\" defer></script>")) }
        }
        // The hostile node shows, escaped, where nodes are listed.
        let nodes = pages.render(.nodes, query: PageQuery())
        #expect(nodes.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(nodes.html.contains("tag:&quot;quoted&quot;&#39;single&#39;&amp;&lt;b&gt;"))
    }

    @Test func overviewTablesEqualTheEngine() throws {
        let f = try #require(WebFixture.shared)
        let page = WebPages(engine: f.engine).render(.overview, query: Self.query(f))
        let options = QueryOptions(window: f.window)
        let top = try f.engine.topEndpoints(options, limit: 10)
        #expect(HTMLReportTests.cells(page.html, answer: "top-endpoint", field: "bytes") == top.map { String($0.bytes) })
        #expect(HTMLReportTests.cells(page.html, answer: "top-endpoint", field: "endpoint") == top.map(\.endpoint))
        let pairs = try f.engine.topPairs(options, limit: 10)
        #expect(HTMLReportTests.cells(page.html, answer: "top-pair", field: "bytes") == pairs.map { String($0.bytes) })
        // A row's endpoint opens its page, with the same window.
        let first = try #require(top.first)
        #expect(page.html.contains("<td data-field=\"endpoint\" data-value=\"\(first.endpoint)\"><a href=\"/endpoint/\(first.endpoint)?from=2026-11-01T22:00:00Z&amp;to=2026-11-02T01:00:00Z\">"))
        #expect(!page.html.contains("href=\"\""))
        // Downloads and the command ask the same question.
        #expect(page.html.contains("/api/v1/top?from=2026-11-01T22:00:00Z&amp;to=2026-11-02T01:00:00Z&amp;by=endpoint&amp;limit=10&amp;metric=bytes"))
        #expect(page.html.contains("tailflow top --from 2026-11-01T22:00:00Z --to 2026-11-02T01:00:00Z --by endpoint --limit 10 --metric bytes"))
    }

    @Test func windowLinksMoveAndZoom() throws {
        let f = try #require(WebFixture.shared)
        let page = WebPages(engine: f.engine).render(.overview, query: Self.query(f))
        // previous: the three hours before; next: the three after; zoom out: twice as long around it.
        #expect(page.html.contains("href=\"/?from=2026-11-01T19:00:00Z&amp;to=2026-11-01T22:00:00Z\""))
        #expect(page.html.contains("href=\"/?from=2026-11-02T01:00:00Z&amp;to=2026-11-02T04:00:00Z\""))
        #expect(page.html.contains("href=\"/?from=2026-11-01T20:30:00Z&amp;to=2026-11-02T02:30:00Z\""))
        // Presets end where this window ends (it is not a live window).
        #expect(page.html.contains("href=\"/?from=2026-11-02T00:00:00Z&amp;to=2026-11-02T01:00:00Z\""))
    }

    @Test func badQuestionsAreA400PageThatSaysWhy() throws {
        let f = try #require(WebFixture.shared)
        let pages = WebPages(engine: f.engine)
        let bad = pages.render(.overview, query: PageQuery([("from", "yesterday-ish")]))
        #expect(bad.status == 400)
        #expect(bad.html.contains("is not a time"))
        let unknown = pages.render(.graph, query: PageQuery([("colour", "<b>")]))
        #expect(unknown.status == 400)
        #expect(unknown.html.contains("no parameter"))
        let nobody = pages.render(.endpoint("<img src=x>"), query: Self.query(f))
        #expect(nobody.status == 400)
        #expect(!nobody.html.contains("<img"))
    }

    @Test func theErrorPageKeepsTheFormFilledInAsAsked() throws {
        let f = try #require(WebFixture.shared)
        let pages = WebPages(engine: f.engine)
        // A window that is not a time: the form comes back with the mistake in it, to be fixed there.
        let bad = pages.render(.flows, query: PageQuery([("from", "yesterday-ish"), ("match", "db")]))
        #expect(bad.status == 400)
        #expect(bad.html.contains("<form class=\"picker\" method=\"get\" action=\"/flows\">"))
        #expect(bad.html.contains("name=\"from\" value=\"yesterday-ish\""))
        #expect(bad.html.contains("name=\"match\" value=\"db\""))
        // No window could be read: no presets or previous/next built from one.
        #expect(!bad.html.contains("class=\"presets\""))
        // A filter mistake in a good window: the form, and the presets of that window.
        let filter = pages.render(.graph, query: Self.query(f, [("where", "proto ==")]))
        #expect(filter.status == 400)
        #expect(filter.html.contains("name=\"where\" value=\"proto ==\""))
        #expect(filter.html.contains("class=\"presets\""))
        // The pages without a picker keep none on their error page.
        let nodes = pages.render(.nodes, query: PageQuery([("colour", "red")]))
        #expect(nodes.status == 400)
        #expect(!nodes.html.contains("class=\"picker\""))
    }

    @Test func withoutAWindowTheLastDayOfStoredTrafficShows() throws {
        let f = try #require(WebFixture.shared)
        let page = WebPages(engine: f.engine).render(.overview, query: PageQuery())
        #expect(page.status == 200)
        #expect(page.html.contains("Nothing arrived in the last 24 hours"))
        #expect(!HTMLReportTests.cells(page.html, answer: "top-endpoint", field: "bytes").isEmpty)
    }

    @Test func aFilterExpressionNarrowsEveryAnswerAndStaysInTheLinks() throws {
        let f = try #require(WebFixture.shared)
        let pages = WebPages(engine: f.engine)
        let all = pages.render(.overview, query: Self.query(f))
        let some = pages.render(.overview, query: Self.query(f, [("where", "proto = udp")]))
        #expect(some.status == 200, "\(some.html.prefix(2000))")
        let allBytes = HTMLReportTests.cells(all.html, answer: "top-endpoint", field: "bytes").compactMap { Int64($0) }.reduce(0, +)
        let someBytes = HTMLReportTests.cells(some.html, answer: "top-endpoint", field: "bytes").compactMap { Int64($0) }.reduce(0, +)
        #expect(someBytes < allBytes)
        #expect(some.html.contains("--where &#39;proto = udp&#39;"))
        #expect(some.html.contains("where=proto%20%3D%20udp"))
        let bad = pages.render(.graph, query: Self.query(f, [("where", "proto ==")]))
        #expect(bad.status == 400)
    }
}
