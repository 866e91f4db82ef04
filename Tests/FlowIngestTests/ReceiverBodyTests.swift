import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

/// The per-item decoders of the server's receivers: Splunk HEC events and Elasticsearch bulk documents.
@Suite(.ownThreads)
struct ReceiverBodyTests {
    static func hec(_ messages: [String], extra: String = #""time":1793527200,"sourcetype":"tailscale:network""#) -> String {
        messages.map { #"{\#(extra),"event":\#($0)}"# }.joined(separator: "\n")
    }

    static func messages(_ outcomes: [ItemOutcome]) -> [FlowMessage] {
        outcomes.compactMap { if case .message(let m) = $0 { m } else { nil } }
    }

    @Test func hecFixtureDecodesToTheReferenceMessages() throws {
        let events = HECBody.decode(try Fixtures.bytes("containers/splunk-hec.json"), source: "t")
        #expect(events.allSatisfy { $0.problem == nil })
        #expect(Self.messages(events.map(\.outcome)).map(\.digest) == ContainerDecoderTests.reference.map(\.digest))
        #expect(events.map(\.number) == Array(0..<events.count))
    }

    @Test func hecBadEventsAreNumberedAndTheRestStillDecodes() {
        let good = (0..<4).map { Synthetic.message($0) }
        let body = [
            #"{"event":\#(good[0])}"#,
            #"{"event":{"nodeId":"nX","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z","virtualTraffic":[{"txBytes":-1}]}}"#,
            #"{"time":1,"fields":{}}"#,
            #"{"event":""}"#,
            #"{"event": {"nodeId": "broken"  "#, // syntax error: resumes at the next line starting with {
            #"{"event":\#(good[1])}{"event":\#(good[2])}"#,
            #"{"event":"just a text line"}"#,
            #"{"event":\#(String(decoding: try! JSONSerialization.data(withJSONObject: good[3], options: .fragmentsAllowed), as: UTF8.self))}"#,
        ].joined(separator: "\n")
        let events = HECBody.decode(Array(body.utf8), source: "req")
        #expect(events.map(\.number) == Array(0..<events.count))
        #expect(events.map(\.problem) == [nil, .invalidDataFormat, .eventRequired, .eventBlank, .invalidDataFormat, nil, nil, nil, nil])
        #expect(events.map(\.location.line) == [1, 2, 3, 4, 5, 6, 6, 7, 8])
        if case .rejected(let why) = events[1].outcome { #expect(why.contains("virtualTraffic[0].txBytes")) } else { Issue.record("event 1") }
        if case .skipped = events[7].outcome {} else { Issue.record("a text event is skipped") }
        // A message serialised into a JSON string is still a message.
        #expect(Self.messages(events.map(\.outcome)).map(\.digest) == [0, 1, 2, 3].map { i in
            Self.messages(HECBody.decode(Array(Self.hec([good[i]]).utf8), source: "x").map(\.outcome))[0].digest
        })
    }

