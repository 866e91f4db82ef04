public import FlowModel

/// A flow row as stored: addresses are ids into the `addresses` table (0 = none).
public struct StoredRow: Hashable, Sendable {
    public var kind: TrafficKind
    public var proto: UInt8
    public var src: Int64
    public var srcPort: UInt16
    public var dst: Int64
    public var dstPort: UInt16
    public var txPackets: Int64
    public var txBytes: Int64
    public var rxPackets: Int64
    public var rxBytes: Int64

    public init(kind: TrafficKind, proto: UInt8, src: Int64, srcPort: UInt16, dst: Int64, dstPort: UInt16,
                txPackets: Int64, txBytes: Int64, rxPackets: Int64, rxBytes: Int64) {
        self.kind = kind
        self.proto = proto
        self.src = src
        self.srcPort = srcPort
        self.dst = dst
        self.dstPort = dstPort
        self.txPackets = txPackets
        self.txBytes = txBytes
        self.rxPackets = rxPackets
        self.rxBytes = rxBytes
    }

    /// See ``FlowRow/servicePort``.
    @inlinable
    public var servicePort: UInt16 { FlowRow.servicePort(srcPort, dstPort) }

    /// See ``FlowRow/serviceSide(_:_:)``.
    @inlinable
    public var serviceSide: ServiceSide { FlowRow.serviceSide(srcPort, dstPort) }
}

/// What names a flow row's conversation, without its counters: a reader that needs no more
/// than this (coverage's skew from peers) is spared decoding and passing four counters per row.
package struct RowEnds: Hashable, Sendable {
    package var kind: TrafficKind
    package var proto: UInt8
    package var srcPort: UInt16
    package var dstPort: UInt16
    package var src: Int64
    package var dst: Int64

    package init(kind: TrafficKind, proto: UInt8, src: Int64, srcPort: UInt16, dst: Int64, dstPort: UInt16) {
        self.kind = kind
        self.proto = proto
        self.src = src
        self.srcPort = srcPort
        self.dst = dst
        self.dstPort = dstPort
    }

    package init(_ r: StoredRow) {
        self.init(kind: r.kind, proto: r.proto, src: r.src, srcPort: r.srcPort, dst: r.dst, dstPort: r.dstPort)
    }
}

