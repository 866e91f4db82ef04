import FlowModel
import Testing
import TestSupport

@Suite(.ownThreads)
struct MessageDigestTests {
    let row = FlowRow(kind: .virtual, proto: 6, src: IPAddress("100.64.0.1"), srcPort: 5000,
                      dst: IPAddress("100.64.0.2"), dstPort: 443, txPackets: 1, txBytes: 100, rxPackets: 2, rxBytes: 200)

    @Test func identityIgnoresNodeMetadataButNotContent() {
        let a = FlowMessage(nodeID: "nA", start: 10, end: 20, rows: [row])
        var b = a
        b.srcNode = NodeInfo(nodeID: "nA", name: "a.example")
        #expect(a.digest == b.digest)
        var c = a
        c.rows[0].txBytes += 1
        #expect(a.digest != c.digest)
        var d = a
        d.end += 1
        #expect(a.digest != d.digest)
        var e = a
        e.rows[0].kind = .subnet
        #expect(a.digest != e.digest)
        var f = a
        f.rows[0].src = nil
        #expect(a.digest != f.digest)
        #expect(a.digest >= 0 && a.digest < 1 << 48)
    }

    /// The identity is stored: it must never change. The node id is mixed in whole words where its
    /// text is contiguous; this is the identity as computed byte by byte, for node ids of every
    /// length up to 40 (ASCII and multi-byte), and one value pinned.
    @Test func identityIsTheSameAsByteByByte() {
        func byteByByte(_ m: FlowMessage) -> Int64 {
            var h = MessageHasher()
            for b in m.nodeID.utf8 { h.mix(byte: b) }
            h.mix(UInt64(bitPattern: m.start))
            h.mix(UInt64(bitPattern: m.end))
            for r in m.rows {
                h.mix(UInt64(r.kind.rawValue) | UInt64(r.proto) << 8 | UInt64(r.srcPort) << 16 | UInt64(r.dstPort) << 32
                      | (r.src == nil ? 0 : 1) << 48 | (r.dst == nil ? 0 : 1) << 49)
                if let s = r.src { h.mix(s.high); h.mix(s.low) }
                if let d = r.dst { h.mix(d.high); h.mix(d.low) }
                h.mix(UInt64(bitPattern: r.txPackets))
                h.mix(UInt64(bitPattern: r.txBytes))
                h.mix(UInt64(bitPattern: r.rxPackets))
                h.mix(UInt64(bitPattern: r.rxBytes))
            }
            return Int64(bitPattern: h.finish() & 0xffff_ffff_ffff)
        }
        let alphabet = Array("abcXYZ0189-_é€")
        var seed: UInt64 = 7
        for length in 0...40 {
            for _ in 0..<5 {
                var id = ""
                for _ in 0..<length {
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    id.append(alphabet[Int(seed >> 33) % alphabet.count])
                }
                let m = FlowMessage(nodeID: id, start: Int64(length), end: 99, rows: length % 2 == 0 ? [row] : [])
                #expect(m.digest == byteByByte(m), "node id \(id)")
            }
        }
        // Values printed by the code before the node id was mixed in words (`63d580f`'s FlowModel,
        // compiled on its own): ids of 0, 1, 7, 8, 9, 16 and 17 bytes and a non-ASCII one, no rows,
        // a row without a source, an IPv6 row, a negative start.
        var noSource = row
        noSource.src = nil
        let v6 = FlowRow(kind: .subnet, proto: 17, src: IPAddress("fd7a:115c:a1e0::1"), srcPort: 53,
                         dst: IPAddress("10.0.0.7"), dstPort: 40000, txPackets: 3, txBytes: 300, rxPackets: 0, rxBytes: 0)
        let pinned: [(String, Int64, Int64, [FlowRow], Int64)] = [
            ("", 10, 20, [row], 142_460_451_575_154),
            ("n", 10, 20, [row], 255_150_090_965_857),
            ("nAbCdEf", 10, 20, [], 72_193_204_605_078),
            ("nAbCdEf8", 10, 20, [row], 109_720_553_376_502),
            ("nAbCdEf89", -5_000_000_000, 20, [noSource], 175_881_874_784_614),
            ("nOafoGd8x8ACNTRL", 10, 20, [row], 182_711_663_888_300),
            ("nOafoGd8x8ACNTRL1", 1_793_613_600_000_000_000, 1_793_613_605_000_000_000, [row, noSource, v6], 1_254_049_496_211),
            ("nœud€", 10, 20, [v6], 30_387_985_034_541),
        ]
        for (id, start, end, rows, digest) in pinned {
            #expect(FlowMessage(nodeID: id, start: start, end: end, rows: rows).digest == digest, "node id \(id)")
        }
    }

    @Test func servicePortIsTheLowerNonZeroPort() {
        #expect(row.servicePort == 443)
        var r = row
        r.srcPort = 0
        #expect(r.servicePort == 443)
        r.dstPort = 0
        #expect(r.servicePort == 0)
        r.srcPort = 41641
        #expect(r.servicePort == 41641)
    }
}
