/// One connection row before rendering. Physical rows are derived at emission time.
struct Row {
    var reporter: Int32
    var kind: UInt8       // 0 virtual, 1 subnet, 2 exit
    var proto: UInt8
    var srcPort: UInt16
    var dstPort: UInt16
    var src: Int32        // address id, -1 = absent
    var dst: Int32
    var peer: Int32       // tailnet node at the other end of the tunnel, -1 = none
    var txPkts: UInt64
    var txBytes: UInt64
    var rxPkts: UInt64
    var rxBytes: UInt64
}

/// An ongoing conversation between an initiator (`a`) and a responder (`b`, a node).
struct Conv {
    var kind: UInt8       // 0 virtual, 1 subnet (b = router), 2 exit (b = exit node)
    var proto: UInt8
    var conns: UInt8
    var v6: Bool
    var oneWay: Bool      // failed attempt: nothing comes back, the far end never reports
    var anonymised: Bool  // exit: the client's own rows are anonymised
    var steady: Bool      // server-to-server: bytes follow the daily rhythm, not arrivals
    var a: Int32
    var b: Int32
    var far: Int32        // address id of the subnet/public host, -1 for virtual traffic
    var aPort: UInt16
    var bPort: UInt16
    var remaining: Int32
    var template: Int32
    var service: Int32
    var activity: Double
    var loss: Double
}

/// The traffic model: conversations start, run for a while and end; each window yields rows.
struct Simulation {
    let net: Tailnet
    var rng: Xoshiro256
    var convs: [Conv] = []
    var rows: [Row] = []
    var merge: [UInt64: Int32] = [:]
    let rate: Double

    init(net: Tailnet, seed: UInt64, rate: Double) {
        self.net = net
        self.rate = max(0, rate)
        rng = Xoshiro256(seed: seed ^ 0x51A1_7EAF_F1C0_0002)
        for (i, t) in net.templates.enumerated() {
            var c = makeConv(a: t.client, b: t.server, service: Int(t.service), kind: 0, far: -1)
            c.template = Int32(i)
            c.steady = true
            c.remaining = Int32(1 + rng.below(Int(Catalog.services[Int(t.service)].duration) * 2))
            convs.append(c)
        }
    }

    /// Traffic intensity by time of day (busier in working hours UTC) and weekday.
    static func rhythm(_ ns: Int64) -> Double {
        var secs = ns / 1_000_000_000
        if ns < 0 && secs * 1_000_000_000 != ns { secs -= 1 }
        var day = secs / 86400
        var sod = secs - day * 86400
        if sod < 0 { sod += 86400; day -= 1 }
        var wd = (day + 4) % 7
        if wd < 0 { wd += 7 }
        let h = Double(sod) / 3600.0
        let x = (h - 13.0) / 4.5
        let work = 0.12 + 0.88 * DetMath.exp(-x * x)
        return wd == 0 || wd == 6 ? work * 0.35 : work
    }

    mutating func ephemeral() -> UInt16 { UInt16(32768 + rng.below(60999 - 32768 + 1)) }

    mutating func makeConv(a: Int32, b: Int32, service: Int, kind: UInt8, far: Int32) -> Conv {
        let s = Catalog.services[service]
        var proto = s.proto
        let v6 = kind == 0 && rng.chance(0.18)
        if proto == 1 && v6 { proto = 58 }
        let conns = UInt8(s.maxConns <= 1 ? 1 : 1 + rng.below(s.maxConns))
        let dur = max(1, Int32(rng.exponential(mean: s.duration) + 0.5))
        return Conv(kind: kind, proto: proto, conns: conns, v6: v6, oneWay: false, anonymised: false, steady: false,
                    a: a, b: b, far: far, aPort: proto == 1 || proto == 58 ? 0 : ephemeral(), bPort: s.port,
                    remaining: dur, template: -1, service: Int32(service),
                    activity: s.activity, loss: rng.chance(0.35) ? rng.uniform() * 0.02 : 0)
    }

