import Benchmark
import FlowGenerate
import FlowIngest
import FlowModel
import FlowStore
import Foundation

/// One hour of a 50-node tailnet as JSON Lines (≈ 100k flow rows), generated once.
let sample: (bytes: [UInt8], stats: GeneratorStats) = {
    var config = GeneratorConfig(start: Timestamp.parseRFC3339("2026-11-02T09:00:00Z")!, duration: 3600 * 1_000_000_000)
    config.nodes = 50
    var bytes: [UInt8] = []
    let stats = try! FlowLogGenerator(config).write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
    return (bytes, stats)
}()

let sampleGzip: [UInt8] = {
    var config = GeneratorConfig(start: Timestamp.parseRFC3339("2026-11-02T09:00:00Z")!, duration: 3600 * 1_000_000_000)
    config.nodes = 50
    var bytes: [UInt8] = []
    _ = try! FlowLogGenerator(config).write(container: .api, gzip: true) { bytes.append(contentsOf: $0) }
    return bytes
}()

func temporaryStore() throws -> (FlowStore, URL) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return (try FlowStore(path: dir.appendingPathComponent("b.db").path), dir)
}

let benchmarks: @Sendable () -> Void = {
    // Two kinds of guard (README, "Benchmarks"). Allocation counts and peak memory do not depend
    // on the CPU: `Thresholds/` holds their p90s and `thresholds check` compares against them on
    // any machine. Wall clock does: `compare.sh REF` runs REF and this tree on the same machine in
    // one job and fails when a p90 is more than 35% worse than REF's.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
        maxDuration: .seconds(10), maxIterations: 20,
        thresholds: [
            .wallClock: .init(relative: [.p90: 35.0]),
            .mallocCountTotal: .init(relative: [.p90: 10.0]),
            .peakMemoryResident: .init(relative: [.p90: 30.0]),
        ])
    // One hour of a 50-node tailnet: ~220k flow rows, ~47 MB of JSON Lines.

    // Decoding alone: JSON Lines and the gzip API envelope (streamed).
    Benchmark("decode-jsonl") { benchmark in
        for _ in benchmark.scaledIterations {
            let decoder = ContainerDecoder(source: "bench", input: MemoryInput(sample.bytes))
            var n = 0
            while let e = try decoder.next() { if case .message(let m) = e { n += m.rows.count } }
            blackHole(n)
        }
    }

    // The same without telling configuration audit records apart (SPEC §13): what detection costs a
    // flows-only input, as the ratio of the two in one run (README, "Configuration changes").
    Benchmark("decode-jsonl-no-change-detection") { benchmark in
        for _ in benchmark.scaledIterations {
            let decoder = ContainerDecoder(source: "bench", input: MemoryInput(sample.bytes))
            decoder.detectsChanges = false
            var n = 0
            while let e = try decoder.next() { if case .message(let m) = e { n += m.rows.count } }
            blackHole(n)
        }
    }

    Benchmark("decode-gzip-api-envelope") { benchmark in
        for _ in benchmark.scaledIterations {
            let decoder = ContainerDecoder(source: "bench", input: MemoryInput(sampleGzip))
            var n = 0
            while let e = try decoder.next() { if case .message(let m) = e { n += m.rows.count } }
            blackHole(n)
        }
    }

    // Storing already-decoded messages: inserts, indexes and rollup upkeep.
    Benchmark("store-rows-with-rollups") { benchmark in
        var messages: [FlowMessage] = []
        let decoder = ContainerDecoder(source: "bench", input: MemoryInput(sample.bytes))
        while let e = try decoder.next() { if case .message(let m) = e { messages.append(m) } }
        for _ in benchmark.scaledIterations {
            let (store, dir) = try temporaryStore()
            benchmark.startMeasurement()
            try store.write(durability: .normal) { w in
                try w.begin()
                for m in messages { try w.add(m) }
                try w.commit()
            }
            benchmark.stopMeasurement()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    // The whole pipeline: decode on one thread, store on the other.
    Benchmark("ingest-end-to-end") { benchmark in
        for _ in benchmark.scaledIterations {
            let (store, dir) = try temporaryStore()
            benchmark.startMeasurement()
            blackHole(try Ingester(store: store).ingest(bytes: sample.bytes, source: "bench"))
            benchmark.stopMeasurement()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    Benchmark("reingest-duplicates") { benchmark in
        let (store, dir) = try temporaryStore()
        _ = try Ingester(store: store).ingest(bytes: sample.bytes, source: "bench")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try Ingester(store: store).ingest(bytes: sample.bytes, source: "bench"))
        }
        benchmark.stopMeasurement()
        try? FileManager.default.removeItem(at: dir)
    }
}
