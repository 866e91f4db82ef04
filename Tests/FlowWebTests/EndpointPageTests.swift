import FlowModel
import FlowQuery
import FlowStore
@testable import FlowWeb
import Foundation
import Testing
import TestSupport

/// The endpoint page lists the busiest peers and the newest flows, with links to the rest.
@Suite(.ownThreads)
struct EndpointPageTests {
    /// The fixture's endpoint with the most peers, and its peers as `scope` answers them.
    static func busiest(_ f: WebFixture) throws -> (endpoint: String, peers: [ScopePeer]) {
        let options = QueryOptions(window: f.window)
        var best: (String, [ScopePeer])?
        for e in try f.engine.topEndpoints(options, limit: 5) {
            var o = options
            o.endpoint = e.endpoint
            let peers = try f.engine.scope(o)
            if peers.count > best?.1.count ?? -1 { best = (e.endpoint, peers) }
        }
        return try #require(best)
    }

    @Test func peersAreCutToTheBusiestWithALinkToAll() throws {
        let f = try #require(WebFixture.shared)
        let (e, peers) = try Self.busiest(f)
        try #require(peers.count > 3)
        let pages = WebPages(engine: f.engine)
        let cut = pages.render(.endpoint(e), query: WebPagesTests.query(f, [("peers", "3")]))
        #expect(cut.status == 200)
        // The page's rows are the first rows of the scope answer, in its order.
        #expect(HTMLReportTests.cells(cut.html, answer: "scope", field: "peer") == peers.prefix(3).map(\.peer))
        #expect(HTMLReportTests.cells(cut.html, answer: "scope", field: "bytes") == peers.prefix(3).map { String($0.bytes) })
        #expect(cut.html.contains("The 3 busiest of \(peers.count) peers"))
        let all = "/endpoint/\(e)?from=2026-11-01T22:00:00Z&amp;to=2026-11-02T01:00:00Z&amp;peers=\(peers.count)"
        #expect(cut.html.contains("<a href=\"\(all)\">all \(peers.count) peers →</a>"), "\(cut.html)")
        // Following it lists every peer.
        let whole = pages.render(.endpoint(e), query: WebPagesTests.query(f, [("peers", String(peers.count))]))
        #expect(HTMLReportTests.cells(whole.html, answer: "scope", field: "peer") == peers.map(\.peer))
        #expect(!whole.html.contains("busiest of"))
        // The default shows at most the page's number of peers.
        let plain = pages.render(.endpoint(e), query: WebPagesTests.query(f))
        #expect(HTMLReportTests.cells(plain.html, answer: "scope", field: "peer") == peers.prefix(WebPages.peersShown).map(\.peer))
        // A count that is not one is a 400 that says why.
        let bad = pages.render(.endpoint(e), query: WebPagesTests.query(f, [("peers", "0")]))
        #expect(bad.status == 400)
        #expect(bad.html.contains("peers &#39;0&#39; must be a positive whole number"), "\(bad.html)")
    }

    @Test func flowsPageByTheCursorUntilTheEnd() throws {
        let f = try #require(WebFixture.shared)
        let (e, _) = try Self.busiest(f)
        var options = QueryOptions(window: f.window)
        options.endpoint = e
        let every = try f.engine.flows(options, limit: 10_000)
        try #require(every.count > 2 * WebPages.flowsShown)
        let pages = WebPages(engine: f.engine)
        var query = WebPagesTests.query(f)
        var seen: [[String]] = []
        var afters: [String] = []
        for _ in 0..<1000 {
            let page = pages.render(.endpoint(e), query: query)
            #expect(page.status == 200)
            let fields = ["time", "reporter", "srcPort", "dstPort", "txBytes", "rxBytes"].map { HTMLReportTests.cells(page.html, answer: "flows", field: $0) }
            #expect(fields[0].count <= WebPages.flowsShown)
            seen += fields[0].indices.map { i in fields.map { $0[i] } }
            // "older flows →" carries the last row's cursor in `after`.
            guard let r = page.html.range(of: "\">older flows →</a>") else { break }
            let href = page.html[..<r.lowerBound]
            let after = try #require(href.range(of: "after=", options: .backwards))
            let value = try #require(String(href[after.upperBound...]).removingPercentEncoding)
            afters.append(value)
            query = query.with(["after": value])
        }
        // Page by page, every flow of the endpoint, newest first, once; each page starts after the last row of the one before.
        let want = every.map { r in ["", r.reporter, String(r.srcPort), String(r.dstPort), String(r.txBytes), String(r.rxBytes)] }
        #expect(seen.count == want.count)
        #expect(seen.map { $0[1...] } == want.map { $0[1...] })
        let pageEnds = stride(from: WebPages.flowsShown - 1, to: every.count, by: WebPages.flowsShown).map { every[$0].cursor }
        #expect(afters == Array(pageEnds.prefix(afters.count)))
        #expect(afters.count == (every.count - 1) / WebPages.flowsShown)
    }
}
