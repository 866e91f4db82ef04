import FlowModel
import FlowStore

extension QueryEngine {
    /// The raw flow rows of the window, newest first, `limit` at a time.
    ///
    /// For example, page through every row of an hour:
    /// ```swift
    /// var page = try engine.flows(options, limit: 100)
    /// while let last = page.last {
    ///     page = try engine.flows(options, limit: 100, after: last.cursor)
    /// }
    /// ```
    ///
    /// - parameter match: a keyword matched (case-insensitively) against node IDs,
    ///   names, users and tags of the reporter and both ends, the addresses, and the ports.
    /// - parameter after: a row's `cursor`, to continue after it.
    /// - parameter limit: at most this many rows.
    /// - returns: The rows, newest first (by window start, then reporter and position).
    /// - throws: ``QueryError`` for a cursor that cannot be read or an unknown endpoint; ``StoreError``.
    public func flows(_ options: QueryOptions, match: String? = nil, limit: Int = 100, after: String? = nil) throws -> [FlowLogRow] {
        var rows: [FlowLogRow] = []
        try flows(options, match: match, limit: limit, after: after) { rows.append($0) }
        return rows
    }

    /// The same rows, handed to `each` one at a time as they are read (in one read
    /// transaction), so that an answer of any size is never held whole in memory.
    ///
    /// - parameter each: called with each row, newest first, at most `limit` times.
    public func flows(_ options: QueryOptions, match: String? = nil, limit: Int = 100, after: String? = nil,
                      each: (FlowLogRow) throws -> Void) throws {
        let position = try after.map(FlowCursor.init(parsing:))
        try read(options) { ctx in
            var count = 0
            try Self.matchingRows(ctx, options, match: match, after: position) { row in
                try each(row())
                count += 1
                return count < limit
            }
        }
    }

    /// A page of ``flows(_:match:limit:after:)`` and how many rows match after the cursor in all.
    struct FlowPage: Sendable {
        public var rows: [FlowLogRow]
        /// Matching rows from the cursor on (the page's included), or a lower bound when `atLeast`.
        public var total: Int
        public var atLeast: Bool
    }

    /// The default bound on counting rows past a page: beyond it an answer says "more than".
    static let flowCountBound = 1_000_000

    /// ``flows(_:match:limit:after:)``, counting the matching rows past the page up to `countUpTo` in all.
    func flowsPage(_ options: QueryOptions, match: String? = nil, limit: Int = 100, after: String? = nil,
                          countUpTo bound: Int = QueryEngine.flowCountBound) throws -> FlowPage {
        let position = try after.map(FlowCursor.init(parsing:))
        return try read(options) { ctx in
            var rows: [FlowLogRow] = []
            var total = 0
            // Count matching rows up to one past `cap`; a plain page (bound 0) stops at its last row.
            let counting = bound > 0
            let cap = max(bound, limit)
            try Self.matchingRows(ctx, options, match: match, after: position) { row in
                total += 1
                guard rows.count < limit else { return total <= cap }
                rows.append(try row())
                return rows.count < limit || counting
            }
            return FlowPage(rows: rows, total: min(total, cap), atLeast: total > cap)
        }
    }

