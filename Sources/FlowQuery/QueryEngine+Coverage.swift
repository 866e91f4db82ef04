public import FlowModel
import FlowStore
import Foundation

/// A period a node sent no message while its peers reported traffic with it.
public struct CoverageGap: Sendable, Equatable {
    /// The end of the node's last message before the gap (the window's start when none).
    public var from: Nanoseconds
    /// The start of its next message (the window's end when none).
    public var to: Nanoseconds
    /// Bytes its peers reported exchanging with it in the whole evidence buckets inside the gap.
    public var peerBytes: Int64
}

/// One node's verdict, worst first.
public enum CoverageVerdict: String, Sendable, CaseIterable, Comparable {
    /// Peers saw traffic with it, and it sent no message in the window.
    case silent
    /// It stopped reporting for longer than the gap threshold while peers saw traffic with it.
    case gaps
    /// It reports much less traffic with some peer than that peer reports with it.
    case asymmetric
    /// Its clock is off by at least the skew threshold.
    case skew
    case ok

    public static func < (a: CoverageVerdict, b: CoverageVerdict) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Where a skew estimate comes from.
public enum SkewSource: String, Sendable {
    /// The log service's receive times (`logged`) of the node's messages.
    case logged
    /// The node's windows against its peers' windows for the same conversations.
    case peers
}

/// One row of `coverage`: can this node's reports be trusted over the window?
public struct CoverageRow: Sendable, Equatable {
    public var node: String
    public var name: String?
    /// The node is a reporter: the store holds a message from it (in any window).
    public var reports: Bool
    /// Its messages that start in the window.
    public var messages: Int
    /// The share of the window covered by its messages' windows (0–1).
    public var coverage: Double
    /// Largest first.
    public var gaps: [CoverageGap]
    public var skewSeconds: Double?
    public var skewSource: SkewSource?
    /// The largest shortfall of its reports against a reporting peer's (0–1); nil when no peer had enough traffic.
    public var asymmetry: Double?
    /// The peer of that largest shortfall.
    public var asymmetryPeer: String?
    /// Recorded rejects whose excerpt names the node.
    public var rejects: Int
    public var verdict: CoverageVerdict
}

/// The thresholds of `coverage`'s estimates and verdicts (the README explains each).
public struct CoverageThresholds: Sendable {
    /// A period without messages longer than this (with peer traffic inside) is a gap.
    public var gap: Nanoseconds = 120 * Timestamp.nanosPerSecond
    /// A clock off by at least this many seconds gets the verdict `skew`.
    public var skewSeconds: Double = 10
    /// A shortfall of at least this share gets the verdict `asymmetric`.
    public var asymmetry: Double = 0.2
    /// A direction between two nodes counts toward asymmetry only when one side reports at least this many bytes.
    public var asymmetryMinBytes: Int64 = 1 << 20
    /// Conversations first seen this close to the window's edges do not count toward the peers' skew estimate.
    public var peerSkewMargin: Nanoseconds = 300 * Timestamp.nanosPerSecond

    public init(gap: Nanoseconds = 120 * Timestamp.nanosPerSecond) {
        self.gap = gap
    }
}

extension QueryEngine {
    /// Per node over the window: how much of it its messages cover, its gaps, clock skew and
    /// asymmetry against its peers, and one verdict; worst first.
    ///
    /// Every node that sent a message in the window or that a peer reported traffic with is
    /// listed (`--endpoint`, `--tag`, `--user` narrow the list); `--kind`, `--proto` and
    /// `--where` narrow the traffic that counts as evidence.
    ///
    /// For example:
    /// ```swift
    /// let rows = try engine.coverage(QueryOptions(window: try TimeWindow.parse(from: "-24h", to: "now")))
    /// let untrusted = rows.filter { $0.verdict != .ok }
    /// ```
    ///
    /// - throws: ``QueryError`` when `--endpoint` names an address that is no node.
    public func coverage(_ options: QueryOptions, thresholds: CoverageThresholds = CoverageThresholds()) throws -> [CoverageRow] {
        let rejects = try store.rejects(limit: 1_000_000)
        return try read(options) { ctx in
            // Coverage is read from each node's messages: pruned raw time has none to read.
            try ctx.needsRawRows(options.window, "coverage")
            return try Coverage(ctx, thresholds, rejects: rejects).rows()
        }
    }
}

/// The computation of one `coverage` answer.
struct Coverage {
    let ctx: QueryContext
    let t: CoverageThresholds
    let window: TimeWindow
    let rejects: [Reject]
    /// Evidence buckets: a minute, or an hour over windows longer than a week.
    let resolution: Nanoseconds
    let base: Nanoseconds
    let buckets: Int

