import FlowModel
@testable import FlowQuery
import Testing
import TestSupport

/// `--where` through the planner: random expressions (generated trees, printed and
/// parsed back) must give exactly what a naive reading of every raw row gives.
@Suite(.ownThreads, .serialized)
struct FilterPropertyTests {
    typealias Fixture = PlannerPropertyTests.Fixture
    typealias Node = FilterExpression.Node

    /// Values worth testing, drawn from the fixture's own data.
    struct Vocabulary {
        var endpoints: [String] = []
        var tags: [String] = []
        var users: [String] = []
        var oses: [String] = []
        var ports: [String] = []

        init(_ o: PlannerPropertyTests.Oracle) {
            var names: [String] = []
            var labels: [String: Int] = [:]
            for id in o.nodes {
                if let n = o.names[id] {
                    names.append(n)
                    labels[String(n.split(separator: ".").first ?? ""), default: 0] += 1
                }
            }
            let unique = labels.filter { $0.value == 1 }.map(\.key)
            let someIPs = o.nodeIPs.values.flatMap { $0 }.sorted().prefix(12)
            let v4 = o.addressTexts.filter { !$0.contains(":") }.sorted()
            var networks = ["100.64.0.0/10", "fd7a:115c:a1e0::/48", "10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/24"]
            for ip in v4.prefix(6) { networks.append(ip.split(separator: ".").prefix(3).joined(separator: ".") + ".0/24") }
            if let ip = v4.last { networks.append(ip + "/32") }
            endpoints = o.endpoints + names.sorted() + unique.sorted() + someIPs + networks + ["*", "192.0.2.77"]
            tags = Array(Set(o.tags.values.flatMap { $0 })).sorted()
            tags += tags.map { String($0.dropFirst(4)) } + ["tag:nope"]
            users = Array(Set(o.users.values)).sorted() + ["nobody@example.com"]
            let oses = Array(Set(o.oses.values)).sorted()
            self.oses = oses + oses.map { $0.uppercased() }
            let seen = Array(Set(o.rows.map(\.port))).sorted()
            ports = seen.prefix(20).map(String.init) + ["1-1024", "1024-65535", "0", "65535"]
        }

        func values(_ field: FilterExpression.Field, _ rng: inout SplitMix) -> String {
            switch field {
            case .src, .dst, .endpoint, .node: endpoints.randomElement(using: &rng)!
            case .tag: tags.randomElement(using: &rng)!
            case .user: users.randomElement(using: &rng)!
            case .os: oses.randomElement(using: &rng)!
            case .kind: TrafficKind.allCases.randomElement(using: &rng)!.name
            case .proto: ["tcp", "udp", "icmp", "6", "17", "1", "58"].randomElement(using: &rng)!
            case .port: ports.randomElement(using: &rng)!
            }
        }
    }

    static func randomTree(_ v: Vocabulary, _ rng: inout SplitMix, depth: Int) -> Node {
        if depth == 0 || Int.random(in: 0..<5, using: &rng) < 2 {
            let field = FilterExpression.Field.allCases.randomElement(using: &rng)!
            let op = [FilterExpression.Operator.equal, .notEqual, .in, .notIn].randomElement(using: &rng)!
            let count = op == .in || op == .notIn ? Int.random(in: 1...3, using: &rng) : 1
            let values = (0..<count).map { _ in FilterExpression.Value(v.values(field, &rng)) }
            return .test(FilterExpression.Test(field: field, op: op, values: values))
        }
        switch Int.random(in: 0..<5, using: &rng) {
        case 0, 1: return .and(randomTree(v, &rng, depth: depth - 1), randomTree(v, &rng, depth: depth - 1))
        case 2, 3: return .or(randomTree(v, &rng, depth: depth - 1), randomTree(v, &rng, depth: depth - 1))
        default: return .not(randomTree(v, &rng, depth: depth - 1))
        }
    }

    /// A random expression, through its printed form (so the parser reads every generated tree).
    static func randomExpression(_ v: Vocabulary, _ rng: inout SplitMix) throws -> FilterExpression {
        let tree = randomTree(v, &rng, depth: 3)
        let text = FilterExpression(source: "", root: tree).description
        let e = try FilterExpression(parsing: text)
        #expect(e.root == tree, "\(text) reads back as itself")
        return e
    }

