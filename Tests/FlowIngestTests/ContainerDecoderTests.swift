import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

@Suite(.ownThreads)
struct ContainerDecoderTests {
    /// The six messages of the tiny tailnet, as decoded from the plain API response.
    static let reference: [FlowMessage] = {
        (try? Decoded(bytes: Fixtures.bytes("tiny/api-response.json")).messages) ?? []
    }()

    @Test func referenceDecodesCompletely() throws {
        let ref = Self.reference
        try #require(ref.count == 6, "the fixture decodes (is ../shared/fixtures beside the repository?)")
        #expect(ref.map(\.rows.count) == [3, 1, 1, 1, 1, 1])
        let a = ref[0]
        #expect(a.nodeID == "nKq3vX1CNTRL")
        #expect(a.start == Timestamp.parseRFC3339("2026-11-01T10:00:00Z"))
        #expect(a.end == Timestamp.parseRFC3339("2026-11-01T10:00:04.999812345Z"))
        #expect(a.srcNode?.name == "alice-laptop.tail7f3e.ts.net")
        #expect(a.srcNode?.user == "alice@example.com")
        #expect(a.dstNodes.map(\.tags) == [["tag:db", "tag:prod"]])
        #expect(a.rows[0] == FlowRow(kind: .virtual, proto: 6, src: IPAddress("100.101.1.10"), srcPort: 51000,
                                     dst: IPAddress("100.101.1.20"), dstPort: 5432,
                                     txPackets: 120, txBytes: 48000, rxPackets: 100, rxBytes: 1_200_000))
        #expect(a.rows[2].kind == .physical && a.rows[2].proto == 0 && a.rows[2].dstPort == 41641)
        // Anonymised exit traffic: no src at all.
        #expect(ref[4].rows[0].src == nil && ref[4].rows[0].dst == IPAddress("100.101.1.10"))
        #expect(ref[3].srcNode == nil && ref[3].dstNodes.isEmpty)
    }

    @Test(arguments: Fixtures.containers)
    func everyContainerGivesTheSameMessages(_ name: String) throws {
        let decoded = try Decoded(bytes: Fixtures.bytes("containers/" + name))
        #expect(decoded.rejects.isEmpty)
        #expect(decoded.skipped == 0)
        let want = name == "single-message.json" ? [Self.reference[0].digest] : Self.reference.map(\.digest)
        #expect(decoded.digests == want)
        #expect(decoded.messages.map(\.srcNode) == (name == "single-message.json" ? [Self.reference[0].srcNode] : Self.reference.map(\.srcNode)))
    }

    @Test(arguments: Fixtures.containers, [1, 7, 64])
    func bufferBoundariesDoNotMatter(_ name: String, _ step: Int) throws {
        let whole = try Decoded(bytes: Fixtures.bytes("containers/" + name))
        let trickled = try Decoded(bytes: Fixtures.bytes("containers/" + name), trickle: step)
        #expect(trickled.digests == whole.digests)
        #expect(trickled.rejects.isEmpty)
    }

    @Test func envelopeKeysAroundLogsAreIgnored() throws {
        let m = Synthetic.message(1)
        let text = #"{"version":"1","next":{"a":[1,2,{"b":null}]},"logs":[\#(m),\#(m)],"more":"x","logs":[\#(m)]} {"logs":[]}"#
        let d = try Decoded(bytes: Array(text.utf8), trickle: 5)
        #expect(d.messages.count == 3)
        #expect(d.rejects.isEmpty)
    }

    @Test func nestedArraysAndScalarsAreSkippedAndCounted() throws {
        let m = Synthetic.message(2)
        let d = try Decoded(bytes: Array("[[\(m)], 5, \"x\", {\"a\":1}, null]\n7\n".utf8))
        #expect(d.messages.count == 1)
        #expect(d.skipped == 5)
    }

    @Test func messageDefinitionFollowsTailscalesFormatter() throws {
        // nodeId plus start or any traffic key is a message; nodeId alone is not.
        let lines = [
            #"{"nodeId":"n1"}"#,
            #"{"start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z"}"#,
            #"{"nodeId":"n1","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z"}"#,
            #"{"nodeId":"n1","virtualTraffic":[]}"#,
        ]
        let d = try Decoded(bytes: Array(lines.joined(separator: "\n").utf8))
        #expect(d.skipped == 2)
        #expect(d.messages.count == 1 && d.messages[0].rows.isEmpty)
        #expect(d.rejects.count == 1 && d.rejects[0].reason.contains("start: missing"))
    }

    @Test func totalsOnlyAndUnknownKeys() throws {
        let line = #"{"nodeId":"n1","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","future":{"x":[1e5,-2.5,true]},"virtualTraffic":[{"txPkts":3,"txBytes":300,"weird":"yes"},{}]}"#
        let d = try Decoded(bytes: Array(line.utf8))
        #expect(d.rejects.isEmpty)
        #expect(d.messages.first?.rows == [FlowRow(kind: .virtual, txPackets: 3, txBytes: 300), FlowRow(kind: .virtual)])
    }

    @Test func escapedStringsAreDecoded() throws {
        let line = #"{"nodeId":"n\u0031","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","srcNode":{"nodeId":"n1","name":"caf\u00e9 \ud83d\ude00\"q\""},"virtualTraffic":[]}"#
        let d = try Decoded(bytes: Array(line.utf8))
        #expect(d.messages.first?.nodeID == "n1")
        #expect(d.messages.first?.srcNode?.name == "café 😀\"q\"")
    }

    // MARK: Bad input

    @Test func malformedLineLosesOnlyItself() throws {
        let d = try Decoded(bytes: Fixtures.bytes("bad/malformed-line.jsonl"), source: "f.jsonl")
        #expect(d.messages.map(\.digest) == [Self.reference[0].digest, Self.reference[2].digest])
        #expect(d.rejects.count == 1)
        #expect(d.rejects[0].location.line == 2)
        #expect(d.rejects[0].reason.contains("JSON syntax error"))
    }

    @Test(arguments: [
        ("bad/counter-overflow.jsonl", 1, 2, "virtualTraffic[0].txBytes: 18446744073709551615 exceeds 2^63-1"),
        ("bad/bad-address.jsonl", 1, 1, #"virtualTraffic[0].dst: "100.101.1.999:22" is not an IP address"#),
        ("bad/wrong-types.jsonl", 1, 1, #"start: "yesterday" is not an RFC 3339 time"#),
        ("bad/wrong-types.jsonl", 1, 1, #"subnetTraffic[0].txBytes: expected an unsigned integer, got a string "30000""#),
        ("bad/end-before-start.jsonl", 0, 1, "is before start"),
        ("bad/not-json.bin", 0, 1, "expected a JSON value, found byte 0x00"),
        ("bad/truncated.json.gz", 0, 1, "gzip stream truncated"),
    ])
    func badInputGetsAReasonAndKeepsItsNeighbours(_ file: String, _ good: Int, _ line: Int, _ reason: String) throws {
        let d = try Decoded(bytes: Fixtures.bytes(file), source: file)
        #expect(d.messages.count == good)
        #expect(d.rejects.count == 1)
        #expect(d.rejects.first?.location.line == line)
        #expect(d.rejects.first?.reason.contains(reason) == true, "\(d.rejects.first?.reason ?? "no reject")")
    }

    @Test func emptyAndNonMessageInputsAreNotErrors() throws {
        let empty = try Decoded(bytes: Fixtures.bytes("bad/empty.json"))
        #expect(empty.messages.isEmpty && empty.rejects.isEmpty && empty.skipped == 0)
        let other = try Decoded(bytes: Fixtures.bytes("bad/no-messages.json"))
        #expect(other.messages.isEmpty && other.rejects.isEmpty && other.skipped == 1)
    }

    @Test func truncatedArrayIsReportedAfterItsMessages() throws {
        var text = Array("[\(Synthetic.message(1)),\(Synthetic.message(2)),".utf8)
        let d1 = try Decoded(bytes: text)
        #expect(d1.messages.count == 2)
        #expect(d1.rejects.count == 1 && d1.rejects[0].reason.contains("never closed"))
        text.append(contentsOf: Array(Synthetic.message(3).utf8.dropLast(10)))
        let d2 = try Decoded(bytes: text)
        #expect(d2.messages.count == 2)
        #expect(d2.rejects.count == 1 && d2.rejects[0].reason.contains("truncated"), "\(d2.rejects)")
    }

    @Test func oversizedValueIsRejectedAndTheNextLineStillLands() throws {
        let big = "{\"nodeId\":\"n1\",\"pad\":\"" + String(repeating: "x", count: 3 << 20) + "\"}"
        let bytes = Array((big + "\n" + Synthetic.message(5) + "\n").utf8)
        let d = try Decoded(bytes: bytes, maxValueBytes: 1 << 20)
        #expect(d.rejects.count == 1 && d.rejects[0].reason.contains("larger than 1 MiB"))
        #expect(d.messages.count == 1)
    }

    @Test func deepNestingIsRejectedNotACrash() throws {
        let deep = "{\"nodeId\":\"n1\",\"x\":" + String(repeating: "[", count: 100_000) + "\n" + Synthetic.message(1)
        let d = try Decoded(bytes: Array(deep.utf8))
        #expect(d.rejects.count == 1 && d.rejects[0].reason.contains("nested deeper"))
        #expect(d.messages.count == 1)
    }

    @Test func largeMessagesGrowTheBufferAndLargeInputsDoNot() throws {
        // One message bigger than the initial 1 MiB buffer.
        let huge = Synthetic.message(1, rows: 12_000)
        let d = try Decoded(bytes: Array(huge.utf8))
        #expect(d.messages.first?.rows.count == 12_000)
        // Many small messages in one streamed envelope: the buffer stays at its initial size.
        let lines = Synthetic.jsonl(count: 20_000)
        var envelope = Array(#"{"logs":["#.utf8)
        envelope.append(contentsOf: lines.map { $0 == 0x0A ? UInt8(ascii: ",") : $0 }.dropLast())
        envelope.append(contentsOf: Array("]}".utf8))
        #expect(envelope.count > 4 << 20)
        let decoder = ContainerDecoder(source: "big", input: MemoryInput(envelope))
        let all = try Decoded(decoder)
        #expect(all.messages.count == 20_000)
        #expect(all.rejects.isEmpty)
        #expect(decoder.buffer.count == 1 << 20)
    }

    @Test func gzipMembersAreReadInTurn() throws {
        let gz = try Fixtures.bytes("containers/api-response.json.gz")
        let d = try Decoded(bytes: gz + gz)
        #expect(d.messages.count == 12)
    }

    @Test func deviceListsParse() throws {
        let nodes = try DeviceList.read(path: Fixtures.url("tiny/devices.json").path)
        #expect(nodes.count == 6)
        #expect(nodes[1].nodeID == "nDb1x9ZCNTRL" && nodes[1].tags == ["tag:db", "tag:prod"])
        #expect(nodes[4].user == "bob@example.com")
        #expect(nodes[0].addresses.map(\.description) == ["100.101.1.10", "fd7a:115c:a1e0::a"])
        #expect(throws: DeviceList.Error.self) { try DeviceList.parse(Array(#"{"devices":[{"name":"x"}]}"#.utf8), source: "d") }
        #expect(throws: DeviceList.Error.self) { try DeviceList.parse(Array(#"{"devices":[{"nodeId":"n","addresses":["1.2.3.999"]}]}"#.utf8), source: "d") }
        #expect(throws: DeviceList.Error.self) { try DeviceList.parse(Array(#"{"devices":["#.utf8), source: "d") }
        #expect(throws: DeviceList.Error.self) { try DeviceList.parse(Array(#"{"items":[]}"#.utf8), source: "d") }
        #expect(throws: DeviceList.Error.self) { try DeviceList.parse(Array(#"{"devices":[]} {"#.utf8), source: "d") }
        // An empty device list is a device list (a tailnet with no devices, or none the key may see).
        #expect(try DeviceList.parse(Array(#"{"devices":[]}"#.utf8), source: "d").isEmpty)
        #expect(try DeviceList.parse(Array("[]\n".utf8), source: "d").isEmpty)
    }
}
