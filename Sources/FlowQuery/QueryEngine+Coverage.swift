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
    /// Without `logged`: whether the peers' reports are read during the peers' pass (false: after
    /// the skews are known, as with `logged`; the answer is the same).
    var readsEvidenceEarly = true

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
        /// Its messages' windows, in the order the scan met them (from an hour summary: their
        /// union, which has the same holes and covers the same time).
        var windows: ArraySlice<(Nanoseconds, Nanoseconds)> = []
        /// Its messages in the window.
        var messages = 0
        /// end - logged of the messages that carry `logged`.
        var offsets: [Int64] = []
    }

    /// The nodes' own messages as a scan meets them: each message's window (clipped to the
    /// window's end) and `end − logged` appended to flat lists, then grouped by node once, each
    /// node's in the scan's order (a per-node list per message cost more than the reading).
    struct OwnMessages {
        let to: Nanoseconds
        var reporters: [Int64] = []
        var windows: [(Nanoseconds, Nanoseconds)] = []
        var offsets: [(reporter: Int64, offset: Int64)] = []

        @inline(__always)
        mutating func add(_ h: MessageHeader) {
            reporters.append(h.reporter)
            windows.append((h.start, min(h.end, to)))
            if let logged = h.logged { offsets.append((h.reporter, h.end - logged)) }
        }

        /// Each node's windows and offsets.
        func grouped(width: Int) -> ByNode<Own> {
            // Usually every reporter is a small id: counts and places in plain arrays.
            if let high = reporters.max(), let low = reporters.min(), low >= 0, high < ByNode<Int>.denseLimit {
                var count = [Int](repeating: 0, count: Int(high) + 1)
                for r in reporters { count[Int(r)] += 1 }
                var next = [Int](repeating: 0, count: count.count)
                var start = 0
                for n in count.indices {
                    next[n] = start
                    start += count[n]
                }
                let first = next
                let sorted = [(Nanoseconds, Nanoseconds)](unsafeUninitializedCapacity: windows.count) { out, initialized in
                    for (r, w) in zip(reporters, windows) {
                        (out.baseAddress! + next[Int(r)]).initialize(to: w)
                        next[Int(r)] += 1
                    }
                    initialized = windows.count
                }
                var own = ByNode<Own>(width: max(width, count.count), empty: Own())
                for n in count.indices where count[n] > 0 {
                    own.modify(Int64(n)) {
                        $0.windows = sorted[first[n]..<first[n] + count[n]]
                        $0.messages = count[n]
                    }
                }
                for (r, offset) in offsets { own.modify(r) { $0.offsets.append(offset) } }
                return own
            }
            // A counting sort by node: where each node's windows start, then each window to its place.
            var next = ByNode<Int>(width: width, empty: 0)
            for r in reporters { next.modify(r) { $0 += 1 } }
            var own = ByNode<Own>(width: width, empty: Own())
            var start = 0
            var ranges: [(Int64, Range<Int>)] = []
            for n in next.ids(where: { $0 > 0 }) {
                let count = next[n]
                ranges.append((n, start..<start + count))
                next.modify(n) { $0 = start }
                start += count
            }
            var sorted = [(Nanoseconds, Nanoseconds)](repeating: (0, 0), count: windows.count)
            sorted.withUnsafeMutableBufferPointer { out in
                for (r, w) in zip(reporters, windows) {
                    next.modify(r) { i in
                        out[i] = w
                        i += 1
                    }
                }
            }
            for (n, range) in ranges {
                own.modify(n) {
                    $0.windows = sorted[range]
                    $0.messages = range.count
                }
            }
            for (r, offset) in offsets { own.modify(r) { $0.offsets.append(offset) } }
            return own
        }
    }

    /// What the peers reported, from the observations of the window: evidence per node and
    /// bucket (one run of buckets per node, added when first needed, in one flat array) and what
    /// each reporter says about each peer (a matrix by node id; a table past 2,048 nodes).
    struct PeerReports {
        let directory: Directory
        let filter: CompiledFilter?
        let width: Int, buckets: Int
        let base: Nanoseconds, resolution: Nanoseconds
        var evidenceRun: ByNode<Int>
        var evidence: [Int64] = []
        var said: Said.Table

        init(_ c: Coverage, width: Int) {
            (directory, filter, self.width, buckets, base, resolution) = (c.ctx.directory, c.ctx.filter, width, c.buckets, c.base, c.resolution)
            evidenceRun = ByNode<Int>(width: width, empty: -1)
            said = Said.Table(width: width)
        }

        /// Counts one observation: as evidence for the nodes at its ends (when `evidence`) and
        /// toward what its reporter says (when `saying`); `withdraw` takes its evidence back out.
        @inline(__always)
        mutating func take(_ o: Observation, evidence: Bool, saying: Bool = true, withdraw: Bool = false) {
            let c = o.counters
            let bytes = Counters.sum(c.txBytes, c.rxBytes)
            guard bytes != 0 || c.txPackets != 0 || c.rxPackets != 0 else { return }
            let src = o.kind == .physical ? Endpoint.node(o.reporter) : directory.endpoint(address: o.src)
            let dst = directory.endpoint(address: o.dst)
            if let f = filter, !f.matches(reporter: o.reporter, kind: o.kind, proto: o.proto, port: o.port, from: src, to: dst),
               !f.matches(reporter: o.reporter, kind: o.kind, proto: o.proto, port: o.port, from: dst, to: src) { return }
            if evidence {
                let peer = o.kind == .physical ? directory.endpoint(address: o.src) : src
                let k = min(buckets - 1, max(0, Int((o.time - base) / resolution)))
                let credit = max(bytes, 1)
                if let n = peer.nodeID, n != o.reporter, n < width { self.credit(n, k, credit, withdraw) }
                if let n = dst.nodeID, n != o.reporter, n < width { self.credit(n, k, credit, withdraw) }
            }
            if saying, o.kind == .virtual, src.nodeID == o.reporter, let p = dst.nodeID, p != o.reporter {
                said.add(o.reporter, p, sent: c.txBytes, received: c.rxBytes)
            }
        }

        @inline(__always)
        private mutating func credit(_ n: Int64, _ k: Int, _ credit: Int64, _ withdraw: Bool) {
            var run = evidenceRun[n]
            if withdraw {
                // Only what was added is taken out (a store that answered differently the second time would leave it).
                if run >= 0 { evidence[run + k] -= credit }
                return
            }
            if run < 0 {
                run = evidence.count
                evidenceRun.modify(n) { $0 = run }
                evidence.append(contentsOf: repeatElement(0, count: buckets))
            }
            evidence[run + k] = Counters.sum(evidence[run + k], credit)
        }

        /// Takes the evidence of the `misplaced` reporters back out after every reporter's was
        /// read (from `parts`), so that it is what reading only the others' would have given.
        /// Sums are exact while none reached the counters' limit; when one did, the evidence is
        /// read again without them.
        mutating func takeOut(_ misplaced: ByNode<Bool>, readIn parts: [QueryContext.ObservationPart], _ ctx: QueryContext) throws {
            let wrong = misplaced.ids { $0 }
            guard !wrong.isEmpty else { return }
            if evidence.contains(.max) {
                evidenceRun = ByNode<Int>(width: width, empty: -1)
                evidence = []
                for part in parts {
                    try ctx.observations(in: part) { if !misplaced[$0.reporter] { take($0, evidence: true, saying: false) } }
                }
                return
            }
            for part in parts {
                if case .rollup(_, let r, _, _) = part, !misplaced[r] { continue }
                try ctx.observations(in: part) { if misplaced[$0.reporter] { take($0, evidence: true, saying: false, withdraw: true) } }
            }
            // A node only they reported traffic with has no evidence left: as if never credited
            // (every credit is at least 1, so a run of zeros had none from the others).
            for n in evidenceRun.ids(where: { $0 >= 0 }) {
                let run = evidenceRun[n]
                if !evidence[run..<run + buckets].contains(where: { $0 != 0 }) { evidenceRun.modify(n) { $0 = -1 } }
            }
        }
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
        let width = Int((directory.nodes.keys.max() ?? 0) + 1)

        // 1. The nodes' own messages. When the window's first message lacks `logged`, the skew
        // will most likely come from the peers, whose conversations are read in the same pass.
        // The peers' reports (3. below) are then read during that pass too, whenever its second
        // thread lags behind, before the skews are known: the reports of a reporter whose clock
        // turns out to be off are taken back out afterwards.
        var peerSkews: [Int64: Double]? = nil
        var peers = PeerReports(self, width: width)
        var readEarly: [QueryContext.ObservationPart]? = nil
        let skewRange = (window.from + t.peerSkewMargin, window.to - t.peerSkewMargin)
        var own: ByNode<Own>
        let summarized = try Summarized(self, width: width)
        if let summarized {
            own = summarized.own
        } else if try firstMessageLacksLogged() {
            let parts = readsEvidenceEarly ? try ctx.observationParts(window, step: resolution) : []
            var next = 0
            let read = try Self.readPeers(ctx.snapshot, window, width: width, skewRange: skewRange, windows: true) { share in
                guard next < parts.count, Double(next) < share * Double(parts.count) else { return false }
                try ctx.observations(in: parts[next]) { peers.take($0, evidence: true) }
                next += 1
                return true
            }
            (own, peerSkews) = (read.0!, read.1)
            readEarly = readsEvidenceEarly ? parts : nil
        } else {
            var messages = OwnMessages(to: window.to)
            try ctx.snapshot.messageWindows(from: window.from, to: window.to) { messages.add($0) }
            own = messages.grouped(width: width)
        }
        let reporting = own.ids { !$0.windows.isEmpty }

        // 2. Skew: from `logged`, against the tailnet's usual delivery delay; else from peers.
        var loggedMedian: [Int64: Double] = [:]
        for n in reporting where !own[n].offsets.isEmpty {
            own.modify(n) { loggedMedian[n] = Self.median(&$0.offsets) }
        }
        let delay = loggedMedian.count >= 3 ? Self.median(Array(loggedMedian.values)) : 0
        let needPeers = reporting.contains { own[$0].offsets.isEmpty }
        var peerSkew: [Int64: Double] = [:]
        if needPeers {
            if peerSkews == nil, let summarized {
                peerSkews = try summarized.skews(width: width, skewRange: skewRange)
            } else if peerSkews == nil {
                peerSkews = try Self.readPeers(ctx.snapshot, window, width: width, skewRange: skewRange, windows: false).1
            }
            peerSkew = peerSkews!
        }
        var misplaced = ByNode<Bool>(width: width, empty: false)
        for (n, m) in loggedMedian where abs(m - delay) >= t.skewSeconds * 1e9 { misplaced.modify(n) { $0 = true } }
        for (n, p) in peerSkew where loggedMedian[n] == nil && abs(p) >= t.skewSeconds * 1e9 { misplaced.modify(n) { $0 = true } }

        // 3. What peers reported: evidence per node and bucket, and what each reporter says per peer.
        // A reporter whose clock is off by the skew threshold or more places its reports at the
        // wrong times: its reports are no evidence of a gap (they still count for asymmetry).
        if let parts = readEarly {
            try peers.takeOut(misplaced, readIn: parts, ctx)
        } else {
            try ctx.observations(window, step: resolution) { peers.take($0, evidence: !misplaced[$0.reporter]) }
        }
        let (evidenceRun, evidence, said) = (peers.evidenceRun, peers.evidence, peers.said)

        // 4. One row per node.
        var nodes = Set(reporting).union(evidenceRun.ids { $0 >= 0 })
        if let only { nodes.formIntersection(only) }
        let reportingPeers = reporting
        let rejectsByNode = Self.rejectsByNode(rejects)
        var rows: [CoverageRow] = []
        for n in nodes {
            let entry = directory.nodes[n]
            let stableID = entry?.stableID ?? "node#\(n)"
            let mine = own[n]
            let (covered, holes) = Self.holes(mine.windows, window)
            let run = evidenceRun[n]
            var gaps: [CoverageGap] = []
            for (a, b) in holes where b - a > t.gap {
                guard run >= 0 else { break }
                // Whole buckets inside the hole, a skew threshold away from its ends: the peers'
                // windows of the traffic just before and after it may start that much later or earlier.
                let margin = a == window.from || b == window.to ? 0 : Int64(t.skewSeconds * 1e9)
                let (a, b) = (a + margin, b - margin)
                let first = max(0, Int((Timestamp.bucketStart(a - 1, step: resolution) + resolution - base) / resolution))
                let last = min(buckets, Int((Timestamp.bucketStart(b, step: resolution) - base) / resolution))
                var bytes: Int64 = 0
                if first < last { for k in first..<last { bytes = Counters.sum(bytes, evidence[run + k]) } }
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
                                    messages: mine.messages, coverage: Double(covered) / Double(window.to - window.from),
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

    /// Whether the window's first message (in the snapshot's order) lacks `logged`; false when none.
    func firstMessageLacksLogged() throws -> Bool {
        struct Seen: Error { var logged: Bool }
        do {
            try ctx.snapshot.messageWindows(from: window.from, to: window.to) { throw Seen(logged: $0.logged != nil) }
        } catch let seen as Seen {
            return !seen.logged
        }
        return false
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
    static func holes(_ windows: ArraySlice<(Nanoseconds, Nanoseconds)>, _ window: TimeWindow) -> (Int64, [(Nanoseconds, Nanoseconds)]) {
        var covered: Int64 = 0
        var holes: [(Nanoseconds, Nanoseconds)] = []
        var cursor = window.from
        // Usually in order already (a store reads messages by start).
        let ordered = zip(windows, windows.dropFirst()).allSatisfy { $0.0 <= $1.0 } ? windows : ArraySlice(windows.sorted { $0.0 < $1.0 })
        for (s, e) in ordered {
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

    /// The median of integers (at least one), as ``median(_:)-swift.type.method`` of their `Double`
    /// values gives it, found by selection rather than sorting; reorders `values`.
    static func median(_ values: inout [Int64]) -> Double {
        let n = values.count
        let upper = select(&values, n / 2)
        guard n % 2 == 0 else { return Double(upper) }
        // After selecting, everything before n / 2 is at most `upper`: the lower middle is their largest.
        let lower = values[0..<(n / 2)].max()!
        return (Double(lower) + Double(upper)) / 2
    }

    /// Moves the `k`-th smallest value to index `k`, the smaller ones before it and the larger after it
    /// (quickselect with a median-of-three pivot), and returns it.
    static func select(_ v: inout [Int64], _ k: Int) -> Int64 {
        var lo = 0, hi = v.count - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            // Median of three to v[mid]: sorted data and runs of equal values stay linear.
            if v[mid] < v[lo] { v.swapAt(mid, lo) }
            if v[hi] < v[lo] { v.swapAt(hi, lo) }
            if v[hi] < v[mid] { v.swapAt(hi, mid) }
            let pivot = v[mid]
            // Three-way partition: [lo, lt) < pivot, [lt, gt] == pivot, (gt, hi] > pivot.
            var lt = lo, i = lo, gt = hi
            while i <= gt {
                if v[i] < pivot {
                    v.swapAt(lt, i)
                    lt += 1
                    i += 1
                } else if v[i] > pivot {
                    v.swapAt(i, gt)
                    gt -= 1
                } else {
                    i += 1
                }
            }
            if k < lt {
                hi = lt - 1
            } else if k > gt {
                lo = gt + 1
            } else {
                return pivot
            }
        }
        return v[k]
    }
}
