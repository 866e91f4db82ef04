import FlowFormat
import FlowModel
import FlowQuery
@testable import FlowWeb
import Foundation
import Testing
import TestSupport

@Suite(.ownThreads)
struct HTMLReportTests {
    @Test func reportIsSelfContainedAndEscapesHostileNames() throws {
        let f = try #require(WebFixture.shared)
        let html = try HTMLReport(engine: f.engine, options: QueryOptions(window: f.window)).render()
        // No script, no URL, no external reference of any kind.
        #expect(html.range(of: "<script", options: .caseInsensitive) == nil)
        #expect(!html.contains("http://") && !html.contains("https://"))
        // The one <link> is the empty favicon (a data: URL), so a browser asks for no /favicon.ico.
        let links = html.components(separatedBy: "<link").count - 1
        #expect(links == 1 && html.contains("<link rel=\"icon\" href=\"data:,\">"))
        #expect(!html.contains("src=") && !html.contains("url("))
        #expect(html.contains("Content-Security-Policy"))
        // The hostile name is in it, as text.
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("tag:&quot;quoted&quot;&#39;single&#39;&amp;&lt;b&gt;"))
        #expect(!html.contains(WebFixture.hostileTag))
    }

    @Test func reportTablesCarryTheEnginesExactNumbers() throws {
        let f = try #require(WebFixture.shared)
        let options = QueryOptions(window: f.window)
        let html = try HTMLReport(engine: f.engine, options: options).render()
        let top = try f.engine.topEndpoints(options, metric: .bytes, limit: 20)
        let cells = Self.cells(html, answer: "top-endpoint", field: "bytes")
        #expect(cells == top.map { String($0.bytes) })
        let daily = try f.engine.rollup(options, step: Steps.day, groupBy: [.kind])
        #expect(Self.cells(html, answer: "rollup", field: "bytes") == daily.map { String($0.bytes) })
        let total = daily.reduce(Int64(0)) { $0 + $1.bytes }
        #expect(html.contains(Units.grouped(total) + " bytes"))
    }

    @Test func automaticStepsDrawAtMost180Columns() throws {
        let day: Int64 = 86_400_000_000_000
        #expect(Steps.auto(TimeWindow(from: 0, to: day / 24)) == 60_000_000_000)
        #expect(Steps.auto(TimeWindow(from: 0, to: day)) == 15 * 60_000_000_000)
        #expect(Steps.auto(TimeWindow(from: 0, to: 7 * day)) == 3_600_000_000_000)
        #expect(Steps.auto(TimeWindow(from: 0, to: 30 * day)) == 6 * 3_600_000_000_000)
        #expect(Steps.auto(TimeWindow(from: 0, to: 400 * day)) == 3 * day)
    }

    /// The `data-value`s of one field in the table of one answer.
    static func cells(_ html: String, answer: String, field: String) -> [String] {
        guard let start = html.range(of: "<table data-answer=\"\(answer)\"") else { return [] }
        let rest = html[start.upperBound...]
        let table = rest[..<(rest.range(of: "</table>")?.lowerBound ?? rest.endIndex)]
        var values: [String] = []
        var search = table[...]
        let marker = "data-field=\"\(field)\" data-value=\""
        while let r = search.range(of: marker) {
            let after = search[r.upperBound...]
            let end = after.firstIndex(of: "\"")!
            values.append(String(after[..<end]))
            search = after[end...]
        }
        return values
    }
}
