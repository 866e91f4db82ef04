import FlowModel
import Testing

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