    init(_ ctx: QueryContext, _ thresholds: CoverageThresholds, rejects: [Reject]) {
        self.ctx = ctx
        t = thresholds
        window = ctx.options.window
        self.rejects = rejects
        let minute = 60 * Timestamp.nanosPerSecond
        resolution = window.to - window.from > 7 * 86_400 * Timestamp.nanosPerSecond ? 60 * minute : minute
        base = Timestamp.bucketStart(window.from, step: resolution)
        buckets = Int((Timestamp.bucketStart(window.to - 1, step: resolution) - base) / resolution + 1)
    }

    struct Said {
        var sent: Int64 = 0
        var received: Int64 = 0

        /// What each reporter says about each peer: a matrix by node id, or a table for large ids.
        struct Table {
            let width: Int
            var matrix: [Said]
            var table: [Int64: Said] = [:]

            init(width: Int) {
                self.width = width <= 2048 ? width : 0
                matrix = [Said](repeating: Said(), count: self.width * self.width)
            }

            @inline(__always)
            mutating func add(_ reporter: Int64, _ peer: Int64, sent: Int64, received: Int64) {
                if Int(reporter) < width, Int(peer) < width {
                    let i = Int(reporter) * width + Int(peer)
                    matrix[i].sent = Counters.sum(matrix[i].sent, sent)
                    matrix[i].received = Counters.sum(matrix[i].received, received)
                } else {
                    var s = table[reporter << 32 | peer] ?? Said()
                    s.sent = Counters.sum(s.sent, sent)
                    s.received = Counters.sum(s.received, received)
                    table[reporter << 32 | peer] = s
                }
            }

            subscript(_ reporter: Int64, _ peer: Int64) -> Said {
                Int(reporter) < width && Int(peer) < width ? matrix[Int(reporter) * width + Int(peer)] : table[reporter << 32 | peer] ?? Said()
            }
        }
    }

    struct Own {
        var windows: [(Nanoseconds, Nanoseconds)] = []
        /// end - logged of the messages that carry `logged`.
        var offsets: [Int64] = []
    }

