package import FlowCharts
import FlowFormat
package import FlowModel
package import FlowQuery
package import FlowStore
package import Foundation

/// Answers as charts: rankings as bars, series and rollups as stacked columns, pairs as a graph.
/// The pages, the report and `--format svg` all draw through here.
package enum AnswerCharts {
    /// The short label of an endpoint: its node name's first label, else the endpoint itself.
    package static func label(_ endpoint: String, name: String?) -> String {
        guard let name, !name.isEmpty else { return endpoint }
        return name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
    }

    package static func topEndpoints(_ rows: [TopEndpointRow], metric: Metric, link: ((String) -> String)? = nil) -> BarChart {
        BarChart(unit: metric.unit, segments: ["sent", "received"], bars: rows.map { r in
            BarChart.Bar(label: label(r.endpoint, name: r.name),
                         values: metric == .bytes ? [r.sentBytes, r.receivedBytes] : [r.sentPackets, r.receivedPackets],
                         link: link?(r.endpoint), detail: r.name.map { "\($0) (\(r.endpoint))" } ?? r.endpoint)
        })
    }

    package static func topPairs(_ rows: [TopPairRow], metric: Metric, link: ((String, String) -> String)? = nil) -> BarChart {
        BarChart(unit: metric.unit, segments: ["a → b", "b → a"], bars: rows.map { r in
            let a = label(r.a, name: r.aName), b = label(r.b, name: r.bName)
            return BarChart.Bar(label: "\(a) ↔ \(b)",
                                values: metric == .bytes ? [r.abBytes, r.baBytes] : [r.abPackets, r.baPackets],
                                link: link?(r.a, r.b), detail: "a = \(r.aName ?? r.a) (\(r.a))\nb = \(r.bName ?? r.b) (\(r.b))")
        })
    }

    package static func topPorts(_ rows: [TopPortRow], metric: Metric) -> BarChart {
        BarChart(unit: metric.unit, segments: [""], bars: rows.map { r in
            BarChart.Bar(label: "\(ProtocolName.name(r.proto))/\(r.port)", values: [metric == .bytes ? r.bytes : r.packets])
        })
    }

    package static func topProtocols(_ rows: [TopProtoRow], metric: Metric) -> BarChart {
        BarChart(unit: metric.unit, segments: [""], bars: rows.map { r in
            BarChart.Bar(label: ProtocolName.name(r.proto), values: [metric == .bytes ? r.bytes : r.packets])
        })
    }

    package static func series(_ points: [SeriesPoint], step: Nanoseconds, metric: Metric = .bytes, caption: String? = nil) -> StackedChart {
        StackedChart(times: points.map(\.time), step: step, unit: metric.unit,
                     layers: [.init(name: "", values: points.map { metric == .bytes ? $0.bytes : $0.packets }, color: Palette.color(0))],
                     caption: caption ?? "\(metric.rawValue) per \(DurationText.format(step)), UTC")
    }

    /// A rollup as stacked columns: one layer per group (kind, proto, src, dst as asked), the
    /// `maxLayers - 1` largest named and the rest summed as "other". Traffic kinds keep their colours.
    package static func rollup(_ rows: [RollupRow], groupBy: [RollupKeyField], window: TimeWindow, step: Nanoseconds,
                              metric: Metric = .bytes, maxLayers: Int = 8, caption: String? = nil, zone: TimeZone = .utc) throws -> StackedChart {
        // The answer's own buckets: calendar days and Monday weeks in `zone` for 1d and 1w.
        let buckets = try window.bucketing(step: step, zone: zone)
        let times = buckets.starts
        func key(_ r: RollupRow) -> String {
            var parts: [String] = []
            for k in groupBy {
                switch k {
                case .kind: parts.append(r.kind ?? "-")
                case .proto: parts.append(ProtocolName.name(r.proto ?? 0))
                case .src: parts.append(r.src ?? "-")
                case .dst: parts.append(r.dst ?? "-")
                case .tag: parts.append(r.tag ?? "(no tag)")
                case .user: parts.append(r.user ?? "(no user)")
                case .os: parts.append(r.os ?? "(no OS)")
                case .port: parts.append(String(r.port ?? 0))
                }
            }
            return parts.isEmpty ? "" : parts.joined(separator: groupBy == [.src, .dst] ? " → " : " · ")
        }
        var totals: [String: Int64] = [:]
        for r in rows { totals[key(r), default: 0] = Counters.sum(totals[key(r)] ?? 0, metric == .bytes ? r.bytes : r.packets) }
        var names = totals.keys.sorted { a, b in totals[a]! != totals[b]! ? totals[a]! > totals[b]! : a.utf8.lexicographicallyPrecedes(b.utf8) }
        let byKind = groupBy == [.kind]
        if byKind {  // kinds in their fixed order, then any other name
            let kinds = TrafficKind.allCases.map(\.name)
            names = kinds.filter { totals[$0] != nil } + names.filter { !kinds.contains($0) }
        }
        let named = names.count <= maxLayers ? names : Array(names.prefix(maxLayers - 1))
        let index = Dictionary(uniqueKeysWithValues: named.enumerated().map { ($1, $0) })
        let otherIndex = named.count
        var values = [[Int64]](repeating: [Int64](repeating: 0, count: times.count), count: named.count + (names.count > named.count ? 1 : 0))
        for r in rows {
            guard let t0 = times.first, r.time >= t0 else { continue }
            let i = buckets.index(of: r.time)
            guard i < times.count else { continue }
            let layer = index[key(r)] ?? otherIndex
            values[layer][i] = Counters.sum(values[layer][i], metric == .bytes ? r.bytes : r.packets)
        }
        var layers = named.enumerated().map { i, name in
            StackedChart.Layer(name: name, values: values[i], color: byKind ? Palette.kind(name) : Palette.color(i))
        }
        if names.count > named.count { layers.append(.init(name: "other", values: values[otherIndex], color: Palette.other)) }
        return StackedChart(times: times, step: step, unit: metric.unit, layers: layers,
                            caption: caption ?? "\(metric.rawValue) per \(DurationText.format(step)), UTC")
    }

    /// The top pairs as a node-link graph; nodes coloured by their first tag, else their user.
    package static func graph(_ pairs: [TopPairRow], nodes: [NodeRecord],
                             endpointLink: ((String) -> String)? = nil, pairLink: ((String, String) -> String)? = nil) -> GraphChart {
        let known = Dictionary(nodes.map { ($0.nodeID, $0) }, uniquingKeysWith: { a, _ in a })
        var index: [String: Int] = [:]
        var graphNodes: [GraphChart.Node] = []
        func node(_ id: String, _ name: String?) -> Int {
            if let i = index[id] { return i }
            let record = known[id]
            let group = record.map { $0.tags.first ?? $0.user ?? "" } ?? ""
            var detail: [String] = []
            if let r = record {
                if let user = r.user { detail.append("user: \(user)") }
                if !r.tags.isEmpty { detail.append("tags: " + r.tags.joined(separator: ", ")) }
                if let os = r.os { detail.append("os: \(os)") }
            }
            graphNodes.append(.init(id: id, label: label(id, name: name), group: group, external: record == nil,
                                    link: endpointLink?(id), detail: detail.isEmpty ? nil : detail.joined(separator: "\n")))
            index[id] = graphNodes.count - 1
            return graphNodes.count - 1
        }
        var edges: [GraphChart.Edge] = []
        for p in pairs {
            let a = node(p.a, p.aName), b = node(p.b, p.bName)
            let link = pairLink?(p.a, p.b)
            if p.abBytes > 0 || p.abPackets > 0 { edges.append(.init(from: a, to: b, bytes: p.abBytes, packets: p.abPackets, link: link)) }
            if p.baBytes > 0 || p.baPackets > 0 { edges.append(.init(from: b, to: a, bytes: p.baBytes, packets: p.baPackets, link: link)) }
        }
        return GraphChart(nodes: graphNodes, edges: edges)
    }

    /// The markers of configuration changes on a time chart (SPEC §13): at each change's time,
    /// with when, who did what to which target, the old and new values, and an error as the hover text.
    package static func markers(_ changes: [ConfigChange]) -> [StackedChart.Marker] {
        changes.map { c in
            var who = c.actorLogin ?? c.actorName ?? c.actorID ?? "unknown actor"
            if let name = c.actorName, c.actorLogin != nil, name != who { who += " (\(name))" }
            var what = c.action + (c.property.map { " " + $0 } ?? "")
            if let target = c.targetName ?? c.targetID { what += " on " + target }
            var lines = [TimeTicks.describe(c.time), "\(who): \(what)"]
            if c.old != nil || c.new != nil {
                // A string (a policy file) as its text, not as an escaped JSON literal.
                func value(_ json: String?) -> String { json.map { Chart.clip(JSONText.unquoted($0) ?? $0, 60) } ?? "–" }
                lines.append(value(c.old) + " → " + value(c.new))
            }
            if let error = c.error { lines.append("failed: " + error) }
            return StackedChart.Marker(time: c.time, label: lines.joined(separator: "\n"))
        }
    }

    /// The chart of a question, for `--format svg`: top (any ranking), series, rollup; the time
    /// charts mark the configuration changes of their window (see ``QueryEngine/chartChanges(window:subject:)``).
    ///
    /// - throws: ``QueryError`` when the question has no chart (scope, flows, nodes) or cannot be answered.
    package static func svg(_ question: Question, engine: QueryEngine) throws -> String {
        let svg: String
        switch question {
        case .top(let o, let by, let metric, let limit):
            switch by {
            case .endpoint: svg = topEndpoints(try engine.topEndpoints(o, metric: metric, limit: limit), metric: metric).svg(width: 720)
            case .pair: svg = topPairs(try engine.topPairs(o, metric: metric, limit: limit), metric: metric).svg(width: 720)
            case .port: svg = topPorts(try engine.topPorts(o, metric: metric, limit: limit), metric: metric).svg(width: 720)
            case .proto: svg = topProtocols(try engine.topProtocols(o, metric: metric, limit: limit), metric: metric).svg(width: 720)
            }
        case .series(let o, let step, let subject):
            var chart = series(try engine.series(o, step: step, subject: subject), step: step)
            chart.markers = markers(try engine.chartChanges(window: o.window, subject: subject))
            svg = chart.svg(width: 900, height: 280)
        case .rollup(let o, let step, let groupBy):
            var chart = try rollup(try engine.rollup(o, step: step, groupBy: groupBy), groupBy: groupBy, window: o.window, step: step, zone: o.zone)
            chart.markers = markers(try engine.chartChanges(window: o.window, subject: o.endpoint.map { .endpoint($0) } ?? .all))
            svg = chart.svg(width: 900, height: 300)
        default:
            throw QueryError("--format svg draws top, series and rollup answers only")
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg + "\n"
    }
}

extension Metric {
    package var unit: ValueUnit { self == .bytes ? .bytes : .packets }
}
