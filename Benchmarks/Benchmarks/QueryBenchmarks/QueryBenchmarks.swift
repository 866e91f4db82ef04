import Benchmark
import FlowGenerate
import FlowIngest
import FlowModel
import FlowQuery
import FlowStore
import Foundation

/// 30 days of a 20-node tailnet, generated and ingested once per machine (cached in the temp folder).
let start = Timestamp.parseRFC3339("2026-10-01T00:00:00Z")!
let day: Int64 = 86_400 * 1_000_000_000
let store: FlowStore = {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-bench-query-v1-20n-30d.db").path
    let ready = path + ".ready"
    if FileManager.default.fileExists(atPath: ready) { return try! FlowStore(path: path) }
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    let store = try! FlowStore(path: path)
    var config = GeneratorConfig(start: start, duration: 30 * day)
    config.nodes = 20
    let generator = FlowLogGenerator(config)
    try! store.importNodes(DeviceList.parse(generator.deviceList(), source: "devices"), at: start)
    // Stream day by day so that setup memory stays small.
    for d in 0..<30 {
        var c = config
        c.start = start + Int64(d) * day
        c.duration = day
        var bytes: [UInt8] = []
        _ = try! FlowLogGenerator(c).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        _ = try! Ingester(store: store).ingest(bytes: bytes, source: "day \(d)")
    }
    FileManager.default.createFile(atPath: ready, contents: nil)
    return store
}()

let engine = QueryEngine(store: store)

/// The fast questions run this many times per sample, so that a sample lasts
/// tens of milliseconds and scheduling noise does not dominate its p90.
/// Divide the reported times by it for the time of one question.
let repeats = 10

func window(days: Int64, offsetMinutes: Int64 = 7) -> QueryOptions {
    // Ragged on purpose: the planner must mix raw rows, minutes, hours and days.
    let from = start + offsetMinutes * 60_000_000_000 + 13_000_000_000
    return QueryOptions(window: TimeWindow(from: from, to: from + days * day - 120_000_000_000))
}

let benchmarks: @Sendable () -> Void = {
    // Two kinds of guard (README, "Benchmarks"). Allocation counts and peak memory do not depend
    // on the CPU: `Thresholds/` holds their p90s and `thresholds check` compares against them on
    // any machine. Wall clock does: `compare.sh REF` runs REF and this tree on the same machine in
    // one job and fails when a p90 is more than 35% worse than REF's.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(5), maxIterations: 50,
        thresholds: [
            .wallClock: .init(relative: [.p90: 35.0]),
            .mallocCountTotal: .init(relative: [.p90: 10.0]),
            .peakMemoryResident: .init(relative: [.p90: 30.0]),
        ])
    _ = engine  // Set up before the first measurement.

    Benchmark("top-endpoints-1d") { b in
        for _ in b.scaledIterations { for _ in 0..<repeats { blackHole(try engine.topEndpoints(window(days: 1), limit: 20)) } }
    }
    Benchmark("top-endpoints-30d") { b in
        for _ in b.scaledIterations { for _ in 0..<repeats { blackHole(try engine.topEndpoints(window(days: 30), limit: 20)) } }
    }
    Benchmark("top-pairs-30d") { b in
        for _ in b.scaledIterations { for _ in 0..<repeats { blackHole(try engine.topPairs(window(days: 30), limit: 20)) } }
    }
    Benchmark("pair-series-1m-1d") { b in
        let pair = try engine.topPairs(window(days: 1), limit: 1)[0]
        for _ in b.scaledIterations {
            for _ in 0..<repeats { blackHole(try engine.series(window(days: 1), step: 60_000_000_000, subject: .pair(pair.a, pair.b))) }
        }
    }
    Benchmark("scope-1h") { b in
        let top = try engine.topEndpoints(window(days: 1), limit: 1)[0]
        var o = window(days: 1)
        o.window.to = o.window.from + day / 24
        o.endpoint = top.endpoint
        for _ in b.scaledIterations { for _ in 0..<repeats { blackHole(try engine.scope(o)) } }
    }
    Benchmark("rollup-kind-proto-1h-7d") { b in
        for _ in b.scaledIterations {
            blackHole(try engine.rollup(window(days: 7), step: 3600 * 1_000_000_000, groupBy: [.kind, .proto]))
        }
    }
}
