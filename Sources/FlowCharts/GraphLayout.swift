import Foundation

/// Places the nodes of a graph for drawing: deterministic (the same graph gives the
/// same picture), few crossings, and no label over another.
///
/// A Fruchterman–Reingold force layout with a fixed number of iterations from a
/// fixed start (nodes on a circle, ordered by group and weight, nudged by a hash of
/// their IDs — never by a random generator), then a pass that pushes apart the
/// boxes of nodes and their labels until none overlap.
///
/// For example:
/// ```swift
/// let layout = GraphLayout(nodes: [.init(id: "a", group: 0, radius: 8, labelWidth: 40), …],
///                          edges: [.init(a: 0, b: 1, weight: 1e9)])
/// let placed = layout.place(width: 960)
/// placed.points[0]   // (x, y) of node "a"
/// ```
package struct GraphLayout: Sendable {
    package struct Node: Sendable {
        package var id: String
        package var group: Int
        package var radius: Double
        /// The label's width in pixels; the label sits right of the node.
        package var labelWidth: Double

        package init(id: String, group: Int, radius: Double, labelWidth: Double) {
            self.id = id
            self.group = group
            self.radius = radius
            self.labelWidth = labelWidth
        }
    }

    package struct Edge: Sendable {
        package var a: Int
        package var b: Int
        package var weight: Double

        package init(a: Int, b: Int, weight: Double) {
            self.a = a
            self.b = b
            self.weight = weight
        }
    }

    package struct Placement: Sendable {
        package var points: [(x: Double, y: Double)]
        package var width: Double
        package var height: Double
    }

    package var nodes: [Node]
    package var edges: [Edge]
    package var iterations = 300

    package init(nodes: [Node], edges: [Edge]) {
        self.nodes = nodes
        self.edges = edges.filter { $0.a != $0.b }
    }

    /// The label box of node `i` at `p`: the circle and the text to its right.
    func box(_ i: Int, _ p: (x: Double, y: Double)) -> (x0: Double, y0: Double, x1: Double, y1: Double) {
        let n = nodes[i]
        let half = max(n.radius, 8) + 1
        return (p.x - n.radius - 2, p.y - half, p.x + n.radius + 4 + n.labelWidth + 2, p.y + half)
    }

    package func place(width: Double, margin: Double = 14) -> Placement {
        let n = nodes.count
        guard n > 0 else { return Placement(points: [], width: width, height: 2 * margin) }
        let maxLabel = nodes.map { $0.labelWidth + $0.radius + 6 }.max() ?? 0
        let usable = max(width - 2 * margin - maxLabel, 100)
        let height0 = max(usable * 0.62, 160)
        if n == 1 { return Placement(points: [(margin + usable / 2, margin + 20)], width: width, height: 2 * margin + 40) }

        // The start: a circle in group order, heaviest first within a group.
        var strength = [Double](repeating: 0, count: n)
        for e in edges {
            strength[e.a] += e.weight
            strength[e.b] += e.weight
        }
        let order = nodes.indices.sorted { i, j in
            if nodes[i].group != nodes[j].group { return nodes[i].group < nodes[j].group }
            if strength[i] != strength[j] { return strength[i] > strength[j] }
            return nodes[i].id.utf8.lexicographicallyPrecedes(nodes[j].id.utf8)
        }
        var x = [Double](repeating: 0, count: n), y = [Double](repeating: 0, count: n)
        for (k, i) in order.enumerated() {
            let angle = 2 * Double.pi * Double(k) / Double(n)
            let jitter = Double(Self.fnv(nodes[i].id) % 1000) / 1000 - 0.5
            x[i] = cos(angle) * (0.45 + 0.05 * jitter) * usable
            y[i] = sin(angle) * (0.45 - 0.05 * jitter) * height0
        }

        // Forces. Attraction grows with the edge's weight (log scale), so heavy pairs sit close.
        let area = usable * height0
        let k = 0.75 * (area / Double(n)).squareRoot()
        let maxWeight = edges.map(\.weight).max() ?? 1
        let pull = edges.map { 0.6 + 0.8 * log1p($0.weight) / log1p(max(maxWeight, 1)) }
        var dx = [Double](repeating: 0, count: n), dy = [Double](repeating: 0, count: n)
        let t0 = usable / 8
        for iteration in 0..<iterations {
            for i in 0..<n { dx[i] = 0; dy[i] = 0 }
            for i in 0..<n {
                for j in (i + 1)..<n {
                    var ddx = x[i] - x[j], ddy = y[i] - y[j]
                    var d2 = ddx * ddx + ddy * ddy
                    if d2 < 1e-6 {
                        ddx = Double((i * 7 + j * 13) % 11) - 5 + 0.5
                        ddy = Double((i * 5 + j * 3) % 7) - 3 + 0.5
                        d2 = ddx * ddx + ddy * ddy
                    }
                    let f = k * k / d2  // (k²/d) / d: the force along the unit vector
                    dx[i] += ddx * f; dy[i] += ddy * f
                    dx[j] -= ddx * f; dy[j] -= ddy * f
                }
            }
            for (e, edge) in edges.enumerated() {
                let ddx = x[edge.a] - x[edge.b], ddy = y[edge.a] - y[edge.b]
                let d = max((ddx * ddx + ddy * ddy).squareRoot(), 0.01)
                let f = d / k * pull[e]  // (d²/k) / d
                dx[edge.a] -= ddx * f; dy[edge.a] -= ddy * f
                dx[edge.b] += ddx * f; dy[edge.b] += ddy * f
            }
            // Gravity keeps separate components on the canvas; the y axis is squeezed to the canvas' shape.
            for i in 0..<n {
                dx[i] -= x[i] * 0.02 * k / 10
                dy[i] -= y[i] * 0.02 * k / 10 * (usable / height0)
            }
            let t = t0 * (1 - Double(iteration) / Double(iterations)) + 0.5
            for i in 0..<n {
                let d = max((dx[i] * dx[i] + dy[i] * dy[i]).squareRoot(), 1e-9)
                let step = min(d, t)
                x[i] += dx[i] / d * step
                y[i] += dy[i] / d * step
            }
        }

        // Fit to the canvas, stretching each axis (the forces fix neighbourhoods, not an aspect ratio).
        // Nodes without edges (a pair of an endpoint with itself) go in a row below the rest.
        var degree = [Int](repeating: 0, count: n)
        for e in edges { degree[e.a] += 1; degree[e.b] += 1 }
        let linked = (0..<n).filter { degree[$0] > 0 }
        let fitted = linked.isEmpty ? Array(0..<n) : linked
        let minX = fitted.map { x[$0] }.min()!, maxX = fitted.map { x[$0] }.max()!
        let minY = fitted.map { y[$0] }.min()!, maxY = fitted.map { y[$0] }.max()!
        let sx = usable / max(maxX - minX, 1), sy = height0 / max(maxY - minY, 1)
        var points = (0..<n).map { i in
            (x: margin + nodes[i].radius + 2 + (x[i] - minX) * sx, y: margin + (y[i] - minY) * sy)
        }
        if !linked.isEmpty, linked.count < n {
            var rowX = margin
            let rowY = margin + height0 + 40
            for i in (0..<n).filter({ degree[$0] == 0 }).sorted(by: { nodes[$0].id.utf8.lexicographicallyPrecedes(nodes[$1].id.utf8) }) {
                points[i] = (rowX + nodes[i].radius + 2, rowY)
                rowX += nodes[i].radius * 2 + nodes[i].labelWidth + 24
            }
        }
        points = separate(points, left: margin, right: width - margin)
        let top = points.indices.map { points[$0].y - max(nodes[$0].radius, 8) }.min()!
        let bottom = points.indices.map { points[$0].y + max(nodes[$0].radius, 8) }.max()!
        for i in points.indices { points[i].y += margin - top }
        return Placement(points: points, width: width, height: bottom - top + 2 * margin)
    }

    /// Pushes overlapping node-and-label boxes apart along the axis of least overlap.
    func separate(_ start: [(x: Double, y: Double)], left: Double, right: Double) -> [(x: Double, y: Double)] {
        var p = start
        let n = p.count
        for _ in 0..<200 {
            var moved = false
            for i in 0..<n {
                for j in (i + 1)..<n {
                    let a = box(i, p[i]), b = box(j, p[j])
                    let ox = min(a.x1, b.x1) - max(a.x0, b.x0)
                    let oy = min(a.y1, b.y1) - max(a.y0, b.y0)
                    guard ox > 0, oy > 0 else { continue }
                    moved = true
                    if oy <= ox * 1.5 {
                        let push = oy / 2 + 0.5
                        let up = p[i].y < p[j].y || (p[i].y == p[j].y && i < j)
                        p[i].y += up ? -push : push
                        p[j].y += up ? push : -push
                    } else {
                        let push = ox / 2 + 0.5
                        let leftFirst = p[i].x < p[j].x || (p[i].x == p[j].x && i < j)
                        p[i].x += leftFirst ? -push : push
                        p[j].x += leftFirst ? push : -push
                    }
                }
            }
            for i in 0..<n {
                let b = box(i, p[i])
                if b.x0 < left { p[i].x += left - b.x0 }
                if b.x1 > right { p[i].x -= b.x1 - right }
            }
            if !moved { break }
        }
        return p
    }

    /// FNV-1a of a string's bytes: a stable hash (Swift's `Hasher` changes from run to run).
    static func fnv(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    /// Whether any two boxes overlap (for tests).
    package func overlaps(_ placement: Placement) -> Int {
        var count = 0
        for i in placement.points.indices {
            for j in placement.points.indices where j > i {
                let a = box(i, placement.points[i]), b = box(j, placement.points[j])
                if min(a.x1, b.x1) - max(a.x0, b.x0) > 0.01, min(a.y1, b.y1) - max(a.y0, b.y0) > 0.01 { count += 1 }
            }
        }
        return count
    }

    /// How many pairs of edges cross (for tests and for choosing among layouts).
    package static func crossings(_ edges: [Edge], _ points: [(x: Double, y: Double)]) -> Int {
        func ccw(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double), _ c: (x: Double, y: Double)) -> Double {
            (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
        }
        var count = 0
        for i in edges.indices {
            for j in edges.indices where j > i {
                let e = edges[i], f = edges[j]
                if e.a == f.a || e.a == f.b || e.b == f.a || e.b == f.b { continue }
                let p1 = points[e.a], p2 = points[e.b], p3 = points[f.a], p4 = points[f.b]
                if ccw(p1, p2, p3) * ccw(p1, p2, p4) < 0, ccw(p3, p4, p1) * ccw(p3, p4, p2) < 0 { count += 1 }
            }
        }
        return count
    }
}
