/// Renders the simulation's rows as messages, window by window, in the container's framing.
struct Emitter {
    /// At most this many virtual/subnet/exit rows per message; busier reports are split
    /// into several messages for the same window, keeping each well under 256 KiB.
    static let maxRowsPerMessage = 300

    let net: Tailnet
    let config: GeneratorConfig
    let container: GeneratedContainer
    let blob: UnsafePointer<UInt8>
    let addr: UnsafePointer<Span>
    var sim: Simulation
    var rng: Xoshiro256
    var messages = 0
    var rows = 0
    /// Configuration audit log records written, and their schedule (nil: none asked for).
    var changes = 0
    var schedule: ChangeSchedule?
    var order: [Int32] = []
    var bucketStart: [Int32]
    var peerSlot: [Int32]
    var peers: [Int32] = []
    var peerCounters: [(UInt64, UInt64, UInt64, UInt64)] = []
    var procSeq: [UInt64]
    var phaseNs: [Int64]
    /// Injected faults, by device index: clock offset, silent periods, share of messages lost.
    var skewNs: [Int64]
    var silences: [[(Int64, Int64)]]
    var dropShare: [Double]
    /// Draws for dropped messages only, so that faults leave every other node's output unchanged.
    var faultRng: Xoshiro256

    init(net: Tailnet, config: GeneratorConfig, container: GeneratedContainer,
         blob: UnsafePointer<UInt8>, addr: UnsafePointer<Span>) {
        self.net = net
        self.config = config
        self.container = container
        self.blob = blob
        self.addr = addr
        sim = Simulation(net: net, seed: config.seed, rate: config.rate)
        rng = Xoshiro256(seed: config.seed ^ 0xE1A1_7000_0000_0003)
        let n = net.devices.count
        bucketStart = [Int32](repeating: 0, count: 3 * n + 1)
        peerSlot = [Int32](repeating: -1, count: n)
        procSeq = [UInt64](repeating: 0, count: n)
        phaseNs = net.devices.map { Int64($0.phase * Double(config.interval)) }
        skewNs = [Int64](repeating: 0, count: n)
        silences = [[(Int64, Int64)]](repeating: [], count: n)
        dropShare = [Double](repeating: 0, count: n)
        faultRng = Xoshiro256(seed: config.seed ^ 0xFA17_0000_0000_0004)
        let index = Dictionary(net.devices.enumerated().map { ($1.nodeID, $0) }, uniquingKeysWith: { a, _ in a })
        for fault in config.faults {
            switch fault {
            case .silent(let node, let from, let to): if let i = index[node] { silences[i].append((from, to)) }
            case .clockSkew(let node, let offset): if let i = index[node] { skewNs[i] = offset }
            case .dropReports(let node, let share): if let i = index[node] { dropShare[i] = share }
            case .neverReports(let node): if let i = index[node] { silences[i].append((.min, .max)) }
            }
        }
        if config.changes {
            schedule = ChangeSchedule(net: net, seed: config.seed, start: config.start, meanGap: Double(max(1_000_000_000, config.changeInterval)))
        }
    }

    /// Writes the configuration records due before `limit`, framed for the container.
    mutating func emitChanges(_ out: inout Output, before limit: Int64) {
        guard var s = schedule else { return }
        let due = s.events(before: limit)
        schedule = s
        for (time, json) in due {
            let w = json.utf8
            switch container {
            case .array, .api: if messages + changes > 0 { out.w.byte(44) }
            case .splunk:
                out.w.lit("{\"time\":")
                out.w.uint(UInt64(max(0, time / 1_000_000_000)))
                out.w.lit(",\"host\":\"")
                out.w.string(net.domain)
                out.w.lit("\",\"sourcetype\":\"tailscale:audit\",\"event\":")
            case .elastic: out.w.lit("{\"create\":{\"_index\":\"logs-tailscale-configuration\"}}\n")
            default: break
            }
            out.w.bytes(Array(w))
            switch container {
            case .splunk: out.w.byte(125)
            case .jsonl, .logtail, .elastic: out.w.byte(10)
            default: break
            }
            changes += 1
        }
    }

    @inline(__always)
    func span(_ w: inout ByteWriter, _ s: Span) {
        w.raw(blob + Int(s.offset), Int(s.length))
    }

    /// `"ip:port"` for an address id.
    @inline(__always)
    func endpoint(_ w: inout ByteWriter, _ id: Int32, _ port: UInt16) {
        let s = addr[Int(id)]
        w.reserve(Int(s.length) + 8)
        w.base[w.count] = 34
        w.count += 1
        w.raw(blob + Int(s.offset), Int(s.length))
        w.base[w.count] = 58
        w.count += 1
        w.uint(UInt64(port))
        w.base[w.count] = 34
        w.count += 1
    }