    /// Every raw row of the window that passes the question's filters and `match`, newest first
    /// after `position`, handed to `body` as a function that builds its ``FlowLogRow`` (so rows
    /// only counted are never built). `body` returns whether to go on.
    static func matchingRows(_ ctx: QueryContext, _ options: QueryOptions, match: String?, after position: FlowCursor?,
                             _ body: (() throws -> FlowLogRow) throws -> Bool) throws {
        try ctx.needsRawRows(options.window, ctx.endpoint == nil ? "flows" : "a list of raw flow rows")
        let needle = match?.lowercased()
        var upper = options.window.to
        if let position { upper = min(upper, position.start + 1) }
        let kinds = options.candidateKinds
        let match = try needle.map { try FlowMatch($0, ctx) }
        func visit(_ h: MessageHeader, _ index: Int, _ r: StoredRow) throws -> Bool {
            let cursor = FlowCursor(start: h.start, reporter: h.reporter, digest: h.digest, index: index)
            if let position, !cursor.isAfter(position) { return true }
            guard kinds.contains(r.kind), options.proto.map({ $0 == r.proto }) ?? true else { return true }
            let reporter = Endpoint.node(h.reporter)
            let src = ctx.directory.endpoint(address: r.src), dst = ctx.directory.endpoint(address: r.dst)
            if let e = ctx.endpoint, src != e, dst != e, !(r.kind == .physical && reporter == e) { return true }
            if let t = ctx.taggedNodes, !t.contains(src), !t.contains(dst), !t.contains(reporter) { return true }
            if let f = ctx.filter, !f.matchesRow(reporter: h.reporter, kind: r.kind, proto: r.proto, port: r.servicePort, src: src, dst: dst) {
                return true
            }
            if let match, !(try match.matches(ctx, h.reporter, src, dst, r)) { return true }
            return try body {
                var row = FlowLogRow(
                    start: h.start, end: h.end, reporter: try ctx.label(reporter), reporterName: ctx.directory.name(reporter),
                    kind: r.kind, proto: r.proto,
                    src: r.src == 0 ? nil : try ctx.directory.addressText(r.src), srcPort: r.srcPort,
                    srcNode: try src.nodeID.map { _ in try ctx.label(src) }, srcName: ctx.directory.name(src),
                    dst: r.dst == 0 ? nil : try ctx.directory.addressText(r.dst), dstPort: r.dstPort,
                    dstNode: try dst.nodeID.map { _ in try ctx.label(dst) }, dstName: ctx.directory.name(dst),
                    txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes,
                    cursor: cursor.text,
                    initiator: Direction.initiator(srcPort: r.srcPort, dstPort: r.dstPort))
                if row.srcName == nil { row.srcLabel = Self.flowLabel(ctx, r.src, port: r.srcPort, other: r.dst) }
                if row.dstName == nil { row.dstLabel = Self.flowLabel(ctx, r.dst, port: r.dstPort, other: r.src) }
                return row
            }
        }
        guard let match else {
            return try ctx.snapshot.messages(from: options.window.from, to: upper, reporter: nil, descending: true, visit)
        }
        // Only where rows can match, newest first: each span holds the same reporters throughout.
        let kindMask = kinds.reduce(UInt8(0)) { $0 | 1 << $1.rawValue }
        var going = true
        for span in try match.spans(ctx, from: options.window.from, to: upper, kinds: kindMask, proto: options.proto.map(Int.init) ?? -1) {
            func body(_ h: MessageHeader, _ i: Int, _ r: StoredRow) throws -> Bool {
                going = try visit(h, i, r)
                return going
            }
            if let reporters = span.reporters, reporters.count == 1 {
                try ctx.snapshot.messages(from: span.from, to: span.to, reporter: reporters.first!, descending: true, body)
            } else if let reporters = span.reporters {
                try ctx.snapshot.messages(from: span.from, to: span.to, descending: true, reporters: { reporters.contains($0) }, body)
            } else {
                try ctx.snapshot.messages(from: span.from, to: span.to, reporter: nil, descending: true, body)
            }
            if !going { return }
        }
    }

    static func matches(_ needle: String, _ ctx: QueryContext, _ reporter: Endpoint, _ src: Endpoint, _ dst: Endpoint, _ r: StoredRow) throws -> Bool {
        if let port = UInt16(needle), port == r.srcPort || port == r.dstPort { return true }
        for e in [reporter, src, dst] {
            if let n = ctx.directory.node(e) {
                if n.stableID.lowercased().contains(needle) { return true }
                if let name = n.name, name.lowercased().contains(needle) { return true }
                if let user = n.user, user.lowercased().contains(needle) { return true }
                if n.tags.contains(where: { $0.lowercased().contains(needle) }) { return true }
            }
        }
        for a in [r.src, r.dst] where a != 0 {
            if try ctx.directory.addressText(a).contains(needle) { return true }
        }
        return false
    }
}

/// A position in the newest-first order of flow rows: message start, reporter, digest, row index.
struct FlowCursor: Equatable {
    var start: Int64
    var reporter: Int64
    var digest: Int64
    var index: Int

    init(start: Int64, reporter: Int64, digest: Int64, index: Int) {
        self.start = start
        self.reporter = reporter
        self.digest = digest
        self.index = index
    }

    init(parsing text: String) throws {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, let s = Int64(parts[0]), let r = Int64(parts[1]), let d = Int64(parts[2]), let i = Int(parts[3]) else {
            throw QueryError("\(parameter: "after") '\(text)' is not a cursor (take one from the `cursor` field of a previous answer)")
        }
        self.init(start: s, reporter: r, digest: d, index: i)
    }

    var text: String { "\(start)-\(reporter)-\(digest)-\(index)" }

    /// Whether `self` comes after `other` in newest-first order.
    func isAfter(_ other: FlowCursor) -> Bool {
        if (start, reporter, digest) != (other.start, other.reporter, other.digest) {
            return (start, reporter, digest) < (other.start, other.reporter, other.digest)
        }
        return index > other.index
    }
}

extension QueryEngine {
    /// What a raw row's address that is no node is, for tables: `*` (no address) is anonymised
    /// exit traffic, or totals when neither end has one; the DERP region; a subnet route.
    static func flowLabel(_ ctx: QueryContext, _ address: Int64, port: UInt16, other: Int64) -> String? {
        if address == 0 { return other == 0 ? "(unattributed totals)" : "(anonymised exit traffic)" }
        return ctx.directory.describe(address: address, port: port)
    }
}

/// Who opened a connection, read from its ports (SPEC §5 "Direction"): the side that owns the
/// service port (the lower non-zero of the two, as `top --by port` ranks them) answered, the
/// other initiated.
///
/// A heuristic: a client that binds a low source port, or two high ports (peer-to-peer,
/// WireGuard), read the wrong way; equal ports and port-less protocols (ICMP) have no answer.
enum Direction {
    /// `src` or `dst`; nil when the ports cannot tell.
    public static func initiator(srcPort: UInt16, dstPort: UInt16) -> String? {
        guard srcPort != dstPort else { return nil }
        return FlowRow.servicePort(srcPort, dstPort) == dstPort ? "src" : "dst"
    }
}
