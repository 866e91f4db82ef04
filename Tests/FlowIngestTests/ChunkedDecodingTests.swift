import Foundation
@testable import FlowIngest
import FlowModel
import FlowStore
import Synchronization
import Testing
import TestSupport

/// `ingest` decodes a large plain file on two threads, chunk by chunk (``ChunkedFileDecoder``), and
/// leaves the rest to one decoder from the first chunk that holds anything but messages. What comes
/// out — messages in order, rejects with their file, line, column, text and excerpt, skipped values,
/// configuration records, bytes — must be what one decoder of the whole file gives, wherever the
/// chunks are cut.
@Suite(.ownThreads)
struct ChunkedDecodingTests {
    struct Outcome: Equatable {
        var messages: [DecoderFastPathTests.Seen] = []
        var rejects: [Reject] = []
        var skipped = 0
        var changes = 0
        var bytes: Int64 = 0
    }

    static func serial(_ path: String) throws -> Outcome {
        let decoder = try ContainerDecoder(source: path, input: FileInput(path: path))
        let d = try Decoded(decoder)
        return Outcome(messages: d.messages.map(DecoderFastPathTests.Seen.init), rejects: d.rejects, skipped: d.skipped,
                       changes: d.changes.count, bytes: decoder.bytesRead)
    }

    /// The chunked decoding, and from where one decoder took over (nil: none did).
    /// `delivered` runs before each chunk's messages are taken; `holdsBack` is the decoder's.
    /// `decoded` is told how many chunks each decoding thread decoded.
    static func chunked(_ path: String, chunkBytes: Int, delivered: () throws -> Void = {},
                        holdsBack: (@Sendable () -> Bool)? = nil,
                        decoded: ([Int]) -> Void = { _ in }) throws -> (Outcome, resumedAt: Int64?) {
        let chunked = ChunkedFileDecoder(path: path, source: path, chunkBytes: chunkBytes)
        chunked.holdsBack = holdsBack
        defer { decoded(chunked.chunksDecoded) }
        var out = Outcome()
        let resume = try chunked.run { messages, digests, rows, through in
            try delivered()
            #expect(rows == messages.reduce(0) { $0 + $1.rows.count })
            #expect(digests == messages.map(\.digest))
            out.messages += messages.map(DecoderFastPathTests.Seen.init)
            out.bytes = through
        }
        if let resume {
            let rest = try chunked.rest(from: resume)
            let d = try Decoded(rest)
            out.messages += d.messages.map(DecoderFastPathTests.Seen.init)
            out.rejects = d.rejects
            out.skipped = d.skipped
            out.changes = d.changes.count
            out.bytes = rest.bytesRead
        }
        return (out, resume)
    }