    @inline(__always)
    func conn(_ w: inout ByteWriter, proto: UInt8, src: Int32, srcPort: UInt16, dst: Int32, dstPort: UInt16,
              _ txP: UInt64, _ txB: UInt64, _ rxP: UInt64, _ rxB: UInt64) {
        w.byte(123)
        var comma = false
        if proto != 0 { w.lit("\"proto\":"); w.uint(UInt64(proto)); comma = true }
        if src >= 0 {
            w.lit(comma ? ",\"src\":" : "\"src\":"); endpoint(&w, src, srcPort); comma = true
        }
        if dst >= 0 {
            w.lit(comma ? ",\"dst\":" : "\"dst\":"); endpoint(&w, dst, dstPort); comma = true
        }
        if txP != 0 { w.lit(comma ? ",\"txPkts\":" : "\"txPkts\":"); w.uint(txP); comma = true }
        if txB != 0 { w.lit(comma ? ",\"txBytes\":" : "\"txBytes\":"); w.uint(txB); comma = true }
        if rxP != 0 { w.lit(comma ? ",\"rxPkts\":" : "\"rxPkts\":"); w.uint(rxP); comma = true }
        if rxB != 0 { w.lit(comma ? ",\"rxBytes\":" : "\"rxBytes\":"); w.uint(rxB) }
        w.byte(125)
    }

    /// Generates every window and writes the whole container.
    mutating func run(_ out: inout Output, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch container {
        case .array: out.w.byte(91)
        case .api: out.w.lit("{\"logs\":[")
        default: break
        }
        let interval = config.interval
        let end = config.start &+ config.duration
        let windows = config.duration <= 0 ? 0 : (config.duration - 1) / interval + 1
        // Warm up so the first window already has conversations in flight.
        for k in stride(from: Int64(60), to: 0, by: -1) {
            sim.step(windowStart: config.start &- k &* interval, produce: false)
        }
        var w: Int64 = 0
        while w < windows {
            let t0 = config.start + w * interval
            sim.step(windowStart: t0, produce: true)
            try emitWindow(&out, windowStart: t0, limit: end, sink: sink)
            emitChanges(&out, before: min(end, t0 + interval))
            w += 1
        }
        switch container {
        case .array: out.w.lit("]\n")
        case .api: out.w.lit("]}\n")
        default: break
        }
    }

    mutating func emitWindow(_ out: inout Output, windowStart: Int64, limit: Int64,
                             sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        let simRows = sim.rows
        if simRows.isEmpty { return }
        // Counting sort by (reporter, kind).
        let buckets = bucketStart.count - 1
        for i in 0...buckets { bucketStart[i] = 0 }
        for r in simRows { bucketStart[Int(r.reporter) * 3 + Int(r.kind) + 1] += 1 }
        for i in 0..<buckets { bucketStart[i + 1] += bucketStart[i] }
        if order.count < simRows.count { order = [Int32](repeating: 0, count: simRows.count) }
        var fill = bucketStart
        for (i, r) in simRows.enumerated() {
            let b = Int(r.reporter) * 3 + Int(r.kind)
            order[Int(fill[b])] = Int32(i)
            fill[b] += 1
        }
        for r in net.emitOrder {
            let lo = Int(bucketStart[Int(r) * 3]), hi = Int(bucketStart[Int(r) * 3 + 3])
            if lo == hi { continue }
            let start = windowStart + phaseNs[Int(r)]
            if start >= limit { continue }
            var c = lo
            while c < hi {
                let e = min(hi, c + Emitter.maxRowsPerMessage)
                message(&out.w, reporter: r, start: start, rows: simRows, from: c, to: e)
                try out.maybeFlush(sink: sink)
                c = e
            }
        }
    }