    func rows() throws -> [CoverageRow] {
        let directory = ctx.directory
        // Which nodes to list.
        var only: Set<Int64>? = nil
        if let e = ctx.endpoint {
            guard let n = e.nodeID else {
                throw QueryError("coverage is per node: \(parameter: "endpoint") \(ctx.options.endpoint ?? "") is an address no node has")
            }
            only = [n]
        }
        if let tagged = ctx.taggedNodes {
            let ids = Set(tagged.compactMap(\.nodeID))
            only = only.map { $0.intersection(ids) } ?? ids
        }

        // 1. The nodes' own messages.
        var own: [Int64: Own] = [:]
        try ctx.snapshot.messageWindows(from: window.from, to: window.to) { h in
            own[h.reporter, default: Own()].windows.append((h.start, min(h.end, window.to)))
            if let logged = h.logged { own[h.reporter, default: Own()].offsets.append(h.end - logged) }
        }

        // 2. Skew: from `logged`, against the tailnet's usual delivery delay; else from peers.
        var loggedMedian: [Int64: Double] = [:]
        for (n, o) in own where !o.offsets.isEmpty { loggedMedian[n] = Self.median(o.offsets.map(Double.init)) }
        let delay = loggedMedian.count >= 3 ? Self.median(Array(loggedMedian.values)) : 0
        let needPeers = own.contains { _, o in o.offsets.isEmpty }
        let peerSkew = needPeers ? try peerSkews() : [:]
        var misplaced: Set<Int64> = []
        for (n, m) in loggedMedian where abs(m - delay) >= t.skewSeconds * 1e9 { misplaced.insert(n) }
        for (n, p) in peerSkew where loggedMedian[n] == nil && abs(p) >= t.skewSeconds * 1e9 { misplaced.insert(n) }

        // 3. What peers reported: evidence per node and bucket, and what each reporter says per peer.
        // A reporter whose clock is off by the skew threshold or more places its reports at the
        // wrong times: its reports are no evidence of a gap (they still count for asymmetry).
        // Dense by node id: one array of buckets per node (allocated when first needed), and a
        // matrix of what each reporter says about each peer (a table past 2,048 nodes).
        let width = Int((directory.nodes.keys.max() ?? 0) + 1)
        var evidence = [[Int64]](repeating: [], count: width)
        var said = Said.Table(width: width)
        let filter = ctx.filter
        let buckets = self.buckets, base = self.base, resolution = self.resolution
        try ctx.observations(window, step: resolution) { o in
            let c = o.counters
            let bytes = Counters.sum(c.txBytes, c.rxBytes)
            guard bytes != 0 || c.txPackets != 0 || c.rxPackets != 0 else { return }
            let src = o.kind == .physical ? Endpoint.node(o.reporter) : directory.endpoint(address: o.src)
            let dst = directory.endpoint(address: o.dst)
            if let f = filter, !f.matches(reporter: o.reporter, kind: o.kind, proto: o.proto, port: o.port, from: src, to: dst),
               !f.matches(reporter: o.reporter, kind: o.kind, proto: o.proto, port: o.port, from: dst, to: src) { return }
            let peer = o.kind == .physical ? directory.endpoint(address: o.src) : src
            let k = min(buckets - 1, max(0, Int((o.time - base) / resolution)))
            for x in [peer, dst] where !misplaced.contains(o.reporter) {
                guard let n = x.nodeID, n != o.reporter else { continue }
                let i = Int(n)
                guard i < width else { continue }
                if evidence[i].isEmpty { evidence[i] = [Int64](repeating: 0, count: buckets) }
                evidence[i][k] = Counters.sum(evidence[i][k], max(bytes, 1))
            }
            if o.kind == .virtual, src.nodeID == o.reporter, let p = dst.nodeID, p != o.reporter {
                said.add(o.reporter, p, sent: c.txBytes, received: c.rxBytes)
            }
        }

        // 4. One row per node.
        var nodes = Set(own.keys).union(evidence.indices.filter { !evidence[$0].isEmpty }.map(Int64.init))
        if let only { nodes.formIntersection(only) }
        let reportingPeers = Array(own.keys)
        let rejectsByNode = Self.rejectsByNode(rejects)
        var rows: [CoverageRow] = []
        for n in nodes {
            let entry = directory.nodes[n]
            let stableID = entry?.stableID ?? "node#\(n)"
            let mine = own[n] ?? Own()
            let (covered, holes) = Self.holes(mine.windows, window)
            let ev: [Int64]? = Int(n) < width && !evidence[Int(n)].isEmpty ? evidence[Int(n)] : nil
            var gaps: [CoverageGap] = []
            for (a, b) in holes where b - a > t.gap {
                guard let ev else { break }
                // Whole buckets inside the hole, a skew threshold away from its ends: the peers'
                // windows of the traffic just before and after it may start that much later or earlier.
                let margin = a == window.from || b == window.to ? 0 : Int64(t.skewSeconds * 1e9)
                let (a, b) = (a + margin, b - margin)
                let first = max(0, Int((Timestamp.bucketStart(a - 1, step: resolution) + resolution - base) / resolution))
                let last = min(buckets, Int((Timestamp.bucketStart(b, step: resolution) - base) / resolution))
                var bytes: Int64 = 0
                if first < last { for k in first..<last { bytes = Counters.sum(bytes, ev[k]) } }
                if bytes > 0 { gaps.append(CoverageGap(from: a - margin, to: b + margin, peerBytes: bytes)) }
            }
            gaps.sort { ($0.to - $0.from, $1.from) > ($1.to - $1.from, $0.from) }

            var skew: Double? = nil
            var source: SkewSource? = nil
            if let m = loggedMedian[n] {
                skew = (m - delay) / 1e9
                source = .logged
            } else if let p = peerSkew[n] {
                skew = p / 1e9
                source = .peers
            }

            var asymmetry: Double? = nil
            var asymmetryPeer: Int64? = nil
            for p in reportingPeers where p != n && !mine.windows.isEmpty {
                let mineSaid = said[n, p], theirs = said[p, n]
                for (ownView, peerView) in [(mineSaid.sent, theirs.received), (mineSaid.received, theirs.sent)] {
                    guard max(ownView, peerView) >= t.asymmetryMinBytes, peerView > ownView else { continue }
                    let shortfall = Double(peerView - ownView) / Double(peerView)
                    if shortfall > (asymmetry ?? -1) { (asymmetry, asymmetryPeer) = (shortfall, p) }
                }
                if asymmetry == nil, max(mineSaid.sent, theirs.received, mineSaid.received, theirs.sent) >= t.asymmetryMinBytes {
                    asymmetry = 0
                }
            }

            let verdict: CoverageVerdict
            if mine.windows.isEmpty {
                verdict = .silent
            } else if !gaps.isEmpty {
                verdict = .gaps
            } else if let a = asymmetry, a >= t.asymmetry {
                verdict = .asymmetric
            } else if let s = skew, abs(s) >= t.skewSeconds {
                verdict = .skew
            } else {
                verdict = .ok
            }
            rows.append(CoverageRow(node: stableID, name: entry?.name, reports: entry?.isReporter ?? !mine.windows.isEmpty,
                                    messages: mine.windows.count, coverage: Double(covered) / Double(window.to - window.from),
                                    gaps: gaps, skewSeconds: skew, skewSource: source, asymmetry: asymmetry,
                                    asymmetryPeer: asymmetryPeer.map { directory.nodes[$0]?.stableID ?? "node#\($0)" },
                                    rejects: rejectsByNode[stableID] ?? 0, verdict: verdict))
        }
        return rows.sorted { a, b in
            if a.verdict != b.verdict { return a.verdict < b.verdict }
            let sa = Self.severity(a), sb = Self.severity(b)
            if sa != sb { return sa > sb }
            return byteOrder(a.node, b.node)
        }
    }