    /// A new conversation started by a client.
    mutating func arrival() {
        let net = self.net
        let a = net.clients[rng.pick(cumulative: net.clientCum)]
        let da = net.devices[Int(a)]
        let r = rng.uniform()
        var c: Conv
        if r < 0.06 {
            var b = net.clients[rng.below(net.clients.count)]
            if b == a { b = net.servers[0] }
            let os = net.devices[Int(b)].os
            let svc: Int
            switch os {
            case "iOS", "android": svc = Catalog.ping
            case "windows": svc = rng.chance(0.6) ? Catalog.rdp : Catalog.ping
            default: svc = [Catalog.ssh, Catalog.devHTTP, Catalog.syncthing, Catalog.ping][rng.below(4)]
            }
            c = makeConv(a: a, b: b, service: svc, kind: 0, far: -1)
        } else if r < 0.16 {
            let h = rng.below(net.subnetService.count)
            c = makeConv(a: a, b: net.router, service: Int(net.subnetService[h]), kind: 1, far: net.subnetFirst + Int32(h))
        } else if r < 0.25 && da.usesExit {
            let q = rng.uniform()
            let svc = q < 0.62 ? Catalog.https : q < 0.9 ? Catalog.quic : q < 0.96 ? Catalog.dns : Catalog.http
            let far = net.publicFirst + Int32(rng.below(Int(net.publicCount)))
            c = makeConv(a: a, b: net.exitNode, service: svc, kind: 2, far: far)
            c.anonymised = da.exitAnonymised
            if c.anonymised { c.aPort = 0; c.bPort = 0; c.conns = 1 }
        } else if r < 0.28 {
            let b = net.servers[rng.pick(cumulative: net.serverCum)]
            c = makeConv(a: a, b: b, service: Catalog.ping, kind: 0, far: -1)
        } else {
            let b = net.servers[rng.pick(cumulative: net.serverCum)]
            let kind = Catalog.serverKinds[net.devices[Int(b)].serverKind]
            var total = 0.0
            for (_, w) in kind.services { total += w }
            var x = rng.uniform() * total
            var svc = kind.services[0].0
            for (s, w) in kind.services { if x < w { svc = s; break }; x -= w }
            c = makeConv(a: a, b: b, service: svc, kind: 0, far: -1)
            if rng.chance(0.012) { c.oneWay = true; c.remaining = 1; c.conns = 1 }
        }
        convs.append(c)
    }

    /// Advances one window; when `produce` is set, fills `rows` with the window's traffic.
    mutating func step(windowStart: Int64, produce: Bool) {
        let rhythm = Simulation.rhythm(windowStart)
        let lambda = rate * rhythm * net.clientCum[net.clientCum.count - 1] * 0.45
        let arrivals = rng.poisson(lambda)
        for _ in 0..<arrivals { arrival() }
        rows.removeAll(keepingCapacity: true)
        merge.removeAll(keepingCapacity: true)
        var i = 0
        while i < convs.count {
            if produce && rng.chance(convs[i].activity) {
                emitRows(convs[i], rhythm: rhythm)
            }
            convs[i].remaining -= 1
            if convs[i].remaining <= 0 {
                if convs[i].template >= 0 {
                    let t = net.templates[Int(convs[i].template)]
                    var c = makeConv(a: t.client, b: t.server, service: Int(t.service), kind: 0, far: -1)
                    c.template = convs[i].template
                    c.steady = true
                    convs[i] = c
                    i += 1
                } else {
                    convs.swapAt(i, convs.count - 1)
                    convs.removeLast()
                }
            } else {
                i += 1
            }
        }
    }

    /// Packets and bytes one side sends in a window.
    @inline(__always)
    mutating func volume(_ mean: Double, _ pktSize: Double, proto: UInt8) -> (UInt64, UInt64) {
        if proto == 1 || proto == 58 {
            let p = UInt64(4 + rng.below(3))
            return (p, p * (proto == 1 ? 84 : 104))
        }
        let bytes = rng.lognormal(mean: mean, sigma: 1.0)
        // Tailscale's TUN MTU is 1280: no virtual packet is larger.
        let size = min(1280, pktSize * (0.8 + 0.4 * rng.uniform()))
        let pkts = UInt64(bytes / size) + 1
        let minimum = pkts * (proto == 17 ? 48 : 52)
        let b = UInt64(bytes)
        return (pkts, b < minimum ? minimum : b)
    }

    /// What arrives of what was sent, after 0–2% loss.
    @inline(__always)
    static func received(_ v: (UInt64, UInt64), loss: Double) -> (UInt64, UInt64) {
        if loss == 0 || v.0 < 2 { return v }
        let drop = UInt64(Double(v.0) * loss)
        if drop == 0 { return v }
        return (v.0 - drop, v.1 - v.1 / v.0 * drop)
    }

    @inline(__always)
    mutating func add(_ r: Row, mergeKey: UInt64?) {
        if let k = mergeKey {
            if let j = merge[k] {
                rows[Int(j)].txPkts += r.txPkts
                rows[Int(j)].txBytes += r.txBytes
                rows[Int(j)].rxPkts += r.rxPkts
                rows[Int(j)].rxBytes += r.rxBytes
                return
            }
            merge[k] = Int32(rows.count)
        }
        rows.append(r)
    }

