import FlowModel
import FlowStore

/// One pre-aggregated observation: a rollup entry, or one flow row of a message.
struct Observation {
    /// The bucket start (rollups) or the message's window start, ns since the epoch.
    var time: Nanoseconds
    /// The observer: the store's id of the reporting node.
    var reporter: Int64
    var kind: TrafficKind
    var proto: UInt8
    /// The service port (see ``FlowRow/servicePort``).
    var port: UInt16
    /// Which end of the row held it (see ``FlowRow/serviceSide(_:_:)``).
    var side: ServiceSide
    /// Address ids, 0 = none.
    var src: Int64
    var dst: Int64
    var counters: Counters
    /// The width of the bucket `time` starts (ns); 0 for a raw flow row, whose `time` is exact.
    var span: Nanoseconds = 0
}

/// One question's view of the store: a snapshot, the directory and the edge model.
final class QueryContext {
    let snapshot: any StoreSnapshot
    let directory: Directory
    let model: EdgeModel
    let options: QueryOptions
    /// The resolved `--endpoint`.
    let endpoint: Endpoint?
    /// Nodes matching `--tag`/`--user` (nil: no such filter).
    let taggedNodes: Set<Endpoint>?
    /// The compiled `--where` expression (nil: none).
    let filter: CompiledFilter?
    var labels: [Endpoint: String] = [:]
    /// What each level still holds after pruning.
    let coverage: LevelCoverage

    init(_ snapshot: any StoreSnapshot, options: QueryOptions) throws {
        self.snapshot = snapshot
        coverage = try snapshot.levelCoverage()
        let directory = try Directory(snapshot)
        self.directory = directory
        model = EdgeModel(directory)
        self.options = options
        endpoint = try options.endpoint.map { try directory.resolve($0) }
        if options.tag != nil || options.user != nil {
            var set: Set<Endpoint> = []
            for n in directory.nodes.values {
                if let tag = options.tag, !n.tags.contains(tag) { continue }
                if let user = options.user, n.user != user { continue }
                set.insert(.node(n.id))
            }
            taggedNodes = set
        } else {
            taggedNodes = nil
        }
        filter = try Self.compile(options.filter, directory)
    }

    /// The printed key of an endpoint (cached).
    ///
    /// - throws: ``StoreError`` when the store cannot be read.
    func label(_ e: Endpoint) throws -> String {
        if let l = labels[e] { return l }
        let l = try directory.label(e)
        labels[e] = l
        return l
    }

    /// Refuses a question that needs raw flow rows (`flows`, `scope --flows`) over pruned time.
    func needsRawRows(_ window: TimeWindow, _ what: String) throws {
        let kept = coverage.earliest(0)
        guard window.from < kept, window.to > Int64.min else { return }
        throw RetentionError("\(what) needs raw flow rows, and those before \(Timestamp.formatRFC3339(kept)) were pruned"
            + " (retention raw=\(coverage.policy[0] ?? "?")): the earliest time available is \(Timestamp.formatRFC3339(kept));"
            + " ask from then on (top, series, rollup and scope still answer over older time from the rollups kept)")
    }

    /// Whether an edge passes the endpoint and tag/user filters.
    @inline(__always)
    func keeps(_ from: Endpoint, _ to: Endpoint) -> Bool {
        if let e = endpoint, from != e, to != e { return false }
        if let t = taggedNodes, !t.contains(from), !t.contains(to) { return false }
        return true
    }

    /// Every observation in `window` passing the kind and protocol filters, read
    /// through the planner (rollups where whole buckets fit, raw rows at the edges).
    ///
    /// - parameter step: bucketed answers pass their step, so that rollups never straddle answer buckets.
    /// - parameter observers: read only these reporters' observations (nil: all).
    /// - parameter level: use only rollup levels finer than this many seconds (60: raw rows only).
    ///
    /// - parameter touching: skip, before any resolution, observations that cannot
    ///   make an edge with this endpoint at either end.
    func observations(_ window: TimeWindow, step: Nanoseconds? = nil, observers: Set<Int64>? = nil,
                             below level: Int64? = nil, touching: Endpoint? = nil, _ body: (Observation) throws -> Void) throws {
        if let e = touching {
            // Its addresses (sorted, usually one or two) and, for physical rows, the reporter itself.
            let addresses = directory.addressIDs(of: e).sorted()
            let node = e.nodeID ?? -1
            let inner = body
            return try observations(window, step: step, observers: observers, below: level) { o in
                if addresses.count <= 4 {
                    guard addresses.contains(o.src) || addresses.contains(o.dst) || (o.kind == .physical && o.reporter == node) else { return }
                } else {
                    guard Self.sortedContains(addresses, o.src) || Self.sortedContains(addresses, o.dst)
                        || (o.kind == .physical && o.reporter == node) else { return }
                }
                try inner(o)
            }
        }
        let reporters = try observers.map { Array($0).sorted() } ?? snapshot.reporters()
        let segments = try plannedSegments(window, step: step, below: level)
        let (kindMask, protoFilter) = kindAndProtoFilters
        for segment in segments {
            switch segment {
            case .missing:
                break
            case .rollup(let s, let from, let to):
                for r in reporters { try rollupObservations(s, reporter: r, from: from, to: to, kindMask, protoFilter, body) }
            case .raw(let from, let to):
                if observers != nil {
                    for r in reporters { try rawObservations(from: from, to: to, reporter: r, kindMask, protoFilter, body) }
                } else {
                    try rawObservations(from: from, to: to, reporter: nil, kindMask, protoFilter, body)
                }
            }
        }
    }

