import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

/// The decoder's fast paths (issue 20) against its general one: a node object found by its first
/// bytes among those read before, a counter read without the general number scanner. Each input
/// is decoded whole by one decoder (whose cache fills as it goes) and line by line by fresh
/// decoders (every node read the general way), at several buffer sizes: the answers must agree.
@Suite(.ownThreads)
struct DecoderFastPathTests {
    /// What a message decoded to, comparable as a whole.
    struct Seen: Equatable {
        var nodeID: String
        var start: Int64
        var end: Int64
        var logged: Int64?
        var srcNode: NodeInfo?
        var dstNodes: [NodeInfo]
        var rows: [FlowRow]

        init(_ m: FlowMessage) {
            (nodeID, start, end, logged, srcNode, dstNodes, rows) = (m.nodeID, m.start, m.end, m.logged, m.srcNode, m.dstNodes, m.rows)
        }
    }

    struct Outcome: Equatable {
        var messages: [Seen] = []
        var reasons: [String] = []
    }

    static func whole(_ text: String, trickle: Int? = nil) throws -> Outcome {
        let d = try Decoded(bytes: Array(text.utf8), trickle: trickle)
        return Outcome(messages: d.messages.map(Seen.init), reasons: d.rejects.map(\.reason))
    }

    static func lineByLine(_ text: String) throws -> Outcome {
        var out = Outcome()
        for line in text.split(separator: "\n") {
            let o = try whole(String(line))
            out.messages += o.messages
            out.reasons += o.reasons
        }
        return out
    }

    static let t0 = "2026-11-02T00:00:00Z"
    static let t1 = "2026-11-02T00:00:05Z"

    static func message(src: String, dsts: [String], conn: String = #"{"proto":6,"src":"100.64.0.1:443","dst":"100.64.0.2:5000","txPkts":1,"txBytes":2,"rxPkts":3,"rxBytes":4}"#) -> String {
        #"{"nodeId":"nSRC0000000CNTRL","start":"\#(t0)","end":"\#(t1)","srcNode":\#(src),"dstNodes":[\#(dsts.joined(separator: ","))],"virtualTraffic":[\#(conn)]}"#
    }

