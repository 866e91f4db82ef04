import FlowModel
import FlowStore

extension QueryEngine {
    /// Every peer one endpoint exchanged traffic with in the window: both
    /// directions, protocols and service ports, first and last seen (message windows).
    ///
    /// Read from raw flow rows, for exact first/last times.
    public func scope(_ options: QueryOptions) throws -> [ScopePeer] {
        guard options.endpoint != nil else { throw QueryError("scope needs --endpoint") }
        return try read(options) { ctx in
            let e = ctx.endpoint!
            struct Acc {
                var sent = Sum(), received = Sum()
                var protocols: Set<UInt8> = [], ports: Set<UInt16> = []
                var first = Int64.max, last = Int64.min
            }
            var peers: [Endpoint: Acc] = [:]
            var ends: [Int64: Int64] = [:]
            try ctx.edges(options.window, rawOnly: true) { o, from, to, p, b in
                let peer = from == e ? to : from
                var acc = peers[peer] ?? Acc()
                if from == e { acc.sent.add(p, b) } else { acc.received.add(p, b) }
                acc.protocols.insert(o.proto)
                acc.ports.insert(o.port)
                acc.first = min(acc.first, o.time)
                acc.last = max(acc.last, o.time)
                peers[peer] = acc
                ends[o.time] = nil
            }
            // lastSeen is the end of the last window: look up message ends for the last starts.
            let lastStarts = Set(peers.values.map(\.last))
            let windowEnds = try Self.messageEnds(ctx, starts: lastStarts)
            return peers.map { peer, a in
                ScopePeer(peer: ctx.label(peer), peerName: ctx.directory.name(peer),
                          sentBytes: a.sent.bytes, receivedBytes: a.received.bytes,
                          sentPackets: a.sent.packets, receivedPackets: a.received.packets,
                          protocols: a.protocols.sorted(), ports: a.ports.sorted(),
                          firstSeen: a.first, lastSeen: windowEnds[a.last] ?? a.last)
            }.sorted { a, b in a.bytes != b.bytes ? a.bytes > b.bytes : byteOrder(a.peer, b.peer) }
        }
    }

    /// The latest window end among messages starting at each of `starts`.
    static func messageEnds(_ ctx: QueryContext, starts: Set<Int64>) throws -> [Int64: Int64] {
        var out: [Int64: Int64] = [:]
        for s in starts {
            try StoreScan.messages(ctx.db, from: s, to: s + 1) { h, _, _ in
                out[s] = max(out[s] ?? h.end, h.end)
                return true
            }
        }
        return out
    }
}
