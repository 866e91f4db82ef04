import FlowModel
import FlowStore

// What each question adds up while a read passes the counted edges, and how it turns the
// sums into rows. A question read alone and questions sharing one read (``QueryEngine/answers(_:)``)
// go through the same tallies, so their answers cannot differ.

extension QueryEngine {
    /// Counted traffic per directed edge: `top --by endpoint` and `--by pair`.
    ///
    /// Edges between two nodes (most traffic) are summed in a dense matrix
    /// indexed by node id, which is several times faster than hashing; other
    /// edges (bare addresses, `*`) go through an ``EdgeTable``.
    struct DirectedTally {
        private var table = EdgeTable()
        /// Node ids below this are summed in the matrix (when `dense`).
        let nodes: Int
        private let dense: Bool
        private var matrix: [Sum]

        init(_ ctx: QueryContext) {
            nodes = Int((ctx.directory.nodes.keys.max() ?? 0) + 1)
            dense = nodes <= 1024  // at most 16 MiB of matrix; larger tailnets use the table alone
            matrix = dense ? [Sum](repeating: Sum(), count: nodes * nodes) : []
        }

        @inline(__always)
        mutating func add(_ from: Endpoint, _ to: Endpoint, _ p: Int64, _ b: Int64) {
            if dense, from.raw < 0, to.raw < 0, -from.raw < nodes, -to.raw < nodes {
                matrix[Int(-from.raw) * nodes + Int(-to.raw)].add(p, b)
            } else {
                table.add(from, to, p, b)
            }
        }

        /// Every edge with its sums (each once; some may be zero).
        func forEach(_ body: (Endpoint, Endpoint, Sum) throws -> Void) rethrows {
            try table.forEach(body)
            if dense {
                for i in 0..<nodes {
                    for j in 0..<nodes {
                        let s = matrix[i * nodes + j]
                        if !s.isZero { try body(.node(Int64(i)), .node(Int64(j)), s) }
                    }
                }
            }
        }

        /// The edges the matrix holds, as unordered pairs of nodes {x, y} with x's raw value
        /// at most y's (so x's id is the larger): `body(x, y, x→y, y→x)`, pairs with traffic only.
        func forNodePairs(_ body: (Endpoint, Endpoint, Sum, Sum) throws -> Void) rethrows {
            guard dense else { return }
            for i in 0..<nodes {
                for j in 0...i {
                    let xy = matrix[i * nodes + j], yx = i == j ? Sum() : matrix[j * nodes + i]
                    if !xy.isZero || !yx.isZero { try body(.node(Int64(i)), .node(Int64(j)), xy, yx) }
                }
            }
        }

        /// The edges ``forNodePairs(_:)`` leaves out.
        func forEachHashed(_ body: (Endpoint, Endpoint, Sum) throws -> Void) rethrows {
            try table.forEach(body)
        }
    }

    /// Traffic per service port (`top --by port`) or per protocol (`--by proto`).
    struct PortTally {
        private(set) var sums: [UInt32: Sum] = [:]

        @inline(__always)
        mutating func add(_ o: Observation, _ p: Int64, _ b: Int64) {
            sums[UInt32(o.proto) << 16 | UInt32(o.port), default: Sum()].add(p, b)
        }
    }

    struct ProtoTally {
        private(set) var sums: [UInt8: Sum] = [:]

        @inline(__always)
        mutating func add(_ o: Observation, _ p: Int64, _ b: Int64) {
            sums[o.proto, default: Sum()].add(p, b)
        }
    }

    /// A series: the subject's edges summed per bucket.
    struct SeriesTally {
        let buckets: Buckets
        /// Read only these reporters (nil: all): an edge's traffic is counted from its ends.
        let observers: Set<Int64>?
        /// Skip, before resolution, observations that cannot touch this endpoint.
        let touching: Endpoint?
        private let match: (Endpoint, Endpoint) -> Bool
        private var sums: [Sum]

        init(_ ctx: QueryContext, step: Nanoseconds, subject: SeriesSubject) throws {
            let options = ctx.options
            buckets = try options.window.bucketing(step: step, zone: options.zone)
            sums = [Sum](repeating: Sum(), count: buckets.starts.count)
            switch subject {
            case .all:
                (observers, touching, match) = (nil, nil, { _, _ in true })
            case .endpoint(let e):
                let x = try ctx.directory.resolve(e)
                (observers, touching, match) = (nil, x, { $0 == x || $1 == x })
            case .pair(let a, let b):
                let x = try ctx.directory.resolve(a), y = try ctx.directory.resolve(b)
                (observers, touching, match) = (ctx.model.observers(of: x, y), nil, { ($0 == x && $1 == y) || ($0 == y && $1 == x) })
            case .edge(let a, let b):
                let x = try ctx.directory.resolve(a), y = try ctx.directory.resolve(b)
                (observers, touching, match) = (ctx.model.observers(of: x, y), nil, { $0 == x && $1 == y })
            }
        }

        @inline(__always)
        mutating func add(_ o: Observation, _ from: Endpoint, _ to: Endpoint, _ p: Int64, _ b: Int64) {
            guard match(from, to) else { return }
            sums[buckets.index(of: o.time)].add(p, b)
        }

        var points: [SeriesPoint] {
            zip(buckets.starts, sums).map { SeriesPoint(time: $0, bytes: $1.bytes, packets: $1.packets) }
        }
    }

