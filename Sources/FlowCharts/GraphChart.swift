import Foundation

/// Who talked to whom: endpoints as circles (area by traffic, colour by tag or user,
/// hollow when not a tailnet node), each direction of a pair as its own curved arrow
/// (width by bytes), every label in view, exact values on hover.
///
/// For example:
/// ```swift
/// let chart = GraphChart(nodes: [.init(id: "n1", label: "db-1", group: "tag:prod"), .init(id: "n2", label: "web-1", group: "tag:web")],
///                        edges: [.init(from: 0, to: 1, bytes: 10_000, packets: 12)])
/// let svg = chart.svg(width: 960)
/// ```
package struct GraphChart: Sendable {
    package struct Node: Sendable {
        package var id: String
        package var label: String
        /// What colours it: a tag, a user, or "" for endpoints that are not nodes.
        package var group: String
        /// Not a tailnet node (a bare address or `*`): drawn hollow.
        package var external: Bool
        package var link: String?
        package var detail: String?

        package init(id: String, label: String, group: String, external: Bool = false, link: String? = nil, detail: String? = nil) {
            self.id = id
            self.label = label
            self.group = group
            self.external = external
            self.link = link
            self.detail = detail
        }
    }

    /// One direction of traffic between two nodes (indices into `nodes`).
    package struct Edge: Sendable {
        package var from: Int
        package var to: Int
        package var bytes: Int64
        package var packets: Int64
        package var link: String?

        package init(from: Int, to: Int, bytes: Int64, packets: Int64, link: String? = nil) {
            self.from = from
            self.to = to
            self.bytes = bytes
            self.packets = packets
            self.link = link
        }
    }

    package var nodes: [Node]
    package var edges: [Edge]

    package init(nodes: [Node], edges: [Edge]) {
        self.nodes = nodes
        self.edges = edges.filter { $0.from != $0.to && ($0.bytes > 0 || $0.packets > 0) }
    }

    /// Each node's bytes in and out.
    var totals: [Int64] {
        var t = [Int64](repeating: 0, count: nodes.count)
        for e in edges {
            t[e.from] = t[e.from].addingReportingOverflow(e.bytes).overflow ? Int64.max : t[e.from] + e.bytes
            t[e.to] = t[e.to].addingReportingOverflow(e.bytes).overflow ? Int64.max : t[e.to] + e.bytes
        }
        return t
    }

    /// Groups in legend order (most traffic first); the first ones get colours, the rest grey.
    package var groups: [(name: String, color: String)] {
        var bytes: [String: Double] = [:]
        for (i, t) in totals.enumerated() where !nodes[i].external {
            bytes[nodes[i].group, default: 0] += Double(t)
        }
        let names = bytes.keys.sorted { a, b in bytes[a]! != bytes[b]! ? bytes[a]! > bytes[b]! : a.utf8.lexicographicallyPrecedes(b.utf8) }
        return names.enumerated().map { i, name in (name, i < Palette.categories.count - 1 ? Palette.color(i) : Palette.other) }
    }

    package func radius(_ total: Int64, max: Int64) -> Double {
        4 + 10 * (Double(total) / Double(Swift.max(max, 1))).squareRoot()
    }

    package func strokeWidth(_ bytes: Int64, max: Int64) -> Double {
        1 + 7 * (Double(bytes) / Double(Swift.max(max, 1))).squareRoot()
    }

    package func layout(width: Double) -> (GraphLayout, GraphLayout.Placement) {
        let totals = self.totals
        let maxTotal = totals.max() ?? 1
        let groupIndex = Dictionary(uniqueKeysWithValues: groups.enumerated().map { ($1.name, $0) })
        let layoutNodes = nodes.enumerated().map { i, node in
            GraphLayout.Node(id: node.id, group: node.external ? Int.max : groupIndex[node.group] ?? Int.max,
                             radius: radius(totals[i], max: maxTotal), labelWidth: Double(Chart.clip(node.label, 24).count) * 6.6)
        }
        var weights: [Int: Double] = [:]
        for e in edges {
            let key = min(e.from, e.to) * nodes.count + max(e.from, e.to)
            weights[key, default: 0] += Double(e.bytes)
        }
        let layoutEdges = weights.keys.sorted().map { GraphLayout.Edge(a: $0 / nodes.count, b: $0 % nodes.count, weight: weights[$0]!) }
        let layout = GraphLayout(nodes: layoutNodes, edges: layoutEdges)
        return (layout, layout.place(width: width, margin: 16))
    }

    package func svg(width: Double = 960) -> String {
        let (layout, placement) = self.layout(width: width)
        let groups = self.groups
        let legend = self.legend(width: width)
        let legendHeight = legend.height
        let height = placement.height + legendHeight
        var svg = SVG(width: width, height: height, attributes: [("class", "chart graph"), ("role", "img")])
        guard !nodes.isEmpty else {
            svg.text("no traffic in this window", [("x", SVG.number(width / 2)), ("y", "20"), ("text-anchor", "middle"), ("fill", "#555")])
            return svg.finish()
        }
        let color = Dictionary(uniqueKeysWithValues: groups.map { ($0.name, $0.color) })
        let points = placement.points.map { (x: $0.x, y: $0.y + legendHeight) }
        let maxEdge = edges.map(\.bytes).max() ?? 1
        let twoWay = Set(edges.map { $0.from * nodes.count + $0.to })

        // Edges under nodes, heaviest last so they stay visible.
        svg.open("g", [("class", "edges"), ("fill", "none")])
        for e in edges.sorted(by: { ($0.bytes, $0.from, $0.to) < ($1.bytes, $1.from, $1.to) }) {
            let a = points[e.from], b = points[e.to]
            let ra = layout.nodes[e.from].radius, rb = layout.nodes[e.to].radius
            let w = strokeWidth(e.bytes, max: maxEdge)
            let both = twoWay.contains(e.to * nodes.count + e.from)
            let shape = Self.arrow(from: a, to: b, rFrom: ra, rTo: rb, width: w, bend: both ? 1 : 0)
            if let link = e.link { svg.open("a", [("href", link)]) }
            svg.open("g", [("class", "edge")])
            svg.title("\(nodes[e.from].label) → \(nodes[e.to].label)\n\(ValueUnit.bytes.exact(e.bytes))\n\(ValueUnit.packets.exact(e.packets))")
            svg.element("path", [("d", shape.path), ("stroke", "#4a4a4a"), ("stroke-opacity", "0.55"), ("stroke-width", SVG.number(w))])
            svg.element("path", [("d", shape.head), ("fill", "#2a2a2a"), ("fill-opacity", "0.8")])
            svg.close("g")
            if e.link != nil { svg.close("a") }
        }
        svg.close("g")

        let totals = self.totals
        svg.open("g", [("class", "nodes")])
        for (i, node) in nodes.enumerated() {
            let p = points[i], r = layout.nodes[i].radius
            if let link = node.link { svg.open("a", [("href", link)]) }
            svg.open("g", [("class", "node"), ("data-endpoint", node.id)])
            var lines = [node.label]
            if node.id != node.label { lines.append(node.id) }
            if !node.group.isEmpty { lines.append(node.group) }
            if let detail = node.detail { lines.append(detail) }
            lines.append("in + out (these pairs): " + ValueUnit.bytes.exact(totals[i]))
            svg.title(lines.joined(separator: "\n"))
            var circle: [(String, String)] = [("cx", SVG.number(p.x)), ("cy", SVG.number(p.y)), ("r", SVG.number(r))]
            if node.external {
                circle += [("fill", "#ffffff"), ("stroke", "#222"), ("stroke-width", "1.5"), ("stroke-dasharray", "3 2")]
            } else {
                circle += [("fill", color[node.group] ?? Palette.other), ("stroke", "#111"), ("stroke-width", "1")]
            }
            svg.element("circle", circle)
            svg.text(Chart.clip(node.label, 24), [("x", SVG.number(p.x + r + 4)), ("y", SVG.number(p.y + 4)),
                                                  ("stroke", "#fff"), ("stroke-width", "3"), ("paint-order", "stroke"), ("fill", "#111")])
            svg.close("g")
            if node.link != nil { svg.close("a") }
        }
        svg.close("g")

        // Legend: the colours, the hollow circle, the arrow.
        svg.open("g", [("class", "legend")])
        for entry in legend.entries {
            var c: [(String, String)] = [("cx", SVG.number(entry.x + 6)), ("cy", SVG.number(entry.y - 4)), ("r", "6"), ("fill", entry.fill), ("stroke", "#111")]
            if entry.hollow { c.append(("stroke-dasharray", "3 2")) }
            svg.element("circle", c)
            svg.text(entry.label, [("x", SVG.number(entry.x + 16)), ("y", SVG.number(entry.y))])
        }
        svg.text("arrows point the way bytes went; wider is more", [("x", "8"), ("y", SVG.number(legend.height - 8)), ("fill", "#555")])
        svg.close("g")
        return svg.finish()
    }

    /// Where the legend's entries go: rows that wrap at the chart's width, then a line about arrows.
    func legend(width: Double) -> (entries: [(label: String, fill: String, hollow: Bool, x: Double, y: Double)], height: Double) {
        let groups = self.groups
        var items = groups.prefix(Palette.categories.count - 1).map { ($0.name.isEmpty ? "untagged" : $0.name, $0.color, false) }
        if groups.count >= Palette.categories.count { items.append(("other groups", Palette.other, false)) }
        if nodes.contains(where: \.external) { items.append(("not a node", "#ffffff", true)) }
        var entries: [(label: String, fill: String, hollow: Bool, x: Double, y: Double)] = []
        var x = 8.0, y = 16.0
        for (name, fill, hollow) in items {
            let label = Chart.clip(name, 24)
            let w = 16 + Double(label.count) * 7 + 14
            if x + w > width - 8, x > 8 {
                x = 8
                y += 20
            }
            entries.append((label, fill, hollow, x, y))
            x += w
        }
        return (entries, y + 26)
    }

    /// A curved arrow from circle `a` to circle `b`: the stroke's path and its head's triangle.
    /// `bend` 1 curves it to its left, so a pair's two directions do not overlap.
    static func arrow(from a: (x: Double, y: Double), to b: (x: Double, y: Double), rFrom: Double, rTo: Double,
                      width: Double, bend: Double) -> (path: String, head: String) {
        let dx = b.x - a.x, dy = b.y - a.y
        let length = max((dx * dx + dy * dy).squareRoot(), 0.01)
        let nx = -dy / length, ny = dx / length
        let offset = bend * min(22, length * 0.18)
        let c = (x: (a.x + b.x) / 2 + nx * offset, y: (a.y + b.y) / 2 + ny * offset)
        func unit(_ p: (x: Double, y: Double), _ q: (x: Double, y: Double)) -> (x: Double, y: Double) {
            let ux = q.x - p.x, uy = q.y - p.y
            let l = max((ux * ux + uy * uy).squareRoot(), 0.01)
            return (ux / l, uy / l)
        }
        let u0 = unit(a, c), u1 = unit(c, b)
        let start = (x: a.x + u0.x * (rFrom + 1), y: a.y + u0.y * (rFrom + 1))
        let headLength = 6 + width * 1.2, headHalf = 3 + width * 0.7
        let tip = (x: b.x - u1.x * (rTo + 1), y: b.y - u1.y * (rTo + 1))
        let base = (x: tip.x - u1.x * headLength, y: tip.y - u1.y * headLength)
        let n = SVG.number
        let path = "M\(n(start.x)) \(n(start.y))Q\(n(c.x)) \(n(c.y)) \(n(base.x)) \(n(base.y))"
        let head = "M\(n(tip.x)) \(n(tip.y))L\(n(base.x - u1.y * headHalf)) \(n(base.y + u1.x * headHalf))L\(n(base.x + u1.y * headHalf)) \(n(base.y - u1.x * headHalf))Z"
        return (path, head)
    }
}
