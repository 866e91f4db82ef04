import FlowModel
import Foundation
import Testing
import TestSupport

/// The one-pass reader of `a.b.c.d:port` (ingest's hot path) against the reader of every form:
/// it must read the usual form and leave everything else to the general reader, never reading a
/// text another way nor accepting what the general reader refuses.
@Suite(.ownThreads)
struct SocketAddressTests {
    static func read(_ text: [UInt8]) -> (parsed: SocketAddress?, fast: SocketAddress?, general: SocketAddress?) {
        text.withUnsafeBufferPointer { (SocketAddress.parse($0), SocketAddress.parseIPv4WithPort($0), SocketAddress.parseAnyForm($0)) }
    }

    @Test(arguments: ["100.64.0.1:443", "0.0.0.0:0", "255.255.255.255:65535", "1.2.3.4:00080", "10.0.0.7:41641", "100.90.216.147:0"])
    func readsTheUsualFormInOnePass(_ text: String) throws {
        let (parsed, fast, general) = Self.read(Array(text.utf8))
        let a = try #require(fast)
        #expect(a == general && a == parsed)
        #expect(a.ip.isIPv4 && a.ip.description + ":\(a.port)" == text.replacingOccurrences(of: ":00080", with: ":80"))
    }

    @Test(arguments: ["1.2.3.4", "01.2.3.4:1", "1.2.3.04:1", "1.00.3.4:1", "256.1.1.1:1", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:123456",
                      "1.2.3:4", "1.2.3.4.5:6", "[fd7a::1]:443", "fd7a::1", "::ffff:1.2.3.4", "1.2.3.4:8a", " 1.2.3.4:1", "1.2.3.4:1 ",
                      "1..3.4:5", "1.2.3.4::5", "1000.2.3.4:5", "1.2.3.4:-1", "1.2.3.4:+1", "", ":", "1.2.3.4:1:2"])
    func leavesEveryOtherFormToTheGeneralReader(_ text: String) {
        let (parsed, fast, general) = Self.read(Array(text.utf8))
        #expect(fast == nil)
        #expect(parsed == general)
    }

    /// Random texts near the usual form (seeded): the two readers agree on every one.
    @Test func agreesWithTheGeneralReaderOnRandomText() {
        var rng = SplitMix(state: 20)
        let alphabet = Array("0123456789.:[]af".utf8)
        var usual = 0
        for n in 0..<200_000 {
            var text: [UInt8]
            if n % 2 == 0 {
                // A well-formed address and port, then a few bytes changed, inserted or cut.
                text = Array("\(rng.next() % 300).\(rng.next() % 300).\(rng.next() % 256).\(rng.next() % 260):\(rng.next() % 70_000)".utf8)
                if rng.next() % 3 == 0, !text.isEmpty { text.insert(UInt8(ascii: "0"), at: Int(rng.next() % UInt64(text.count))) }
                for _ in 0..<(rng.next() % 3) where !text.isEmpty {
                    let i = Int(rng.next() % UInt64(text.count))
                    switch rng.next() % 3 {
                    case 0: text[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    case 1: text.remove(at: i)
                    default: text.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                    }
                }
            } else {
                text = (0..<(rng.next() % 24)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            }
            let (parsed, fast, general) = Self.read(text)
            #expect(parsed == general, "\(String(decoding: text, as: UTF8.self))")
            if let fast {
                usual += 1
                #expect(fast == general, "\(String(decoding: text, as: UTF8.self))")
            }
        }
        // The random texts do reach the fast path, often.
        #expect(usual > 10_000)
    }
}
