import FlowModel
import Testing
import TestSupport

@Suite(.ownThreads)
struct IPAddressTests {
    @Test(arguments: [
        ("100.101.1.10", "100.101.1.10"),
        ("0.0.0.0", "0.0.0.0"),
        ("fd7a:115c:a1e0::a", "fd7a:115c:a1e0::a"),
        ("FD7A:115C:A1E0:0:0:0:0:A", "fd7a:115c:a1e0::a"),
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.1", "64:ff9b::c000:201"),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"),
    ])
    func canonicalText(_ input: String, _ canonical: String) throws {
        let ip = try #require(IPAddress(input))
        #expect(ip.description == canonical)
        #expect(IPAddress(canonical) == ip)
    }

    @Test(arguments: ["100.101.1.999", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.", "", "a.b.c.d", ":::", "1:2:3:4:5:6:7:8:9",
                      "1::2::3", "fe80::1%eth0", "12345::", "1.2.3.4:80", ":1:2", "1:2:"])
    func rejectsInvalid(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func socketAddresses() throws {
        let v4 = try #require(SocketAddress(text: Array("100.101.1.10:51000".utf8)))
        #expect(v4.ip.description == "100.101.1.10" && v4.port == 51000)
        let v6 = try #require(SocketAddress(text: Array("[fd7a:115c:a1e0::a]:443".utf8)))
        #expect(v6.ip.description == "fd7a:115c:a1e0::a" && v6.port == 443)
        #expect(SocketAddress(text: Array("100.101.1.10".utf8))?.port == 0)
        #expect(SocketAddress(text: Array("100.101.1.10:65536".utf8)) == nil)
        #expect(SocketAddress(text: Array("100.101.1.10:".utf8)) == nil)
        #expect(SocketAddress(text: Array("[1.2.3.4]:80".utf8)) == nil)
        #expect(SocketAddress(text: Array("[fd7a::1".utf8)) == nil)
    }
}
