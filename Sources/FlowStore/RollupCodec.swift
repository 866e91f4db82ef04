public import FlowModel

/// One packed rollup sum: a key within a (step, reporter, bucket) and its counters.
public struct RollupEntry: Hashable, Sendable, Comparable {
    public var kind: TrafficKind
    public var src: Int64
    public var dst: Int64
    public var proto: UInt8
    public var port: UInt16
    /// Which end held the service port, so which end opened the connections summed here.
    public var side: ServiceSide
    public var counters: Counters

    public init(kind: TrafficKind, src: Int64, dst: Int64, proto: UInt8, port: UInt16, side: ServiceSide, counters: Counters) {
        self.kind = kind
        self.src = src
        self.dst = dst
        self.proto = proto
        self.port = port
        self.side = side
        self.counters = counters
    }

    public static func < (a: RollupEntry, b: RollupEntry) -> Bool {
        (a.kind.rawValue, a.src, a.dst, a.proto, a.port, a.side.rawValue) < (b.kind.rawValue, b.src, b.dst, b.proto, b.port, b.side.rawValue)
    }

    /// Whether two entries have the same key, side aside.
    func sameKeyButSide(_ b: RollupEntry) -> Bool {
        kind == b.kind && src == b.src && dst == b.dst && proto == b.proto && port == b.port
    }
}

/// The packed encoding of `rollups.sums`.
///
/// Format 1: one version byte (1), then per entry, in key order: a byte with the
/// kind (bits 0–1) and the service side (bits 2–3, ``ServiceSide``; 0 in sums written
/// before schema/007, which older binaries also read as 0), varints: src address id as a delta from the previous entry's
/// src, dst address id, proto, port, txPkts, txBytes, rxPkts, rxBytes.
package enum RollupCodec {
    package static let version: UInt8 = 1

    /// Encodes entries, which must be sorted and unique by key.
    package static func encode(_ entries: [RollupEntry], into out: inout [UInt8]) {
        out.append(version)
        var prevSrc: Int64 = 0
        for e in entries {
            out.append(e.kind.rawValue | e.side.rawValue << 2)
            RowCodec.putVarint(UInt64(bitPattern: e.src &- prevSrc).zigzagged, &out)
            RowCodec.putVarint(UInt64(bitPattern: e.dst), &out)
            RowCodec.putVarint(UInt64(e.proto), &out)
            RowCodec.putVarint(UInt64(e.port), &out)
            RowCodec.putVarint(UInt64(bitPattern: e.counters.txPackets), &out)
            RowCodec.putVarint(UInt64(bitPattern: e.counters.txBytes), &out)
            RowCodec.putVarint(UInt64(bitPattern: e.counters.rxPackets), &out)
            RowCodec.putVarint(UInt64(bitPattern: e.counters.rxBytes), &out)
            prevSrc = e.src
        }
    }

    /// Decodes a packed blob, calling `body` for each entry.
    @inline(__always)
    package static func decode(_ blob: UnsafeRawBufferPointer, _ body: (RollupEntry) throws -> Void) throws {
        var r = try BlobReader(blob, version: version, what: "rollup")
        var src: Int64 = 0
        while !r.atEnd {
            let flags = r.byte()
            guard let kind = TrafficKind(rawValue: flags & 3), let side = ServiceSide(rawValue: flags >> 2 & 3), flags < 16 else {
                throw StoreError(.sqlite, "rollup blob is corrupt")
            }
            src = src &+ Int64(bitPattern: try r.varint().unzigzagged)
            let dst = Int64(bitPattern: try r.varint())
            let proto = UInt8(truncatingIfNeeded: try r.varint())
            let port = UInt16(truncatingIfNeeded: try r.varint())
            let c = Counters(txPackets: Int64(bitPattern: try r.varint()), txBytes: Int64(bitPattern: try r.varint()),
                             rxPackets: Int64(bitPattern: try r.varint()), rxBytes: Int64(bitPattern: try r.varint()))
            try body(RollupEntry(kind: kind, src: src, dst: dst, proto: proto, port: port, side: side, counters: c))
        }
    }

    package static func decode(_ blob: [UInt8]) throws -> [RollupEntry] {
        var out: [RollupEntry] = []
        try blob.withUnsafeBytes { try decode($0) { out.append($0) } }
        return out
    }
}

extension UInt64 {
    /// Zig-zag: small negative deltas stay small.
    var zigzagged: UInt64 {
        let v = Int64(bitPattern: self)
        return UInt64(bitPattern: (v << 1) ^ (v >> 63))
    }

    var unzigzagged: UInt64 {
        (self >> 1) ^ (0 &- (self & 1))
    }
}
