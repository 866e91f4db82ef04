import Foundation
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import MemoryStore
import Testing
import TestSupport

/// The two implementations of the store protocol the property tests run against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, memory
    var testDescription: String { rawValue }
}

/// The planner's answers, from rollups and raw rows mixed, must equal a
/// deliberately naive reading of every raw flow row with SPEC §3 spelled out,
/// on SQLite and on the in-memory store alike: the store protocol is all the
/// query layer needs.
@Suite(.ownThreads, .serialized)
struct PlannerPropertyTests {
    /// A small generated tailnet crossing midnight, stored once for the whole suite
    /// in both stores.
    final class Fixture: @unchecked Sendable {
        let dir: URL
        let store: FlowStore
        let memory = MemoryStore()
        let oracle: Oracle
        let start = Timestamp.parseRFC3339("2026-11-01T22:30:00Z")!

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-prop-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            store = try FlowStore(path: dir.appendingPathComponent("p.db").path)
            let (bytes, half) = try Self.generated(start: start)
            for s in [store, memory] as [any FlowStorage] {
                try s.importNodes(half, at: start)
                let ingester = Ingester(store: s)
                ingester.policy.rowsPerCommit = 5000
                let summary = try ingester.ingest(bytes: bytes, source: "generated")
                precondition(summary.rejected == 0 && summary.storedRows > 1000)
            }
            // One oracle, from the SQLite store: it also checks the memory store's answers.
            oracle = try Oracle(store)
        }