    /// Writes one message holding `rows[order[from..<to]]` plus its physical rows, with framing.
    mutating func message(_ w: inout ByteWriter, reporter r: Int32, start: Int64, rows simRows: [Row], from: Int, to: Int) {
        let interval = config.interval
        let jitterMax = min(Int64(400_000), interval / 10)
        let endNs = start + interval - (rng.chance(0.8) && jitterMax > 0 ? Int64(rng.below(Int(jitterMax))) : 0)
        let logged = endNs + 250_000_000 + Int64(rng.below(2_500_000_000))
        let totalsOnly = rng.chance(0.004)
        procSeq[Int(r)] += 1
        // A faulty node's message is written as usual (the same random draws) and then taken back.
        let mark = w.count
        let lost = silences[Int(r)].contains { start >= $0.0 && start < $0.1 }
            || (dropShare[Int(r)] > 0 && faultRng.chance(dropShare[Int(r)]))
        let skew = skewNs[Int(r)]

        // Peers of this message: aggregate tunnel traffic for the physical rows.
        peers.removeAll(keepingCapacity: true)
        peerCounters.removeAll(keepingCapacity: true)
        for k in from..<to {
            let row = simRows[Int(order[k])]
            let p = Int(row.peer)
            var slot = Int(peerSlot[p])
            if slot < 0 {
                slot = peers.count
                peerSlot[p] = Int32(slot)
                peers.append(row.peer)
                peerCounters.append((0, 0, 0, 0))
            }
            peerCounters[slot].0 &+= row.txPkts
            peerCounters[slot].1 &+= row.txBytes
            peerCounters[slot].2 &+= row.rxPkts
            peerCounters[slot].3 &+= row.rxBytes
        }
        for p in peers { peerSlot[Int(p)] = -1 }

        // Framing before the message.
        switch container {
        case .array, .api: if messages + changes > 0 { w.byte(44) }
        case .splunk:
            w.lit("{\"time\":")
            w.uint(UInt64(max(0, logged / 1_000_000_000)))
            w.lit(",\"host\":\"")
            w.string(net.domain)
            w.lit("\",\"sourcetype\":\"tailscale:network\",\"event\":")
        case .elastic: w.lit("{\"create\":{\"_index\":\"logs-tailscale-network\"}}\n")
        default: break
        }

        w.byte(123)
        span(&w, net.idJSON[Int(r)])
        w.lit(",\"start\":\""); w.time(start + skew)
        w.lit("\",\"end\":\""); w.time(endNs + skew)
        if !config.omitLogged {
            w.lit("\",\"logged\":\""); w.time(logged)
        }
        w.byte(34)
        if !net.old[Int(r)] {
            w.lit(",\"srcNode\":")
            span(&w, net.nodeJSON[Int(r)])
            w.lit(",\"dstNodes\":[")
            for (i, p) in peers.enumerated() {
                if i > 0 { w.byte(44) }
                span(&w, net.nodeJSON[Int(p)])
            }
            w.byte(93)
        }
        var count = 0
        var k = from
        for kind in 0..<3 {
            let first = k
            while k < to && simRows[Int(order[k])].kind == UInt8(kind) { k += 1 }
            let extra = kind == 0 && totalsOnly
            if first == k && !extra { continue }
            switch kind {
            case 0: w.lit(",\"virtualTraffic\":[")
            case 1: w.lit(",\"subnetTraffic\":[")
            default: w.lit(",\"exitTraffic\":[")
            }
            for j in first..<k {
                let row = simRows[Int(order[j])]
                if j > first { w.byte(44) }
                conn(&w, proto: row.proto, src: row.src, srcPort: row.srcPort, dst: row.dst, dstPort: row.dstPort,
                     row.txPkts, row.txBytes, row.rxPkts, row.rxBytes)
            }
            count += k - first
            if extra {
                if k > first { w.byte(44) }
                let tp = UInt64(1 + rng.below(300)), rp = UInt64(1 + rng.below(300))
                conn(&w, proto: 0, src: -1, srcPort: 0, dst: -1, dstPort: 0,
                     tp, tp * UInt64(80 + rng.below(1300)), rp, rp * UInt64(80 + rng.below(1300)))
                count += 1
            }
            w.byte(93)
        }
        if !peers.isEmpty {
            w.lit(",\"physicalTraffic\":[")
            let me = net.devices[Int(r)]
            for (i, p) in peers.enumerated() {
                if i > 0 { w.byte(44) }
                let d = net.devices[Int(p)]
                let (ua, up): (Int32, UInt16)
                if me.lanAddr >= 0 && d.lanAddr >= 0 {
                    (ua, up) = (d.lanAddr, 41641)
                } else if me.hardNAT || d.hardNAT {
                    (ua, up) = (net.derpAddr, d.derpRegion)
                } else {
                    (ua, up) = (d.publicAddr, d.publicPort)
                }
                let c = peerCounters[i]
                let keepalive = UInt64(rng.below(2))
                let txP = c.0 + keepalive, rxP = c.2 + (c.2 > 0 ? keepalive : 0)
                conn(&w, proto: 0, src: p, srcPort: 0, dst: ua, dstPort: up,
                     txP, c.1 + txP * 32, rxP, c.3 + rxP * 32)
            }
            w.byte(93)
            count += peers.count
        }

        // Framing after the message.
        switch container {
        case .logtail:
            w.lit(",\"logtail\":{\"client_time\":\""); w.time(endNs + skew)
            w.lit("\",\"proc_id\":"); w.uint(net.devices[Int(r)].procID)
            w.lit(",\"proc_seq\":"); w.uint(procSeq[Int(r)])
            w.lit(",\"server_time\":\""); w.time(logged)
            w.lit("\"}}\n")
        case .jsonl: w.lit("}\n")
        case .elastic: w.lit("}\n")
        case .splunk: w.lit("}}")
        default: w.byte(125)
        }
        if lost {
            w.count = mark
            return
        }
        messages += 1
        rows += count
    }
}
