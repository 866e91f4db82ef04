import Foundation
import FlowFormat
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import GRDB
import MemoryStore
import Testing
import TestSupport

/// `coverage` on generated tailnets with faults injected where the test says: each faulty node
/// gets its verdict and bounds, and the healthy ones `ok`, on SQLite and the in-memory store.
@Suite(.ownThreads, .serialized)
struct CoverageTests {
    static let s: Int64 = 1_000_000_000
    static let start = Timestamp.parseRFC3339("2026-11-02T09:00:00Z")!
    static let window = TimeWindow(from: start, to: start + 2 * 3600 * s)
    /// The injected silence: 20 minutes from 09:40.
    static let silence = (start + 40 * 60 * s, start + 60 * 60 * s)

    final class Fixture: @unchecked Sendable {
        let dir: URL
        let sqlite: FlowStore
        let memory = MemoryStore()
        /// Without `logged`: skew must come from the peers.
        let unlogged: FlowStore
        let memoryUnlogged = MemoryStore()
        let silent: String, skewed: String, dropping: String, never: String
        let reporters: [String]

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-coverage-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            sqlite = try FlowStore(path: dir.appendingPathComponent("c.db").path)
            unlogged = try FlowStore(path: dir.appendingPathComponent("u.db").path)
            var config = GeneratorConfig(start: CoverageTests.start, duration: 2 * 3600 * CoverageTests.s)
            config.nodes = 24
            config.seed = 11
            let plain = FlowLogGenerator(config)
            let busiest = plain.reportingNodeIDs
            (silent, skewed, dropping, never) = (busiest[0], busiest[1], busiest[2], busiest[3])
            reporters = busiest
            config.faults = [
                .silent(node: silent, from: CoverageTests.silence.0, to: CoverageTests.silence.1),
                .clockSkew(node: skewed, offset: 90 * CoverageTests.s),
                .dropReports(node: dropping, share: 1.0 / 3),
                .neverReports(node: never),
            ]
            let devices = try DeviceList.parse(plain.deviceList(), source: "devices")
            for (store, omit) in [(sqlite, false), (memory, false), (unlogged, true), (memoryUnlogged, true)] as [(any FlowStorage, Bool)] {
                var c = config
                c.omitLogged = omit
                var bytes: [UInt8] = []
                _ = try FlowLogGenerator(c).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
                try store.importNodes(devices, at: CoverageTests.start)
                let summary = try Ingester(store: store).ingest(bytes: bytes, source: "generated")
                precondition(summary.rejected == 0 && summary.storedRows > 1000)
            }
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static let fixture: Fixture? = {
        do { return try Fixture() } catch { print("coverage fixture: \(error)"); return nil }
    }()

    @Test(arguments: Backend.allCases)
    func findsEachInjectedFault(_ backend: Backend) throws {
        let f = try #require(Self.fixture)
        let engine = QueryEngine(store: backend == .sqlite ? f.sqlite : f.memory)
        let rows = try engine.coverage(QueryOptions(window: Self.window))
        let by = Dictionary(uniqueKeysWithValues: rows.map { ($0.node, $0) })
        let table = Report.coverage(rows).render(.table, wide: true)

        let silent = try #require(by[f.silent])
        #expect(silent.verdict == .gaps && silent.gaps.count == 1, "\(table)")
        if let g = silent.gaps.first {
            #expect(abs(g.from - Self.silence.0) <= 5 * Self.s && abs(g.to - Self.silence.1) <= 5 * Self.s,
                    "gap \(Timestamp.formatRFC3339(g.from))..\(Timestamp.formatRFC3339(g.to))")
            #expect(g.peerBytes > 0)
        }
        #expect(silent.coverage > 0.8 && silent.coverage < 0.85, "\(silent.coverage): 100 of 120 minutes")

        let skewed = try #require(by[f.skewed])
        #expect(skewed.verdict == .skew && skewed.skewSource == .logged, "\(table)")
        #expect(abs((skewed.skewSeconds ?? 0) - 90) <= 5, "\(String(describing: skewed.skewSeconds))")

        let dropping = try #require(by[f.dropping])
        #expect(dropping.verdict == .asymmetric, "\(table)")
        // A third of its reports lost: a third less than its peers say, overall; the largest shortfall
        // over single peers scatters around that (a pair's bytes sit in few, lognormal windows).
        #expect((dropping.asymmetry ?? 0) >= 0.25 && (dropping.asymmetry ?? 1) <= 0.6, "\(String(describing: dropping.asymmetry))")
        #expect(dropping.coverage > 0.55 && dropping.coverage < 0.78)

