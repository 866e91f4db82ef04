import FlowModel
import FlowStore

extension Coverage {
    /// The window read from the store's hour summaries (``CoverageHour``, schema/011) where it
    /// keeps them, and from the messages elsewhere: the window's partial hours at its ends and
    /// any hour not summarized. What it gives equals reading every message (the summaries are
    /// what that reading finds of each hour); nil when the store keeps no summaries or the
    /// window holds no whole hour.
    struct Summarized {
        enum Part {
            /// Messages with `from <= start < to`, read one by one.
            case messages(Nanoseconds, Nanoseconds)
            case hour(CoverageHour)
        }

        /// In time order.
        let parts: [Part]
        let own: ByNode<Own>
        let ctx: QueryContext

        init?(_ c: Coverage, width: Int) throws {
            let window = c.window
            let length = CoverageHour.length
            let first = CoverageHour.hour(of: window.from - 1) + length
            let last = CoverageHour.hour(of: window.to)
            guard first < last else { return nil }
            var hours: [Nanoseconds: CoverageHour] = [:]
            guard let missing = try c.ctx.snapshot.coverageHours(from: first, to: last, { hours[$0] = $1 }), !hours.isEmpty else { return nil }
            // Consecutive stretches read from messages become one part.
            var parts: [Part] = []
            var pending: (Nanoseconds, Nanoseconds)? = first > window.from ? (window.from, first) : nil
            let missingSet = Set(missing)
            var hour = first
            while hour < last {
                if let summary = hours[hour] {
                    if let p = pending { parts.append(.messages(p.0, p.1)) }
                    pending = nil
                    parts.append(.hour(summary))
                } else if missingSet.contains(hour) {
                    pending = (pending?.0 ?? hour, hour + length)
                }
                hour += length
            }
            if last < window.to { pending = (pending?.0 ?? last, window.to) }
            if let p = pending { parts.append(.messages(p.0, p.1)) }
            self.parts = parts
            ctx = c.ctx

            // Each node's windows (clipped to the window's end), messages and offsets.
            var windows = ByNode<[(Nanoseconds, Nanoseconds)]>(width: width, empty: [])
            var counts = ByNode<Int>(width: width, empty: 0)
            var offsets = ByNode<[Int64]>(width: width, empty: [])
            let to = window.to
            for part in parts {
                switch part {
                case .messages(let a, let b):
                    try c.ctx.snapshot.messageWindows(from: a, to: b) { h in
                        windows.modify(h.reporter) { $0.append((h.start, min(h.end, to))) }
                        counts.modify(h.reporter) { $0 += 1 }
                        if let logged = h.logged { offsets.modify(h.reporter) { $0.append(h.end - logged) } }
                    }
                case .hour(let summary):
                    for r in summary.reporters {
                        windows.modify(r.id) { w in
                            for (s, e) in r.windows { w.append((s, min(e, to))) }
                        }
                        counts.modify(r.id) { $0 += r.messages }
                        if !r.offsets.isEmpty { offsets.modify(r.id) { $0 += r.offsets } }
                    }
                }
            }
            var own = ByNode<Own>(width: width, empty: Own())
            for n in counts.ids(where: { $0 > 0 }) {
                own.modify(n) {
                    $0.windows = ArraySlice(windows[n])
                    $0.messages = counts[n]
                    $0.offsets = offsets[n]
                }
            }
            self.own = own
        }

        /// The peers' skews (``Sightings/skews(from:to:)``): the summaries' sightings, and the
        /// rows of the parts read from messages, in time order.
        func skews(width: Int, skewRange: (Nanoseconds, Nanoseconds)) throws -> [Int64: Double] {
            var sightings = Sightings(width: width)
            var ends: [RowEnds] = []
            var keys: [Conversation] = []
            for part in parts {
                switch part {
                case .messages(let a, let b):
                    try ctx.snapshot.messageWindowsAndPackedRows(from: a, to: b, { _ in }) { h, packed in
                        try RowCodec.decodeEnds(packed, into: &ends)
                        keys.removeAll(keepingCapacity: true)
                        ends.withUnsafeBufferPointer { Sightings.conversations($0, into: &keys) }
                        sightings.see(reporter: h.reporter, start: h.start, keys[...])
                    }
                case .hour(let summary):
                    for s in summary.sightings {
                        let key = Conversation(a: s.a, b: s.b, rest: s.rest)
                        sightings.sighted(key, reporter: s.first, at: s.firstAt)
                        if s.second != 0 { sightings.sighted(key, reporter: s.second, at: s.secondAt) }
                    }
                }
            }
            return sightings.skews(from: skewRange.0, to: skewRange.1)
        }
    }
}
