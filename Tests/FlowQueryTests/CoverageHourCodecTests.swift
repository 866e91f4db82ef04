import Foundation
import FlowIngest
import FlowModel
@testable import FlowStore
import GRDB
import Testing
import TestSupport

/// The packed form of an hour summary (`coverage_hours`, format 2 since issue 20): every value
/// a summary can hold comes back exactly, and a blob that is cut short, too long, of another
/// format or with a value out of range is an error naming the hour, never a trap (a case to
/// import is a store, and its summaries are read as they are).
@Suite(.ownThreads)
struct CoverageHourCodecTests {
    static let s: Int64 = 1_000_000_000
    static let hour = Timestamp.parseRFC3339("2026-11-02T10:00:00Z")!
    static let hourName = "2026-11-02T10:00:00Z"

    typealias Reporter = CoverageHour.Reporter
    typealias Sighting = CoverageHour.Sighting

    /// A summary with every shape of value: windows a nanosecond apart, touching nothing, of length
    /// 0, after a hole of exactly 3 periods and of many, off the 5-second grid, one running days
    /// past the hour; offsets of odd nanoseconds, of milliseconds, at both ends of Int64 (their
    /// differences wrap), all zero; ids far apart; sightings of one address pair on several
    /// ports, of an address with itself, without a second reporter, at the hour's last nanosecond.
    static func rich() -> CoverageHour {
        let h = hour, p = 5 * s
        var c = CoverageHour()
        c.reporters = [
            Reporter(id: 0, messages: 3, windows: [(h, h + p - 123_456), (h + p, h + 2 * p), (h + 2 * p + 1, h + 2 * p + 1)], offsets: [-1, 0, 3]),
            Reporter(id: 7, messages: 5, windows: [(h + 999, h + 999 + p - 1), (h + 999 + 4 * p, h + 999 + 4 * p + 17),
                                                   (h + 999 + 4 * p + 17 + 3 * p, h + 999 + 11 * p), (h + 3_599 * s, h + 3_599 * s + 3 * 86_400 * s)],
                     offsets: [-2_750_000_000, -2_750_000_000, -1_000_000, 250_000_000]),
            Reporter(id: 8, messages: 1, windows: [(h + 3_600 * s - 1, h + 3_600 * s - 1)], offsets: [.min, -7, 0, .max]),
            Reporter(id: 1 << 40, messages: 1 << 39, windows: [(h + 1_234_567_891, h + 1_234_567_891 + 77 * p + 2_499_999_999)], offsets: [0, 0]),
            Reporter(id: 1 << 41, messages: 2, windows: [(h + 17, h + 18), (h + 700 * p + 3, h + 700 * p + 3 + p / 2)], offsets: []),
        ]
        c.sightings = [
            Sighting(a: 1, b: 1, rest: 443 << 24 | 50_000 << 8 | 6, first: 0, firstAt: h + p, second: 7, secondAt: h + 999),
            Sighting(a: 1, b: 9, rest: 1 << 8 | 17, first: 7, firstAt: h + 999 + 4 * p, second: 0, secondAt: 0),
            Sighting(a: 1, b: 9, rest: 1 << 8 | 18, first: 7, firstAt: h + 999, second: 0, secondAt: 0),
            Sighting(a: 1, b: 9, rest: 65_535 << 24 | 65_535 << 8 | 255, first: 8, firstAt: h + 3_600 * s - 1, second: 1 << 41, secondAt: h + 700 * p + 3),
            Sighting(a: 2, b: 3, rest: 0, first: 1 << 40, firstAt: h + 1_234_567_891 + 700 * p + 1, second: 0, secondAt: 0),
            Sighting(a: 1 << 30, b: 1 << 31, rest: UInt64.max, first: 1 << 41, firstAt: h + 17, second: 0, secondAt: 0),
        ]
        return c
    }

    static func decode(_ bytes: [UInt8]) throws -> CoverageHour {
        try bytes.withUnsafeBytes { try CoverageHour.decode($0, hour: hour) }
    }

    /// The error decoding `bytes` throws; nil when it decodes.
    static func failure(_ bytes: [UInt8]) -> String? {
        do {
            _ = try decode(bytes)
            return nil
        } catch let e as StoreError {
            return e.code == .corrupt ? e.message : "not corrupt: \(e)"
        } catch {
            return "not a StoreError: \(error)"
        }
    }

    @Test func everyValueComesBack() throws {
        let rich = Self.rich()
        let blob = rich.encode(hour: Self.hour)
        #expect(try Self.decode(blob) == rich)
        // Canonical: encoding what was decoded gives the same bytes.
        #expect(try Self.decode(blob).encode(hour: Self.hour) == blob)
        let empty = CoverageHour()
        #expect(try Self.decode(empty.encode(hour: Self.hour)) == empty)
    }

    /// Hours at both ends of Int64 (1677 and 2262): a window from the first to the last
    /// nanosecond (its length is more than Int64.max), one that ends at Int64.max in the last
    /// hour, a sighting at the last nanosecond.
    @Test func theEndsOfTimeComeBack() throws {
        let first = CoverageHour.hour(of: .min + CoverageHour.length), last = CoverageHour.hour(of: .max)
        var c = CoverageHour()
        c.reporters = [Reporter(id: 1, messages: 2, windows: [(first + 3, first + 5 * Self.s), (first + 3_599 * Self.s, .max)], offsets: [.min, .max])]
        #expect(try c.encode(hour: first).withUnsafeBytes { try CoverageHour.decode($0, hour: first) } == c)
        c.reporters = [Reporter(id: 1, messages: 2, windows: [(last, last + 1), (.max - 5 * Self.s, .max)], offsets: [0])]
        c.sightings = [Sighting(a: 1, b: 2, rest: 6, first: 1, firstAt: .max - 5 * Self.s, second: 0, secondAt: 0)]
        #expect(try c.encode(hour: last).withUnsafeBytes { try CoverageHour.decode($0, hour: last) } == c)
    }