        let never = try #require(by[f.never])
        #expect(never.verdict == .silent && never.messages == 0 && never.coverage == 0, "\(table)")
        #expect(never.gaps.count == 1 && never.gaps.first?.from == Self.window.from && never.gaps.first?.to == Self.window.to)

        // Every other reporter is healthy.
        let faulty = Set([f.silent, f.skewed, f.dropping, f.never])
        for r in rows where !faulty.contains(r.node) && r.messages > 0 {
            #expect(r.verdict == .ok, "\(r.node): \(table)")
            #expect(r.skewSource == .logged && abs(r.skewSeconds ?? 99) < 5, "\(r.node)")
        }
        // Nodes that never report by design are silent, not ok; nobody else is.
        #expect(rows.filter { $0.verdict == .silent }.allSatisfy { !$0.reports || $0.node == f.never })
        // Worst first.
        #expect(rows.map(\.verdict) == rows.map(\.verdict).sorted())
    }

    /// Without `logged` (older stores, log streaming) the skew comes from the peers' windows.
    @Test func skewFromPeersWithoutLogged() throws {
        let f = try #require(Self.fixture)
        let rows = try QueryEngine(store: f.unlogged).coverage(QueryOptions(window: Self.window))
        let by = Dictionary(uniqueKeysWithValues: rows.map { ($0.node, $0) })
        let table = Report.coverage(rows).render(.table, wide: true)
        let skewed = try #require(by[f.skewed])
        #expect(skewed.skewSource == .peers && abs((skewed.skewSeconds ?? 0) - 90) <= 5, "\(table)")
        #expect(skewed.verdict == .skew)
        #expect(rows.filter { $0.skewSource == .peers }.count >= 12, "most reporters share conversations with reporting peers")
        for r in rows where r.node != f.skewed && r.messages > 0 && r.skewSeconds != nil {
            #expect(r.skewSource == .peers && abs(r.skewSeconds!) < 5, "\(r.node): \(table)")
        }
    }

    /// SQLite reads windows and rows in one pass, the in-memory store in two (the protocol's
    /// default): the answers are the same, field for field, with and without `logged`.
    @Test func bothStoresGiveTheSameAnswer() throws {
        let f = try #require(Self.fixture)
        for (a, b) in [(f.sqlite, f.memory), (f.unlogged, f.memoryUnlogged)] as [(any FlowStorage, any FlowStorage)] {
            for o in [QueryOptions(window: Self.window), QueryOptions(window: TimeWindow(from: Self.start + 17 * 60 * Self.s, to: Self.start + 83 * 60 * Self.s))] {
                let x = try QueryEngine(store: a).coverage(o), y = try QueryEngine(store: b).coverage(o)
                #expect(x == y, "\(Report.coverage(x).render(.table, wide: true))\n\(Report.coverage(y).render(.table, wide: true))")
            }
        }
    }

    /// Without `logged` the peers' reports are read during the peers' pass, before the skews are
    /// known, and those of the reporter whose clock is off are taken back out afterwards: the
    /// answer is the one of reading them once the skews are known, on windows on and off the
    /// minutes (raw rows at the edges). That reporter's reports do change the evidence: counted
    /// (under a skew threshold it stays below), they add to the bytes peers saw with some node
    /// that sent nothing (whose one gap is the whole window), so an answer that kept them would differ.
    @Test(arguments: Backend.allCases)
    func misplacedReportsAreTakenBackOut(_ backend: Backend) throws {
        let f = try #require(Self.fixture)
        let engine = QueryEngine(store: backend == .sqlite ? f.unlogged : f.memoryUnlogged)
        let off = TimeWindow(from: Self.start + 17 * 60 * Self.s + 20 * Self.s, to: Self.start + 83 * 60 * Self.s + 7 * Self.s)
        for window in [Self.window, off] {
            let o = QueryOptions(window: window)
            let early = try engine.coverage(o)
            let late = try engine.read(o) { ctx in
                var c = Coverage(ctx, CoverageThresholds(), rejects: [])
                c.readsEvidenceEarly = false
                return try c.rows()
            }
            #expect(early == late, "\(Report.coverage(early).render(.table, wide: true))\n\(Report.coverage(late).render(.table, wide: true))")
            let skewed = try #require(early.first { $0.node == f.skewed })
            #expect(skewed.verdict == .skew && skewed.skewSource == .peers)
            var lenient = CoverageThresholds()
            lenient.skewSeconds = 1000
            let counted = try engine.coverage(o, thresholds: lenient)
            let peerBytes = { (rows: [CoverageRow]) in
                Dictionary(uniqueKeysWithValues: rows.filter { $0.messages == 0 }.map { ($0.node, $0.gaps.map(\.peerBytes)) })
            }
            #expect(peerBytes(counted) != peerBytes(early), "the skewed reporter's reports are evidence somewhere")
        }
    }

