public import FlowModel
public import FlowStore

/// Answers the questions of SPEC §4 from a store; shared by the CLI and the HTTP server.
///
/// For example:
/// ```swift
/// let engine = QueryEngine(store: try FlowStore(path: "tailflow.db"))
/// var options = QueryOptions(window: try TimeWindow.parse(from: "-24h", to: "now"))
/// let rows = try engine.topEndpoints(options, metric: .bytes, limit: 10)
/// ```
public struct QueryEngine: Sendable {
    /// The store questions read, one snapshot per question (``FlowStorage/read(_:)``).
    public let store: any FlowStorage

    /// An engine over `store`: SQLite (``FlowStore``) or any other ``FlowStorage``.
    ///
    /// - parameter store: The store to read; the engine only reads.
    public init(store: any FlowStorage) {
        self.store = store
    }

    /// The printed key of an endpoint argument: a node's stable ID for a name, the
    /// canonical text for an address, `*` for `*`.
    ///
    /// For example:
    /// ```swift
    /// let key = try engine.endpointKey("db-1", options)   // "nDb1x9ZCNTRL"
    /// ```
    ///
    /// - throws: ``QueryError`` for an unknown or ambiguous argument; ``StoreError``.
    package func endpointKey(_ argument: String, _ options: QueryOptions) throws -> String {
        try read(options) { ctx in try ctx.label(try ctx.directory.resolve(argument)) }
    }

    /// Runs `body` in one snapshot with a fresh directory.
    func read<T>(_ options: QueryOptions, _ body: (QueryContext) throws -> T) throws -> T {
        try store.read { snapshot in
            let ctx = try QueryContext(snapshot, options: options)
            let answer = try body(ctx)
            if let failure = ctx.directory.failure { throw failure }
            return answer
        }
    }

    struct EdgeKey: Hashable {
        var from: Endpoint
        var to: Endpoint

        func hash(into hasher: inout Hasher) {
            hasher.combine((UInt64(bitPattern: from.raw) &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(bitPattern: to.raw))
        }
    }

    struct Sum {
        var packets: Int64 = 0
        var bytes: Int64 = 0

        @inline(__always)
        mutating func add(_ p: Int64, _ b: Int64) {
            packets = Counters.sum(packets, p)
            bytes = Counters.sum(bytes, b)
        }

        var isZero: Bool { packets == 0 && bytes == 0 }
    }

    /// Counted traffic per directed edge over the window (see ``DirectedTally``).
    func directedEdges(_ ctx: QueryContext) throws -> [EdgeKey: Sum] {
        var tally = DirectedTally(ctx)
        try ctx.edges(ctx.options.window) { _, from, to, p, b in tally.add(from, to, p, b) }
        return tally.sums
    }

    // MARK: top

    /// Endpoints ranked by traffic sent plus received (`top --by endpoint`).
    ///
    /// Each edge is counted once, from the side SPEC §3 says; an endpoint's rows sum what it
    /// sent and what it received. Ties rank by the endpoint's key in byte order.
    ///
    /// For example:
    /// ```swift
    /// let busiest = try engine.topEndpoints(options, metric: .packets, limit: 5)
    /// // [TopEndpointRow(endpoint: "nDb1x9ZCNTRL", name: "db-1.tail1234.ts.net", sentBytes: …), …]
    /// ```
    ///
    /// - parameter options: The window and the filters.
    /// - parameter metric: What ranks: bytes (the default) or packets.
    /// - parameter limit: At most this many rows.
    /// - returns: Rows with traffic, largest first.
    /// - throws: ``QueryError`` for an unknown endpoint, tag or user in the filters; ``StoreError``.
    public func topEndpoints(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopEndpointRow] {
        try read(options) { ctx in try topEndpoints(ctx, metric: metric, limit: limit) }
    }

