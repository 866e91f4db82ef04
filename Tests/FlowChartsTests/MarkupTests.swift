import FlowCharts
import FlowModel
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// Parses SVG as XML and collects every text node and attribute value.
final class XMLCollector: NSObject, XMLParserDelegate {
    var texts: [String] = []
    var attributes: [String] = []
    var elements: [String] = []
    var error: (any Error)?

    static func parse(_ markup: String) -> XMLCollector {
        let collector = XMLCollector()
        let parser = XMLParser(data: Data(markup.utf8))
        parser.delegate = collector
        if !parser.parse() { collector.error = parser.parserError ?? CocoaError(.coderReadCorrupt) }
        return collector
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
        elements.append(name)
        self.attributes += attributes.values
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        texts.append(string)
    }
}

struct MarkupTests {
    static let hostile = "<script>alert(1)</script> \"quoted\" & 'tag:x'"

    @Test func escapeCoversMarkupQuotesAndControlCharacters() {
        #expect(SVG.escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;")
        #expect(SVG.escape("bell\u{7}") == "bell\u{FFFD}")
        #expect(SVG.escape("plain db-1") == "plain db-1")
        #expect(SVG.number(12.25) == "12.3")
        #expect(SVG.number(-3.04) == "-3")
        #expect(SVG.number(7) == "7")
    }

    @Test func hostileNamesStayTextInEveryChart() throws {
        let t0 = Timestamp.parseRFC3339("2026-11-01T00:00:00Z")!
        let stacked = StackedChart(times: [t0, t0 + 60_000_000_000], step: 60_000_000_000, unit: .bytes,
                                   layers: [.init(name: Self.hostile, values: [5, 7]), .init(name: "b", values: [1, 0])]).svg()
        let bars = BarChart(unit: .packets, segments: ["sent", "received"],
                            bars: [.init(label: Self.hostile, values: [1, 2], link: "/endpoint/\(Self.hostile)", detail: Self.hostile)]).svg()
        let graph = GraphChart(nodes: [.init(id: "n1", label: Self.hostile, group: Self.hostile, link: "/e?x=\"1\"&y=<2>"),
                                       .init(id: "1.2.3.4", label: "1.2.3.4", group: "", external: true)],
                               edges: [.init(from: 0, to: 1, bytes: 1_234_567, packets: 89), .init(from: 1, to: 0, bytes: 5, packets: 1)]).svg()
        for svg in [stacked, bars, graph] {
            #expect(!svg.contains("<script"))
            let parsed = XMLCollector.parse(svg)
            #expect(parsed.error == nil, "not well-formed: \(String(describing: parsed.error))")
            #expect(parsed.elements.first == "svg")
            #expect(!parsed.elements.contains("script"))
            // The hostile string comes back intact as text or an attribute value: shown, not run.
            let all = parsed.texts.joined() + parsed.attributes.joined()
            #expect(all.contains("<script>alert(1)</script>") || all.contains("<script>alert(1)</scri"))
        }
        // Exact values on hover.
        #expect(graph.contains("1.2 MiB (1,234,567 bytes)"))
        #expect(graph.contains("89 packets"))
    }

    @Test func graphDrawsBothDirectionsWithArrowsAndHollowExternalEndpoints() {
        let chart = GraphChart(nodes: [.init(id: "n1", label: "db-1", group: "tag:db"), .init(id: "n2", label: "web-1", group: "tag:web"),
                                       .init(id: "8.8.8.8", label: "8.8.8.8", group: "", external: true)],
                               edges: [.init(from: 0, to: 1, bytes: 1000, packets: 10), .init(from: 1, to: 0, bytes: 100, packets: 2),
                                       .init(from: 1, to: 2, bytes: 10, packets: 1)])
        let svg = chart.svg(width: 600)
        let parsed = XMLCollector.parse(svg)
        #expect(parsed.error == nil)
        #expect(parsed.elements.filter { $0 == "circle" }.count >= 3)
        // Three directed edges: a stroke and a head each.
        #expect(svg.components(separatedBy: "class=\"edge\"").count - 1 == 3)
        #expect(svg.contains("stroke-dasharray"))
        #expect(chart.groups.map(\.name) == ["tag:web", "tag:db"])  // most bytes first
        // Width by bytes: the heaviest edge is the widest.
        #expect(chart.strokeWidth(1000, max: 1000) > chart.strokeWidth(100, max: 1000))
    }
}
