import FlowModel
import FlowStore

extension QueryEngine {
    /// Every peer one endpoint exchanged traffic with in the window: both
    /// directions, protocols and service ports, first and last seen.
    ///
    /// `outboundPorts` are the service ports on the peer the endpoint connected to,
    /// `inboundPorts` those on the endpoint the peer connected to, read from which end
    /// held the service port (``ServiceSide``, kept in rollups too, so exact at any level).
    ///
    /// Sums come through the planner (rollups where whole buckets fit). First and
    /// last seen are exact: a peer first seen in a rollup bucket is looked up again
    /// inside that bucket with finer levels, down to raw rows, so only the buckets
    /// at a peer's two ends are ever read raw. `lastSeen` is the end of the last
    /// message window with traffic to or from the peer.
    ///
    /// For example:
    /// ```swift
    /// var o = QueryOptions(window: TimeWindow(from: start, to: end))
    /// o.endpoint = "db-1"
    /// for peer in try engine.scope(o) { print(peer.peer, peer.sentBytes, peer.receivedBytes) }
    /// ```
    ///
    /// - parameter options: The window and the filters; `endpoint` is required.
    /// - returns: One row per peer, most bytes first, ties by the peer's key.
    /// - throws: ``QueryError`` without an endpoint or for an unknown one; ``StoreError``.
    public func scope(_ options: QueryOptions) throws -> [ScopePeer] {
        guard options.endpoint != nil else { throw QueryError("scope needs \(parameter: "endpoint")") }
        return try read(options) { ctx in
            let e = ctx.endpoint!
            struct Acc {
                var sent = Sum(), received = Sum()
                var protocols: Set<UInt8> = [], ports: Set<UInt16> = [], outbound: Set<UInt16> = [], inbound: Set<UInt16> = []
                var first = Int64.max, firstSpan: Int64 = 0
                var last = Int64.min, lastSpan: Int64 = 0
            }
            var peers: [Endpoint: Acc] = [:]
            try ctx.edges(options.window) { o, from, to, p, b in
                let peer = from == e ? to : from
                var acc = peers[peer] ?? Acc()
                if from == e { acc.sent.add(p, b) } else { acc.received.add(p, b) }
                acc.protocols.insert(o.proto)
                acc.ports.insert(o.port)
                // The row's source end (for physical rows the reporter, as the edge model reads them)
                // opened the connection when the destination held the service port.
                if o.side == .dst || o.side == .src {
                    let source = o.kind == .physical ? Endpoint.node(o.reporter) : ctx.directory.endpoint(address: o.src)
                    if (source == e) == (o.side == .dst) { acc.outbound.insert(o.port) } else { acc.inbound.insert(o.port) }
                }
                if o.time < acc.first || (o.time == acc.first && o.span < acc.firstSpan) { (acc.first, acc.firstSpan) = (o.time, o.span) }
                if o.time + o.span > acc.last + acc.lastSpan || (o.time + o.span == acc.last + acc.lastSpan && o.span < acc.lastSpan) {
                    (acc.last, acc.lastSpan) = (o.time, o.span)
                }
                peers[peer] = acc
            }
            // Refine the ends found in rollup buckets, one bucket at a time, finer each round.
            while true {
                // Each bucket to look into, with the peers whose first or last sighting it holds.
                var buckets: [[Int64]: Set<Endpoint>] = [:]
                for (peer, a) in peers {
                    if a.firstSpan > 0 { buckets[[a.first, a.firstSpan], default: []].insert(peer) }
                    if a.lastSpan > 0 { buckets[[a.last, a.lastSpan], default: []].insert(peer) }
                }
                // Buckets over pruned raw time stay as they are: first and last seen to their resolution.
                buckets = buckets.filter { $0.key[0] >= ctx.coverage.earliest(0) }
                if buckets.isEmpty { break }
                let reporters = try ctx.snapshot.reporters().count
                for (bucket, wanted) in buckets.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                    let (start, span) = (bucket[0], bucket[1])
                    // Only the reports that count for those peers' edges with the endpoint (its own and
                    // theirs, SPEC §3): a busy node's ends would otherwise read every report of hundreds of minutes.
                    let observers = Self.observers(ctx, e, wanted).flatMap { $0.count * 2 <= reporters ? $0 : nil }
                    var firsts: [Endpoint: (Int64, Int64)] = [:], lasts: [Endpoint: (Int64, Int64)] = [:]
                    try ctx.edges(TimeWindow(from: start, to: start + span), observers: observers,
                                  below: span / Timestamp.nanosPerSecond) { o, from, to, _, _ in
                        let peer = from == e ? to : from
                        if firsts[peer].map({ o.time < $0.0 || (o.time == $0.0 && o.span < $0.1) }) ?? true { firsts[peer] = (o.time, o.span) }
                        if lasts[peer].map({ o.time + o.span > $0.0 + $0.1 || (o.time + o.span == $0.0 + $0.1 && o.span < $0.1) }) ?? true {
                            lasts[peer] = (o.time, o.span)
                        }
                    }
                    for (peer, var a) in peers {
                        if a.first == start, a.firstSpan == span, let f = firsts[peer] { (a.first, a.firstSpan) = f }
                        if a.last == start, a.lastSpan == span, let l = lasts[peer] { (a.last, a.lastSpan) = l }
                        peers[peer] = a
                    }
                }
            }
            let windowEnds = try Self.messageEnds(ctx, starts: Set(peers.values.map(\.last)))
            return try peers.map { peer, a in
                var row = ScopePeer(peer: try ctx.label(peer), peerName: ctx.directory.name(peer),
                          sentBytes: a.sent.bytes, receivedBytes: a.received.bytes,
                          sentPackets: a.sent.packets, receivedPackets: a.received.packets,
                          protocols: a.protocols.sorted(), ports: a.ports.sorted(),
                          outboundPorts: a.outbound.sorted(), inboundPorts: a.inbound.sorted(),
                          firstSeen: a.first, lastSeen: windowEnds[a.last] ?? a.last + a.lastSpan)
                if row.peerName == nil { row.peerLabel = ctx.directory.tableLabel(peer, ports: row.ports, starOnly: e == .star) }
                return row
            }.sorted { a, b in a.bytes != b.bytes ? a.bytes > b.bytes : byteOrder(a.peer, b.peer) }
        }
    }

    /// The reporters whose observations can count for edges between `e` and any of `peers`
    /// (nil: any reporter's can).
    static func observers(_ ctx: QueryContext, _ e: Endpoint, _ peers: Set<Endpoint>) -> Set<Int64>? {
        var all: Set<Int64> = []
        for peer in peers {
            guard let o = ctx.model.observers(of: e, peer) else { return nil }
            all.formUnion(o)
        }
        return all
    }

    /// The latest window end among messages starting at each of `starts`.
    static func messageEnds(_ ctx: QueryContext, starts: Set<Int64>) throws -> [Int64: Int64] {
        var out: [Int64: Int64] = [:]
        for s in starts {
            try ctx.snapshot.messages(from: s, to: s + 1, reporter: nil, descending: false) { h, _, _ in
                out[s] = max(out[s] ?? h.end, h.end)
                return true
            }
        }
        return out
    }
}
