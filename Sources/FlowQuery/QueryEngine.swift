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
    func directedEdges(_ ctx: QueryContext) throws -> DirectedTally {
        var tally = DirectedTally(ctx)
        try ctx.countedEdges(ctx.options.window) { from, to, p, b in tally.add(from, to, p, b) }
        return tally
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
    func topEndpoints(_ ctx: QueryContext, metric: Metric, limit: Int, edges: DirectedTally? = nil) throws -> [TopEndpointRow] {
        try rankedEndpoints(ctx, metric: metric, limit: limit, edges: edges).rows
    }

    /// The first `limit` rows of `top --by endpoint` and how many rows the whole answer has:
    /// only rows that can be among the first are built.
    func rankedEndpoints(_ ctx: QueryContext, metric: Metric, limit: Int, edges: DirectedTally? = nil) throws
        -> (rows: [TopEndpointRow], total: Int) {
        let tally = try edges ?? directedEdges(ctx)
        // Nodes in dense arrays by id (most endpoints), addresses and `*` hashed.
        let count = tally.nodes
        var sentNode = [Sum](repeating: Sum(), count: count), receivedNode = [Sum](repeating: Sum(), count: count)
        var sent: [Endpoint: Sum] = [:], received: [Endpoint: Sum] = [:]
        var starWithStar = false, starWithOthers = false
        tally.forEach { from, to, s in
            if from.raw < 0 && -from.raw < count { sentNode[Int(-from.raw)].add(s.packets, s.bytes) } else { sent[from, default: Sum()].add(s.packets, s.bytes) }
            if to.raw < 0 && -to.raw < count { receivedNode[Int(-to.raw)].add(s.packets, s.bytes) } else { received[to, default: Sum()].add(s.packets, s.bytes) }
            if from == .star || to == .star {
                if from == to { starWithStar = true } else { starWithOthers = true }
            }
        }
        var all: [(e: Endpoint, s: Sum, r: Sum)] = []
        for i in 0..<count where !sentNode[i].isZero || !receivedNode[i].isZero {
            all.append((.node(Int64(i)), sentNode[i], receivedNode[i]))
        }
        for e in Set(sent.keys).union(received.keys) { all.append((e, sent[e] ?? Sum(), received[e] ?? Sum())) }
        func value(_ s: Sum, _ r: Sum) -> Int64 {
            metric == .bytes ? Counters.sum(s.bytes, r.bytes) : Counters.sum(s.packets, r.packets)
        }
        // A row has traffic when its bytes or its packets are not zero.
        let total = all.reduce(0) { n, x in n + (Counters.sum(x.s.bytes, x.r.bytes) != 0 || Counters.sum(x.s.packets, x.r.packets) != 0 ? 1 : 0) }
        let least = Self.least(all.map { value($0.s, $0.r) }, limit: limit)
        var rows: [TopEndpointRow] = []
        for (e, s, r) in all {
            if let least, value(s, r) < least { continue }
            var row = TopEndpointRow(endpoint: try ctx.label(e), name: ctx.directory.name(e),
                                     sentBytes: s.bytes, receivedBytes: r.bytes, sentPackets: s.packets, receivedPackets: r.packets)
            if row.bytes == 0 && row.packets == 0 { continue }
            if row.name == nil {
                row.label = ctx.directory.tableLabel(e, starOnly: starWithStar && starWithOthers ? nil : starWithStar)
            }
            rows.append(row)
        }
        return (Self.rank(rows, metric: metric, limit: limit, value: { metric == .bytes ? $0.bytes : $0.packets }, key: \.endpoint), total)
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
    func topPairs(_ ctx: QueryContext, metric: Metric, limit: Int, edges: DirectedTally? = nil) throws -> [TopPairRow] {
        try rankedPairs(ctx, metric: metric, limit: limit, edges: edges).rows
    }

    /// The first `limit` rows of `top --by pair` and how many rows the whole answer has.
    ///
    /// A pair's two directed edges are found without hashing where both ends are nodes (the
    /// matrix holds both); which end is `a` is decided by the ends' keys, compared in byte
    /// order once per endpoint (as ranks), not once per edge.
    func rankedPairs(_ ctx: QueryContext, metric: Metric, limit: Int, edges: DirectedTally? = nil) throws
        -> (rows: [TopPairRow], total: Int) {
        let tally = try edges ?? directedEdges(ctx)
        // Both directions of each unordered pair {x, y}, keyed with x.raw <= y.raw: `xy` is x→y.
        var pairs: [(x: Endpoint, y: Endpoint, xy: Sum, yx: Sum)] = []
        tally.forNodePairs { x, y, xy, yx in pairs.append((x, y, xy, yx)) }
        var others: [EdgeKey: (xy: Sum, yx: Sum)] = [:]
        tally.forEachHashed { from, to, s in
            if from.raw <= to.raw {
                others[EdgeKey(from: from, to: to), default: (Sum(), Sum())].xy.add(s.packets, s.bytes)
            } else {
                others[EdgeKey(from: to, to: from), default: (Sum(), Sum())].yx.add(s.packets, s.bytes)
            }
        }
        for (k, v) in others { pairs.append((k.from, k.to, v.xy, v.yx)) }
        func value(_ p: (x: Endpoint, y: Endpoint, xy: Sum, yx: Sum)) -> Int64 {
            metric == .bytes ? Counters.sum(p.xy.bytes, p.yx.bytes) : Counters.sum(p.xy.packets, p.yx.packets)
        }
        let total = pairs.reduce(0) { n, p in
            n + (Counters.sum(p.xy.bytes, p.yx.bytes) != 0 || Counters.sum(p.xy.packets, p.yx.packets) != 0 ? 1 : 0)
        }
        let least = Self.least(pairs.map(value), limit: limit)
        var rows: [TopPairRow] = []
        for p in pairs {
            if let least, value(p) < least { continue }
            let lx = try ctx.label(p.x), ly = try ctx.label(p.y)
            // `a` is the smaller key; for x == y, what x sent to itself is `ab`.
            let (a, b, ab, ba, la, lb) = byteOrder(ly, lx) ? (p.y, p.x, p.yx, p.xy, ly, lx) : (p.x, p.y, p.xy, p.yx, lx, ly)
            var row = TopPairRow(a: la, b: lb, aName: ctx.directory.name(a), bName: ctx.directory.name(b),
                                 abBytes: ab.bytes, baBytes: ba.bytes, abPackets: ab.packets, baPackets: ba.packets)
            if row.bytes == 0 && row.packets == 0 { continue }
            let both = a == b
            if row.aName == nil { row.aLabel = ctx.directory.tableLabel(a, starOnly: both) }
            if row.bName == nil { row.bLabel = ctx.directory.tableLabel(b, starOnly: both) }
            rows.append(row)
        }
        return (Self.rank(rows, metric: metric, limit: limit, value: { metric == .bytes ? $0.bytes : $0.packets }, key: { $0.a + "\u{0}" + $0.b }), total)
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