    @Test(arguments: 1...4)
    func topWithRandomExpressionsMatchesTheNaiveOracle(_ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let vocabulary = Vocabulary(f.oracle)
        var rng = SplitMix(state: seed &+ 7000)
        for _ in 0..<12 {
            var o = PlannerPropertyTests.randomOptions(f, &rng)
            o.filter = try Self.randomExpression(vocabulary, &rng)
            var sent: [String: (Int64, Int64)] = [:], received: [String: (Int64, Int64)] = [:]
            var ports: [String: (Int64, Int64)] = [:]
            for (_, from, to, p, b, proto, port, _) in f.oracle.edges(o, endpoint: nil) {
                sent[from, default: (0, 0)].0 += p; sent[from, default: (0, 0)].1 += b
                received[to, default: (0, 0)].0 += p; received[to, default: (0, 0)].1 += b
                ports["\(proto)/\(port)", default: (0, 0)].0 += p; ports["\(proto)/\(port)", default: (0, 0)].1 += b
            }
            let want = Set(sent.keys).union(received.keys).map { e in
                "\(e) \(sent[e]?.1 ?? 0) \(received[e]?.1 ?? 0) \(sent[e]?.0 ?? 0) \(received[e]?.0 ?? 0)"
            }.sorted()
            let got = try f.engine.topEndpoints(o, limit: 10_000)
            #expect(got.map { "\($0.endpoint) \($0.sentBytes) \($0.receivedBytes) \($0.sentPackets) \($0.receivedPackets)" }.sorted() == want,
                    "where \(o.filter!) window \(o.window) kinds \(o.kinds) proto \(String(describing: o.proto)) tag \(o.tag ?? "-")")
            let gotPorts = try f.engine.topPorts(o, limit: 10_000).map { "\($0.proto)/\($0.port) \($0.packets) \($0.bytes)" }.sorted()
            #expect(gotPorts == ports.map { "\($0.key) \($0.value.0) \($0.value.1)" }.sorted(), "where \(o.filter!)")
        }
    }

    @Test(arguments: 1...3)
    func seriesAndRollupsWithRandomExpressionsMatchTheNaiveOracle(_ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let vocabulary = Vocabulary(f.oracle)
        var rng = SplitMix(state: seed &+ 9000)
        let s: Int64 = 1_000_000_000
        for _ in 0..<8 {
            var o = PlannerPropertyTests.randomOptions(f, &rng)
            o.filter = try Self.randomExpression(vocabulary, &rng)
            var step = [60, 300, 3600, 86_400].randomElement(using: &rng)! * s
            while (o.window.to - o.window.from) / step > 5000 { step *= 60 }
            let edges = f.oracle.edges(o, endpoint: nil)
            var want: [Int64: (Int64, Int64)] = [:]
            var groups: [String: (Int64, Int64)] = [:]
            for (t, from, to, p, b, proto, _, kind) in edges {
                let bucket = Timestamp.bucketStart(t, step: step)
                want[bucket, default: (0, 0)].0 += p
                want[bucket, default: (0, 0)].1 += b
                let k = "\(bucket) \(kind.name) \(proto) \(from) \(to)"
                groups[k, default: (0, 0)].0 += p
                groups[k, default: (0, 0)].1 += b
            }
            for point in try f.engine.series(o, step: step) {
                #expect(point.packets == want[point.time]?.0 ?? 0 && point.bytes == want[point.time]?.1 ?? 0,
                        "where \(o.filter!) bucket \(point.time) step \(step)")
            }
            let rollup = try f.engine.rollup(o, step: step, groupBy: [.kind, .proto, .src, .dst])
            #expect(rollup.map { "\($0.time) \($0.kind!) \($0.proto!) \($0.src!) \($0.dst!) \($0.packets) \($0.bytes)" }.sorted()
                    == groups.map { "\($0.key) \($0.value.0) \($0.value.1)" }.sorted(), "where \(o.filter!)")
        }
    }

    @Test(arguments: 1...2)
    func flowRowsWithRandomExpressionsMatchTheNaiveOracle(_ seed: UInt64) throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let vocabulary = Vocabulary(f.oracle)
        var rng = SplitMix(state: seed &+ 11000)
        for _ in 0..<6 {
            var o = QueryOptions(window: TimeWindow(from: f.start, to: f.start + 3 * 3600 * 1_000_000_000))
            o.filter = try Self.randomExpression(vocabulary, &rng)
            let kinds = PlannerPropertyTests.Oracle.namesPhysical(o.filter!.root) ? Set(TrafficKind.allCases) : o.kinds
            let want = f.oracle.rows.filter { r in kinds.contains(r.kind) && f.oracle.holds(o.filter!.root, r, from: r.src, to: r.y, row: true) }
                .map { "\($0.time) \($0.reporter) \($0.kind) \($0.proto) \($0.port) \($0.tx.1) \($0.rx.1)" }.sorted()
            let got = try f.engine.flows(o, limit: 1_000_000)
                .map { "\($0.start) \($0.reporter) \($0.kind) \($0.proto) \(FlowRow.servicePort($0.srcPort, $0.dstPort)) \($0.txBytes) \($0.rxBytes)" }
                .sorted()
            #expect(got == want, "where \(o.filter!)")
        }
    }

    @Test func kindInTheExpressionAsksForPhysicalTraffic() throws {
        let f = try #require(PlannerPropertyTests.fixture)
        var o = QueryOptions(window: TimeWindow(from: f.start, to: f.start + 3 * 3600 * 1_000_000_000))
        let physical = f.oracle.rows.filter { $0.kind == .physical }.reduce(Int64(0)) { $0 + $1.tx.1 }
        try #require(physical > 0)
        o.filter = try FilterExpression(parsing: "kind = physical")
        let total = try f.engine.series(o, step: 3 * 3600 * 1_000_000_000).reduce(Int64(0)) { $0 + $1.bytes }
        #expect(total > 0)
        // `not kind = exit` keeps to the default kinds (no physical traffic).
        o.filter = try FilterExpression(parsing: "not kind = exit")
        let notExit = try f.engine.topProtocols(o, limit: 100).reduce(Int64(0)) { $0 + $1.bytes }
        var flags = QueryOptions(window: o.window)
        flags.kinds = [.virtual, .subnet]
        #expect(notExit == (try f.engine.topProtocols(flags, limit: 100).reduce(Int64(0)) { $0 + $1.bytes }))
        // An explicit kind set still applies: physical is not in it.
        flags.filter = try FilterExpression(parsing: "kind = physical")
        #expect(try f.engine.topProtocols(flags, limit: 100).isEmpty)
    }

    @Test func namesThatAreNoNodeAreUsageErrorsAtTheirColumn() throws {
        let f = try #require(PlannerPropertyTests.fixture)
        let name = try #require(f.oracle.names.values.sorted().first)
        let label = String(name.split(separator: ".").first!)
        var o = QueryOptions(window: TimeWindow(from: f.start, to: f.start + 3600 * 1_000_000_000))
        let typo = String(label.dropLast()) + "x" + String(label.last!)
        o.filter = try FilterExpression(parsing: "port = 22 or src = \(typo)")
        do {
            _ = try f.engine.topEndpoints(o)
            Issue.record("a name that is no node must be an error")
        } catch let e as QueryError {
            #expect(e.message.hasPrefix("--where: '\(typo)' is no node of this store at column 20;"), "\(e.message)")
            #expect(e.message.contains("did you mean '\(label)'?"), "\(e.message)")
            #expect(e.message.hasSuffix("\n  port = 22 or src = \(typo)\n  " + String(repeating: " ", count: 19) + String(repeating: "^", count: typo.count)))
        }
        // A well-formed address nothing has is an empty answer, not an error.
        o.filter = try FilterExpression(parsing: "endpoint = 192.0.2.77")
        #expect(try f.engine.topEndpoints(o).isEmpty)
    }
}

