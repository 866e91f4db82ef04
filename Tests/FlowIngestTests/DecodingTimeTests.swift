import CZlib
import Foundation
@testable import FlowIngest
import FlowModel
import Testing
import TestSupport

/// Decoding time must be linear in the input whatever it holds (issue 14, item 1).
///
/// No absolute limits, and no wall clock: every bound compares the CPU time of decoding a
/// damaged input with the clean input's (or with plain decompression) measured in the same test, with a
/// factor generous enough for a busy machine and far below what a quadratic
/// scan costs (hundreds of times the clean time at these sizes).
@Suite(.ownThreads)
struct DecodingTimeTests {
    /// The API envelope `{"logs":[…]}` as one line of at least `bytes` bytes.
    static func envelope(bytes: Int) -> [UInt8] {
        var out = Array(#"{"logs":["#.utf8)
        out.reserveCapacity(bytes + 1024)
        var i = 0
        while out.count < bytes {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(Synthetic.message(i).utf8)
            i += 1
        }
        out += Array("]}\n".utf8)
        return out
    }

    static let bigEnvelope = envelope(bytes: 1_600_000)

    /// The shortest decode of `runs` runs, in seconds of the decoding thread's CPU time, and its
    /// result. CPU time, not wall time: the tests running beside this one (or anything else on the
    /// machine) take the cores for seconds at a time, which wall time would count as decoding.
    static func time(_ bytes: [UInt8], trickle: Int? = nil, runs: Int = 3) throws -> (seconds: Double, decoded: Decoded) {
        var best = Double.infinity
        var result: Decoded?
        for _ in 0..<runs {
            let t0 = threadCPU()
            let d = try Decoded(bytes: bytes, trickle: trickle)
            best = min(best, threadCPU() - t0)
            result = d
        }
        return (best, result!)
    }

    /// The calling thread's CPU time, in seconds (the decode runs on it from start to end).
    static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Where the `n`th `"txBytes":` value at or after `offset` starts.
    static func counter(in bytes: [UInt8], after offset: Int) -> Int {
        let key = Array(#""txBytes":"#.utf8)
        var i = offset
        while i + key.count < bytes.count {
            if bytes[i] == key[0], Array(bytes[i..<i + key.count]) == key { return i + key.count }
            i += 1
        }
        fatalError("no counter after \(offset)")
    }

    /// One bad value in a ~1.6 MB single-line envelope: the line is rejected with the right
    /// column (also past the first MiB, where the buffer no longer holds the line's start),
    /// and it costs no more than decoding the clean line.
    @Test(arguments: [100, 1_200_000])
    func aBrokenValueInALongLineCostsNoMoreThanTheCleanLine(_ offset: Int) throws {
        let clean = try Self.time(Self.bigEnvelope, runs: 3)
        #expect(clean.decoded.rejects.isEmpty && clean.decoded.messages.count > 1000)
        var damaged = Self.bigEnvelope
        let at = Self.counter(in: damaged, after: offset)
        damaged[at] = UInt8(ascii: "x")
        for trickle in [nil, 65536] as [Int?] {
            // The shortest of three, as for the clean line: one run preempted on a loaded machine is no signal.
            let broken = try Self.time(damaged, trickle: trickle, runs: 3)
            #expect(broken.seconds <= 5 * clean.seconds + 0.05,
                    "\(broken.seconds)s against \(clean.seconds)s clean (offset \(offset), trickle \(String(describing: trickle)))")
            #expect(broken.decoded.rejects.count == 1)
            let reason = broken.decoded.rejects.first?.reason ?? ""
            #expect(reason.contains("line 1, column \(at + 1):"), "\(reason)")
            #expect(broken.decoded.rejects.first?.location.line == 1)
        }
    }

    /// Random damage to the fixtures and to the long envelope: each damaged input decodes in
    /// at most a small constant times its clean input's time.
    @Test(arguments: [1, 2] as [UInt64])
    func damagedInputDecodesInTimeLinearInItsSize(_ seed: UInt64) throws {
        var rng = SplitMix(state: seed &* 104_729)
        // The fixtures are small: decode each many times so that a run is long enough to time.
        let corpus = try DecoderFuzzTests.corpus().map { base in Array(repeating: base + [0x0A], count: 10).flatMap { $0 } }
        for base in corpus {
            let clean = try Self.time(base, runs: 3).seconds
            for _ in 0..<4 {
                let mutated = DecoderFuzzTests.mutate(base, &rng)
                let t = try Self.time(mutated, runs: 2).seconds
                #expect(t <= 10 * clean + 0.02, "\(t)s against \(clean)s clean for \(mutated.count) bytes")
            }
        }
        let clean = try Self.time(Self.bigEnvelope, runs: 3).seconds
        for _ in 0..<2 {
            let mutated = DecoderFuzzTests.mutate(Self.bigEnvelope, &rng)
            let trickle = [nil, 4096, 65536][Int.random(in: 0..<3, using: &rng)]
            let t = try Self.time(mutated, trickle: trickle, runs: 2).seconds
            #expect(t <= 5 * clean + 0.05, "\(t)s against \(clean)s clean (trickle \(String(describing: trickle)))")
        }
    }

    /// `count` copies of `byte`, gzip-compressed at level 1 (as `head -c N /dev/zero | gzip -1` makes them).
    static func gzipOf(_ byte: UInt8, count: Int) -> [UInt8] {
        var stream = z_stream()
        precondition(deflateInit2_(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                                   Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        var chunk = [UInt8](repeating: byte, count: 1 << 20)
        var out: [UInt8] = []
        var outChunk = [UInt8](repeating: 0, count: 1 << 16)
        var left = count
        while true {
            let n = min(left, chunk.count)
            left -= n
            let flush = left == 0 ? Z_FINISH : Z_NO_FLUSH
            chunk.withUnsafeMutableBytes { inp in
                stream.next_in = inp.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = UInt32(n)
                repeat {
                    outChunk.withUnsafeMutableBytes { o in
                        stream.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.avail_out = UInt32(o.count)
                        _ = deflate(&stream, flush)
                        out += o[0..<(o.count - Int(stream.avail_out))]
                    }
                } while stream.avail_out == 0
            }
            if left == 0 { return out }
        }
    }

    /// 64 MB of zeros, gzipped (`head -c 64M /dev/zero | gzip -1`), and 16-20 MB of other
    /// repeated bytes (fewer, to keep the suite fast): decoding costs a small multiple
    /// of decompressing the input plus one plain pass over its bytes, and gives at most one reject.
    @Test(arguments: [0x00, 0x20, 0x0A, UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "1")] as [UInt8])
    func aLargeGzipOfOneRepeatedByteFinishesPromptly(_ byte: UInt8) throws {
        // A number longer than the 16 MiB a value may have is one reject.
        let size = byte == 0 ? 64 << 20 : byte == UInt8(ascii: "1") ? 20 << 20 : 16 << 20
        let gz = Self.gzipOf(byte, count: size)
        var baseline = Double.infinity
        var plain = [UInt8](repeating: 0, count: size)
        for _ in 0..<2 {
            let t0 = Self.threadCPU()
            let input = try GzipInput(upstream: MemoryInput(gz), prefix: [])
            var total = 0
            while case let n = try plain.withUnsafeMutableBytes({ try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[total...])) }),
                  n > 0 { total += n }
            #expect(total == size)
            // One pass over the bytes, as cheap as a decoder's inner loop can be.
            var blanks = 0
            plain.withUnsafeBufferPointer { p in
                for c in p where c == 0x20 || c == 0x0A { blanks += 1 }
            }
            #expect(blanks >= 0)
            baseline = min(baseline, Self.threadCPU() - t0)
        }
        let decoded = try Self.time(gz, runs: 2)
        #expect(decoded.seconds <= 10 * baseline + 0.1, "\(decoded.seconds)s against \(baseline)s to decompress and scan")
        #expect(decoded.decoded.messages.isEmpty)
        if byte == 0x20 || byte == 0x0A {
            #expect(decoded.decoded.rejects.isEmpty)
        } else {
            #expect(decoded.decoded.rejects.count == 1, "\(decoded.decoded.rejects)")
            // At the start (an array nested too deep: at its 65th bracket).
            #expect((decoded.decoded.rejects.first?.location.offset ?? -1) <= 64)
        }
    }
}