    /// Rejects per node ID named in their excerpt (`"nodeId":"…"`; an excerpt cut before the ID names none).
    static func rejectsByNode(_ rejects: [Reject]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for r in rejects {
            if let id = r.namedNodeID { counts[id, default: 0] += 1 }
        }
        return counts
    }

    /// How bad a row is within its verdict, for sorting.
    static func severity(_ r: CoverageRow) -> Double {
        switch r.verdict {
        case .silent: Double(r.gaps.reduce(Int64(0)) { $0 + $1.peerBytes })
        case .gaps: Double(r.gaps.reduce(Int64(0)) { $0 + ($1.to - $1.from) })
        case .asymmetric: r.asymmetry ?? 0
        case .skew: abs(r.skewSeconds ?? 0)
        case .ok: 1 - r.coverage
        }
    }

    /// The covered time of message windows inside `window`, and the holes between them.
    static func holes(_ windows: [(Nanoseconds, Nanoseconds)], _ window: TimeWindow) -> (Int64, [(Nanoseconds, Nanoseconds)]) {
        var covered: Int64 = 0
        var holes: [(Nanoseconds, Nanoseconds)] = []
        var cursor = window.from
        for (s, e) in windows.sorted(by: { $0.0 < $1.0 }) {
            if s > cursor { holes.append((cursor, s)) }
            let a = max(s, cursor), b = min(max(e, s), window.to)
            if b > a { covered += b - a }
            cursor = max(cursor, b)
        }
        if cursor < window.to { holes.append((cursor, window.to)) }
        return (covered, holes)
    }

    static func median(_ values: [Double]) -> Double {
        let v = values.sorted()
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// Skew from peers (ns, per node): for each conversation (protocol and both address:port
    /// ends) that both ends report, first seen by both at least ``CoverageThresholds/peerSkewMargin``
    /// inside the window, the difference of the two ends' first windows; the median per node.
    func peerSkews() throws -> [Int64: Double] {
        struct Conversation: Hashable {
            var proto: UInt8
            var a: Int64, aPort: UInt16, b: Int64, bPort: UInt16
        }
        struct Sighting {
            var first: Int64, firstAt: Nanoseconds
            var second: Int64 = 0, secondAt: Nanoseconds = 0
        }
        var seen: [Conversation: Sighting] = [:]
        try ctx.snapshot.messages(from: window.from, to: window.to, reporter: nil, descending: false) { h, _, r in
            guard r.kind == .virtual, r.src != 0, r.dst != 0 else { return true }
            let key = (r.src, r.srcPort) < (r.dst, r.dstPort)
                ? Conversation(proto: r.proto, a: r.src, aPort: r.srcPort, b: r.dst, bPort: r.dstPort)
                : Conversation(proto: r.proto, a: r.dst, aPort: r.dstPort, b: r.src, bPort: r.srcPort)
            if var s = seen[key] {
                if s.first == h.reporter {
                    if h.start < s.firstAt { s.firstAt = h.start; seen[key] = s }
                } else if s.second == 0 || s.second == h.reporter {
                    if s.second == 0 || h.start < s.secondAt { (s.second, s.secondAt) = (h.reporter, h.start); seen[key] = s }
                }
            } else {
                seen[key] = Sighting(first: h.reporter, firstAt: h.start)
            }
            return true
        }
        let lo = window.from + t.peerSkewMargin, hi = window.to - t.peerSkewMargin
        var samples: [Int64: [Double]] = [:]
        for s in seen.values where s.second != 0 {
            guard s.firstAt >= lo, s.firstAt < hi, s.secondAt >= lo, s.secondAt < hi else { continue }
            samples[s.first, default: []].append(Double(s.firstAt - s.secondAt))
            samples[s.second, default: []].append(Double(s.secondAt - s.firstAt))
        }
        return samples.mapValues(Self.median)
    }
}