extension PlannerPropertyTests.Oracle {
    typealias Node = FilterExpression.Node

    static func namesPhysical(_ n: Node) -> Bool {
        switch n {
        case .and(let a, let b), .or(let a, let b): namesPhysical(a) || namesPhysical(b)
        case .not(let a): namesPhysical(a)
        case .test(let t): t.field == .kind && t.values.contains { $0.text.lowercased() == "physical" }
        }
    }

    /// The expression on one edge `from`→`to` of row `r` (or, `row`, on the row's own src and dst).
    func holds(_ n: Node, _ r: Obs, from: String, to: String, row: Bool) -> Bool {
        switch n {
        case .and(let a, let b): return holds(a, r, from: from, to: to, row: row) && holds(b, r, from: from, to: to, row: row)
        case .or(let a, let b): return holds(a, r, from: from, to: to, row: row) || holds(b, r, from: from, to: to, row: row)
        case .not(let a): return !holds(a, r, from: from, to: to, row: row)
        case .test(let t):
            let any = t.values.contains { v in test(t.field, v.text, r, from: from, to: to, row: row) }
            return t.op.isNegated ? !any : any
        }
    }

    func test(_ field: FilterExpression.Field, _ v: String, _ r: Obs, from: String, to: String, row: Bool) -> Bool {
        func attribute(_ e: String) -> Bool {
            switch field {
            case .tag: (tags[e] ?? []).contains(v) || (!v.hasPrefix("tag:") && (tags[e] ?? []).contains("tag:" + v))
            case .user: users[e] == v
            default: oses[e]?.lowercased() == v.lowercased()
            }
        }
        switch field {
        case .src: return endpoint(v, is: from)
        case .dst: return endpoint(v, is: to)
        case .endpoint: return endpoint(v, is: from) || endpoint(v, is: to) || (row && r.kind == .physical && endpoint(v, is: r.reporter))
        case .node: return endpoint(v, is: r.reporter)
        case .tag, .user, .os: return attribute(from) || attribute(to) || (row && attribute(r.reporter))
        case .kind: return r.kind.name == v.lowercased()
        case .proto: return ["tcp": 6, "udp": 17, "icmp": 1][v].map { $0 == r.proto } ?? (UInt8(v) == r.proto)
        case .port:
            let parts = v.split(separator: "-").map { UInt16($0)! }
            return r.port >= parts[0] && r.port <= parts.last!
        }
    }

