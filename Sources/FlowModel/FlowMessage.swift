/// One connection row of a message: the unit the store calls a *flow row*.
public struct FlowRow: Hashable, Sendable {
    public var kind: TrafficKind
    /// IANA protocol number; 0 when absent (physical and totals-only rows).
    public var proto: UInt8
    /// The local side for virtual traffic; `nil` when absent (anonymised or totals-only).
    public var src: IPAddress?
    public var srcPort: UInt16
    public var dst: IPAddress?
    public var dstPort: UInt16
    /// Counters, each at most `Int64.max` (larger values are rejected at decode time).
    public var txPackets: Int64
    public var txBytes: Int64
    public var rxPackets: Int64
    public var rxBytes: Int64

    public init(kind: TrafficKind, proto: UInt8 = 0, src: IPAddress? = nil, srcPort: UInt16 = 0,
                dst: IPAddress? = nil, dstPort: UInt16 = 0,
                txPackets: Int64 = 0, txBytes: Int64 = 0, rxPackets: Int64 = 0, rxBytes: Int64 = 0) {
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

    /// The port that names the service: the lower of the two non-zero ports,
    /// or the only non-zero one. Rollups and `top --by port` use it, so that
    /// both ends' reports of one conversation land on the same port.
    @inlinable
    public var servicePort: UInt16 { Self.servicePort(srcPort, dstPort) }

    /// The service port of a row with these two ports (also for rows as stored).
    @inlinable
    public static func servicePort(_ srcPort: UInt16, _ dstPort: UInt16) -> UInt16 {
        if srcPort == 0 { return dstPort }
        if dstPort == 0 { return srcPort }
        return min(srcPort, dstPort)
    }

    /// Which end of a row with these two ports holds its service port: that end
    /// answered, the other opened the connection (README, "Who opened a connection").
    @inlinable
    public static func serviceSide(_ srcPort: UInt16, _ dstPort: UInt16) -> ServiceSide {
        if srcPort == dstPort { return .neither }
        return servicePort(srcPort, dstPort) == dstPort ? .dst : .src
    }
}

/// What a message (or a device list) says about a node.
public struct NodeInfo: Hashable, Sendable {
    public var nodeID: String
    public var name: String?
    public var os: String?
    public var user: String?
    public var tags: [String]
    public var addresses: [IPAddress]
    /// The subnet routes the node carries, as CIDR prefixes (a device list's `enabledRoutes`,
    /// else `advertisedRoutes`); nil when the source says nothing of routes (messages never do).
    public var routes: [String]?

    public init(nodeID: String, name: String? = nil, os: String? = nil, user: String? = nil,
                tags: [String] = [], addresses: [IPAddress] = [], routes: [String]? = nil) {
        self.nodeID = nodeID
        self.name = name
        self.os = os
        self.user = user
        self.tags = tags
        self.addresses = addresses
        self.routes = routes
    }
}

/// One DERP relay region of Tailscale's DERP map: physical rows to `127.3.3.40:N` went through region N.
public struct DERPRegion: Sendable, Hashable {
    public var id: Int
    /// A short code, e.g. `nyc`.
    public var code: String?
    /// A name, e.g. `New York City`.
    public var name: String?

    public init(id: Int, code: String? = nil, name: String? = nil) {
        self.id = id
        self.code = code
        self.name = name
    }

    /// The address physical rows name DERP relays by; the port is the region.
    public static let magicAddress = IPAddress("127.3.3.40")!

    /// `DERP 1 (nyc)`, or `DERP 1` when the region is not known.
    public static func label(_ id: Int, _ region: DERPRegion?) -> String {
        guard let code = region?.code ?? region?.name, !code.isEmpty else { return "DERP \(id)" }
        return "DERP \(id) (\(code))"
    }
}

/// One node's report of its traffic over a short window.
public struct FlowMessage: Sendable {
    /// The stable ID of the reporting node.
    public var nodeID: String
    /// Window start and end, nanoseconds since the epoch; both inclusive, `end >= start`.
    public var start: Nanoseconds
    public var end: Nanoseconds
    public var srcNode: NodeInfo?
    public var dstNodes: [NodeInfo]
    public var rows: [FlowRow]
    /// When the log service received the message (`logged`, API responses; else the
    /// `logtail.server_time` of log-service records); nil when neither is present.
    /// Not part of the message identity: the same report is the same message however it arrived.
    public var logged: Nanoseconds?