    /// A reporter that sends every 5 s with a little jitter at the end of its windows, as the
    /// generator's do: 4 bytes a window, 1 an offset of whole milliseconds, 2 a sighting's time.
    @Test func aRegularReporterIsSmall() throws {
        let p = 5 * Self.s
        var windows: [(Int64, Int64)] = [], offsets: [Int64] = []
        for i in Int64(0)..<720 {
            windows.append((Self.hour + 1_234_567 + i * p, Self.hour + 1_234_567 + (i + 1) * p - 1_000 - i * 500))
            offsets.append(-(250 + (i * 37) % 2_500) * 1_000_000)
        }
        offsets.sort()
        var c = CoverageHour()
        c.reporters = [Reporter(id: 3, messages: 720, windows: windows, offsets: offsets)]
        c.sightings = (Int64(0)..<100).map { Sighting(a: 5, b: 6 + $0, rest: 443 << 8 | 6, first: 3, firstAt: windows[Int($0) * 7].0, second: 0, secondAt: 0) }
        let blob = c.encode(hour: Self.hour)
        #expect(try Self.decode(blob) == c)
        #expect(blob.count < 4_700, "\(blob.count) bytes")
    }

    /// Every blob cut short is refused, naming the hour, and so is one byte too many.
    @Test func everyTruncationIsRefused() throws {
        let blob = Self.rich().encode(hour: Self.hour)
        for n in 0..<blob.count {
            let why = Self.failure(Array(blob.prefix(n)))
            #expect(why?.contains(Self.hourName) == true, "\(n) of \(blob.count) bytes: \(why ?? "decoded")")
        }
        let why = Self.failure(blob + [0])
        #expect(why?.contains(Self.hourName) == true && why?.contains("left over") == true, "\(why ?? "decoded")")
    }

    /// Blobs made to break the reader: each is an error naming the hour and what is wrong.
    @Test func craftedBlobsAreRefused() throws {
        func v(_ x: UInt64) -> [UInt8] {
            var out: [UInt8] = []
            RowCodec.putVarint(x, &out)
            return out
        }
        let big = v(UInt64.max)
        // One reporter (id 0, 1 message) with one window starting `start` after the hour, long
        // `length` (grid value), no offsets; then `tail` (the sightings).
        func one(start: UInt64 = 0, length: [UInt8] = [2], offsets: [UInt8] = [0], tail: [UInt8] = [0]) -> [UInt8] {
            [2, 1, 0, 1, 1] + v(start) + length + offsets + tail
        }
        #expect(Self.failure(one()) == nil)
        let cases: [(String, [UInt8])] = [
            ("unknown format 1", [1, 0, 0]),
            ("it is empty", []),
            ("reporters in", [2] + v(1_000)),
            ("windows in", [2, 1, 0, 1] + v(1 << 40)),
            ("messages", [2, 1, 0] + v(1 << 41) + [0, 0]),
            ("a reporter id is out of range", [2, 2] + big + [0, 0, 0] + big),
            // The second id, one after Int64.max.
            ("a reporter id is out of range", [2, 2] + v(UInt64(Int64.max)) + [0, 0, 0, 0, 0, 0, 0, 0]),
            ("starts outside the hour", one(start: 3_600 * UInt64(Self.s))),
            ("a window start is out of range", one(start: UInt64(Int64.max))),
            ("a window end is out of range", one(start: 1, length: v(UInt64(Int64.max / (5 * Self.s)) << 1))),
            ("a window length is out of range", one(length: v((UInt64.max / UInt64(5 * Self.s) + 1) << 1))),
            ("ends before it starts", [2, 1, 0, 2, 2, 0, 2] + v(1 << 2 | 2) + [2, 0, 0]),
            ("a hole is out of range", [2, 1, 0, 2, 2, 0, 2] + v(UInt64(5 * Self.s) << 2) + [2, 0, 0]),
            ("an offset unit is 0", one(offsets: [1, 0, 0])),
            ("an offset is out of range", one(offsets: [1] + v(1 << 62) + [4])),
            ("a sighting names reporter 1 of 1", one(tail: [1, 1, 0, 0, 1, 0, 0])),
            ("a sighting names reporter 4 of 1", one(tail: [1, 1, 0, 0, 0, 0, 5, 0])),
            ("a sighting's time is outside the hour", one(tail: [1, 1, 0, 0, 0] + v(720 << 1) + [0])),
            ("an address is out of range", one(tail: [1] + big + [0, 0, 0, 0, 0])),
        ]
        for (what, blob) in cases {
            let why = Self.failure(blob)
            #expect(why?.contains(Self.hourName) == true && why?.contains(what) == true, "\(what): \(why ?? "decoded")")
        }
        // A sighting's reporter without windows has no first start to count from.
        #expect(Self.failure([2, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0])?.contains("reporter 0 of 1, which has no window") == true)
    }

    /// Bytes changed at random (seeded) decode or are refused naming the hour; nothing traps.
    @Test func damagedBlobsNeverTrap() throws {
        let blob = Self.rich().encode(hour: Self.hour)
        var rng = SplitMix(state: 20)
        var refused = 0
        for _ in 0..<3_000 {
            var b = blob
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if let why = Self.failure(b) {
                #expect(why.contains(Self.hourName), "\(why)")
                refused += 1
            }
        }
        #expect(refused > 300, "\(refused) refused")
    }
}