    static func write(_ text: String, _ dir: TempDir, _ name: String = "in.jsonl") throws -> String {
        let path = dir.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let lines = (0..<400).map { Synthetic.message($0, rows: $0 % 5) }

    /// Clean JSON Lines: every chunk is decoded on its own, none is left to the one decoder.
    @Test(arguments: [2048, 4096, 1 << 20])
    func cleanLinesAreAllChunked(_ chunkBytes: Int) throws {
        let dir = TempDir()
        let path = try Self.write(Self.lines.joined(separator: "\n") + "\n", dir)
        let (got, resumed) = try Self.chunked(path, chunkBytes: chunkBytes)
        #expect(resumed == nil)
        #expect(got == (try Self.serial(path)))
        #expect(got.messages.count == 400)
    }

    /// While the writer is far behind (on two cores) the second decoding thread waits: the first
    /// decodes every chunk, in order, and what comes out is the same.
    @Test func heldBackSecondThreadLeavesEveryChunkToTheFirst() throws {
        let dir = TempDir()
        let path = try Self.write(Self.lines.joined(separator: "\n") + "\n", dir)
        final class Asked: Sendable {
            let times = Mutex(0)
        }
        let asked = Asked()
        var byThread: [Int] = []
        let (got, resumed) = try Self.chunked(path, chunkBytes: 2048, holdsBack: {
            asked.times.withLock { $0 += 1 }
            usleep(200)  // as the writer's wait does, a while at most
            return true
        }, decoded: { byThread = $0 })
        #expect(resumed == nil)
        #expect(got == (try Self.serial(path)))
        #expect(asked.times.withLock { $0 } > 0, "the second thread asked before taking a chunk")
        // Which thread decoded what: the second none, the first every chunk (there are many).
        #expect(byThread.count == 2)
        #expect(byThread.dropFirst().allSatisfy { $0 == 0 }, "chunks decoded by thread: \(byThread)")
        #expect(byThread.first ?? 0 > 10, "chunks decoded by thread: \(byThread)")
    }

    /// Damage of every kind the decoder reports, placed so that chunk ends fall inside and around it.
    static let damaged: [String] = {
        var out = lines
        out.insert(#"{"nodeId":"nBAD","start":"2026-11-01T00:00:00Z","end":"yesterday","virtualTraffic":[]}"#, at: 150)
        out.insert(#"{"nodeId":"nBAD","start":"2026-11-01T00:00:00Z","end":"#, at: 120)
        out.insert(#"{"a":1"#, at: 100)
        out.insert("42", at: 90)
        out.insert(#"{"index":{}}"#, at: 80)
        out.insert("[\n" + lines[3] + ",\n" + lines[4] + "\n]", at: 70)
        out.insert("", at: 60)
        out.insert(#"{"logs":["# + "\n" + lines[5] + "\n]}", at: 200)
        out.insert(#"{"nodeId":"nX","start":"2026-11-01T00:00:00Z","end":"2026-11-01T00:00:05Z","virtualTraffic":[{"src":"nope"}]}"#, at: 300)
        return out
    }()

    @Test(arguments: [64, 300, 1000, 4096, 20_000, 1 << 20])
    func damagedInputDecodesAsByOneDecoder(_ chunkBytes: Int) throws {
        let dir = TempDir()
        let lf: String = Self.damaged.joined(separator: "\n") + "\n"
        let crlf: String = Self.damaged.joined(separator: "\r\n")
        let truncated: String = Self.lines.joined(separator: "\n") + "\n" + #"{"nodeId":"n1","start":"2026-"#
        let arrayOpen: String = "[\n" + Self.lines.joined(separator: ",\n") + "\n"
        let inputs: [(String, String)] = [("lf", lf), ("crlf", crlf), ("truncated", truncated), ("array-open", arrayOpen)]
        for (name, text) in inputs {
            let path = try Self.write(text, dir, name)
            let want = try Self.serial(path)
            let (got, resumed) = try Self.chunked(path, chunkBytes: chunkBytes)
            #expect(got == want, "\(name), chunks of \(chunkBytes) bytes")
            #expect(!want.rejects.isEmpty || want.skipped > 0, "\(name): the damage is seen")
            #expect(resumed != nil, "\(name): the one decoder takes over")
        }
    }

    /// Messages read by the shortcuts and every variant near them (``DecoderFastPathTests/nearUsual``),
    /// between clean lines: chunks move the usual messages straight into their list and leave the
    /// rest to one decoder, which reports what one decoder of the whole file does.
    @Test(arguments: [4096, 1 << 20])
    func nearUsualMessagesDecodeAsByOneDecoder(_ chunkBytes: Int) throws {
        let dir = TempDir()
        let usual = DecoderFastPathTests.nearUsual[0]
        let text = (Array(repeating: usual, count: 40) + DecoderFastPathTests.nearUsual + Self.lines.prefix(50)).joined(separator: "\n") + "\n"
        let path = try Self.write(text, dir)
        let want = try Self.serial(path)
        let (got, resumed) = try Self.chunked(path, chunkBytes: chunkBytes)
        #expect(got == want)
        #expect(resumed != nil && want.messages.count > 90 && want.rejects.count >= 25)
    }

    /// Input of every container damaged at random (``DecoderFuzzTests/mutate(_:_:)``, seeded) between
    /// clean lines, in chunks of several sizes: the chunks (messages moved into their lists) and the
    /// one decoder that takes over give what one decoder of the whole file gives.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func mutatedInputDecodesAsByOneDecoder(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 0xD1B5_4A32_D192_ED03)
        let corpus = try DecoderFuzzTests.corpus() + [Array(DecoderFastPathTests.nearUsual.joined(separator: "\n").utf8)]
        let clean = Array((Self.lines.prefix(30).joined(separator: "\n") + "\n").utf8)
        let dir = TempDir()
        var rejects = 0
        for round in 0..<12 {
            let damaged = DecoderFuzzTests.mutate(corpus[Int.random(in: 0..<corpus.count, using: &rng)], &rng)
            // Clean lines first: a gzip fixture is then plain bytes to both readers.
            let path = dir.path("fuzz\(round).jsonl")
            try Data(clean + damaged + [0x0A] + clean).write(to: URL(fileURLWithPath: path))
            let chunkBytes = [300, 2048, 1 << 20][Int.random(in: 0..<3, using: &rng)]
            let want = try Self.serial(path)
            let (got, _) = try Self.chunked(path, chunkBytes: chunkBytes)
            #expect(got == want, "seed \(seed), round \(round), chunks of \(chunkBytes) bytes")
            #expect(want.messages.count >= 60)
            rejects += want.rejects.count
        }
        #expect(rejects > 0, "the damage is seen")
    }

    /// A live log renamed away and recreated while it is read (log rotation): the one decoder that
    /// takes over reads on in the file the chunks came from, as one decoder of that file would, not
    /// the new file now at the path.
    @Test(arguments: [1000, 4096])
    func theRestIsReadFromTheFileOpenedNotThePath(_ chunkBytes: Int) throws {
        let dir = TempDir()
        let path = try Self.write(Self.damaged.joined(separator: "\n") + "\n", dir)
        let want = try Self.serial(path)
        var replaced = false
        let (got, resumed) = try Self.chunked(path, chunkBytes: chunkBytes) {
            guard !replaced else { return }
            replaced = true
            try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
            _ = try Self.write(Self.lines[7] + "\n" + #"{"a":"#, dir)
        }
        #expect(replaced, "some chunks were handed over before the one decoder took over")
        _ = try #require(resumed, "the one decoder takes over")
        #expect(got == want)
        #expect(want.messages.count > 300)
    }

    /// The whole run: a chunked ingest stores and reports what an ingest on one thread does.
    @Test func ingestOfDamagedFileEqualsOneThread() throws {
        let dir = TempDir()
        let path = try Self.write(Self.damaged.joined(separator: "\n") + "\n", dir)
        func ingest(_ name: String, chunked: Bool) throws -> (IngestSummary, [Reject]) {
            let store = try FlowStore(path: dir.path(name))
            let ingester = Ingester(store: store)
            ingester.chunking = (chunked, 0, 500)
            var seen: [Reject] = []
            ingester.onReject = { seen.append($0) }
            var summary = try ingester.ingest(paths: [path])
            summary.seconds = 0
            let stored = try store.rejects(limit: 100).map { Reject(location: $0.location, reason: $0.reason, excerpt: $0.excerpt) }
            #expect(Set(stored) == Set(seen))
            return (summary, seen)
        }
        let one = try ingest("one.db", chunked: false)
        let two = try ingest("two.db", chunked: true)
        #expect(one.0 == two.0)
        #expect(one.1 == two.1)
        #expect(one.0.storedMessages > 390 && one.0.rejected >= 4)
    }
}