        /// Three hours of a generated 8-node tailnet from `start` as JSON Lines, and the devices of
        /// half of it only (the other half's addresses stay bare).
        static func generated(start: Nanoseconds) throws -> (bytes: [UInt8], halfDevices: [NodeInfo]) {
            var config = GeneratorConfig(start: start, duration: 3 * 3600 * 1_000_000_000)
            config.nodes = 8
            config.rate = 0.5
            config.seed = 7
            let generator = FlowLogGenerator(config)
            var bytes: [UInt8] = []
            _ = try generator.write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
            let devices = try DeviceList.parse(generator.deviceList(), source: "devices")
            return (bytes, devices.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        }

        func engine(_ backend: Backend) -> QueryEngine {
            QueryEngine(store: backend == .sqlite ? store : memory)
        }

        /// The SQLite store's engine.
        var engine: QueryEngine { engine(.sqlite) }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static let fixture: Fixture? = try? Fixture()

    /// Every raw flow row with its endpoints resolved by hand, as strings.
    struct Oracle {
        struct Obs {
            var time: Int64, end: Int64, reporter: String, kind: TrafficKind, proto: UInt8, port: UInt16
            var x: String, y: String, tx: (Int64, Int64), rx: (Int64, Int64)
            /// The row's own src endpoint (`x` is the reporter for physical rows).
            var src: String = ""
            /// The end that opened the connection (`x` or `y`): the other holds the lower non-zero
            /// port; nil for equal ports (both zero included).
            var opener: String?
        }
        var rows: [Obs] = []
        var reporters: Set<String> = []
        var tags: [String: [String]] = [:]
        var endpoints: [String] = []
        /// Node attributes by stable ID, and every address of a node (listed or resolving to it).
        var nodes: Set<String> = []
        var names: [String: String] = [:], users: [String: String] = [:], oses: [String: String] = [:]
        var nodeIPs: [String: Set<String>] = [:]
        /// Address text to owning node's stable ID, and every address text the store holds.
        var owner: [String: String] = [:]
        var addressTexts: Set<String> = []

        init(_ store: any FlowStorage) throws {
            var obs: [Obs] = []
            var reporters: Set<String> = []
            var tags: [String: [String]] = [:]
            try store.read { snapshot in
                let nodeEntries = try snapshot.nodeEntries()
                let stable = Dictionary(uniqueKeysWithValues: nodeEntries.map { ($0.id, $0.stableID) })
                reporters = Set(nodeEntries.filter(\.isReporter).map(\.stableID))
                for n in nodeEntries where !n.tags.isEmpty { tags[n.stableID] = n.tags }
                let owners = try snapshot.addressOwners()
                let text = try snapshot.addressTexts(Array(1...max(1, owners.maxAddressID)))
                let owner = Dictionary(uniqueKeysWithValues: owners.owners.map { (text[$0.address]!, stable[$0.node]!) })
                self.owner = owner
                addressTexts = Set(text.values)
                for n in nodeEntries {
                    nodes.insert(n.stableID)
                    names[n.stableID] = n.name
                    users[n.stableID] = n.user
                    oses[n.stableID] = n.os
                    nodeIPs[n.stableID, default: []].formUnion(n.addresses)
                }
                for (ip, node) in owner { nodeIPs[node, default: []].insert(ip) }
                func ep(_ id: Int64) -> String {
                    guard id != 0, let ip = text[id] else { return "*" }
                    return owner[ip] ?? ip
                }
                try snapshot.messages(from: .min, to: .max, reporter: nil, descending: false) { h, _, r in
                    let reporter = stable[h.reporter]!
                    let x = r.kind == .physical ? reporter : ep(r.src)
                    let ports = [r.srcPort, r.dstPort].filter { $0 != 0 }
                    let opener = r.srcPort == r.dstPort ? nil : (ports.min() == r.dstPort ? x : ep(r.dst))
                    obs.append(Obs(time: h.start, end: h.end, reporter: reporter, kind: r.kind, proto: r.proto, port: r.servicePort,
                                   x: x, y: ep(r.dst), tx: (r.txPackets, r.txBytes), rx: (r.rxPackets, r.rxBytes), src: ep(r.src),
                                   opener: opener))
                    return true
                }
            }
            rows = obs
            self.reporters = reporters
            self.tags = tags
            endpoints = Array(Set(obs.flatMap { [$0.x, $0.y] })).sorted()
        }

        /// Counted edges: (time, from, to, packets, bytes, proto, port, kind).
        func edges(_ o: QueryOptions, endpoint: String?) -> [(Int64, String, String, Int64, Int64, UInt8, UInt16, TrafficKind)] {
            counted(o, endpoint: endpoint).map { ($0.row.time, $0.from, $0.to, $0.packets, $0.bytes, $0.row.proto, $0.row.port, $0.row.kind) }
        }

        /// Counted edges with the row that gave each.
        func counted(_ o: QueryOptions, endpoint: String?) -> [(row: Obs, from: String, to: String, packets: Int64, bytes: Int64)] {
            var out: [(row: Obs, from: String, to: String, packets: Int64, bytes: Int64)] = []
            // Physical traffic joins the default kinds when the expression names it.
            let kinds = o.filter.map { !o.kindsChosen && Self.namesPhysical($0.root) } == true ? o.kinds.union([.physical]) : o.kinds
            for r in rows where r.time >= o.window.from && r.time < o.window.to && kinds.contains(r.kind) && (o.proto == nil || o.proto == r.proto) {
                for (from, to, c) in [(r.x, r.y, r.tx), (r.y, r.x, r.rx)] {
                    // SPEC §3, literally.
                    let counted: Bool
                    if reporters.contains(from) { counted = r.reporter == from }
                    else if reporters.contains(to) { counted = r.reporter == to }
                    else { counted = true }
                    guard counted, c.0 != 0 || c.1 != 0 else { continue }
                    if let e = endpoint, from != e, to != e { continue }
                    if let tag = o.tag, !(tags[from] ?? []).contains(tag), !(tags[to] ?? []).contains(tag) { continue }
                    if let e = o.filter, !holds(e.root, r, from: from, to: to, row: false) { continue }
                    out.append((r, from, to, c.0, c.1))
                }
            }
            return out
        }
    }

    static func randomOptions(_ f: Fixture, _ rng: inout SplitMix) -> QueryOptions {
        let s: Int64 = 1_000_000_000
        let span = 3 * 3600 * s
        let from = f.start - 20 * 86_400 * s + Int64.random(in: 0...(20 * 86_400 * s + span), using: &rng)
        let to = from + [Int64.random(in: 1...(90 * s), using: &rng), Int64.random(in: 1...(3 * 3600 * s), using: &rng),
                         Int64.random(in: 1...(40 * 86_400 * s), using: &rng)].randomElement(using: &rng)!
        var o = QueryOptions(window: TimeWindow(from: from, to: to))
        if Int.random(in: 0..<3, using: &rng) == 0 {
            o.kinds = Set(TrafficKind.allCases.filter { _ in Bool.random(using: &rng) })
            if o.kinds.isEmpty { o.kinds = [.physical] }
        }
        if Int.random(in: 0..<5, using: &rng) == 0 { o.proto = [6, 17, 1].randomElement(using: &rng) }
        if Int.random(in: 0..<5, using: &rng) == 0 { o.tag = ["tag:prod", "tag:db", "tag:web", "tag:nope"].randomElement(using: &rng) }
        return o
    }

    @Test(arguments: Backend.allCases, 1...4)
    func topMatchesTheNaiveOracle(_ backend: Backend, _ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        let engine = f.engine(backend)
        var rng = SplitMix(state: seed)
        for _ in 0..<12 {
            var o = Self.randomOptions(f, &rng)
            var endpoint: String? = nil
            if Bool.random(using: &rng) {
                endpoint = f.oracle.endpoints.randomElement(using: &rng)
                o.endpoint = endpoint
            }
            var sent: [String: (Int64, Int64)] = [:], received: [String: (Int64, Int64)] = [:]
            var ports: [String: (Int64, Int64)] = [:]
            for (_, from, to, p, b, proto, port, _) in f.oracle.edges(o, endpoint: endpoint) {
                sent[from, default: (0, 0)].0 += p; sent[from, default: (0, 0)].1 += b
                received[to, default: (0, 0)].0 += p; received[to, default: (0, 0)].1 += b
                ports["\(proto)/\(port)", default: (0, 0)].0 += p; ports["\(proto)/\(port)", default: (0, 0)].1 += b
            }
            let got = try engine.topEndpoints(o, limit: 10_000)
            let want = Set(sent.keys).union(received.keys).map { e in
                "\(e) \(sent[e]?.1 ?? 0) \(received[e]?.1 ?? 0) \(sent[e]?.0 ?? 0) \(received[e]?.0 ?? 0)"
            }.sorted()
            #expect(got.map { "\($0.endpoint) \($0.sentBytes) \($0.receivedBytes) \($0.sentPackets) \($0.receivedPackets)" }.sorted() == want,
                    "window \(o.window) kinds \(o.kinds) proto \(String(describing: o.proto)) endpoint \(endpoint ?? "-") tag \(o.tag ?? "-")")
            // Ranked: by bytes descending, then endpoint.
            #expect(got == got.sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.endpoint.utf8.lexicographicallyPrecedes($1.endpoint.utf8) })
            let gotPorts = try engine.topPorts(o, limit: 10_000).map { "\($0.proto)/\($0.port) \($0.packets) \($0.bytes)" }.sorted()
            #expect(gotPorts == ports.map { "\($0.key) \($0.value.0) \($0.value.1)" }.sorted())
            // Pairs fold the two directions.
            let pairBytes = try engine.topPairs(o, limit: 10_000).reduce(Int64(0)) { $0 + $1.bytes }
            #expect(pairBytes == sent.values.reduce(0) { $0 + $1.1 })
        }
    }