    public init(nodeID: String, start: Nanoseconds, end: Nanoseconds, srcNode: NodeInfo? = nil,
                dstNodes: [NodeInfo] = [], rows: [FlowRow] = [], logged: Nanoseconds? = nil) {
        self.nodeID = nodeID
        self.start = start
        self.end = end
        self.logged = logged
        self.srcNode = srcNode
        self.dstNodes = dstNodes
        self.rows = rows
    }

    /// The message identity: a 48-bit hash of the reporter, the window and
    /// every flow row in order (never of node metadata or container details).
    ///
    /// Together with `start` and the reporter it is the primary key of a stored
    /// message, so the same message from any container is stored once, while two
    /// different messages from one node over the same window (a large report
    /// split in several) are both kept.
    public var digest: Int64 {
        var h = MessageHasher()
        // Whole words where the text is contiguous (native strings): the same value as byte by byte.
        if nodeID.utf8.withContiguousStorageIfAvailable({ h.mix(bytes: $0) }) == nil {
            for b in nodeID.utf8 { h.mix(byte: b) }
        }
        h.mix(UInt64(bitPattern: start))
        h.mix(UInt64(bitPattern: end))
        for r in rows {
            h.mix(UInt64(r.kind.rawValue) | UInt64(r.proto) << 8 | UInt64(r.srcPort) << 16 | UInt64(r.dstPort) << 32
                  | (r.src == nil ? 0 : 1) << 48 | (r.dst == nil ? 0 : 1) << 49)
            if let s = r.src { h.mix(s.high); h.mix(s.low) }
            if let d = r.dst { h.mix(d.high); h.mix(d.low) }
            h.mix(UInt64(bitPattern: r.txPackets))
            h.mix(UInt64(bitPattern: r.txBytes))
            h.mix(UInt64(bitPattern: r.rxPackets))
            h.mix(UInt64(bitPattern: r.rxBytes))
        }
        return Int64(bitPattern: h.finish() & 0xffff_ffff_ffff)
    }
}

/// A small, fixed, platform-independent 64-bit hash (a multiply-xorshift mix).
/// Its output is stored in databases: never change it.
package struct MessageHasher {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var pending: UInt64 = 0
    var pendingBytes = 0

    package init() {}

    @inline(__always)
    package mutating func mix(_ v: UInt64) {
        state = (state ^ Self.scramble(v)) &* 0xBF58_476D_1CE4_E5B9
        state ^= state >> 31
    }

    @inline(__always)
    package mutating func mix(byte: UInt8) {
        pending |= UInt64(byte) << (8 * UInt64(pendingBytes))
        pendingBytes += 1
        if pendingBytes == 8 {
            mix(pending)
            pending = 0
            pendingBytes = 0
        }
    }

    /// ``mix(byte:)`` of each byte in turn: whole words at once while none is pending.
    @inline(__always)
    package mutating func mix(bytes: UnsafeBufferPointer<UInt8>) {
        var i = 0
        if pendingBytes == 0, let base = bytes.baseAddress {
            while i + 8 <= bytes.count {
                mix(UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)))
                i += 8
            }
        }
        while i < bytes.count {
            mix(byte: bytes[i])
            i += 1
        }
    }

    package mutating func finish() -> UInt64 {
        mix(pending ^ UInt64(pendingBytes) << 56)
        return Self.scramble(state)
    }

    @inline(__always)
    static func scramble(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Which end of a flow row holds the service port (``FlowRow/servicePort(_:_:)``): the
/// responder. Rollups keep it beside the port, so direction survives aggregation.
public enum ServiceSide: UInt8, Sendable, Hashable, Comparable {
    /// Not recorded: rollup sums written before tailflow kept direction (schema/007), where
    /// no raw rows were left to rebuild them from.
    case unknown = 0
    /// Equal ports or none (ICMP): no direction.
    case neither = 1
    /// The destination holds the service port: the source opened the connection.
    case dst = 2
    /// The source holds the service port: the destination opened it.
    case src = 3

    public static func < (a: ServiceSide, b: ServiceSide) -> Bool { a.rawValue < b.rawValue }
}