    /// Node objects that repeat byte for byte, and others that share their first 32 bytes or more
    /// and then differ (a renamed node, one more tag, a longer name, other whitespace, escapes,
    /// a bad address, an unknown key): only a whole object equal byte for byte is the same node.
    static let nodes: [String] = [
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web-1.tail.ts.net","addresses":["100.64.0.1","fd7a:115c:a1e0::1"],"os":"linux","tags":["tag:web"]}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web-2.tail.ts.net","addresses":["100.64.0.1","fd7a:115c:a1e0::1"],"os":"linux","tags":["tag:web"]}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web-1.tail.ts.net","addresses":["100.64.0.1","fd7a:115c:a1e0::1"],"os":"linux","tags":["tag:web","tag:x"]}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web-1.tail.ts.net","addresses":["100.64.0.1","fd7a:115c:a1e0::1"],"os":"linux","tags":["tag:web"],"user":"a@b"}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL", "name":"web-1.tail.ts.net","addresses":["100.64.0.1","fd7a:115c:a1e0::1"],"os":"linux","tags":["tag:web"]}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web\u002d1.tail.ts.net","addresses":["100.64.0.1"],"os":"linux"}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web-1.tail.ts.net","addresses":["100.64.0.999"],"os":"linux"}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","name":"web-1.tail.ts.net","extra":{"a":[1,2,{"b":null}]},"os":"linux"}"#,
        #"{"nodeId":"nAAAAAAAAAAAAAAAACNTRL","nodeId":"nBBBBBBBBBBBBBBBBCNTRL","name":"dup"}"#,
        #"{"nodeId":"nB","name":"x"}"#,
        #"{"nodeId":"nBBBBBBBBBBBBBBBBCNTRL","name":"db-1.tail.ts.net","addresses":["100.64.0.2"],"os":"linux"}"#,
        #"{"nodeId":"nBBBBBBBBBBBBBBBBCNTRL","name":"db-1.tail.ts.net","addresses":["100.64.0.2"],"os":"linux"}  "#,
        "null",
    ]

    /// Every pairing of the nodes above as source and destinations, in an order that makes each
    /// variant follow one that shares its first bytes.
    static var mixed: String {
        var lines: [String] = []
        for (i, a) in nodes.enumerated() {
            for (j, b) in nodes.enumerated() where (i + j) % 3 != 1 {
                lines.append(message(src: a, dsts: [b, a]))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test(arguments: [nil, 1, 13, 97, 4096] as [Int?])
    func nodesFoundByTheirFirstBytesAreTheNodesTheGeneralPathReads(_ trickle: Int?) throws {
        let text = Self.mixed
        let whole = try Self.whole(text, trickle: trickle)
        let alone = try Self.lineByLine(text)
        #expect(whole == alone)
        // The variants decode to different nodes, and the bad ones are refused each time.
        #expect(Set(whole.messages.compactMap(\.srcNode?.name)).count >= 4)
        #expect(whole.reasons.count == alone.reasons.count && !whole.reasons.isEmpty)
        #expect(whole.reasons.contains { $0.contains("100.64.0.999") } && whole.reasons.contains { $0.contains("duplicate key") })
    }

    /// The fixtures and synthetic files, whole against line by line.
    @Test func everyFixtureDecodesAsWithoutTheCache() throws {
        for name in ["bad/wrong-types.jsonl", "bad/malformed-line.jsonl", "bad/bad-address.jsonl", "bad/counter-overflow.jsonl", "containers/messages.jsonl", "containers/logtail.jsonl"] {
            let text = String(decoding: try Fixtures.bytes(name), as: UTF8.self)
            #expect(try Self.whole(text).messages == Self.lineByLine(text).messages, "\(name)")
        }
        let synthetic = String(decoding: Synthetic.jsonl(count: 300, rows: 4), as: UTF8.self)
        #expect(try Self.whole(synthetic, trickle: 61) == Self.lineByLine(synthetic))
    }

    /// Keys of a connection written the usual way (`"txBytes":`, read by their first bytes) and
    /// spaced, escaped or reordered (read by the general path): the same rows.
    @Test(arguments: [nil, 1, 9] as [Int?])
    func connectionKeysReadByTheirBytesAreTheKeysTheGeneralPathReads(_ trickle: Int?) throws {
        let usual = #"{"proto":17,"src":"100.64.0.1:53","dst":"100.64.0.2:5353","txPkts":11,"txBytes":2222,"rxPkts":33,"rxBytes":4444}"#
        let spaced = #"{ "proto" : 17 , "src" : "100.64.0.1:53" , "dst" :"100.64.0.2:5353", "txPkts" :11,"txBytes" : 2222,"rxPkts"  :  33 ,"rxBytes"\#t:4444 }"#
        let escaped = #"{"pr\u006fto":17,"\u0073rc":"100.64.0.1:53","dst":"100.64.0.2:5353","txPkts":11,"tx\u0042ytes":2222,"rxPkts":33,"rxBytes":4444}"#
        let reordered = #"{"rxBytes":4444,"rxPkts":33,"txBytes":2222,"txPkts":11,"dst":"100.64.0.2:5353","src":"100.64.0.1:53","proto":17,"other":1}"#
        func rows(_ conn: String) throws -> [FlowRow] {
            try #require(Self.whole(Self.message(src: "null", dsts: [], conn: conn) + "\n", trickle: trickle).messages.first).rows
        }
        let want = [FlowRow(kind: .virtual, proto: 17, src: IPAddress("100.64.0.1"), srcPort: 53, dst: IPAddress("100.64.0.2"), dstPort: 5353,
                            txPackets: 11, txBytes: 2222, rxPackets: 33, rxBytes: 4444)]
        #expect(try rows(usual) == want)
        #expect(try rows(spaced) == want)
        #expect(try rows(reordered) == want)
        // Escaped keys are the keys they spell, as to every JSON reader (they were ignored before).
        #expect(try rows(escaped) == want)
        // A key given twice is refused whichever path reads either copy.
        let twice = try Self.whole(Self.message(src: "null", dsts: [], conn: #"{"txBytes":1, "txBytes" :2}"#) + "\n", trickle: trickle)
        #expect(twice.messages.isEmpty && twice.reasons.first?.contains("txBytes: duplicate key") == true)
    }

    /// Counters: the fast reader takes plain integers of up to 18 digits; everything else (and a
    /// number cut by the end of the buffer) goes to the general scanner, with the same answers.
    @Test(arguments: [nil, 1, 5, 300] as [Int?])
    func countersReadFastOrGenerallyAlike(_ trickle: Int?) throws {
        let cases: [(text: String, value: Int64?, reason: String?)] = [
            ("0", 0, nil), ("7", 7, nil), ("123456789012345678", 123_456_789_012_345_678, nil),
            ("1234567890123456789", 1_234_567_890_123_456_789, nil), ("9223372036854775807", Int64.max, nil),
            ("9223372036854775808", nil, "exceeds 2^63-1"), ("99999999999999999999999", nil, "exceeds 2^63-1"),
            ("-0", 0, nil), ("-1", nil, "is negative"), ("1.0", nil, "is not an integer"), ("1e3", nil, "is not an integer"),
            ("1E3", nil, "is not an integer"), ("10 ", 10, nil), ("\n42", 42, nil), ("null", 0, nil),
            ("01", nil, "leading zero"), ("\"5\"", nil, "expected an unsigned integer"),
        ]
        for c in cases {
            let line = #"{"nodeId":"n1","start":"\#(Self.t0)","end":"\#(Self.t1)","virtualTraffic":[{"proto":6,"txBytes":\#(c.text),"rxBytes":1}]}"# + "\n"
            let o = try Self.whole(line, trickle: trickle)
            if let value = c.value {
                #expect(o.reasons.isEmpty, "\(c.text): \(o.reasons)")
                #expect(o.messages.first?.rows.first?.txBytes == value, "\(c.text)")
                #expect(o.messages.first?.rows.first?.rxBytes == 1, "\(c.text)")
            } else {
                #expect(o.messages.isEmpty, "\(c.text)")
                #expect(o.reasons.count == 1 && o.reasons[0].contains(c.reason!), "\(c.text): \(o.reasons)")
            }
        }
    }
}

extension DecoderFastPathTests {
    /// An outcome with its JSON syntax errors told only as such: their line numbers and what the
    /// scanner met next (the next line, or the end of a line decoded alone) differ by nature.
    static func comparable(_ o: Outcome) -> Outcome {
        Outcome(messages: o.messages, reasons: o.reasons.map { $0.hasPrefix("JSON syntax error") ? "JSON syntax error" : $0 })
    }

    /// Damaged input, decoded whole (the node cache filled by every line before) and line by line
    /// (every node read afresh), at several buffer sizes: the same messages and the same reject
    /// reasons (a field's reason word for word). JSON Lines only, and no damage adds or removes a line break, so each line is a
    /// value of its own either way.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func damagedLinesDecodeAsWithoutTheCache(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 0x2545_F491_4F6C_DD1D)
        let sources = [Self.mixed, String(decoding: try Fixtures.bytes("containers/messages.jsonl"), as: UTF8.self)]
        for source in sources {
            let lines = source.split(separator: "\n").map { Array($0.utf8) }
            for round in 0..<8 {
                var damaged = lines
                for _ in 0..<max(1, lines.count / 4) {
                    let victim = Int.random(in: 0..<lines.count, using: &rng)
                    damaged[victim] = DecoderFuzzTests.mutate(damaged[victim], &rng).filter { $0 != 0x0A && $0 != 0x0D }
                }
                let text = String(decoding: damaged.map { $0 + [0x0A] }.joined(), as: UTF8.self)
                // Lines that are not valid UTF-8 become other text through String: keep the bytes' own
                // lines only when they survive the round trip (the comparison needs the same input).
                guard Array(text.utf8) == Array(damaged.map { $0 + [0x0A] }.joined()) else { continue }
                let alone = Self.comparable(try Self.lineByLine(text))
                for trickle in [nil, 7, 64] as [Int?] {
                    let whole = Self.comparable(try Self.whole(text, trickle: trickle))
                    #expect(whole == alone, "seed \(seed), round \(round), trickle \(String(describing: trickle))")
                }
            }
        }
    }
}

extension DecoderFastPathTests {
    /// Decodes `bytes` with the shortcuts and the node cache on or off.
    static func outcome(_ bytes: [UInt8], fastPaths: Bool, trickle: Int?) throws -> (Outcome, [String]) {
        let input: any ByteInput = trickle.map { TrickleInput(bytes, step: $0) } ?? MemoryInput(bytes)
        let decoder = ContainerDecoder(source: "fuzz", input: input)
        decoder.fastPaths = fastPaths
        let d = try Decoded(decoder)
        let places = d.rejects.map { "\($0.location.line ?? 0):\($0.location.offset)" }
        return (Outcome(messages: d.messages.map(Seen.init), reasons: d.rejects.map(\.reason)), places)
    }

    /// Damaged input of every container, decoded with the shortcuts (connection keys by their
    /// bytes, plain counters, `a.b.c.d:port` in one pass, nodes by their first bytes) and without
    /// any: the same messages, the same reject reasons word for word, at the same places.
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func damagedInputDecodesAsWithTheShortcutsOff(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 0x9E37_79B9_7F4A_7C15)
        let corpus = try DecoderFuzzTests.corpus() + [Array(Self.mixed.utf8), Synthetic.jsonl(count: 40, rows: 3)]
        var messages = 0, rejects = 0
        for round in 0..<120 {
            let base = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            let input = round % 6 == 0 ? base : DecoderFuzzTests.mutate(base, &rng)
            let trickle = [nil, 1, 7, 4096][Int.random(in: 0..<4, using: &rng)] as Int?
            let fast = try Self.outcome(input, fastPaths: true, trickle: trickle)
            let general = try Self.outcome(input, fastPaths: false, trickle: trickle)
            #expect(fast.0 == general.0, "seed \(seed), round \(round), trickle \(String(describing: trickle))")
            #expect(fast.1 == general.1, "seed \(seed), round \(round): reject places")
            messages += fast.0.messages.count
            rejects += fast.0.reasons.count
        }
        // The comparison saw both kinds of outcome.
        #expect(messages > 100 && rejects > 10, "\(messages) messages, \(rejects) rejects")
    }

    /// Keys and values written with JSON escapes mean what they spell, as to every JSON reader:
    /// before, an escaped key was an unknown key (its field silently missing) and an escaped
    /// time or address was refused.
    @Test(arguments: [nil, 1, 11] as [Int?])
    func escapedKeysAndValuesAreWhatTheySpell(_ trickle: Int?) throws {
        let plain = #"{"nodeId":"nSRC0000000CNTRL","start":"2026-11-02T00:00:00Z","end":"2026-11-02T00:00:05Z","logged":"2026-11-02T00:00:07Z","srcNode":{"nodeId":"nSRC0000000CNTRL","name":"web-1","addresses":["100.64.0.1"],"tags":["tag:web"]},"dstNodes":[{"nodeId":"nDST0000000CNTRL","name":"db-1","addresses":["100.64.0.2"]}],"virtualTraffic":[{"proto":6,"src":"100.64.0.1:443","dst":"100.64.0.2:5000","txPkts":1,"txBytes":2,"rxPkts":3,"rxBytes":4}],"exitTraffic":[{"proto":17,"src":"100.64.0.1:53","dst":"8.8.8.8:53","txPkts":5,"txBytes":6}]}"#
        let escaped = #"{"\u006eodeId":"nSRC0000000CNTRL","st\u0061rt":"2026\u002d11-02T00:00:00Z","\u0065nd":"2026-11-02T00:00:05\u005a","logg\u0065d":"2026-11-02T00:00:07Z","srcN\u006fde":{"node\u0049d":"nSRC0000000CNTRL","n\u0061me":"web-1","\u0061ddresses":["100.64.0.\u0031"],"t\u0061gs":["tag:web"]},"dst\u004eodes":[{"nodeId":"nDST0000000CNTRL","name":"db-1","addresses":["100.64.0.2"]}],"virtual\u0054raffic":[{"pr\u006fto":6,"\u0073rc":"100.64.0.1:\u0034\u0034\u0033","dst":"100.64.0.2:5000","txPkts":1,"tx\u0042ytes":2,"rxPkts":3,"rxBytes":4}],"exit\u0054raffic":[{"proto":17,"src":"100.64.0.1:53","dst":"8.8.8.8:53","txPkts":5,"txBytes":6}]}"#
        let want = try Self.whole(plain + "\n", trickle: trickle)
        #expect(want.reasons.isEmpty && want.messages.count == 1)
        #expect(want.messages.first?.rows.count == 2 && want.messages.first?.logged != nil)
        let got = try Self.whole(escaped + "\n", trickle: trickle)
        #expect(got == want)
        let general = try Self.outcome(Array((escaped + "\n").utf8), fastPaths: false, trickle: trickle).0
        #expect(general == want)

        // A log-service record's server time, escaped, still stands in for a missing `logged`.
        let logtail = #"{"nodeId":"n1","start":"2026-11-02T00:00:00Z","end":"2026-11-02T00:00:05Z","logtail":{"\u0073erver_time":"2026-11-02T00:00:0\u0039Z"},"virtualTraffic":[{"proto":6,"txBytes":1}]}"#
        let lt = try Self.whole(logtail + "\n", trickle: trickle)
        #expect(lt.messages.first?.logged == Timestamp.parseRFC3339("2026-11-02T00:00:09Z"))

        // The same key written plainly and escaped is a key given twice: refused, naming it.
        let twice = #"{"nodeId":"n1","\u006eodeId":"n2","start":"2026-11-02T00:00:00Z","end":"2026-11-02T00:00:05Z","virtualTraffic":[]}"#
        let t = try Self.whole(twice + "\n", trickle: trickle)
        #expect(t.messages.isEmpty && t.reasons.first?.contains("nodeId: duplicate key") == true, "\(t.reasons)")

        // An escaped value that is not a time is still refused, quoted as written.
        let bad = #"{"nodeId":"n1","start":"2026\u002d13-02T00:00:00Z","end":"2026-11-02T00:00:05Z","virtualTraffic":[]}"#
        let b = try Self.whole(bad + "\n", trickle: trickle)
        #expect(b.messages.isEmpty && b.reasons.first?.contains("start: \"2026\\u002d13-02T00:00:00Z\" is not an RFC 3339 time") == true, "\(b.reasons)")
    }

    /// Messages whose keys, times and addresses are written the usual way (read by their bytes:
    /// `"nodeId":`, `"a.b.c.d:port"`) and in every way near it (spaced, escaped, a byte longer or
    /// shorter, other forms, out of range, cut short): the same messages, reject reasons and places
    /// as with the shortcuts off, and on the chunked path (`ChunkedDecodingTests`).
    static let nearUsual: [String] = {
        let usual = #"{"nodeId":"nSRC0000000CNTRL","start":"2026-11-02T00:00:00.123456789Z","end":"2026-11-02T00:00:05.5Z","logged":"2026-11-02T00:00:07.000000001Z","srcNode":{"nodeId":"nSRC0000000CNTRL","name":"web-1","addresses":["100.64.0.1"]},"dstNodes":[{"nodeId":"nDST0000000CNTRL","name":"db-1","addresses":["100.64.0.2"]}],"virtualTraffic":[{"proto":6,"src":"100.64.0.1:443","dst":"100.64.0.2:5000","txPkts":1,"txBytes":2,"rxPkts":3,"rxBytes":4}],"subnetTraffic":[{"proto":17,"src":"100.64.0.1:53","dst":"10.0.0.9:53","txPkts":5}],"exitTraffic":[{"proto":17,"src":"100.64.0.1:53","dst":"8.8.8.8:53","txPkts":5,"txBytes":6}],"physicalTraffic":[{"src":"100.64.0.2:0","dst":"203.0.113.9:41641","rxBytes":7}]}"#
        var out = [usual]
        let keys = ["nodeId", "start", "end", "logged", "srcNode", "dstNodes", "virtualTraffic", "subnetTraffic", "exitTraffic", "physicalTraffic"]
        for key in keys {
            let plain = "\"\(key)\":"
            for variant in ["\"\(key)\" :", "\"\(key)x\":", "\"\(key.dropLast())\":", "\"\\u00\(String(key.utf8.first!, radix: 16))\(key.dropFirst())\":",
                            "\"\(key.prefix(1).uppercased() + key.dropFirst())\":", " \"\(key)\":"] {
                out.append(usual.replacingOccurrences(of: plain, with: variant))
            }
            // The key given twice: refused whichever way either copy is read.
            out.append(usual.replacingOccurrences(of: plain, with: "\"\(key)\":null,\(plain)"))
        }
        for socket in ["100.64.0.1:443", "100.64.0.1:0", "255.255.255.255:65535", "0.0.0.0:0", "1.2.3.4:00080", "256.1.1.1:1",
                       "01.2.3.4:1", "1.2.3.04:1", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:123456", "1.2.3.4", "1.2.3.4.5:6",
                       "1.2.3:4", "1.2.3.4:5x", "[fd7a:115c:a1e0::1]:443", "[fd7a:115c:a1e0::1]", "fd7a::1", "", "1.2.3.4:\\u0035",
                       "[fd7a:115c:a1e0::1]:443", "[fd7a:115c:a1e0::1]:444", "[fd7a:115c:a1e0:0::1]:443", "[FD7A:115C:A1E0::1]:443",
                       "[fd7a:115c:a1e0::1]:70000", "[fd7a:115c:a1e0::1]:444",
                       "1.2.3.4:5\\\"", "100.64.0.1:443 "] {
            out.append(usual.replacingOccurrences(of: "\"100.64.0.1:443\"", with: "\"\(socket)\""))
        }
        for spaced in ["\"src\": \"100.64.0.1:443\"", "\"src\":\"100.64.0.1:443\" ", "\"src\":null"] {
            out.append(usual.replacingOccurrences(of: "\"src\":\"100.64.0.1:443\"", with: spaced))
        }
        // Counters the in-place reader takes or leaves to the general scanner.
        for counter in ["00", "-0", "1e2", "1.0", "9223372036854775807", "9223372036854775808", " 5", "5 ", "null", "\"5\""] {
            out.append(usual.replacingOccurrences(of: "\"txBytes\":2,", with: "\"txBytes\":\(counter),"))
        }
        out.append(usual.replacingOccurrences(of: "\"proto\":6,", with: "\"proto\":256,"))
        // Times: the usual 30-byte form is read by position, these others by the general reader (the
        // first two as the same instant as the usual line's).
        for time in ["2026-11-02t00:00:00.123456789Z", "2026-11-02T00:00:00.123456789+00:00", "2026-11-02T00:00:00.1234567890",
                     "2026-11-02 00:00:00.123456789Q", "2026-13-02T00:00:00.123456789Z", "2026-11-02T00:00:00.12345678xZ",
                     "\\u0032026-11-02T00:00:00.123456789Z"] {
            out.append(usual.replacingOccurrences(of: "2026-11-02T00:00:00.123456789Z", with: time))
        }
        // A message cut inside each kind of value, so that the fast readers meet the end of the input.
        for cut in [usual.count / 7, usual.count / 3, usual.count / 2, usual.count - 3] {
            out.append(String(usual.prefix(cut)))
        }
        return out
    }()

    @Test(arguments: [nil, 61] as [Int?])
    func usualKeysCountersAndAddressesReadAsTheGeneralPathReadsThem(_ trickle: Int?) throws {
        let text = Self.nearUsual.joined(separator: "\n") + "\n"
        let fast = try Self.outcome(Array(text.utf8), fastPaths: true, trickle: trickle)
        let general = try Self.outcome(Array(text.utf8), fastPaths: false, trickle: trickle)
        #expect(fast.0 == general.0)
        #expect(fast.1 == general.1)
        // Both outcomes are there to compare: variants read as the usual message, others refused.
        let usual = try #require(fast.0.messages.first)
        #expect(usual.rows.count == 4 && usual.rows[0].src == IPAddress("100.64.0.1") && usual.rows[0].srcPort == 443)
        #expect(usual.start == Timestamp.parseRFC3339("2026-11-02T00:00:00.123456789Z"))
        #expect(fast.0.messages.filter { $0 == usual }.count >= 25, "\(fast.0.messages.count) messages")
        #expect(fast.0.reasons.count >= 25, "\(fast.0.reasons)")
        #expect(fast.0.reasons.contains { $0.contains("\"256.1.1.1:1\" is not an IP address with a port") })
        #expect(fast.0.reasons.contains { $0.contains("virtualTraffic: duplicate key") })
        // IPv6 addresses read again from their text (the cache) are the addresses read the first time.
        let v6 = fast.0.messages.compactMap { $0.rows.first }.filter { $0.src == IPAddress("fd7a:115c:a1e0::1") }
        #expect(v6.map(\.srcPort).sorted() == [0, 443, 443, 443, 443, 444, 444], "\(v6.map(\.srcPort))")
        // A time read by position is the time the general reader reads (lowercase `t`, an offset, an escape).
        #expect(fast.0.messages.filter { $0.start == usual.start && $0.rows == usual.rows }.count >= 40)
        #expect(fast.0.reasons.filter { $0.contains("is not an RFC 3339 time") }.count == 4, "\(fast.0.reasons)")
        // Counters: the large one, negative zero, a space or a null read; the others refused, as before.
        #expect(fast.0.messages.contains { $0.rows.first?.txBytes == Int64.max })
        #expect(fast.0.reasons.contains { $0.contains("txBytes: 9223372036854775808 exceeds 2^63-1") })
        #expect(fast.0.reasons.contains { $0.contains("proto: 256 is not an IP protocol number") })
    }

    /// HEC's `event` and the keys of an audit record, escaped, are read as their text.
    @Test func escapedEnvelopeAndChangeKeysAreRead() throws {
        let hec = #"{"time":1,"\u0065vent":{"nodeId":"n1","start":"2026-11-02T00:00:00Z","end":"2026-11-02T00:00:05Z","virtualTraffic":[{"proto":6,"txBytes":9}]}}"#
        let h = try Decoded(bytes: Array((hec + "\n").utf8))
        #expect(h.messages.count == 1 && h.messages.first?.rows.first?.txBytes == 9, "\(h.rejects.map(\.reason))")
        let change = #"{"\u0065ventGroupID":"g1","eventTime":"2026-11-02T00:00:00Z","\u0061ction":"UPDATE","actor":{"loginName":"a@b"},"target":{"name":"acl"}}"#
        let c = try Decoded(bytes: Array((change + "\n").utf8))
        #expect(c.changes.count == 1 && c.changes.first?.action == "UPDATE", "\(c.rejects.map(\.reason))")
    }
}