    /// `top --by endpoint` over `ctx`'s window and filters (``diff`` asks it twice in one snapshot).
    ///
    /// - parameter edges: the window's directed edges when a shared read summed them already.
    func topEndpoints(_ ctx: QueryContext, metric: Metric, limit: Int, edges: [EdgeKey: Sum]? = nil) throws -> [TopEndpointRow] {
        do {
            var sent: [Endpoint: Sum] = [:], received: [Endpoint: Sum] = [:]
            var starWithStar = false, starWithOthers = false
            for (k, s) in try edges ?? directedEdges(ctx) {
                sent[k.from, default: Sum()].add(s.packets, s.bytes)
                received[k.to, default: Sum()].add(s.packets, s.bytes)
                if k.from == .star || k.to == .star {
                    if k.from == k.to { starWithStar = true } else { starWithOthers = true }
                }
            }
            var rows: [TopEndpointRow] = []
            let all = Set(sent.keys).union(received.keys)
            let least = Self.least(all.map { e in
                let s = sent[e] ?? Sum(), r = received[e] ?? Sum()
                return metric == .bytes ? Counters.sum(s.bytes, r.bytes) : Counters.sum(s.packets, r.packets)
            }, limit: limit)
            for e in all {
                let s = sent[e] ?? Sum(), r = received[e] ?? Sum()
                if let least, (metric == .bytes ? Counters.sum(s.bytes, r.bytes) : Counters.sum(s.packets, r.packets)) < least { continue }
                var row = TopEndpointRow(endpoint: try ctx.label(e), name: ctx.directory.name(e),
                                         sentBytes: s.bytes, receivedBytes: r.bytes, sentPackets: s.packets, receivedPackets: r.packets)
                if row.name == nil {
                    row.label = ctx.directory.tableLabel(e, starOnly: starWithStar && starWithOthers ? nil : starWithStar)
                }
                if row.bytes != 0 || row.packets != 0 { rows.append(row) }
            }
            return Self.rank(rows, metric: metric, limit: limit, value: { metric == .bytes ? $0.bytes : $0.packets }, key: \.endpoint)
        }
    }

    /// Unordered pairs ranked by traffic in both directions (`top --by pair`).
    ///
    /// A pair's `a` is the smaller key in byte order; `ab` counts what `a` sent to `b`.
    ///
    /// For example:
    /// ```swift
    /// let pairs = try engine.topPairs(options, limit: 10)
    /// let total = pairs.map(\.bytes).reduce(0, +)
    /// ```
    ///
    /// - parameter options: The window and the filters.
    /// - parameter metric: What ranks: bytes (the default) or packets.
    /// - parameter limit: At most this many rows.
    /// - returns: Pairs with traffic, largest first, ties by `a` then `b`.
    /// - throws: ``QueryError`` for an unknown endpoint in the filters; ``StoreError``.
    public func topPairs(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopPairRow] {
        try read(options) { ctx in try topPairs(ctx, metric: metric, limit: limit) }
    }

    /// `top --by pair` over `ctx`'s window and filters.
    func topPairs(_ ctx: QueryContext, metric: Metric, limit: Int, edges: [EdgeKey: Sum]? = nil) throws -> [TopPairRow] {
        do {
            var pairs: [EdgeKey: (ab: Sum, ba: Sum)] = [:]
            for (k, s) in try edges ?? directedEdges(ctx) {
                let lf = try ctx.label(k.from), lt = try ctx.label(k.to)
                if !byteOrder(lt, lf) {
                    pairs[EdgeKey(from: k.from, to: k.to), default: (Sum(), Sum())].ab.add(s.packets, s.bytes)
                } else {
                    pairs[EdgeKey(from: k.to, to: k.from), default: (Sum(), Sum())].ba.add(s.packets, s.bytes)
                }
            }
            let least = Self.least(pairs.values.map { v in
                metric == .bytes ? Counters.sum(v.ab.bytes, v.ba.bytes) : Counters.sum(v.ab.packets, v.ba.packets)
            }, limit: limit)
            let rows = try pairs.compactMap { k, v -> TopPairRow? in
                if let least, (metric == .bytes ? Counters.sum(v.ab.bytes, v.ba.bytes) : Counters.sum(v.ab.packets, v.ba.packets)) < least {
                    return nil
                }
                var row = TopPairRow(a: try ctx.label(k.from), b: try ctx.label(k.to), aName: ctx.directory.name(k.from), bName: ctx.directory.name(k.to),
                                     abBytes: v.ab.bytes, baBytes: v.ba.bytes, abPackets: v.ab.packets, baPackets: v.ba.packets)
                let both = k.from == k.to
                if row.aName == nil { row.aLabel = ctx.directory.tableLabel(k.from, starOnly: both) }
                if row.bName == nil { row.bLabel = ctx.directory.tableLabel(k.to, starOnly: both) }
                return row.bytes == 0 && row.packets == 0 ? nil : row
            }
            return Self.rank(rows, metric: metric, limit: limit, value: { metric == .bytes ? $0.bytes : $0.packets }, key: { $0.a + "\u{0}" + $0.b })
        }
    }

    /// Service ports ranked by counted traffic (`top --by port`; see ``FlowRow/servicePort``).
    ///
    /// For example:
    /// ```swift
    /// let ports = try engine.topPorts(options, limit: 3)   // [TopPortRow(proto: 6, port: 443, …), …]
    /// ```
    ///
    /// - parameter options: The window and the filters.
    /// - parameter metric: What ranks: bytes (the default) or packets.
    /// - parameter limit: At most this many rows.
    /// - returns: (protocol, port) rows, largest first, ties by protocol then port.
    /// - throws: ``QueryError``; ``StoreError``.
    public func topPorts(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopPortRow] {
        try read(options) { ctx in try topPorts(ctx, metric: metric, limit: limit) }
    }

