import FlowModel
package import FlowStore

/// The counted edges of each rollup bucket of a day or more, kept in `edge_sums`
/// (schema/010_edge_sums.sql), so that `top` by endpoint or pair over weeks reads one row
/// per bucket instead of every reporter's rollup keys of it.
///
/// A bucket's edge sums are what ``EdgeModel`` makes of its rollups: they depend on the
/// rollups (a change deletes the row, by trigger) and on the directory (which node owns each
/// address, which nodes report): rows carry a ``resolution(_:)`` fingerprint of both and are
/// read only when it is the store's current one. Answers are therefore the same with or
/// without them, bucket for bucket.
package enum EdgeSumCache {
    /// A fingerprint of what the edge model reads besides rollups: the address owners and
    /// the reporters (addresses no node owns leave it alone, so new traffic does not change it).
    static func resolution(_ d: Directory) -> Int64 {
        var h: UInt64 = 0x6A09_E667_F3BC_C908
        @inline(__always) func mix(_ v: UInt64) {
            h = (h ^ v) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 31
        }
        for (a, n) in d.owner.enumerated() where n != 0 {
            mix(UInt64(a))
            mix(UInt64(bitPattern: n))
        }
        mix(0xFFFF_FFFF_FFFF_FFFF)
        for (i, r) in d.reporter.enumerated() where r { mix(UInt64(i)) }
        return Int64(bitPattern: h)
    }

    /// The counted edges of one bucket, by kind, sorted by (kind, from, to).
    static func count(_ snapshot: any StoreSnapshot, _ directory: Directory, step: Int64, bucket: Int64) throws -> [EdgeSum] {
        let model = EdgeModel(directory)
        var tables = [EdgeTable](repeating: EdgeTable(), count: 4)
        for r in try snapshot.reporters() {
            try snapshot.rollups(step: step, reporter: r, fromBucket: bucket, toBucket: bucket + 1) { _, e in
                let o = Observation(time: 0, reporter: r, kind: e.kind, proto: e.proto, port: e.port, side: e.side,
                                    src: e.src, dst: e.dst, counters: e.counters)
                let k = Int(e.kind.rawValue & 3)
                model.edges(o) { from, to, p, b in tables[k].add(from, to, p, b) }
            }
        }
        var out: [EdgeSum] = []
        for (k, table) in tables.enumerated() {
            var edges: [EdgeSum] = []
            table.forEach { from, to, s in
                edges.append(EdgeSum(kind: TrafficKind(rawValue: UInt8(k))!, from: from.raw, to: to.raw, packets: s.packets, bytes: s.bytes))
            }
            out += edges.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
        }
        return out
    }

    /// Counts and stores the edge sums of every bucket that has none (or has them from another
    /// resolution), in transactions of about `slice` each; returns how many buckets it stored.
    ///
    /// Writers call it after they commit (`ingest`, `nodes import`): the store then answers a
    /// long `top` from these rows until its rollups or its directory change again.
    @discardableResult
    package static func refresh(_ store: FlowStore, slice: Duration = .milliseconds(250)) throws -> Int {
        var stored = 0
        while true {
            let more = try store.updateEdgeSums { snapshot, stale, put in
                let directory = try Directory(snapshot)
                let resolution = Self.resolution(directory)
                let todo = try stale(resolution)
                let clock = ContinuousClock()
                let start = clock.now
                var done = 0
                for (step, bucket) in todo {
                    try put(step, bucket, resolution, try count(snapshot, directory, step: step, bucket: bucket))
                    done += 1
                    if clock.now - start > slice { break }
                }
                stored += done
                return done < todo.count
            }
            if !more { return stored }
        }
    }
}

extension QueryContext {
    /// Whether `edge_sums` can answer this question's edges: it keeps (kind, from, to) only,
    /// so the protocol and `--where` filters (which test ports, protocols and reporters) need
    /// the rollups; kind, endpoint, tag and user filters test what an edge sum keeps.
    var edgeSumsServe: Bool {
        options.proto == nil && filter == nil
    }

    /// Every counted edge of `window` passing all filters, as `edges(_:…)` gives them, summed
    /// from `edge_sums` where a bucket of a day or more has them (see ``EdgeSumCache``) and
    /// from rollups and raw rows elsewhere: `body(from, to, packets, bytes)`.
    func countedEdges(_ window: TimeWindow, _ body: (Endpoint, Endpoint, Int64, Int64) throws -> Void) throws {
        guard edgeSumsServe else {
            return try edges(window) { _, from, to, p, b in try body(from, to, p, b) }
        }
        let segments = Planner.plan(window, coverage: coverage)
        for case .missing(let from, let to) in segments {
            throw Planner.gapError((from, to), window: window, coverage: coverage)
        }
        let kindMask = options.candidateKinds.reduce(UInt8(0)) { $0 | 1 << $1.rawValue }
        let endpoint = self.endpoint, tagged = taggedNodes
        let resolution = EdgeSumCache.resolution(directory)
        for segment in segments {
            guard case .rollup(let step, let from, let to) = segment, step >= RollupStep.day else {
                // A segment alone plans as itself (it holds no bucket of a coarser level).
                if case .rollup(_, let from, let to) = segment {
                    try edges(TimeWindow(from: from, to: to)) { _, f, t, p, b in try body(f, t, p, b) }
                } else if case .raw(let from, let to) = segment {
                    try edges(TimeWindow(from: from, to: to)) { _, f, t, p, b in try body(f, t, p, b) }
                }
                continue
            }
            let size = step * Timestamp.nanosPerSecond
            let served = try snapshot.edgeSums(step: step, fromBucket: from / Timestamp.nanosPerSecond, toBucket: to / Timestamp.nanosPerSecond,
                                               resolution: resolution) { _, e in
                guard kindMask & (1 << e.kind.rawValue) != 0 else { return }
                let f = Endpoint(raw: e.from), t = Endpoint(raw: e.to)
                if let x = endpoint, f != x, t != x { return }
                if let tagged, !tagged.contains(f), !tagged.contains(t) { return }
                try body(f, t, e.packets, e.bytes)
            } ?? []
            // The buckets without edge sums, in runs, from the rollups.
            var next = from
            for bucket in served.map({ $0 * Timestamp.nanosPerSecond }) + [to] {
                if next < bucket {
                    try edges(TimeWindow(from: next, to: bucket)) { _, f, t, p, b in try body(f, t, p, b) }
                }
                next = bucket + size
            }
        }
    }
}