    /// The peers' skew as the README defines it, computed the plain way (a dictionary of every
    /// conversation's first two reporters): coverage's faster reading gives exactly the same.
    @Test(arguments: Backend.allCases)
    func peerSkewIsThePlainDefinition(_ backend: Backend) throws {
        let f = try #require(Self.fixture)
        let store: any FlowStorage = backend == .sqlite ? f.unlogged : f.memoryUnlogged
        struct Key: Hashable { var proto: UInt8, a: Int64, aPort: UInt16, b: Int64, bPort: UInt16 }
        let (expected, ids) = try store.read { snap -> ([Int64: Double], [Int64: String]) in
            var seen: [Key: (Int64, Int64, Int64, Int64)] = [:]
            try snap.messages(from: Self.window.from, to: Self.window.to, reporter: nil, descending: false) { h, _, r in
                guard r.kind == .virtual, r.src != 0, r.dst != 0 else { return true }
                let key = (r.src, r.srcPort) < (r.dst, r.dstPort)
                    ? Key(proto: r.proto, a: r.src, aPort: r.srcPort, b: r.dst, bPort: r.dstPort)
                    : Key(proto: r.proto, a: r.dst, aPort: r.dstPort, b: r.src, bPort: r.srcPort)
                guard var s = seen[key] else { seen[key] = (h.reporter, h.start, 0, 0); return true }
                if s.0 != h.reporter, s.2 == 0 { (s.2, s.3) = (h.reporter, h.start) }
                seen[key] = s
                return true
            }
            let margin = CoverageThresholds().peerSkewMargin
            let (lo, hi) = (Self.window.from + margin, Self.window.to - margin)
            var samples: [Int64: [Double]] = [:]
            for s in seen.values where s.2 != 0 && s.1 >= lo && s.1 < hi && s.3 >= lo && s.3 < hi {
                samples[s.0, default: []].append(Double(s.1 - s.3))
                samples[s.2, default: []].append(Double(s.3 - s.1))
            }
            let ids = Dictionary(uniqueKeysWithValues: try snap.nodeEntries().map { ($0.id, $0.stableID) })
            return (samples.mapValues(Coverage.median), ids)
        }
        let rows = try QueryEngine(store: store).coverage(QueryOptions(window: Self.window))
        let got = Dictionary(uniqueKeysWithValues: rows.compactMap { r in r.skewSeconds.map { (r.node, $0) } })
        #expect(expected.count >= 12)
        #expect(got == Dictionary(uniqueKeysWithValues: expected.map { (ids[$0.key]!, $0.value / 1e9) }))
    }

    /// Without `logged` the rows are decoded on a second thread: a malformed blob half-way through
    /// the window (after thousands of messages went through the handoff) is the store's error,
    /// as on one thread, and the reading does not wait for ever. Also when the window's first
    /// message carries `logged` and a later one lacks it (the peers are read in a second pass).
    @Test(arguments: [false, true])
    func malformedRowsAreAnErrorNotAHang(firstLogged: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-coverage-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("b.db").path
        let store = try FlowStore(path: path)
        var config = GeneratorConfig(start: Self.start, duration: 3600 * Self.s)
        config.nodes = 8
        config.seed = 5
        config.omitLogged = true
        var bytes: [UInt8] = []
        _ = try FlowLogGenerator(config).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        // No hour summaries: the question reads the messages, which are damaged below.
        let ingester = Ingester(store: store)
        ingester.policy.buildsCoverage = false
        _ = try ingester.ingest(bytes: bytes, source: "generated")
        let window = TimeWindow(from: Self.start, to: Self.start + 3600 * Self.s)
        let db = try DatabaseQueue(path: path)
        if firstLogged {
            try db.write { db in
                let first = try FlowStore.storedMessages(db).first!
                try FlowStore.rewriteStoredMessages(db) { var m = $0; if m == first { m.loggedMs = 1500 }; return m }
            }
        }
        let healthy = try QueryEngine(store: store).coverage(QueryOptions(window: window))
        #expect(healthy.contains { $0.skewSource == .peers }, "\(Report.coverage(healthy).render(.table, wide: true))")
        try db.write { db in
            let first = try FlowStore.storedMessages(db, from: Self.start + 1800 * Self.s).first!
            try FlowStore.rewriteStoredMessages(db) { var m = $0; if m == first { m.rows = [0x01, 0x80] }; return m }
        }
        #expect { try QueryEngine(store: store).coverage(QueryOptions(window: window)) } throws: { "\($0)".contains("flow rows blob") }
    }