    /// `top --by port` over `ctx`'s window and filters.
    ///
    /// - parameter sums: the window's sums by port when a shared read summed them already.
    func topPorts(_ ctx: QueryContext, metric: Metric, limit: Int, sums: [UInt32: Sum]? = nil) throws -> [TopPortRow] {
        do {
            let sums = try sums ?? {
                var tally = PortTally()
                try ctx.edges(ctx.options.window) { o, _, _, p, b in tally.add(o, p, b) }
                return tally.sums
            }()
            let rows = sums.filter { !$0.value.isZero }.map { k, s in
                TopPortRow(proto: UInt8(k >> 16), port: UInt16(k & 0xffff), bytes: s.bytes, packets: s.packets)
            }
            return Array(rows.sorted { a, b in
                let va = metric == .bytes ? a.bytes : a.packets, vb = metric == .bytes ? b.bytes : b.packets
                return va != vb ? va > vb : (a.proto, a.port) < (b.proto, b.port)
            }.prefix(limit))
        }
    }

    /// Protocols ranked by counted traffic (`top --by proto`).
    ///
    /// - parameter options: The window and the filters.
    /// - parameter metric: What ranks: bytes (the default) or packets.
    /// - parameter limit: At most this many rows.
    /// - returns: Protocol rows, largest first, ties by protocol number.
    /// - throws: ``QueryError``; ``StoreError``.
    public func topProtocols(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopProtoRow] {
        try read(options) { ctx in
            var tally = ProtoTally()
            try ctx.edges(options.window) { o, _, _, p, b in tally.add(o, p, b) }
            return Self.protoRows(tally.sums, metric: metric, limit: limit)
        }
    }

    /// Protocols ranked from their sums.
    static func protoRows(_ sums: [UInt8: Sum], metric: Metric, limit: Int) -> [TopProtoRow] {
        let rows = sums.filter { !$0.value.isZero }.map { TopProtoRow(proto: $0.key, bytes: $0.value.bytes, packets: $0.value.packets) }
        return Array(rows.sorted { a, b in
            let va = metric == .bytes ? a.bytes : a.packets, vb = metric == .bytes ? b.bytes : b.packets
            return va != vb ? va > vb : a.proto < b.proto
        }.prefix(limit))
    }

    /// The least value a row needs to be among the first `limit` of `values` ranked descending
    /// (nil: every row is): rows below it are left out before they are built and sorted, which
    /// for tens of thousands of pairs is most of a ranking's time. Ties at that value stay, so the
    /// ranking of what is left gives the same first rows.
    static func least(_ values: [Int64], limit: Int) -> Int64? {
        guard limit > 0, limit < values.count else { return nil }
        return values.sorted(by: >)[limit - 1]
    }

    static func rank<Row>(_ rows: [Row], metric: Metric, limit: Int, value: (Row) -> Int64, key: (Row) -> String) -> [Row] {
        Array(rows.sorted { a, b in
            let va = value(a), vb = value(b)
            return va != vb ? va > vb : byteOrder(key(a), key(b))
        }.prefix(max(0, limit)))
    }

    // MARK: series

    /// Bytes and packets per `step` bucket, dense (empty buckets are zero).
    ///
    /// Buckets are epoch-aligned (`1d` and `1w` align to the options' zone), from the one
    /// holding the window's start to the one holding its last instant.
    ///
    /// For example, one pair's traffic per minute:
    /// ```swift
    /// let points = try engine.series(options, step: 60_000_000_000, subject: .pair("db-1", "web-2"))
    /// ```
    ///
    /// - parameter options: The window and the filters.
    /// - parameter step: The bucket width in nanoseconds.
    /// - parameter subject: Everything (the default), one endpoint, a pair or a directed edge.
    /// - returns: One point per bucket, oldest first.
    /// - throws: ``QueryError`` for too many buckets or an unknown endpoint; ``StoreError``.
    public func series(_ options: QueryOptions, step: Nanoseconds, subject: SeriesSubject = .all) throws -> [SeriesPoint] {
        try read(options) { ctx in
            var tally = try SeriesTally(ctx, step: step, subject: subject)
            try ctx.edges(options.window, step: tally.buckets.alignment, observers: tally.observers, touching: tally.touching) { o, from, to, p, b in
                tally.add(o, from, to, p, b)
            }
            return tally.points
        }
    }

    // MARK: rollup