    /// Whether the endpoint `e` (a stable ID, an address or `*`) is what `v` names.
    func endpoint(_ v: String, is e: String) -> Bool {
        if v == "*" { return e == "*" }
        if v.contains("/") {
            if e == "*" { return false }
            if nodes.contains(e) { return (nodeIPs[e] ?? []).contains { Self.inNetwork($0, v) } }
            return Self.inNetwork(e, v)
        }
        if nodes.contains(v) { return e == v }
        if v.contains(":") || v.split(separator: ".").count == 4 && v.allSatisfy({ $0.isNumber || $0 == "." }) {
            guard addressTexts.contains(v) else { return false }
            return (owner[v] ?? v) == e
        }
        let full = nodes.filter { names[$0]?.lowercased() == v.lowercased() || names[$0]?.lowercased() == v.lowercased() + "." }
        if full.count == 1 { return e == full.first }
        let labeled = nodes.filter { names[$0].map { String($0.lowercased().split(separator: ".").first ?? "") } == v.lowercased() }
        return labeled.count == 1 && e == labeled.first
    }

    /// Prefix comparison on bit strings, written out the long way.
    static func inNetwork(_ ip: String, _ network: String) -> Bool {
        let parts = network.split(separator: "/")
        guard let a = bits(ip), let b = bits(String(parts[0])), a.count == b.count, let n = Int(parts[1]) else { return false }
        return a.prefix(n) == b.prefix(n)
    }

    static func bits(_ ip: String) -> [Bool]? {
        func word(_ v: UInt64, _ width: Int) -> [Bool] { (0..<width).reversed().map { v >> UInt64($0) & 1 == 1 } }
        if ip.contains(":") {
            guard let a = IPAddress(ip), !a.isIPv4 else { return nil }
            return word(a.high, 64) + word(a.low, 64)
        }
        let octets = ip.split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return nil }
        return octets.flatMap { word(UInt64($0), 8) }
    }
}
