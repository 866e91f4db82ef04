import FlowCharts
import FlowFormat
import FlowModel
import FlowQuery
import FlowStore

/// `/` and `/graph`: the whole tailnet over a window.
extension WebPages {
    static let windowAndFilters: Set<String> = ["from", "to", "kind", "proto", "endpoint", "tag", "user", "where"]

    func overview(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: Self.windowAndFilters.union(["metric", "limit", "step"]))
        let w = try c.resolveWindow()
        let step = try c.step(w)
        let stepText = DurationText.format(step)
        let shownRows = "10"
        let limit = c.query["limit"] ?? shownRows
        let metricText = c.query["metric"] ?? "bytes"
        guard let metric = Metric(rawValue: metricText) else { throw QueryError("--metric '\(metricText)' is not a metric: use bytes or packets") }

        let seriesOwn: [String: String?] = ["step": stepText, "group-by": "kind"]
        let topOwn: (String) -> [String: String?] = { ["by": $0, "metric": metricText, "limit": limit] }
        // One read for the three rankings (and one for the chart, whose step needs finer rollups).
        let byKindQuestion = try c.question("rollup", seriesOwn)
        guard case .rollup(let o, _, _) = byKindQuestion else { throw QueryError("internal: not a rollup") }
        let answers = try engine.answers([byKindQuestion, try c.question("top", topOwn("endpoint")),
                                          try c.question("top", topOwn("pair")), try c.question("top", topOwn("port"))])
        guard case .rollup(let byKind) = answers[0], case .topEndpoints(let endpoints) = answers[1],
              case .topPairs(let pairs) = answers[2], case .topPorts(let ports) = answers[3] else { throw QueryError("internal: answers out of order") }

        var bytes: Int64 = 0, packets: Int64 = 0
        for r in byKind {
            bytes = Counters.sum(bytes, r.bytes)
            packets = Counters.sum(packets, r.packets)
        }
        var seriesChart = try AnswerCharts.rollup(byKind, groupBy: [.kind], window: w, step: step, metric: metric)
        seriesChart.markers = AnswerCharts.markers(try engine.chartChanges(window: w, subject: .all))
        var model = c.frame(heading: "Traffic", title: "Overview")
        model.lead = HTMLReport.describe(o)
        model.picker = c.picker(fields: Self.pickerFields(.overview), defaults: ["limit": shownRows])
        model.facts = [
            .init(label: Units.iec(bytes), href: "\(Units.grouped(bytes)) bytes"),
            .init(label: Units.grouped(packets), href: "packets"),
            .init(label: DurationText.format(w.to - w.from), href: "window, in steps of \(stepText)"),
        ]
        if bytes == 0 && packets == 0 { model.notice = [c.notice, "No traffic in this window.", try c.storedRange()].compactMap { $0 }.joined(separator: " ") }
        let links = c
        let link = { (e: String) in links.endpointLink(e) }
        let pairLink = { (a: String, b: String) in links.pairLink(a, b) }
        let cell = { (key: String, row: [String: FlowFormat.Cell]) in links.tableLink(key, row) }
        model.sections = [
            .init(title: "Traffic by kind", wide: true,
                  chart: Inline.svg(seriesChart.svg(width: 1260, height: 260)),
                  table: AnswerTable(answer: "rollup", report: .rollup(byKind, groupBy: [.kind])), folded: true,
                  downloads: c.downloads("rollup", seriesOwn), command: c.command("rollup", seriesOwn),
                  note: "Drag across the chart to zoom (with scripts on), or use the window links above."),
            .init(title: "Top endpoints",
                  chart: Inline.svg(AnswerCharts.topEndpoints(endpoints, metric: metric, link: link).svg(width: 620)),
                  table: AnswerTable(answer: "top-endpoint", report: .topEndpoints(endpoints), hidden: ["sentPackets", "receivedPackets"], link: cell),
                  downloads: c.downloads("top", topOwn("endpoint")), command: c.command("top", topOwn("endpoint"))),
            .init(title: "Top pairs",
                  chart: Inline.svg(AnswerCharts.topPairs(pairs, metric: metric, link: pairLink).svg(width: 620)),
                  table: AnswerTable(answer: "top-pair", report: .topPairs(pairs), hidden: ["a", "b", "abPackets", "baPackets"], link: cell),
                  downloads: c.downloads("top", topOwn("pair")), command: c.command("top", topOwn("pair")),
                  more: [.init(label: "as a graph →", href: c.carried().url("/graph"))]),
            .init(title: "Top ports",
                  chart: Inline.svg(AnswerCharts.topPorts(ports, metric: metric).svg(width: 620)),
                  table: AnswerTable(answer: "top-port", report: .topPorts(ports)),
                  downloads: c.downloads("top", topOwn("port")), command: c.command("top", topOwn("port"))),
        ]
        return model
    }

    func graph(_ c: inout PageContext) throws -> PageModel {
        try c.check(allowed: Self.windowAndFilters.union(["metric", "limit"]))
        _ = try c.resolveWindow()
        let shownPairs = "50"
        let limit = c.query["limit"] ?? shownPairs
        let metricText = c.query["metric"] ?? "bytes"
        let own: [String: String?] = ["by": "pair", "metric": metricText, "limit": limit]
        guard case .top(let o, _, let metric, let n) = try c.question("top", own) else { throw QueryError("internal: not top") }
        guard n <= 300 else { throw QueryError("the graph draws at most 300 pairs: use limit=300 or less") }
        let pairs = try engine.topPairs(o, metric: metric, limit: n)
        let nodes = try c.nodes()
        let links = c
        let chart = AnswerCharts.graph(pairs, nodes: nodes, endpointLink: { links.endpointLink($0) }, pairLink: { links.pairLink($0, $1) })
        var model = c.frame(heading: "Who talked to whom", title: "Graph")
        model.lead = "The top \(pairs.count) pairs by \(metric.rawValue): arrows point the way bytes went, wider is more; "
            + "nodes are coloured by their first tag, else their user; hollow circles are addresses that are not tailnet nodes. "
            + "A node opens its endpoint page, an arrow its pair page."
        model.picker = c.picker(fields: Self.pickerFields(.graph), defaults: ["limit": shownPairs])
        if pairs.isEmpty { model.notice = [c.notice, "No traffic in this window.", try c.storedRange()].compactMap { $0 }.joined(separator: " ") }
        model.sections = [
            .init(title: "Top pairs as a graph", wide: true, chart: Inline.svg(chart.svg(width: 1260))),
            .init(title: "The same pairs", wide: true,
                  table: AnswerTable(answer: "top-pair", report: .topPairs(pairs), link: { links.tableLink($0, $1) }),
                  downloads: c.downloads("top", own), command: c.command("top", own)),
        ]
        return model
    }
}