    /// A rollup: sums per bucket and group.
    ///
    /// Grouped by kind alone or by nothing (a page's traffic chart), the sums sit in a dense
    /// array by bucket and kind; other groupings hash a ``RollupGroup``.
    struct RollupTally {
        let buckets: Buckets
        let groupBy: [RollupKeyField]
        private let keys: Set<RollupKeyField>
        private let byKindOnly: Bool
        // The keys as flags: a set lookup per edge hashes the key's name (it was half of a rollup's time).
        private let byKind: Bool, byProto: Bool, byPort: Bool, bySrc: Bool, byDst: Bool
        private let byTag: Bool, byUser: Bool, byOS: Bool
        private var dense: [Sum]
        private var sums: [RollupGroup: Sum] = [:]
        private var attributes: NodeAttributes

        init(_ ctx: QueryContext, step: Nanoseconds, groupBy: [RollupKeyField]) throws {
            let options = ctx.options
            buckets = try options.window.bucketing(step: step, zone: options.zone)  // also validates the bucket count
            self.groupBy = groupBy
            keys = Set(groupBy)
            byKindOnly = keys.isSubset(of: [.kind])
            (byKind, byProto, byPort, bySrc, byDst) = (keys.contains(.kind), keys.contains(.proto), keys.contains(.port),
                                                       keys.contains(.src), keys.contains(.dst))
            (byTag, byUser, byOS) = (keys.contains(.tag), keys.contains(.user), keys.contains(.os))
            dense = byKindOnly ? [Sum](repeating: Sum(), count: buckets.starts.count * 4) : []
            attributes = NodeAttributes(ctx.directory)
        }

        @inline(__always)
        mutating func add(_ o: Observation, _ from: Endpoint, _ to: Endpoint, _ p: Int64, _ b: Int64) {
            if byKindOnly {
                dense[buckets.index(of: o.time) * 4 + (byKind ? Int(o.kind.rawValue & 3) : 0)].add(p, b)
                return
            }
            var g = RollupGroup(time: buckets.start(of: o.time),
                                kind: byKind ? o.kind.rawValue : 0,
                                proto: byProto ? o.proto : 0,
                                port: byPort ? o.port : 0,
                                src: bySrc ? from : .star,
                                dst: byDst ? to : .star,
                                tag: -1, user: -1, os: -1)
            guard byTag || byUser || byOS else {
                sums[g, default: Sum()].add(p, b)
                return
            }
            // Each value at either end is a group of its own: the traffic `--where 'tag = T'` keeps.
            let none: [Int32] = [-1]
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

        func rows(_ ctx: QueryContext) throws -> [RollupRow] {
            var groups = sums
            if byKindOnly {
                for (i, s) in dense.enumerated() where !s.isZero {
                    groups[RollupGroup(time: buckets.starts[i / 4], kind: UInt8(i % 4), proto: 0, port: 0, src: .star, dst: .star,
                                       tag: -1, user: -1, os: -1)] = s
                }
            }
            let keys = self.keys, attributes = self.attributes
            let rows = try groups.filter { !$0.value.isZero }.map { g, s in
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
                          srcLabel: QueryEngine.rollupLabel(ctx, keys, .src, g.src, other: g.dst, port: g.port),
                          dstLabel: QueryEngine.rollupLabel(ctx, keys, .dst, g.dst, other: g.src, port: g.port))
            }
            // Sorted by time, then the keys in the order asked (texts in byte order, a missing
            // tag, user or OS first). Each text is ranked once, so the sort compares integers,
            // and it moves indices rather than rows: a busy endpoint's rollup by source has tens
            // of thousands of rows.
            func ranks(_ texts: [String?]) -> [String: Int64] {
                let distinct = Set(texts.compactMap { $0 }).sorted(by: byteOrder)
                return Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, Int64($0)) })
            }
            var key = [[Int64]](repeating: [], count: rows.count)
            for (i, r) in rows.enumerated() { key[i].reserveCapacity(groupBy.count + 1); key[i].append(r.time) }
            for field in groupBy {
                switch field {
                case .kind:
                    let rank = ranks(rows.map { $0.kind ?? "" })
                    for (i, r) in rows.enumerated() { key[i].append(rank[r.kind ?? ""]!) }
                case .proto: for (i, r) in rows.enumerated() { key[i].append(Int64(r.proto ?? 0)) }
                case .port: for (i, r) in rows.enumerated() { key[i].append(Int64(r.port ?? 0)) }
                case .src:
                    let rank = ranks(rows.map { $0.src ?? "" })
                    for (i, r) in rows.enumerated() { key[i].append(rank[r.src ?? ""]!) }
                case .dst:
                    let rank = ranks(rows.map { $0.dst ?? "" })
                    for (i, r) in rows.enumerated() { key[i].append(rank[r.dst ?? ""]!) }
                case .tag, .user, .os:
                    let text: (RollupRow) -> String? = field == .tag ? { $0.tag } : field == .user ? { $0.user } : { $0.os }
                    let rank = ranks(rows.map(text))
                    for (i, r) in rows.enumerated() { key[i].append(text(r).map { rank[$0]! } ?? -1) }
                }
            }
            return rows.indices.sorted { key[$0].lexicographicallyPrecedes(key[$1]) }.map { rows[$0] }
        }
    }
}