    mutating func emitRows(_ c: Conv, rhythm: Double) {
        let s = Catalog.services[Int(c.service)]
        let n = Int32(net.devices.count)
        let scale = c.steady ? (0.25 + 0.75 * rhythm) : 1.0
        let per = scale / Double(c.conns)
        let aAddr = c.v6 ? n + c.a : c.a
        let bAddr = c.v6 ? n + c.b : c.b
        let aReports = net.reports[Int(c.a)], bReports = net.reports[Int(c.b)]
        // Exit traffic to an IPv6 host leaves from the client's IPv6 address.
        let exitAddr = c.kind == 2 && (c.far - net.publicFirst) % 8 == 7 ? n + c.a : c.a
        for k in 0..<Int(c.conns) {
            let share = c.conns == 1 ? per : per * (0.4 + 1.2 * rng.uniform())
            let up = volume(s.req * share, s.reqPkt, proto: c.proto)
            let icmp = c.proto == 1 || c.proto == 58
            // Echo replies mirror echo requests.
            var down = c.oneWay ? (0, 0) : icmp ? up : volume(s.resp * share, s.respPkt, proto: c.proto)
            var upSent = up
            if c.proto == 6 && !c.oneWay {
                // Acknowledgements ride in the other direction.
                let ackUp = down.0 / 3, ackDown = up.0 / 3
                upSent = (up.0 + ackUp, up.1 + ackUp * 52)
                down = (down.0 + ackDown, down.1 + ackDown * 52)
            }
            var aPort = c.aPort
            if k > 0 && aPort != 0 {
                let offset: Int = (Int(aPort) - 32768 + k * 7919) % 28232
                aPort = UInt16(32768 + offset)
            }
            let aGot = Simulation.received(down, loss: c.loss)
            let bGot = Simulation.received(upSent, loss: c.loss)
            switch c.kind {
            case 0:
                if aReports {
                    add(Row(reporter: c.a, kind: 0, proto: c.proto, srcPort: aPort, dstPort: c.bPort, src: aAddr, dst: bAddr, peer: c.b,
                            txPkts: upSent.0, txBytes: upSent.1, rxPkts: aGot.0, rxBytes: aGot.1), mergeKey: nil)
                }
                if bReports && !c.oneWay {
                    add(Row(reporter: c.b, kind: 0, proto: c.proto, srcPort: c.bPort, dstPort: aPort, src: bAddr, dst: aAddr, peer: c.a,
                            txPkts: down.0, txBytes: down.1, rxPkts: bGot.0, rxBytes: bGot.1), mergeKey: nil)
                }
            case 1:
                if aReports {
                    add(Row(reporter: c.a, kind: 1, proto: c.proto, srcPort: aPort, dstPort: c.bPort, src: aAddr, dst: c.far, peer: c.b,
                            txPkts: upSent.0, txBytes: upSent.1, rxPkts: aGot.0, rxBytes: aGot.1), mergeKey: nil)
                }
                if bReports {
                    add(Row(reporter: c.b, kind: 1, proto: c.proto, srcPort: c.bPort, dstPort: aPort, src: c.far, dst: aAddr, peer: c.a,
                            txPkts: down.0, txBytes: down.1, rxPkts: bGot.0, rxBytes: bGot.1), mergeKey: nil)
                }
            default:
                if aReports {
                    if c.anonymised {
                        add(Row(reporter: c.a, kind: 2, proto: c.proto, srcPort: 0, dstPort: 0, src: exitAddr, dst: -1, peer: c.b,
                                txPkts: upSent.0, txBytes: upSent.1, rxPkts: aGot.0, rxBytes: aGot.1),
                            mergeKey: UInt64(UInt32(c.a)) << 32 | UInt64(UInt32(c.b)) << 8 | UInt64(c.proto) | (exitAddr >= n ? 0x80 : 0))
                    } else {
                        add(Row(reporter: c.a, kind: 2, proto: c.proto, srcPort: aPort, dstPort: c.bPort, src: exitAddr, dst: c.far, peer: c.b,
                                txPkts: upSent.0, txBytes: upSent.1, rxPkts: aGot.0, rxBytes: aGot.1), mergeKey: nil)
                    }
                }
                if bReports {
                    // The exit node's own log is anonymised: public address removed, ports scrubbed, counts merged.
                    add(Row(reporter: c.b, kind: 2, proto: c.proto, srcPort: 0, dstPort: 0, src: -1, dst: exitAddr, peer: c.a,
                            txPkts: down.0, txBytes: down.1, rxPkts: bGot.0, rxBytes: bGot.1),
                        mergeKey: UInt64(UInt32(c.b)) << 32 | UInt64(UInt32(c.a)) << 8 | UInt64(c.proto) | (exitAddr >= n ? 0x80 : 0))
                }
            }
        }
    }
}
