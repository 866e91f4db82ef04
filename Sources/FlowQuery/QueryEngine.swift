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
    /// The store questions read, through its snapshots.
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
    public func endpointKey(_ argument: String, _ options: QueryOptions) throws -> String {
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

    /// Counted traffic per directed edge over the window.
    ///
    /// Edges between two nodes (most traffic) are summed in a dense matrix
    /// indexed by node id, which is several times faster than hashing; other
    /// edges (bare addresses, `*`) go through a dictionary.
    func directedEdges(_ ctx: QueryContext) throws -> [EdgeKey: Sum] {
        var table = EdgeTable()
        let nodes = Int((ctx.directory.nodes.keys.max() ?? 0) + 1)
        let dense = nodes <= 1024  // at most 16 MiB of matrix; larger tailnets use the table alone
        var matrix = dense ? [Sum](repeating: Sum(), count: nodes * nodes) : []
        try ctx.edges(ctx.options.window) { _, from, to, p, b in
            if dense, from.raw < 0, to.raw < 0 {
                matrix[Int(-from.raw) * nodes + Int(-to.raw)].add(p, b)
            } else {
                table.add(from, to, p, b)
            }
        }
        var sums: [EdgeKey: Sum] = [:]
        table.forEach { from, to, s in sums[EdgeKey(from: from, to: to)] = s }
        if dense {
            for (i, s) in matrix.enumerated() where !s.isZero {
                sums[EdgeKey(from: .node(Int64(i / nodes)), to: .node(Int64(i % nodes)))] = s
            }
        }
        return sums
    }

    // MARK: top

    /// Endpoints ranked by traffic sent plus received.
    public func topEndpoints(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopEndpointRow] {
        try read(options) { ctx in try topEndpoints(ctx, metric: metric, limit: limit) }
    }

    /// `top --by endpoint` over `ctx`'s window and filters (``diff`` asks it twice in one snapshot).
    func topEndpoints(_ ctx: QueryContext, metric: Metric, limit: Int) throws -> [TopEndpointRow] {
        do {
            var sent: [Endpoint: Sum] = [:], received: [Endpoint: Sum] = [:]
            var starWithStar = false, starWithOthers = false
            for (k, s) in try directedEdges(ctx) {
                sent[k.from, default: Sum()].add(s.packets, s.bytes)
                received[k.to, default: Sum()].add(s.packets, s.bytes)
                if k.from == .star || k.to == .star {
                    if k.from == k.to { starWithStar = true } else { starWithOthers = true }
                }
            }
            var rows: [TopEndpointRow] = []
            for e in Set(sent.keys).union(received.keys) {
                let s = sent[e] ?? Sum(), r = received[e] ?? Sum()
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

    /// Unordered pairs ranked by traffic in both directions (`a < b` as strings).
    public func topPairs(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopPairRow] {
        try read(options) { ctx in try topPairs(ctx, metric: metric, limit: limit) }
    }

    /// `top --by pair` over `ctx`'s window and filters.
    func topPairs(_ ctx: QueryContext, metric: Metric, limit: Int) throws -> [TopPairRow] {
        do {
            var pairs: [EdgeKey: (ab: Sum, ba: Sum)] = [:]
            for (k, s) in try directedEdges(ctx) {
                let lf = try ctx.label(k.from), lt = try ctx.label(k.to)
                if !byteOrder(lt, lf) {
                    pairs[EdgeKey(from: k.from, to: k.to), default: (Sum(), Sum())].ab.add(s.packets, s.bytes)
                } else {
                    pairs[EdgeKey(from: k.to, to: k.from), default: (Sum(), Sum())].ba.add(s.packets, s.bytes)
                }
            }
            let rows = try pairs.compactMap { k, v -> TopPairRow? in
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

    /// Service ports ranked by counted traffic (see ``FlowRow/servicePort``).
    public func topPorts(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopPortRow] {
        try read(options) { ctx in try topPorts(ctx, metric: metric, limit: limit) }
    }

    /// `top --by port` over `ctx`'s window and filters.
    func topPorts(_ ctx: QueryContext, metric: Metric, limit: Int) throws -> [TopPortRow] {
        do {
            var sums: [UInt32: Sum] = [:]
            try ctx.edges(ctx.options.window) { o, _, _, p, b in
                sums[UInt32(o.proto) << 16 | UInt32(o.port), default: Sum()].add(p, b)
            }
            let rows = sums.filter { !$0.value.isZero }.map { k, s in
                TopPortRow(proto: UInt8(k >> 16), port: UInt16(k & 0xffff), bytes: s.bytes, packets: s.packets)
            }
            return Array(rows.sorted { a, b in
                let va = metric == .bytes ? a.bytes : a.packets, vb = metric == .bytes ? b.bytes : b.packets
                return va != vb ? va > vb : (a.proto, a.port) < (b.proto, b.port)
            }.prefix(limit))
        }
    }

    /// Protocols ranked by counted traffic.
    public func topProtocols(_ options: QueryOptions, metric: Metric = .bytes, limit: Int = 20) throws -> [TopProtoRow] {
        try read(options) { ctx in
            var sums: [UInt8: Sum] = [:]
            try ctx.edges(options.window) { o, _, _, p, b in sums[o.proto, default: Sum()].add(p, b) }
            let rows = sums.filter { !$0.value.isZero }.map { TopProtoRow(proto: $0.key, bytes: $0.value.bytes, packets: $0.value.packets) }
            return Array(rows.sorted { a, b in
                let va = metric == .bytes ? a.bytes : a.packets, vb = metric == .bytes ? b.bytes : b.packets
                return va != vb ? va > vb : a.proto < b.proto
            }.prefix(limit))
        }
    }

    static func rank<Row>(_ rows: [Row], metric: Metric, limit: Int, value: (Row) -> Int64, key: (Row) -> String) -> [Row] {
        Array(rows.sorted { a, b in
            let va = value(a), vb = value(b)
            return va != vb ? va > vb : byteOrder(key(a), key(b))
        }.prefix(max(0, limit)))
    }

    // MARK: series

    /// Bytes and packets per `step` bucket, dense (empty buckets are zero).
    public func series(_ options: QueryOptions, step: Nanoseconds, subject: SeriesSubject = .all) throws -> [SeriesPoint] {
        try read(options) { ctx in
            let buckets = try options.window.bucketing(step: step, zone: options.zone)
            var sums = [Sum](repeating: Sum(), count: buckets.starts.count)
            var observers: Set<Int64>? = nil
            var touching: Endpoint? = nil
            var match: (Endpoint, Endpoint) -> Bool = { _, _ in true }
            switch subject {
            case .all:
                break
            case .endpoint(let e):
                let x = try ctx.directory.resolve(e)
                touching = x
                match = { $0 == x || $1 == x }
            case .pair(let a, let b):
                let x = try ctx.directory.resolve(a), y = try ctx.directory.resolve(b)
                observers = ctx.model.observers(of: x, y)
                match = { ($0 == x && $1 == y) || ($0 == y && $1 == x) }
            case .edge(let a, let b):
                let x = try ctx.directory.resolve(a), y = try ctx.directory.resolve(b)
                observers = ctx.model.observers(of: x, y)
                match = { $0 == x && $1 == y }
            }
            try ctx.edges(options.window, step: buckets.alignment, observers: observers, touching: touching) { o, from, to, p, b in
                guard match(from, to) else { return }
                sums[buckets.index(of: o.time)].add(p, b)
            }
            return zip(buckets.starts, sums).map { SeriesPoint(time: $0, bytes: $1.bytes, packets: $1.packets) }
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
    }

    /// Bytes and packets per `step` bucket, grouped by any of kind, proto, source,
    /// destination, tag, user, OS and service port (see ``RollupKeyField``).
    public func rollup(_ options: QueryOptions, step: Nanoseconds, groupBy: [RollupKeyField]) throws -> [RollupRow] {
        try read(options) { ctx in
            let buckets = try options.window.bucketing(step: step, zone: options.zone)  // also validates the bucket count
            let keys = Set(groupBy)
            var sums: [RollupGroup: Sum] = [:]
            var attributes = NodeAttributes(ctx.directory)
            let byTag = keys.contains(.tag), byUser = keys.contains(.user), byOS = keys.contains(.os)
            let none: [Int32] = [-1]
            try ctx.edges(options.window, step: buckets.alignment) { o, from, to, p, b in
                var g = RollupGroup(time: buckets.start(of: o.time),
                                    kind: keys.contains(.kind) ? o.kind.rawValue : 0,
                                    proto: keys.contains(.proto) ? o.proto : 0,
                                    port: keys.contains(.port) ? o.port : 0,
                                    src: keys.contains(.src) ? from : .star,
                                    dst: keys.contains(.dst) ? to : .star,
                                    tag: -1, user: -1, os: -1)
                guard byTag || byUser || byOS else {
                    sums[g, default: Sum()].add(p, b)
                    return
                }
                // Each value at either end is a group of its own: the traffic `--where 'tag = T'` keeps.
                let tags = byTag ? attributes.either(.tag, from, to) : none
                let users = byUser ? attributes.either(.user, from, to) : none
                let oses = byOS ? attributes.either(.os, from, to) : none
                for t in tags {
                    g.tag = t
                    for u in users {
                        g.user = u
                        for s in oses {
                            g.os = s
                            sums[g, default: Sum()].add(p, b)
                        }
                    }
                }
            }
            let rows = try sums.filter { !$0.value.isZero }.map { g, s in
                RollupRow(time: g.time,
                          kind: keys.contains(.kind) ? TrafficKind(rawValue: g.kind)?.name : nil,
                          proto: keys.contains(.proto) ? g.proto : nil,
                          src: keys.contains(.src) ? try ctx.label(g.src) : nil,
                          srcName: keys.contains(.src) ? ctx.directory.name(g.src) : nil,
                          dst: keys.contains(.dst) ? try ctx.label(g.dst) : nil,
                          dstName: keys.contains(.dst) ? ctx.directory.name(g.dst) : nil,
                          tag: attributes.text(g.tag), user: attributes.text(g.user), os: attributes.text(g.os),
                          port: keys.contains(.port) ? g.port : nil,
                          bytes: s.bytes, packets: s.packets,
                          srcLabel: Self.rollupLabel(ctx, keys, .src, g.src, other: g.dst, port: g.port),
                          dstLabel: Self.rollupLabel(ctx, keys, .dst, g.dst, other: g.src, port: g.port))
            }
            return rows.sorted { a, b in
                if a.time != b.time { return a.time < b.time }
                for field in groupBy {
                    switch field {
                    case .kind where a.kind != b.kind: return byteOrder(a.kind ?? "", b.kind ?? "")
                    case .proto where a.proto != b.proto: return (a.proto ?? 0) < (b.proto ?? 0)
                    case .src where a.src != b.src: return byteOrder(a.src ?? "", b.src ?? "")
                    case .dst where a.dst != b.dst: return byteOrder(a.dst ?? "", b.dst ?? "")
                    case .tag where a.tag != b.tag: return a.tag == nil || (b.tag != nil && byteOrder(a.tag!, b.tag!))
                    case .user where a.user != b.user: return a.user == nil || (b.user != nil && byteOrder(a.user!, b.user!))
                    case .os where a.os != b.os: return a.os == nil || (b.os != nil && byteOrder(a.os!, b.os!))
                    case .port where a.port != b.port: return (a.port ?? 0) < (b.port ?? 0)
                    default: continue
                    }
                }
                return false
            }
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