    /// The nodes' windows are collected flat and grouped once: small ids take plain arrays, an id
    /// past ``ByNode`` 's dense range the general path; both keep each node's windows in the
    /// order the scan met them (`holes` sorts only when they are not), clipped to the window.
    @Test(arguments: [Int64(7), Int64(1) << 40])
    func groupingByNodeKeepsEachNodesOrder(other: Int64) {
        var messages = Coverage.OwnMessages(to: 1000)
        for (r, start) in [(Int64(3), Int64(10)), (other, 5), (3, 2), (1, 7), (other, 1), (3, 996)] {
            messages.add(MessageHeader(start: start, end: start + 5, reporter: r, digest: 0, logged: r == 3 ? start + 1 : nil))
        }
        let own = messages.grouped(width: 8)
        #expect(own[3].windows.map(\.0) == [10, 2, 996] && own[3].windows.map(\.1) == [15, 7, 1000])
        #expect(own[other].windows.map(\.0) == [5, 1] && own[other].offsets.isEmpty)
        #expect(own[1].windows.map(\.0) == [7])
        #expect(own[3].offsets == [4, 4, 4])
        #expect(own[2].windows.isEmpty)
    }

    @Test func medianBySelectionIsTheSortedMedian() {
        var rng = SystemRandomNumberGenerator()
        for n in [1, 2, 3, 4, 5, 8, 17, 100, 1001, 4096] {
            for spread in [1, 3, 1_000_000] as [Int64] {
                var v = (0..<n).map { _ in Int64.random(in: -spread...spread, using: &rng) * 1_000_000 }
                if spread == 3 { v.sort() }
                let expected = Coverage.median(v.map(Double.init))
                #expect(Coverage.median(&v) == expected, "n \(n), spread \(spread)")
            }
        }
    }

    @Test func filtersChooseTheNodesAndTheGapThreshold() throws {
        let f = try #require(Self.fixture)
        let engine = QueryEngine(store: f.sqlite)
        var o = QueryOptions(window: Self.window)
        o.endpoint = f.silent
        let one = try engine.coverage(o)
        #expect(one.map(\.node) == [f.silent] && one.first?.verdict == .gaps)
        // A threshold longer than the silence finds no gap; the shortfall it leaves is then the verdict.
        let lenient = try engine.coverage(o, thresholds: CoverageThresholds(gap: 30 * 60 * Self.s))
        #expect(lenient.first?.gaps.isEmpty == true && lenient.first?.verdict == .asymmetric)
        // An address that is no node is an error; the question parses `gap`.
        o.endpoint = "192.0.2.1"
        #expect(throws: QueryError.self) { try engine.coverage(o) }
        #expect(throws: QueryError.self) { try Question(command: "coverage", parameters: ["gap": "0s"]) }
        guard case .coverage(_, let gap) = try Question(command: "coverage", parameters: ["gap": "5m"]) else { Issue.record("not coverage"); return }
        #expect(gap == 300 * Self.s)
    }
}

@Suite(.ownThreads)
struct CoverageRejectsTests {
    @Test func rejectsCountForTheNodeTheirExcerptNames() {
        let loc = SourceLocation(source: "f.jsonl", line: 1, offset: 0)
        let rejects = [
            Reject(location: loc, reason: "bad", excerpt: #"{"nodeId":"nA","start":"2026-1"#),
            Reject(location: loc, reason: "bad", excerpt: #"{"start":"x", "nodeId" : "nA", "end""#),
            Reject(location: loc, reason: "bad", excerpt: #"{"nodeId":"nB"}"#),
            Reject(location: loc, reason: "bad", excerpt: #"{"nodeId":"#),
            Reject(location: loc, reason: "syntax", excerpt: "not json"),
        ]
        #expect(Coverage.rejectsByNode(rejects) == ["nA": 2, "nB": 1])
    }
}