    @Test func hecEmptyAndWhitespaceBodiesHaveNoEvents() {
        #expect(HECBody.decode([], source: "x").isEmpty)
        #expect(HECBody.decode(Array(" \n\t".utf8), source: "x").isEmpty)
        let truncated = HECBody.decode(Array(#"{"event":{"nodeId":"n1","start":"2026-"#.utf8), source: "x")
        #expect(truncated.count == 1 && truncated[0].problem == .invalidDataFormat)
    }

    @Test func bulkFixtureDecodesToTheReferenceMessages() throws {
        let items = try BulkBody.decode(try Fixtures.bytes("containers/elasticsearch-bulk.ndjson"), source: "t")
        #expect(Self.messages(items.map(\.outcome)).map(\.digest) == ContainerDecoderTests.reference.map(\.digest))
        #expect(items.allSatisfy { $0.action == .create && $0.index == "logs-tailscale-network" })
    }

    @Test func bulkReportsEachItemAndKeepsPairingAfterBrokenDocuments() throws {
        let m = (0..<5).map { Synthetic.message($0) }
        let body = [
            #"{"create":{"_index":"a","_id":"id-0"}}"#, m[0],
            #"{"index":{}}"#, #"{"nodeId":"nX","start":"yesterday","virtualTraffic":[]}"#,
            #"{"create":{"_index":"b"}}"#, #"{"nodeId": "n1", "#, // not complete JSON on its line
            #"{"delete":{"_id":"x"}}"#,
            #"{"update":{"_id":"y"}}"#, #"{"doc":{}}"#,
            "", "\r",
            #"{"index":{"_index":"c"}}"#, m[2],
            #"{"create":{}}"#, "not json at all",
            #"{"create":{}}"#, #"{"message":"not a flow log"}"#,
            #"{"index":{}}"#, m[3] + " trailing",
            #"{"create":{}}"#,
        ].joined(separator: "\n")
        let items = try BulkBody.decode(Array(body.utf8), source: "req")
        let kinds = items.map { item -> String in
            switch item.outcome {
            case .message: "ok"
            case .change: "change"
            case .skipped: "skip"
            case .rejected: "bad"
            }
        }
        #expect(kinds == ["ok", "bad", "bad", "bad", "bad", "ok", "bad", "skip", "bad", "bad"])
        #expect(items.map(\.action) == [.create, .index, .create, .delete, .update, .index, .create, .create, .index, .create])
        #expect(items[0].id == "id-0" && items[0].index == "a" && items[5].index == "c")
        #expect(items.map(\.location.line) == [2, 4, 6, 7, 9, 13, 15, 17, 19, 20])
        if case .rejected(let why) = items[1].outcome { #expect(why.contains("start")) }
        if case .rejected(let why) = items[9].outcome { #expect(why.contains("no document")) }
    }

    /// A line where an action belongs that is not one makes the whole body malformed, as in
    /// Elasticsearch ("Malformed action/metadata line [N]"), whatever came before it.
    @Test(arguments: [
        ("this is not NDJSON", 3, "expected START_OBJECT but found"),
        (#"["create",{}]"#, 3, "expected START_OBJECT but found [START_ARRAY]"),
        (#"{"bogus":{}}"#, 3, "expected field [create], [delete], [index] or [update] but found [bogus]"),
        (#"{"create":"x"}"#, 3, "expected START_OBJECT but found [VALUE_STRING] after [create]"),
        (#"{}"#, 3, "expected FIELD_NAME but found [END_OBJECT]"),
        (#"{"create":{}} x"#, 3, "text after the action object"),
        (#"{"create":{"_id":"a"}"#, 3, "not valid JSON"),
        (#"{"nodeId":"n1","start":"2026-11-01T10:00:00Z","end":"2026-11-01T10:00:05Z"}"#, 3, "found [nodeId]: a document without an action line"),
    ])
    func bulkMalformedActionLineRejectsTheWholeBody(_ line: String, _ number: Int, _ reason: String) {
        let body = [#"{"create":{}}"#, Synthetic.message(1), line, #"{"create":{}}"#, Synthetic.message(2)].joined(separator: "\n")
        do {
            let items = try BulkBody.decode(Array(body.utf8), source: "req")
            Issue.record("decoded \(items.count) items from a body with a malformed action line: \(line)")
        } catch {
            #expect(error.line == number)
            #expect(error.reason.hasPrefix("Malformed action/metadata line [\(number)], "), "\(error.reason)")
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    /// Damaged bodies never crash, hang or lose items silently: every item has an outcome, rejects say why.
    @Test(arguments: DecoderFuzzTests.seeds)
    func mutatedBodiesNeverCrash(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 104_729)
        let corpus = [try Fixtures.bytes("containers/splunk-hec.json"), try Fixtures.bytes("containers/elasticsearch-bulk.ndjson")]
        for _ in 0..<150 {
            let mutated = DecoderFuzzTests.mutate(corpus[Int.random(in: 0..<2, using: &rng)], &rng)
            for e in HECBody.decode(mutated, source: "f") {
                if case .rejected(let why) = e.outcome { #expect(!why.isEmpty && e.problem != nil) }
                #expect(e.location.offset <= Int64(mutated.count))
            }
            for item in (try? BulkBody.decode(mutated, source: "f")) ?? [] {
                if case .rejected(let why) = item.outcome { #expect(!why.isEmpty) }
                if case .message(let m) = item.outcome { #expect(m.end >= m.start) }
            }
        }
    }

    /// The receivers' whole-body decompression reads gzip as the streaming reader does: members in
    /// turn, zero padding between and after them, a first member larger than the last one's trailer
    /// says, the limit to the byte, damage and truncation errors.
    @Test func gzipInMemoryReadsAsTheStreamingReader() throws {
        func streamed(_ gz: [UInt8]) throws -> [UInt8] {
            let input = try GzipInput(upstream: MemoryInput(gz), prefix: [])
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1000)
            while true {
                let n = try chunk.withUnsafeMutableBytes { try input.read(into: $0) }
                if n == 0 { return out }
                out += chunk[0..<n]
            }
        }
        var rng = SplitMix(state: 20)
        let text = Array(try Fixtures.bytes("containers/splunk-hec.json"))
        for round in 0..<12 {
            // 1-4 members of 0 to 400 KB of JSON-like bytes; the first the largest in even rounds.
            var gz: [UInt8] = []
            var plain: [UInt8] = []
            var firstMember = 0
            let members = Int.random(in: 1...4, using: &rng)
            for m in 0..<members {
                let size = round % 2 == 0 && m == 0 ? 400_000 : Int.random(in: 0...5_000, using: &rng)
                var part: [UInt8] = []
                while part.count < size { part += text[0..<min(text.count, size - part.count)] }
                gz += try gzip(part)
                if m == 0 { firstMember = gz.count }
                plain += part
                if Bool.random(using: &rng) { gz += [UInt8](repeating: 0, count: Int.random(in: 1...9, using: &rng)) }
            }
            #expect(try streamed(gz) == plain, "round \(round)")
            #expect(try GzipInput.decompress(gz, limit: plain.count) == plain, "round \(round): \(members) members")
            if !plain.isEmpty {
                #expect(throws: DecompressedTooLarge.self) { try GzipInput.decompress(gz, limit: plain.count - 1) }
            }
            // Cut inside the first member: truncated, whatever follows.
            let cut = Array(gz.prefix(Int.random(in: 0..<firstMember, using: &rng)))
            #expect(throws: GzipError.self, "round \(round): cut at \(cut.count)") { try GzipInput.decompress(cut, limit: 1 << 24) }
            #expect(throws: GzipError.self) { try streamed(cut) }
            #expect(throws: GzipError.self) { try GzipInput.decompress(gz + Array("not gzip".utf8), limit: 1 << 24) }
        }
    }

    @Test func gzipInMemoryStopsAtTheLimit() throws {
        let gz = try Fixtures.bytes("containers/api-response.json.gz")
        let inflated = try GzipInput.decompress(gz, limit: 1 << 20)
        #expect(inflated.count > gz.count)
        #expect(throws: DecompressedTooLarge.self) { try GzipInput.decompress(gz, limit: inflated.count - 1) }
        #expect(throws: GzipError.self) { try GzipInput.decompress(Array(gz.prefix(gz.count / 2)), limit: 1 << 20) }
    }
}