/// The packed encoding of a message's flow rows (`messages.rows`).
///
/// Format 1: one version byte (1), then per row a flag byte and LEB128 varints:
///
/// | part | meaning |
/// |---|---|
/// | flags bits 0–1 | traffic kind |
/// | flags bits 2–4 | protocol: 0 none, 1 TCP, 2 UDP, 3 ICMP, 4 ICMPv6, 7 other (a varint follows) |
/// | flags bit 5 | src address id repeats the previous row's (omitted) |
/// | flags bit 6 | dst address id repeats the previous row's (omitted) |
/// | varints | [proto], [src id], src port, [dst id], dst port, txPkts, txBytes, rxPkts, rxBytes |
///
/// Address ids start at 1; 0 means the row has no such address.
package enum RowCodec {
    package static let version: UInt8 = 1

    static let protoByCode: [UInt8] = [0, 6, 17, 1, 58, 0, 0, 0]
    /// The kind of flags bits 0–1 (`TrafficKind(rawValue:)` would be a call into another module per row).
    @inline(__always)
    static func kind(_ code: UInt8) -> TrafficKind {
        switch code {
        case 0: .virtual
        case 1: .subnet
        case 2: .exit
        default: .physical
        }
    }

    /// The protocol of flags bits 2–4 other than 7 (a switch: a static table costs a lazy-initialisation check per row).
    @inline(__always)
    static func proto(_ code: UInt8) -> UInt8 {
        switch code {
        case 1: 6
        case 2: 17
        case 3: 1
        case 4: 58
        default: 0
        }
    }

    @inline(__always)
    static func code(for proto: UInt8) -> UInt8 {
        switch proto {
        case 0: 0
        case 6: 1
        case 17: 2
        case 1: 3
        case 58: 4
        default: 7
        }
    }

    /// The most bytes one row takes: flags, protocol, two ids, two ports and four counters.
    static let maxRowBytes = 1 + 2 + 10 + 3 + 10 + 3 + 4 * 10

    /// Appends the encoding of `rows` to `out` (which it does not clear).
    ///
    /// Written through a pointer into room for the longest encoding, then appended at once
    /// (appended byte by byte, each append checked the array's capacity and uniqueness).
    package static func encode(_ rows: [StoredRow], into out: inout [UInt8]) {
        rows.withUnsafeBufferPointer { rows in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1 + rows.count * maxRowBytes) { room in
                let p = room.baseAddress!
                p[0] = version
                var n = 1
                var prevSrc: Int64 = -1, prevDst: Int64 = -1
                for r in rows {
                    let pc = code(for: r.proto)
                    var flags = r.kind.rawValue | pc << 2
                    if r.src == prevSrc { flags |= 1 << 5 }
                    if r.dst == prevDst { flags |= 1 << 6 }
                    p[n] = flags
                    n += 1
                    if pc == 7 { Varint.put(UInt64(r.proto), p, &n) }
                    if r.src != prevSrc { Varint.put(UInt64(r.src), p, &n) }
                    Varint.put(UInt64(r.srcPort), p, &n)
                    if r.dst != prevDst { Varint.put(UInt64(r.dst), p, &n) }
                    Varint.put(UInt64(r.dstPort), p, &n)
                    Varint.put(UInt64(r.txPackets), p, &n)
                    Varint.put(UInt64(r.txBytes), p, &n)
                    Varint.put(UInt64(r.rxPackets), p, &n)
                    Varint.put(UInt64(r.rxBytes), p, &n)
                    prevSrc = r.src
                    prevDst = r.dst
                    assert(n <= room.count, "a row took more than RowCodec.maxRowBytes")
                }
                out.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
            }
        }
    }

    /// Decodes a packed blob, calling `body` for each row; throws on a malformed blob.
    package static func decode(_ blob: UnsafeRawBufferPointer, _ body: (StoredRow) throws -> Void) throws {
        var r = try BlobReader(blob, version: version, what: "flow rows")
        var prevSrc: Int64 = 0, prevDst: Int64 = 0
        while !r.atEnd {
            let flags = r.byte()
            let pc = (flags >> 2) & 7
            let proto = pc == 7 ? UInt8(truncatingIfNeeded: try r.varint()) : protoByCode[Int(pc)]
            let src = flags & (1 << 5) != 0 ? prevSrc : Int64(bitPattern: try r.varint())
            let srcPort = UInt16(truncatingIfNeeded: try r.varint())
            let dst = flags & (1 << 6) != 0 ? prevDst : Int64(bitPattern: try r.varint())
            let dstPort = UInt16(truncatingIfNeeded: try r.varint())
            let row = StoredRow(kind: TrafficKind(rawValue: flags & 3)!, proto: proto, src: src, srcPort: srcPort,
                                dst: dst, dstPort: dstPort,
                                txPackets: Int64(bitPattern: try r.varint()), txBytes: Int64(bitPattern: try r.varint()),
                                rxPackets: Int64(bitPattern: try r.varint()), rxBytes: Int64(bitPattern: try r.varint()))
            try body(row)
            prevSrc = src
            prevDst = dst
        }
    }

    /// Decodes the ends of every row of a packed blob (``RowEnds``) into `out`, which it clears
    /// first; the counters are stepped over, not decoded. Throws on a malformed blob, as
    /// ``decode(_:_:)`` does.
    package static func decodeEnds(_ blob: UnsafeRawBufferPointer, into out: inout [RowEnds]) throws {
        out.removeAll(keepingCapacity: true)
        var r = try BlobReader(blob, version: version, what: "flow rows")
        var prevSrc: Int64 = 0, prevDst: Int64 = 0
        while !r.atEnd {
            let flags = r.byte()
            let pc = (flags >> 2) & 7
            let proto = pc == 7 ? UInt8(truncatingIfNeeded: try r.varint()) : proto(pc)
            let src = flags & (1 << 5) != 0 ? prevSrc : Int64(bitPattern: try r.varint())
            let srcPort = UInt16(truncatingIfNeeded: try r.varint())
            let dst = flags & (1 << 6) != 0 ? prevDst : Int64(bitPattern: try r.varint())
            let dstPort = UInt16(truncatingIfNeeded: try r.varint())
            try r.skipVarints(4)
            out.append(RowEnds(kind: kind(flags & 3), proto: proto, src: src, srcPort: srcPort,
                               dst: dst, dstPort: dstPort))
            prevSrc = src
            prevDst = dst
        }
    }

    /// Decodes a packed blob into an array.
    package static func decode(_ blob: [UInt8]) throws -> [StoredRow] {
        var rows: [StoredRow] = []
        try blob.withUnsafeBytes { try decode($0) { rows.append($0) } }
        return rows
    }

    @inline(__always)
    static func putVarint(_ value: UInt64, _ out: inout [UInt8]) {
        Varint.put(value, &out)
    }
}
