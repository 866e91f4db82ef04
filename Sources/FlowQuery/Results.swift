public import FlowModel
import FlowStore

/// One row of `top --by endpoint` (``QueryEngine/topEndpoints(_:metric:limit:)``); its JSON
/// fields are these names, plus `bytes` and `packets`.
public struct TopEndpointRow: Sendable, Equatable {
    /// The endpoint's key: a node's stable ID, an IP address, or `*` (addresses removed).
    public var endpoint: String
    /// The node's name, nil for an address that is no node.
    public var name: String?
    /// What the endpoint sent (edges from it) and received (edges to it), counted once each (SPEC §3).
    public var sentBytes: Int64
    public var receivedBytes: Int64
    public var sentPackets: Int64
    public var receivedPackets: Int64
    /// What tables show for an endpoint without a node name (``Directory/tableLabel``): not in JSON.
    public var label: String? = nil
    /// Sent plus received (saturating at `Int64.max`).
    public var bytes: Int64 { Counters.sum(sentBytes, receivedBytes) }
    public var packets: Int64 { Counters.sum(sentPackets, receivedPackets) }
}

/// One row of `top --by pair` (``QueryEngine/topPairs(_:metric:limit:)``): `a < b` as strings; `ab` is a→b.
public struct TopPairRow: Sendable, Equatable {
    /// The pair's keys (node stable IDs, addresses or `*`), `a` the smaller in byte order.
    public var a: String
    public var b: String
    /// Their node names, nil for addresses that are no node.
    public var aName: String?
    public var bName: String?
    /// What `a` sent to `b` (`ab`) and `b` to `a` (`ba`).
    public var abBytes: Int64
    public var baBytes: Int64
    public var abPackets: Int64
    public var baPackets: Int64
    /// What tables show for an end without a node name: not in JSON.
    var aLabel: String? = nil
    var bLabel: String? = nil
    /// Both directions (saturating at `Int64.max`).
    public var bytes: Int64 { Counters.sum(abBytes, baBytes) }
    public var packets: Int64 { Counters.sum(abPackets, baPackets) }
}

/// One row of `top --by port` (``QueryEngine/topPorts(_:metric:limit:)``).
public struct TopPortRow: Sendable, Equatable {
    /// The IANA protocol number (6 TCP, 17 UDP, …).
    public var proto: UInt8
    /// The service port (``FlowRow/servicePort``: the lower non-zero of a row's two ports).
    public var port: UInt16
    public var bytes: Int64
    public var packets: Int64
}

/// One row of `top --by proto` (``QueryEngine/topProtocols(_:metric:limit:)``).
public struct TopProtoRow: Sendable, Equatable {
    public var proto: UInt8
    public var bytes: Int64
    public var packets: Int64
}

/// One bucket of a series (``QueryEngine/series(_:step:subject:)``).
public struct SeriesPoint: Sendable, Equatable {
    /// The bucket's start, nanoseconds since the Unix epoch (RFC 3339 in JSON).
    public var time: Nanoseconds
    public var bytes: Int64
    public var packets: Int64
}

/// One group of one bucket of a rollup (``QueryEngine/rollup(_:step:groupBy:)``); keys not grouped by are nil.
public struct RollupRow: Sendable, Equatable {
    /// The bucket's start, nanoseconds since the Unix epoch.
    public var time: Nanoseconds
    /// The traffic kind's name (`virtual`, `subnet`, `exit`, `physical`).
    public var kind: String?
    /// The IANA protocol number.
    public var proto: UInt8?
    /// The source and destination endpoints' keys.
    public var src: String?
    /// The name of the node `src` is, when grouped by `src` and it is a node.
    public var srcName: String?
    public var dst: String?
    public var dstName: String?
    /// A tag, user or OS of a node at either end (nil when grouped by it: no end has one).
    public var tag: String?
    public var user: String?
    public var os: String?
    /// The service port.
    public var port: UInt16?
    public var bytes: Int64
    public var packets: Int64
    /// What tables show for an end without a node name: not in JSON.
    package var srcLabel: String?
    package var dstLabel: String?

    public init(time: Nanoseconds, kind: String? = nil, proto: UInt8? = nil, src: String? = nil, srcName: String? = nil,
                dst: String? = nil, dstName: String? = nil, tag: String? = nil, user: String? = nil, os: String? = nil,
                port: UInt16? = nil, bytes: Int64, packets: Int64, srcLabel: String? = nil, dstLabel: String? = nil) {
        self.srcLabel = srcLabel
        self.dstLabel = dstLabel
        self.time = time
        self.kind = kind
        self.proto = proto
        self.src = src
        self.srcName = srcName
        self.dst = dst
        self.dstName = dstName
        self.tag = tag
        self.user = user
        self.os = os
        self.port = port
        self.bytes = bytes
        self.packets = packets
    }
}

/// One peer of an endpoint over an incident window (``QueryEngine/scope(_:)``).
public struct ScopePeer: Sendable, Equatable {
    /// The peer's key (node stable ID, address or `*`) and its node name.
    public var peer: String
    public var peerName: String?
    /// What the endpoint sent to the peer (`sent`) and received from it (`received`).
    public var sentBytes: Int64
    public var receivedBytes: Int64
    public var sentPackets: Int64
    public var receivedPackets: Int64
    /// The protocols and service ports of their traffic, ascending.
    public var protocols: [UInt8]
    public var ports: [UInt16]
    /// Service ports on the peer that the endpoint connected to (it opened those connections).
    public var outboundPorts: [UInt16]
    /// Service ports on the endpoint that the peer connected to.
    public var inboundPorts: [UInt16]
    /// The start of the first message window with traffic between them, and the end of the last (ns, exact).
    public var firstSeen: Nanoseconds
    public var lastSeen: Nanoseconds
    /// What tables show for a peer without a node name: not in JSON.
    var peerLabel: String? = nil
    public var bytes: Int64 { Counters.sum(sentBytes, receivedBytes) }
    public var packets: Int64 { Counters.sum(sentPackets, receivedPackets) }
}

/// One raw flow row, as the admin console's log view shows it.
public struct FlowLogRow: Sendable, Equatable {
    public var start: Nanoseconds
    public var end: Nanoseconds
    public var reporter: String
    public var reporterName: String?
    public var kind: TrafficKind
    public var proto: UInt8
    public var src: String?
    public var srcPort: UInt16
    public var srcNode: String?
    public var srcName: String?
    public var dst: String?
    public var dstPort: UInt16
    public var dstNode: String?
    public var dstName: String?
    public var txPackets: Int64
    public var txBytes: Int64
    public var rxPackets: Int64
    public var rxBytes: Int64
    /// Where this row stands in the newest-first order: pass it to `--after` for the next page.
    public var cursor: String
    /// Which end opened the connection, `src` or `dst`, by the service-port rule (``Direction``); nil when the ports cannot tell.
    public var initiator: String?
    /// What tables show beside an address that is no node (`DERP 1 (nyc)`, a subnet route and its
    /// router, `(anonymised exit traffic)` for none): not in JSON.
    var srcLabel: String? = nil
    var dstLabel: String? = nil
}
