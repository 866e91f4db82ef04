import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

/// Mutates the fixtures at random (seeded, so failures reproduce) and checks
/// that the decoder never crashes or hangs, and that damage stays local.
@Suite(.ownThreads)
struct DecoderFuzzTests {
    static let seeds: [UInt64] = Array(1...6)

    static func corpus() throws -> [[UInt8]] {
        try Fixtures.containers.map { try Fixtures.bytes("containers/" + $0) }
            + ["bad/malformed-line.jsonl", "bad/wrong-types.jsonl", "tiny/api-response.json", "tiny/devices.json"].map(Fixtures.bytes)
    }

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var b = input
        let edits = Int.random(in: 1...4, using: &rng)
        for _ in 0..<edits where !b.isEmpty {
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: b[i] = UInt8.random(in: 0...255, using: &rng)
            case 1: b[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 2: b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...40, using: &rng)))
            case 3: b.insert(contentsOf: Array(#"{"[]:,\"0-9e"#.utf8).shuffled(using: &rng).prefix(3), at: i)
            case 4: b = Array(b[..<i])
            case 5:
                let j = Int.random(in: 0..<b.count, using: &rng)
                b.insert(contentsOf: b[min(i, j)..<max(i, j)].prefix(200), at: j)
            default: b[i] = [UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x0A][Int.random(in: 0..<5, using: &rng)]
            }
        }
        return b
    }

    @Test(arguments: seeds)
    func mutatedInputNeverCrashesOrHangs(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed)
        let corpus = try Self.corpus()
        for _ in 0..<150 {
            let base = corpus[Int.random(in: 0..<corpus.count, using: &rng)]
            let mutated = Self.mutate(base, &rng)
            let step = [1, 3, 4096][Int.random(in: 0..<3, using: &rng)]
            let d = try Decoded(bytes: mutated, trickle: step)
            // Every event is accounted for; rejects always say where and why.
            for r in d.rejects {
                #expect(!r.reason.isEmpty)
                #expect(r.location.offset >= 0)
                if !GzipInput.hasMagic(mutated) { #expect(r.location.offset <= Int64(mutated.count + 1)) }
            }
            for m in d.messages { #expect(m.end >= m.start) }
            // Gzip input with the same damage must not crash either.
            if Int.random(in: 0..<8, using: &rng) == 0 {
                _ = try Decoded(bytes: Self.mutate(try Fixtures.bytes("containers/api-response.json.gz"), &rng))
            }
        }
    }

    /// In JSON Lines, damage to one line (no new line breaks) loses at most that line.
    @Test(arguments: seeds)
    func damageInOneLineStaysInThatLine(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 7919)
        let lines = try String(decoding: Fixtures.bytes("containers/messages.jsonl"), as: UTF8.self)
            .split(separator: "\n").map { Array($0.utf8) }
        for _ in 0..<60 {
            let victim = Int.random(in: 0..<lines.count, using: &rng)
            var damaged = lines
            damaged[victim] = Self.mutate(lines[victim], &rng).filter { $0 != 0x0A && $0 != 0x0D }
            var input: [UInt8] = []
            for l in damaged { input += l + [0x0A] }
            let d = try Decoded(bytes: input)
            let others = Set(lines.indices.filter { $0 != victim }.map { ContainerDecoderTests.reference[$0].digest })
            #expect(others.isSubset(of: Set(d.digests)), "line \(victim + 1) damaged: \(String(decoding: damaged[victim], as: UTF8.self))")
            #expect(d.messages.count + d.rejects.count + d.skipped >= lines.count - 1)
        }
    }
}