    /// A part of ``observations(_:step:observers:below:touching:_:)`` (``observationParts(_:step:)``).
    enum ObservationPart {
        /// One reporter's rollup sums of `seconds`-second buckets in `[from, to)`.
        case rollup(seconds: Int64, reporter: Int64, from: Nanoseconds, to: Nanoseconds)
        /// Every reporter's raw rows of the messages starting in `[from, to)`.
        case raw(from: Nanoseconds, to: Nanoseconds)
    }

    /// ``observations(_:step:observers:below:touching:_:)`` of every reporter in parts, so that a
    /// caller can read them a few at a time between other reads of the snapshot: each raw
    /// segment whole, each rollup segment one reporter at a time (in the order the whole reading
    /// meets them within a segment). All parts' observations together are the whole reading's.
    ///
    /// - throws: ``QueryError`` for time the planner cannot answer, as the whole reading does.
    func observationParts(_ window: TimeWindow, step: Nanoseconds?) throws -> [ObservationPart] {
        let segments = try plannedSegments(window, step: step, below: nil)
        let reporters = try snapshot.reporters()
        var parts: [ObservationPart] = []
        for segment in segments {
            switch segment {
            case .missing:
                break
            case .rollup(let s, let from, let to):
                for r in reporters { parts.append(.rollup(seconds: s, reporter: r, from: from, to: to)) }
            case .raw(let from, let to):
                parts.append(.raw(from: from, to: to))
            }
        }
        return parts
    }

    /// The observations of one part (``observationParts(_:step:)``).
    func observations(in part: ObservationPart, _ body: (Observation) throws -> Void) throws {
        let (kindMask, protoFilter) = kindAndProtoFilters
        switch part {
        case .rollup(let s, let r, let from, let to):
            try rollupObservations(s, reporter: r, from: from, to: to, kindMask, protoFilter, body)
        case .raw(let from, let to):
            try rawObservations(from: from, to: to, reporter: nil, kindMask, protoFilter, body)
        }
    }

    /// The planner's segments of `window`; throws for missing time.
    private func plannedSegments(_ window: TimeWindow, step: Nanoseconds?, below level: Int64?) throws -> [Planner.Segment] {
        let segments = Planner.plan(window, step: step, below: level, coverage: coverage)
        for case .missing(let from, let to) in segments {
            throw Planner.gapError((from, to), window: window, step: step, below: level, coverage: coverage)
        }
        return segments
    }

    /// The kinds (a bit mask: a Set lookup per row would hash) and the protocol (-1: any) that count.
    private var kindAndProtoFilters: (UInt8, Int) {
        (options.candidateKinds.reduce(UInt8(0)) { $0 | 1 << $1.rawValue } & (filter?.kindMask ?? 0xff), options.proto.map(Int.init) ?? -1)
    }

    @inline(__always)
    private func rollupObservations(_ s: Int64, reporter r: Int64, from: Nanoseconds, to: Nanoseconds, _ kindMask: UInt8,
                                    _ protoFilter: Int, _ body: (Observation) throws -> Void) throws {
        let span = s * Timestamp.nanosPerSecond
        try snapshot.rollups(step: s, reporter: r, fromBucket: from / Timestamp.nanosPerSecond,
                             toBucket: to / Timestamp.nanosPerSecond) { bucket, e in
            guard kindMask & (1 << e.kind.rawValue) != 0, protoFilter < 0 || protoFilter == Int(e.proto) else { return }
            try body(Observation(time: bucket * Timestamp.nanosPerSecond, reporter: r, kind: e.kind, proto: e.proto,
                                 port: e.port, side: e.side, src: e.src, dst: e.dst, counters: e.counters, span: span))
        }
    }

    @inline(__always)
    private func rawObservations(from: Nanoseconds, to: Nanoseconds, reporter: Int64?, _ kindMask: UInt8, _ protoFilter: Int,
                                 _ body: (Observation) throws -> Void) throws {
        try snapshot.messages(from: from, to: to, reporter: reporter, descending: false) { h, _, r in
            guard kindMask & (1 << r.kind.rawValue) != 0, protoFilter < 0 || protoFilter == Int(r.proto) else { return true }
            try body(Observation(time: h.start, reporter: h.reporter, kind: r.kind, proto: r.proto, port: r.servicePort,
                                 side: r.serviceSide, src: r.src, dst: r.dst,
                                 counters: Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes)))
            return true
        }
    }

    /// Every counted edge in `window` that passes all filters: `body(observation, from, to, packets, bytes)`.
    func edges(_ window: TimeWindow, step: Nanoseconds? = nil, observers: Set<Int64>? = nil, below level: Int64? = nil,
                      touching: Endpoint? = nil,
                      _ body: (Observation, Endpoint, Endpoint, Int64, Int64) throws -> Void) throws {
        // An endpoint filter on a pair of reporters could narrow observers too, but an
        // endpoint's incoming edges are counted by their senders: any reporter.
        let model = self.model
        let endpoint = self.endpoint
        let tagged = taggedNodes
        let filter = self.filter
        try observations(window, step: step, observers: observers, below: level, touching: endpoint ?? touching) { o in
            try model.edges(o) { from, to, p, b in
                if let e = endpoint, from != e, to != e { return }
                if let t = tagged, !t.contains(from), !t.contains(to) { return }
                if let f = filter, !f.matches(reporter: o.reporter, kind: o.kind, proto: o.proto, port: o.port, from: from, to: to) { return }
                try body(o, from, to, p, b)
            }
        }
    }
}

extension QueryContext {
    static func sortedContains(_ a: [Int64], _ x: Int64) -> Bool {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo < a.count && a[lo] == x
    }
}

/// Byte-order comparison of strings (SPEC §5: ties by key ascending, byte order).
@inline(__always)
func byteOrder(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
