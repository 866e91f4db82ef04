import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

/// A value that is a message (it has `start`, `end` or a traffic key) but whose identity
/// fields are malformed is rejected with the field named, never skipped and never
/// truncated (issue 14, item 5). The same in files, HEC events and bulk documents.
@Suite(.ownThreads)
struct MessageIdentityTests {
    static let times = #""start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z""#
    static let traffic = #""virtualTraffic":[{"proto":6,"src":"100.64.0.1:1","dst":"100.64.0.2:443","txBytes":1}]"#

    /// The reason of the one reject `text` decodes to, in a file, a HEC event and a bulk document.
    static func reasons(_ text: String) throws -> [String] {
        var out: [String] = []
        let d = try Decoded(bytes: Array((text + "\n").utf8))
        #expect(d.messages.isEmpty && d.skipped == 0, "\(text)")
        out.append(d.rejects.first?.reason ?? "(not rejected)")
        let hec = HECBody.decode(Array(#"{"event":\#(text)}"#.utf8), source: "hec")
        if case .rejected(let why)? = hec.first?.outcome { out.append(why) } else { out.append("(HEC: not rejected)") }
        #expect(hec.first?.problem == .invalidDataFormat)
        let bulk = try BulkBody.decode(Array("{\"create\":{}}\n\(text)\n".utf8), source: "bulk")
        if case .rejected(let why)? = bulk.first?.outcome { out.append(why) } else { out.append("(bulk: not rejected)") }
        return out
    }

    @Test(arguments: [
        (#"{"nodeId":42,\#(times),\#(traffic)}"#, "nodeId: expected a string, got a number"),
        (#"{"nodeId":null,\#(times)}"#, "nodeId: expected a string, got null"),
        (#"{"nodeId":["n1"],\#(traffic)}"#, "nodeId: expected a string, got an array"),
        (#"{"nodeId":{"a":1},"end":"2026-11-01T10:00:05Z"}"#, "nodeId: expected a string, got an object"),
        (#"{"nodeId":"",\#(times)}"#, "nodeId: empty"),
        (#"{"nodeId":"nREAL\u0000evil1",\#(times),\#(traffic)}"#, "nodeId: contains a control character (U+0000)"),
        (#"{"nodeId":"nA\nB",\#(times)}"#, "nodeId: contains a control character (U+000A)"),
        (#"{"nodeId":"nA\u007fB",\#(times)}"#, "nodeId: contains a control character (U+007F)"),
        (#"{"nodeId":"n1",\#(times),"srcNode":{"nodeId":"nS\u0000x","name":"a"}}"#, "srcNode.nodeId: contains a control character (U+0000)"),
        (#"{"nodeId":"n1",\#(times),"dstNodes":[{"nodeId":"nD"},{"nodeId":"nD\u0001"}]}"#, "dstNodes[1].nodeId: contains a control character (U+0001)"),
        (#"{"nodeId":"n1","nodeId":"n2",\#(times)}"#, "nodeId: duplicate key"),
        (#"{"nodeId":"n1",\#(times),"start":"2026-11-01T10:00:01Z"}"#, "start: duplicate key"),
        (#"{"nodeId":"n1",\#(times),"end":"2026-11-01T10:00:06Z"}"#, "end: duplicate key"),
        (#"{"nodeId":"n1",\#(times),"srcNode":{"nodeId":"a"},"srcNode":{"nodeId":"b"}}"#, "srcNode: duplicate key"),
        (#"{"nodeId":"n1",\#(times),"dstNodes":[],"dstNodes":[{"nodeId":"b"}]}"#, "dstNodes: duplicate key"),
        (#"{"nodeId":"n1",\#(times),"srcNode":{"nodeId":"a","nodeId":"b"}}"#, "srcNode.nodeId: duplicate key"),
        (#"{"nodeId":"n1",\#(times),"virtualTraffic":[{"txBytes":1,"txBytes":2}]}"#, "virtualTraffic[0].txBytes: duplicate key"),
    ])
    func malformedIdentityIsARejectNamingTheField(_ text: String, _ reason: String) throws {
        for why in try Self.reasons(text) {
            #expect(why.contains(reason), "\(text) → \(why)")
        }
    }

    @Test func invalidUTF8InNodeIdIsARejectNotASkip() throws {
        var bytes = Array(#"{"nodeId":"n"#.utf8) + [0xFF, 0xFE] + Array(#"",\#(Self.times)}"#.utf8)
        bytes.append(0x0A)
        let d = try Decoded(bytes: bytes)
        #expect(d.skipped == 0 && d.messages.isEmpty)
        #expect(d.rejects.first?.reason.contains("nodeId: not valid UTF-8") == true, "\(d.rejects)")
        let hec = HECBody.decode(Array(#"{"event":"#.utf8) + bytes.dropLast() + Array("}".utf8), source: "hec")
        #expect(hec.first?.problem == .invalidDataFormat)
    }

    /// What stays a skip: no `nodeId` at all, or a `nodeId` without `start`, `end` or traffic (SPEC §1).
    @Test func valuesThatAreNotMessagesStaySkipped() throws {
        let d = try Decoded(bytes: Array("""
            {\(Self.times)}
            {"nodeId":42}
            {"nodeId":"n\\u0000x","os":"linux"}
            {"name":"x","nodeId":null}

            """.utf8))
        #expect(d.rejects.isEmpty && d.skipped == 4, "\(d.rejects)")
    }

    /// Names, tags, OS and user names are free text: kept exactly, line breaks and tabs
    /// included (tables escape them on output); only NUL, which stored text cannot hold whole, is refused.
    @Test func controlCharactersInNamesAreKeptExactly() throws {
        let text = #"{"nodeId":"n1",\#(Self.times),"srcNode":{"nodeId":"nS","name":"a\nb\u001bc","tags":["tag:x\ty"]}}"# + "\n"
        let d = try Decoded(bytes: Array(text.utf8))
        #expect(d.rejects.isEmpty)
        #expect(d.messages.first?.srcNode?.name == "a\nb\u{1b}c")
        #expect(d.messages.first?.srcNode?.tags == ["tag:x\ty"])
        for why in try Self.reasons(#"{"nodeId":"n1",\#(Self.times),"dstNodes":[{"nodeId":"nD","name":"db\u0000evil"}]}"#) {
            #expect(why.contains("dstNodes[0].name: contains NUL"), "\(why)")
        }
    }
}
