import FlowIngest
import FlowModel
import Foundation
import Testing
import TestSupport

/// Configuration audit log records (SPEC §13) in every container, beside flow-log messages.
@Suite(.ownThreads)
struct ConfigChangeTests {
    /// `Tests/Data/changes` (written by its make.py).
    static func data(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/changes/\(name)").path
    }

    static func decode(_ name: String) throws -> Decoded {
        try Decoded(ContainerDecoder(source: name, input: FileInput(path: data(name))))
    }

    @Test(arguments: ["api.json", "mixed.jsonl", "mixed.jsonl.gz", "hec.json", "bulk.ndjson"])
    func everyContainerHoldsBothLogs(_ name: String) throws {
        let d = try Self.decode(name)
        let network = try Self.decode("network.jsonl")
        #expect(d.rejects.isEmpty, "\(d.rejects)")
        #expect(d.skipped == 0)
        // The flows are exactly those of the network-only input, in order.
        #expect(d.digests == network.digests)
        #expect(d.changes.count == 6)
        #expect(d.changes.map(\.action) == ["UPDATE", "UPDATE", "APPROVE", "UPDATE", "UPDATE", "DELETE"])
        // The same event from any container has the same identity.
        let api = try Self.decode("api.json")
        #expect(d.changes.map(\.identity) == api.changes.map(\.identity))
        #expect(Set(d.changes.map(\.identity)).count == 6)
    }

    /// With detection off (what the benchmark compares against), records are values that are not
    /// messages, as before tailflow read that log, and the flows are the same.
    @Test(arguments: ["mixed.jsonl", "hec.json", "bulk.ndjson"])
    func withoutDetectionRecordsAreSkippedAndFlowsStayTheSame(_ name: String) throws {
        let decoder = try ContainerDecoder(source: name, input: FileInput(path: Self.data(name)))
        decoder.detectsChanges = false
        let d = try Decoded(decoder)
        #expect(d.changes.isEmpty && d.rejects.isEmpty)
        #expect(d.skipped == 6)
        #expect(d.digests == (try Self.decode("network.jsonl")).digests)
    }

    @Test func decodedFieldsAndTheVerbatimRecord() throws {
        let d = try Self.decode("mixed.jsonl")
        let tags = d.changes[1]
        #expect(tags.time == Timestamp.parseRFC3339("2026-11-01T09:59:30Z"))
        #expect(tags.eventGroupID == "a1b2c3d4e5")
        #expect(tags.origin == "CONFIG_API")
        #expect(tags.actorID == "uB0bCNTRL" && tags.actorType == "USER")
        #expect(tags.actorLogin == "bob@example.com" && tags.actorName == "Bob Ito")
        #expect(tags.targetID == "nDb1x9ZCNTRL" && tags.targetName == "db-1.tail7f3e.ts.net")
        #expect(tags.targetType == "NODE" && tags.property == "TAGS")
        #expect(tags.old == #"["tag:db"]"# && tags.new == #"["tag:db","tag:prod"]"#)
        #expect(tags.details == "promote db-1 to prod" && tags.error == nil)
        let line = try String(contentsOfFile: Self.data("mixed.jsonl"), encoding: .utf8).split(separator: "\n")[3]
        #expect(tags.record == String(line))
        #expect(d.changes[4].error == "nameserver 9.9.9.9 is not reachable")
        #expect(d.changes[2].old == "false" && d.changes[2].new == "true")
        #expect(d.changes[0].isTailnetWide && d.changes[4].isTailnetWide && !tags.isTailnetWide)
        // The API envelope's records keep their own (indented) text.
        let api = try Self.decode("api.json")
        #expect(api.changes[1].record.contains("\n"))
        #expect(api.changes[1].old == tags.old)
    }

    @Test func malformedEventsAreRejectedWithFieldAndLine() throws {
        let d = try Self.decode("bad.jsonl")
        #expect(d.changes.count == 1)
        #expect(d.rejects.map(\.location.line) == [1, 2, 3])
        #expect(d.rejects[0].reason == "configuration event: eventTime: missing")
        #expect(d.rejects[1].reason.contains(#"eventTime: "yesterday" is not an RFC 3339 time"#))
        #expect(d.rejects[2].reason.contains("actor: expected an object, got a string"))
        #expect(d.rejects[2].reason.contains("target.id: expected a string, got a number"))
    }

    @Test func shapeDecidesAndOtherObjectsStaySkipped() throws {
        let text = """
            {"action":"UPDATE","message":"not an audit record: no actor, target or eventGroupID"}
            {"eventGroupID":"g","eventTime":"2026-11-01T10:00:00Z","action":"CREATE","actor":{"id":"u"},"actor":{"id":"v"}}
            {"eventGroupId":"g2","eventTime":"2026-11-01T10:00:00Z","action":"CREATE","target":{"id":"k","type":"KEY"},"old":null,"new":{ "a" : [1, 2] }}
            {"eventGroupID":"g3","eventTime":"2026-11-01T10:00:00Z","action":"","actor":{"id":"u"}}
            """
        let d = try Decoded(bytes: Array(text.utf8))
        #expect(d.skipped == 1)
        #expect(d.changes.count == 1)
        #expect(d.changes.first?.old == nil && d.changes.first?.new == #"{"a":[1,2]}"#)
        #expect(d.rejects.count == 2)
        #expect(d.rejects.first?.reason.contains("actor: duplicate key") == true)
        #expect(d.rejects.last?.reason.contains("action: empty") == true)
    }

    @Test func receiverBodiesCarryChanges() throws {
        let hec = HECBody.decode(Array(try Data(contentsOf: URL(fileURLWithPath: Self.data("hec.json")))), source: "hec")
        #expect(hec.count == 12)
        #expect(hec.filter { if case .change = $0.outcome { true } else { false } }.count == 6)
        #expect(hec.allSatisfy { $0.problem == nil })
        let bulk = try BulkBody.decode(Array(try Data(contentsOf: URL(fileURLWithPath: Self.data("bulk.ndjson")))), source: "bulk")
        #expect(bulk.count == 12)
        #expect(bulk.filter { if case .change = $0.outcome { true } else { false } }.count == 6)
        // An event serialised as a string inside HEC's `event` is read too.
        let inner = try String(contentsOfFile: Self.data("mixed.jsonl"), encoding: .utf8).split(separator: "\n")[1]
        let wrapped = try JSONSerialization.data(withJSONObject: ["time": 1, "event": String(inner)])
        let one = HECBody.decode(Array(wrapped), source: "hec")
        if case .change(let c) = one.first?.outcome { #expect(c.action == "UPDATE") } else { Issue.record("\(one)") }
    }

    @Test func identityIgnoresSpacingNamesAndExtraKeys() {
        let a = ConfigChange(time: 1, eventGroupID: "g", actorID: "u", actorLogin: "a@x", targetID: "n", action: "UPDATE",
                             old: "[1]", record: "{…}")
        var b = a
        b.actorLogin = "renamed@x"
        b.actorName = "Someone"
        b.record = "{ … other spacing … }"
        #expect(a.identity == b.identity)
        var c = a
        c.new = "[2]"
        #expect(a.identity != c.identity)
        var d = a
        d.time = 2
        #expect(a.identity != d.identity)
        #expect(a.identity >= 0)
    }
}