    struct RollupGroup: Hashable {
        var time: Int64
        var kind: UInt8
        var proto: UInt8
        var port: UInt16
        var src: Endpoint
        var dst: Endpoint
        /// Indexes into the answer's attribute texts; -1: no end has one (or not grouped by it).
        var tag: Int32
        var user: Int32
        var os: Int32

        // One mixed word rather than eight combined fields: a rollup hashes a group for every edge.
        func hash(into hasher: inout Hasher) {
            var k = UInt64(bitPattern: time) &* 0x9E37_79B9_7F4A_7C15
            k ^= UInt64(kind) << 56 ^ UInt64(proto) << 48 ^ UInt64(port) << 32 ^ UInt64(UInt32(bitPattern: tag))
            k ^= UInt64(bitPattern: src.raw) &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(bitPattern: dst.raw) &* 0x1656_67B1_9E37_79F9
            k ^= UInt64(UInt32(bitPattern: user)) &* 0x27D4_EB2F_1656_67C5 ^ UInt64(UInt32(bitPattern: os)) << 17
            hasher.combine(k)
        }
    }

    /// Bytes and packets per `step` bucket, grouped by any of kind, proto, source,
    /// destination, tag, user, OS and service port (see ``RollupKeyField``).
    ///
    /// Groups with no traffic are left out; rows sort by time, then by the keys in the
    /// order given.
    ///
    /// For example, each hour's traffic by kind and protocol:
    /// ```swift
    /// let rows = try engine.rollup(options, step: 3_600_000_000_000, groupBy: [.kind, .proto])
    /// ```
    ///
    /// - parameter options: The window and the filters.
    /// - parameter step: The bucket width in nanoseconds.
    /// - parameter groupBy: The keys, in the order rows sort by (none: one row per bucket).
    /// - returns: One row per bucket and group with traffic.
    /// - throws: ``QueryError`` for too many buckets; ``StoreError``.
    public func rollup(_ options: QueryOptions, step: Nanoseconds, groupBy: [RollupKeyField]) throws -> [RollupRow] {
        try read(options) { ctx in
            var tally = try RollupTally(ctx, step: step, groupBy: groupBy)
            try ctx.edges(options.window, step: tally.buckets.alignment) { o, from, to, p, b in tally.add(o, from, to, p, b) }
            return try tally.rows(ctx)
        }
    }
}

extension QueryEngine {
    /// The table label of a rollup row's `src` or `dst` (nil when not grouped by it, or a node).
    static func rollupLabel(_ ctx: QueryContext, _ keys: Set<RollupKeyField>, _ field: RollupKeyField, _ e: Endpoint,
                            other: Endpoint, port: UInt16) -> String? {
        guard keys.contains(field), e.nodeID == nil else { return nil }
        let otherKey: RollupKeyField = field == .src ? .dst : .src
        let starOnly: Bool? = keys.contains(otherKey) ? other == .star : nil
        return ctx.directory.tableLabel(e, ports: keys.contains(.port) ? [port] : [], starOnly: starOnly)
    }
}

/// The tags, users and OSes of the endpoints of one answer, interned, cached per endpoint.
struct NodeAttributes {
    let directory: Directory
    var texts: [String] = []
    var index: [String: Int32] = [:]
    var cache: [RollupKeyField: [Endpoint: [Int32]]] = [:]

    init(_ directory: Directory) {
        self.directory = directory
    }

    /// The values of `field` found at either end (each once), or `[-1]` when neither end has one.
    mutating func either(_ field: RollupKeyField, _ a: Endpoint, _ b: Endpoint) -> [Int32] {
        let x = values(field, a), y = values(field, b)
        if y.isEmpty || x == y { return x.isEmpty ? [-1] : x }
        if x.isEmpty { return y }
        var u = x
        for v in y where !u.contains(v) { u.append(v) }
        return u
    }

    mutating func values(_ field: RollupKeyField, _ e: Endpoint) -> [Int32] {
        if let v = cache[field]?[e] { return v }
        var out: [Int32] = []
        if let n = directory.node(e) {
            let raw: [String]
            switch field {
            case .tag: raw = n.tags
            case .user: raw = n.user.map { [$0] } ?? []
            case .os: raw = n.os.map { [$0] } ?? []
            default: raw = []
            }
            for t in raw where !t.isEmpty {
                let i = intern(t)
                if !out.contains(i) { out.append(i) }
            }
        }
        cache[field, default: [:]][e] = out
        return out
    }

    mutating func intern(_ t: String) -> Int32 {
        if let i = index[t] { return i }
        let i = Int32(texts.count)
        texts.append(t)
        index[t] = i
        return i
    }

    func text(_ i: Int32) -> String? {
        i < 0 ? nil : texts[Int(i)]
    }
}
