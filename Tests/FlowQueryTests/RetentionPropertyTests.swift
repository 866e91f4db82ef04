import Foundation
import FlowGenerate
import FlowIngest
import FlowModel
@testable import FlowQuery
import FlowStore
import Testing
import TestSupport

/// After pruning, every question over a random window is either answered exactly as the
/// unpruned store answers it, or refused with an error that names the retention; and it is
/// never refused when both window edges lie on a boundary of a level kept there.
@Suite(.ownThreads, .serialized)
struct RetentionPropertyTests {
    /// A small generated tailnet, 4 hours across midnight, stored once.
    final class Fixture: @unchecked Sendable {
        let dir: URL
        let store: FlowStore
        let start = Timestamp.parseRFC3339("2026-11-01T22:00:00Z")!
        let end = Timestamp.parseRFC3339("2026-11-02T02:00:00Z")!
        let endpoints: [String]

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-retention-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            store = try FlowStore(path: dir.appendingPathComponent("source.db").path)
            var config = GeneratorConfig(start: start, duration: end - start)
            config.nodes = 8
            config.rate = 0.3
            config.seed = 11
            let generator = FlowLogGenerator(config)
            var bytes: [UInt8] = []
            _ = try generator.write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
            try store.importNodes(try DeviceList.parse(generator.deviceList(), source: "devices"), at: start)
            let summary = try Ingester(store: store).ingest(bytes: bytes, source: "generated")
            precondition(summary.rejected == 0 && summary.storedRows > 1000)
            endpoints = try store.read { try $0.nodeEntries().filter(\.isReporter).map(\.stableID).sorted() }
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static let fixture: Fixture? = try? Fixture()
    static let minute: Int64 = 60 * Timestamp.nanosPerSecond

    /// A random time in the fixture's span (with margins), on a minute, an hour or any second.
    static func time(_ f: Fixture, _ rng: inout some RandomNumberGenerator) -> Int64 {
        let t = Int64.random(in: (f.start - 30 * minute)...(f.end + 30 * minute), using: &rng)
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return Timestamp.bucketStart(t, step: 60 * minute)
        case 1, 2: return Timestamp.bucketStart(t, step: minute)
        default: return Timestamp.bucketStart(t, step: Timestamp.nanosPerSecond)
        }
    }

    /// Whether each window edge in pruned raw time lies on a boundary of a level (usable for
    /// `step`) that is kept there: then the question must be answered.
    static func mustAnswer(_ w: TimeWindow, step: Int64?, _ c: LevelCoverage) -> Bool {
        let rawFrom = c.earliest(0)
        let usable = Planner.levels.filter { l in step.map { $0 % (l * Timestamp.nanosPerSecond) == 0 } ?? true }
        func ok(_ edge: Int64, bucketBefore: Bool) -> Bool {
            edge >= rawFrom || usable.contains { l in
                let size = l * Timestamp.nanosPerSecond
                return edge % size == 0 && c.earliest(l) <= (bucketBefore ? edge - size : edge)
            }
        }
        return ok(w.from, bucketBefore: false) && ok(w.to, bucketBefore: true)
    }

    @Test(arguments: 0..<10)
    func prunedAnswersEqualRawAnswersOrSayWhy(_ seed: UInt64) throws {
        let f = try #require(Self.fixture)
        var rng = SplitMix(state: seed &+ 1)
        // Keep periods counted back from 03:00: raw between 30 min and 5 h, each coarser level
        // at least as long (or forever).
        let now = Timestamp.parseRFC3339("2026-11-02T03:00:00Z")!
        var periods: [RetentionPolicy.Level: Int64] = [:]
        var keep = Int64.random(in: 30...300, using: &rng) * Self.minute
        for level in RetentionPolicy.Level.allCases {
            if level != .raw, Bool.random(using: &rng) { keep += Int64.random(in: 0...120, using: &rng) * Self.minute }
            if level == .raw || Int.random(in: 0..<3, using: &rng) > 0 { periods[level] = keep }
        }
        let copy = f.dir.appendingPathComponent("pruned-\(seed).db").path
        try? FileManager.default.removeItem(atPath: copy)
        try f.store.backup(to: copy)
        let pruned = try FlowStore(path: copy)
        let report = try pruned.prune(RetentionPolicy(periods: periods), now: now)
        #expect(report.levels.first?.level == "raw")
        let coverage = try pruned.read { try $0.levelCoverage() }
        #expect(coverage.keptFrom[0] != nil)
        let source = QueryEngine(store: f.store), engine = QueryEngine(store: pruned)
        var answered = 0, refused = 0
        for _ in 0..<12 {
            var a = Self.time(f, &rng), b = Self.time(f, &rng)
            if a == b { continue }
            if a > b { swap(&a, &b) }
            let window = TimeWindow(from: a, to: b)
            var o = QueryOptions(window: window)
            let step = [60, 300, 3600, 86_400].randomElement(using: &rng)! * Timestamp.nanosPerSecond
            let questions: [(String, Int64?, (QueryEngine) throws -> String)] = [
                ("top endpoint", nil, { "\(try $0.topEndpoints(o, limit: .max))" }),
                ("top pair", nil, { "\(try $0.topPairs(o, limit: .max))" }),
                ("top port", nil, { "\(try $0.topPorts(o, limit: .max))" }),
                ("series", step, { "\(try $0.series(o, step: step))" }),
                ("rollup", step, { "\(try $0.rollup(o, step: step, groupBy: [.kind, .src, .dst]))" }),
            ]
            for (name, s, ask) in questions {
                let want = try ask(source)
                do {
                    let got = try ask(engine)
                    #expect(got == want, "\(name) over \(window) with \(periods) differs from the unpruned answer")
                    answered += 1
                } catch let e as RetentionError {
                    #expect(!Self.mustAnswer(window, step: s, coverage), "\(name) over \(window) refused although its edges are on kept levels: \(e)")
                    #expect(e.message.contains("retention raw=") && e.message.contains("pruned"), "\(e)")
                    refused += 1
                }
            }
            // Scope: exact sums; first and last seen to the resolution kept (compared where raw rows remain).
            o.endpoint = f.endpoints.randomElement(using: &rng)
            do {
                let got = try engine.scope(o), want = try source.scope(o)
                #expect(got.map(\.bytes) == want.map(\.bytes) && got.map(\.peer) == want.map(\.peer), "scope over \(window)")
                if a >= coverage.earliest(0) { #expect(got == want) }
            } catch let e as RetentionError {
                #expect(!Self.mustAnswer(window, step: nil, coverage), "scope refused: \(e)")
            }
            // Raw rows: answered exactly from kept time, refused over pruned time.
            do {
                let got = try engine.flows(o, limit: 50)
                #expect(a >= coverage.earliest(0))
                #expect(got == (try source.flows(o, limit: 50)))
            } catch let e as RetentionError {
                #expect(a < coverage.earliest(0))
                #expect(e.message.contains("earliest time available is \(Timestamp.formatRFC3339(coverage.earliest(0)))"))
            }
        }
        #expect(answered > 0)
        _ = refused  // seeds 0-9 refuse 10 to 55 of 60 questions: both branches run
        // Pruning leaves a sound store.
        #expect(try pruned.check(full: true).problems == [])
    }
}

