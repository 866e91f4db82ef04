import Foundation
@testable import FlowCharts
import Testing

struct GraphLayoutTests {
    /// A tailnet-like graph: a few servers many clients talk to, some client pairs, all deterministic.
    static func tailnet(nodes n: Int, seed: UInt64 = 7) -> GraphLayout {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let servers = max(n / 10, 2)
        var nodes: [GraphLayout.Node] = []
        for i in 0..<n {
            let group = i < servers ? 0 : 1 + i % 4
            let radius: Double = i < servers ? 12 : 5
            let width = Double(6 + i % 9) * 6.6
            nodes.append(GraphLayout.Node(id: "n\(i)", group: group, radius: radius, labelWidth: width))
        }
        var edges: [GraphLayout.Edge] = []
        for i in servers..<n {
            edges.append(.init(a: i, b: Int(next() % UInt64(servers)), weight: Double(next() % 1_000_000)))
            if next() % 4 == 0 { edges.append(.init(a: i, b: servers + Int(next() % UInt64(n - servers)), weight: 1000)) }
        }
        return GraphLayout(nodes: nodes, edges: edges)
    }

    @Test func theSameGraphGivesTheSamePicture() {
        let layout = Self.tailnet(nodes: 60)
        let a = layout.place(width: 960), b = layout.place(width: 960)
        #expect(a.points.map(\.x) == b.points.map(\.x))
        #expect(a.points.map(\.y) == b.points.map(\.y))
        #expect(a.height == b.height)
    }

    @Test(arguments: [10, 50, 100])
    func labelsNeverOverlapAndStayOnTheCanvas(nodes: Int) {
        let layout = Self.tailnet(nodes: nodes)
        let placed = layout.place(width: 1100)
        #expect(layout.overlaps(placed) == 0)
        for (i, p) in placed.points.enumerated() {
            let box = layout.box(i, p)
            #expect(box.x0 >= 0 && box.x1 <= 1100, "node \(i) leaves the canvas: \(box)")
            #expect(box.y0 >= 0 && box.y1 <= placed.height, "node \(i) leaves the canvas: \(box)")
        }
    }

    @Test(arguments: [50, 100])
    func fewerCrossingsThanACircle(nodes: Int) {
        let layout = Self.tailnet(nodes: nodes)
        let placed = layout.place(width: 1100)
        let circle = (0..<nodes).map { i in
            (x: 500 + 400 * cos(2 * Double.pi * Double(i) / Double(nodes)), y: 400 + 400 * sin(2 * Double.pi * Double(i) / Double(nodes)))
        }
        let forced = GraphLayout.crossings(layout.edges, placed.points)
        let naive = GraphLayout.crossings(layout.edges, circle)
        #expect(forced * 3 < naive, "force layout: \(forced) crossings, circle: \(naive)")
    }

    @Test func hashIsStableAcrossRuns() {
        // FNV-1a of "a": a fixed value, unlike Swift's per-process Hasher.
        #expect(GraphLayout.fnv("a") == 0xaf63_dc4c_8601_ec8c)
    }
}
