import FlowCharts
import FlowFormat
package import FlowModel
package import FlowQuery
import FlowStore
import Foundation

/// `tailflow report`: one self-contained HTML file (inline SVG and CSS, no script, no
/// external reference) with totals, traffic by kind over time, top endpoints, pairs and
/// ports, the graph of the top pairs, a rollup per day, and the window's configuration
/// changes (SPEC §13), each also a marker on the traffic chart.
///
/// For example:
/// ```swift
/// var options = QueryOptions(window: try TimeWindow.parse(from: "-7d", to: "now"))
/// let html = try HTMLReport(engine: QueryEngine(store: store), options: options).render()
/// ```
package struct HTMLReport: Sendable {
    package var engine: QueryEngine
    package var options: QueryOptions
    /// The command line that makes this report, shown in it.
    package var command: String
    package var limit = 20
    package var now: Nanoseconds

    package init(engine: QueryEngine, options: QueryOptions, command: String = "tailflow report", now: Nanoseconds = TimeWindow.now()) {
        self.engine = engine
        self.options = options
        self.command = command
        self.now = now
    }

    struct Total {
        var value: String
        var label: String
    }

    struct Model {
        var css: String
        var window: String
        var filters: String
        var generated: String
        var command: String
        var totals: [Total]
        var empty: Bool
        var stored: String?
        var seriesChart: String
        var endpointsChart: String
        var pairsChart: String
        var portsChart: String
        var graph: String
        var graphPairs: Int
        var daily: AnswerTable
        var endpoints: AnswerTable
        var pairs: AnswerTable
        var ports: AnswerTable
        /// The configuration changes of the window (SPEC §13), marked on the series chart too; nil when none.
        var changes: AnswerTable?
        var changeCount: Int
    }

    /// The whole document.
    ///
    /// - throws: ``QueryError`` when the window or a filter cannot be answered.
    package func render() throws -> String {
        let window = options.window
        let step = Steps.auto(window)
        let byKind = try engine.rollup(options, step: step, groupBy: [.kind])
        let daily = try engine.rollup(options, step: Steps.day, groupBy: [.kind])
        let allEndpoints = try engine.topEndpoints(options, metric: .bytes, limit: Int.max)
        let pairs = try engine.topPairs(options, metric: .bytes, limit: max(limit, 40))
        let ports = try engine.topPorts(options, metric: .bytes, limit: 15)
        let nodes = try engine.store.nodes()
        let changes = try engine.chartChanges(window: window, subject: options.endpoint.map { .endpoint($0) } ?? .all)
        var seriesChart = try AnswerCharts.rollup(byKind, groupBy: [.kind], window: window, step: step)
        seriesChart.markers = AnswerCharts.markers(changes)

        var bytes: Int64 = 0, packets: Int64 = 0
        for r in byKind {
            bytes = Counters.sum(bytes, r.bytes)
            packets = Counters.sum(packets, r.packets)
        }
        let endpoints = Array(allEndpoints.prefix(limit))
        let graphPairs = Array(pairs.prefix(30))
        let model = Model(
            css: Templates.css,
            window: Self.describe(window),
            filters: Self.describe(options),
            generated: Timestamp.formatRFC3339(now - now % 1_000_000_000),
            command: command,
            totals: [
                Total(value: Units.iec(bytes), label: "\(Units.grouped(bytes)) bytes"),
                Total(value: Units.grouped(packets), label: "packets"),
                Total(value: Units.grouped(Int64(allEndpoints.count)), label: "endpoints with traffic"),
                Total(value: DurationText.format(window.to - window.from), label: "window"),
            ],
            empty: bytes == 0 && packets == 0,
            stored: nil,
            seriesChart: Inline.svg(seriesChart.svg(width: 1100, height: 280)),
            endpointsChart: Inline.svg(AnswerCharts.topEndpoints(endpoints, metric: .bytes).svg(width: 620)),
            pairsChart: Inline.svg(AnswerCharts.topPairs(Array(pairs.prefix(limit)), metric: .bytes).svg(width: 620)),
            portsChart: Inline.svg(AnswerCharts.topPorts(ports, metric: .bytes).svg(width: 620)),
            graph: Inline.svg(AnswerCharts.graph(graphPairs, nodes: nodes).svg(width: 1100)),
            graphPairs: graphPairs.count,
            daily: AnswerTable(answer: "rollup", report: .rollup(daily, groupBy: [.kind])),
            endpoints: AnswerTable(answer: "top-endpoint", report: .topEndpoints(endpoints)),
            pairs: AnswerTable(answer: "top-pair", report: .topPairs(Array(pairs.prefix(limit)))),
            ports: AnswerTable(answer: "top-port", report: .topPorts(ports)),
            changes: changes.isEmpty ? nil : AnswerTable(answer: "changes", report: .changes(changes), hidden: ["actorId", "actorName", "targetId"]),
            changeCount: changes.count
        )
        return Templates.render(model, "report")
    }

    /// `2026-11-01 06:00 – 2026-11-08 06:00 UTC`
    static func describe(_ window: TimeWindow) -> String {
        let f = TimeTicks.describe(window.from), t = TimeTicks.describe(window.to)
        return String(f.dropLast(4)) + " – " + t
    }

    /// The filters in words, or "All traffic of the default kinds (virtual, subnet, exit)."
    static func describe(_ o: QueryOptions) -> String {
        var parts: [String] = []
        parts.append("kinds " + o.kinds.sorted().map(\.name).joined(separator: ", "))
        if let p = o.proto { parts.append("protocol " + ProtocolName.name(p)) }
        if let e = o.endpoint { parts.append("endpoint " + e) }
        if let t = o.tag { parts.append("tag " + t) }
        if let u = o.user { parts.append("user " + u) }
        return "Traffic of " + parts.joined(separator: "; ") + "."
    }
}

/// Step choices for charts.
enum Steps {
    static let minute: Nanoseconds = 60_000_000_000
    static let day: Nanoseconds = 86_400_000_000_000
    /// The steps charts use, smallest first.
    static let choices: [Nanoseconds] = [1, 5, 15, 60, 180, 360, 1440].map { $0 * minute }

    /// The smallest step that draws the window in at most `maxBuckets` columns.
    static func auto(_ window: TimeWindow, maxBuckets: Int64 = 180) -> Nanoseconds {
        let span = window.to - window.from
        return choices.first { (span + $0 - 1) / $0 <= maxBuckets } ?? day * ((span / day + maxBuckets - 1) / maxBuckets)
    }
}

/// Charts inside HTML.
enum Inline {
    /// An SVG for an HTML page: without its XML namespace declaration, which HTML does not need,
    /// so the page holds no URL at all but its own links.
    static func svg(_ svg: String) -> String {
        guard let range = svg.range(of: " xmlns=\"http://www.w3.org/2000/svg\"") else { return svg }
        return svg.replacingCharacters(in: range, with: "")
    }
}