    @Test(arguments: Backend.allCases, 1...4)
    func seriesAndRollupsMatchTheNaiveOracle(_ backend: Backend, _ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        let engine = f.engine(backend)
        var rng = SplitMix(state: seed &+ 100)
        let s: Int64 = 1_000_000_000
        for _ in 0..<10 {
            let o = Self.randomOptions(f, &rng)
            var step = [60, 90, 300, 3600, 7200, 86_400, 2 * 86_400].randomElement(using: &rng)! * s
            while (o.window.to - o.window.from) / step > 5000 { step *= 60 }
            let edges = f.oracle.edges(o, endpoint: nil)
            // Whole-window series.
            var want: [Int64: (Int64, Int64)] = [:]
            for (t, _, _, p, b, _, _, _) in edges {
                want[Timestamp.bucketStart(t, step: step), default: (0, 0)].0 += p
                want[Timestamp.bucketStart(t, step: step), default: (0, 0)].1 += b
            }
            let series = try engine.series(o, step: step)
            #expect(series.first?.time == Timestamp.bucketStart(o.window.from, step: step))
            #expect(series.last?.time == Timestamp.bucketStart(o.window.to - 1, step: step))
            for point in series {
                #expect(point.packets == want[point.time]?.0 ?? 0 && point.bytes == want[point.time]?.1 ?? 0,
                        "bucket \(point.time) step \(step) window \(o.window)")
            }
            // Rollup by every key.
            var groups: [String: (Int64, Int64)] = [:]
            for (t, from, to, p, b, proto, _, kind) in edges {
                let k = "\(Timestamp.bucketStart(t, step: step)) \(kind.name) \(proto) \(from) \(to)"
                groups[k, default: (0, 0)].0 += p
                groups[k, default: (0, 0)].1 += b
            }
            let rollup = try engine.rollup(o, step: step, groupBy: [.kind, .proto, .src, .dst])
            #expect(rollup.map { "\($0.time) \($0.kind!) \($0.proto!) \($0.src!) \($0.dst!) \($0.packets) \($0.bytes)" }.sorted()
                    == groups.map { "\($0.key) \($0.value.0) \($0.value.1)" }.sorted())
        }
    }

    /// Calendar days and weeks in a zone: rollup levels that do not align with local midnight
    /// (days in Berlin, hours in Kolkata) must not be used; answers stay exact.
    @Test(arguments: 1...3)
    func calendarBucketsInAZoneMatchTheNaiveOracle(_ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        var rng = SplitMix(state: seed &+ 7000)
        let s: Int64 = 1_000_000_000
        for _ in 0..<8 {
            var o = Self.randomOptions(f, &rng)
            let zone = TimeZone(identifier: ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"].randomElement(using: &rng)!)!
            o.zone = zone
            let step = [86_400, 7 * 86_400].randomElement(using: &rng)! * s
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = zone
            cal.firstWeekday = 2
            func bucket(_ t: Int64) -> Int64 {
                let d = Date(timeIntervalSince1970: Double(Timestamp.bucketStart(t, step: s) / s))
                return Int64(cal.dateInterval(of: step == 86_400 * s ? .day : .weekOfYear, for: d)!.start.timeIntervalSince1970) * s
            }
            var want: [Int64: Int64] = [:]
            var groups: [String: Int64] = [:]
            for (t, from, to, _, b, _, _, kind) in f.oracle.edges(o, endpoint: nil) {
                want[bucket(t), default: 0] += b
                groups["\(bucket(t)) \(kind.name) \(from) \(to)", default: 0] += b
            }
            let series = try f.engine.series(o, step: step)
            #expect(series.first?.time == bucket(o.window.from) && series.last?.time == bucket(o.window.to - 1), "\(zone.identifier) \(o.window)")
            for point in series {
                #expect(point.bytes == want[point.time] ?? 0, "\(zone.identifier) bucket \(point.time) window \(o.window)")
            }
            let rollup = try f.engine.rollup(o, step: step, groupBy: [.kind, .src, .dst])
            #expect(rollup.map { "\($0.time) \($0.kind!) \($0.src!) \($0.dst!) \($0.bytes)" }.sorted()
                    == groups.map { "\($0.key) \($0.value)" }.sorted(), "\(zone.identifier) \(o.window)")
        }
    }

    /// What levels a zone's calendar buckets let the planner use.
    @Test func calendarBucketsAlignToTheLevelsTheirZoneAllows() throws {
        let s: Int64 = 1_000_000_000
        let w = TimeWindow(from: Timestamp.parseRFC3339("2026-10-20T00:00:00Z")!, to: Timestamp.parseRFC3339("2026-11-10T00:00:00Z")!)
        #expect(try w.bucketing(step: 86_400 * s).alignment % (86_400 * s) == 0)
        #expect(try w.bucketing(step: 7 * 86_400 * s).alignment == 86_400 * s, "Monday weeks in UTC: days, not 8-day levels")
        let berlin = try w.bucketing(step: 86_400 * s, zone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(berlin.alignment == 3600 * s)
        #expect(berlin.starts.contains(Timestamp.parseRFC3339("2026-10-24T22:00:00Z")!)
                && berlin.starts.contains(Timestamp.parseRFC3339("2026-10-25T23:00:00Z")!)
                && !berlin.starts.contains(Timestamp.parseRFC3339("2026-10-25T22:00:00Z")!))
        #expect(try w.bucketing(step: 86_400 * s, zone: TimeZone(identifier: "Asia/Kolkata")!).alignment == 1800 * s)
        #expect(try w.bucketing(step: 3600 * s, zone: TimeZone(identifier: "Asia/Kolkata")!).alignment == 3600 * s, "other steps stay epoch-aligned")
    }

    @Test(arguments: Backend.allCases, 1...3)
    func scopeMatchesTheNaiveOracle(_ backend: Backend, _ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        let engine = f.engine(backend)
        var rng = SplitMix(state: seed &+ 5000)
        let ends = Dictionary(f.oracle.rows.map { ($0.time, $0.end) }, uniquingKeysWith: max)
        for _ in 0..<8 {
            var o = Self.randomOptions(f, &rng)
            let e = f.oracle.endpoints.randomElement(using: &rng)!
            o.endpoint = e
            struct Acc {
                var sent: Int64 = 0, received: Int64 = 0, protos: Set<UInt8> = [], ports: Set<UInt16> = [], first = Int64.max, last = Int64.min
                var outbound: Set<UInt16> = [], inbound: Set<UInt16> = []
            }
            var want: [String: Acc] = [:]
            for (row, from, to, _, b) in f.oracle.counted(o, endpoint: e) {
                let (t, proto, port) = (row.time, row.proto, row.port)
                let peer = from == e ? to : from
                var a = want[peer] ?? Acc()
                if from == e { a.sent += b } else { a.received += b }
                a.protos.insert(proto)
                a.ports.insert(port)
                if let opener = row.opener {
                    if opener == e { a.outbound.insert(port) } else { a.inbound.insert(port) }
                }
                a.first = min(a.first, t)
                a.last = max(a.last, t)
                want[peer] = a
            }
            let got = try engine.scope(o)
            #expect(got.map(\.peer).sorted() == want.keys.sorted(), "scope \(e) \(o.window)")
            for p in got {
                guard let w = want[p.peer] else { continue }
                #expect(p.sentBytes == w.sent && p.receivedBytes == w.received, "\(e)→\(p.peer)")
                #expect(p.protocols == w.protos.sorted() && p.ports == w.ports.sorted())
                #expect(p.outboundPorts == w.outbound.sorted() && p.inboundPorts == w.inbound.sorted(), "directions \(e)–\(p.peer) in \(o.window)")
                #expect(p.firstSeen == w.first, "first seen \(e)–\(p.peer) in \(o.window)")
                #expect(p.lastSeen == ends[w.last], "last seen \(e)–\(p.peer) in \(o.window)")
            }
        }
    }

    @Test(arguments: Backend.allCases, 1...3)
    func pairAndEdgeSeriesReadOnlyTheirReportersAndStillMatch(_ backend: Backend, _ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        let engine = f.engine(backend)
        var rng = SplitMix(state: seed &+ 1000)
        let s: Int64 = 1_000_000_000
        for _ in 0..<10 {
            let o = Self.randomOptions(f, &rng)
            var step = [60, 300, 3600].randomElement(using: &rng)! * s
            while (o.window.to - o.window.from) / step > 5000 { step *= 24 }
            let a = f.oracle.endpoints.randomElement(using: &rng)!, b = f.oracle.endpoints.randomElement(using: &rng)!
            var pair: [Int64: Int64] = [:], edge: [Int64: Int64] = [:]
            for (t, from, to, _, bytes, _, _, _) in f.oracle.edges(o, endpoint: nil) {
                let bucket = Timestamp.bucketStart(t, step: step)
                if (from == a && to == b) || (from == b && to == a) { pair[bucket, default: 0] += bytes }
                if from == a && to == b { edge[bucket, default: 0] += bytes }
            }
            for point in try engine.series(o, step: step, subject: .pair(a, b)) {
                #expect(point.bytes == pair[point.time] ?? 0, "pair \(a),\(b)")
            }
            for point in try engine.series(o, step: step, subject: .edge(a, b)) {
                #expect(point.bytes == edge[point.time] ?? 0, "edge \(a),\(b)")
            }
        }
    }
}

