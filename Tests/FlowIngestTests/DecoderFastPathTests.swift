import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

/// The decoder's fast paths (issue 20) against its general one: a node object found by its first
/// bytes among those read before, a counter read without the general number scanner. Each input
/// is decoded whole by one decoder (whose cache fills as it goes) and line by line by fresh
/// decoders (every node read the general way), at several buffer sizes: the answers must agree.
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
        // Escaped keys are other keys to the decoder (as before): ignored, the counters stay 0.
        #expect(try rows(escaped) == [FlowRow(kind: .virtual, proto: 0, src: nil, srcPort: 0, dst: IPAddress("100.64.0.2"), dstPort: 5353,
                                              txPackets: 11, txBytes: 0, rxPackets: 33, rxBytes: 4444)])
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
