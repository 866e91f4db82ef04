import FlowModel

/// The key of a rollup row within one step (see `schema/001_store.sql`, table `rollups`).
///
/// The writer sums rows per key in a ``MixTable`` (hashing is on the hot path of ingest).
struct RollupKey: Hashable, MixHashable {
    var bucket: Int64
    var reporter: Int64
    var src: Int64
    var dst: Int64
    var kind: UInt8
    var proto: UInt8
    var port: UInt16
    var side: ServiceSide


    var mixedHash: UInt64 { mixedHash(seed: 0) }

    /// One mixed word of the eight fields, from `seed` (ports, protocols and times are the
    /// senders' choice: see ``MixHashable``).
    @inline(__always)
    func mixedHash(seed: UInt64) -> UInt64 {
        var h = (UInt64(bitPattern: bucket) ^ seed) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ UInt64(bitPattern: reporter)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ UInt64(bitPattern: src) ^ UInt64(bitPattern: dst) << 32) &* 0x94D0_49BB_1331_11EB
        h ^= UInt64(kind) | UInt64(side.rawValue) << 2 | UInt64(proto) << 8 | UInt64(port) << 16 | (UInt64(bitPattern: dst) >> 32) << 32
        return mixBits(h)
    }

    func rebucketed(_ step: Int64) -> RollupKey {
        var k = self
        k.bucket = bucket - ((bucket % step) + step) % step
        return k
    }
}

/// The four counters of a flow row, summed. Sums saturate at `Int64.max`
/// (9.2 EB; unreachable in practice, but a crash or a wrap is never an option).
public struct Counters: Hashable, Sendable {
    public var txPackets: Int64 = 0
    public var txBytes: Int64 = 0
    public var rxPackets: Int64 = 0
    public var rxBytes: Int64 = 0

    public init(txPackets: Int64 = 0, txBytes: Int64 = 0, rxPackets: Int64 = 0, rxBytes: Int64 = 0) {
        self.txPackets = txPackets
        self.txBytes = txBytes
        self.rxPackets = rxPackets
        self.rxBytes = rxBytes
    }

    @inline(__always)
    public mutating func add(_ o: Counters) {
        txPackets = Self.sum(txPackets, o.txPackets)
        txBytes = Self.sum(txBytes, o.txBytes)
        rxPackets = Self.sum(rxPackets, o.rxPackets)
        rxBytes = Self.sum(rxBytes, o.rxBytes)
    }

    @inline(__always)
    package static func sum(_ a: Int64, _ b: Int64) -> Int64 {
        let (s, o) = a.addingReportingOverflow(b)
        return o ? .max : s
    }
}

/// The rollup steps kept, in seconds, finest first: a minute, an hour, a day,
/// and 2, 4, 8 and 16 days (epoch-aligned). The multi-day levels cost little
/// (keys repeat from day to day, so a 16-day bucket holds about twice a day's
/// keys, not sixteen times) and let a 30-day question read ~2.5 M sums instead of ~7.
package enum RollupStep {
    package static let day: Int64 = 86_400
    package static let all: [Int64] = [60, 3600, day, 2 * day, 4 * day, 8 * day, 16 * day]
}
