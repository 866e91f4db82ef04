public import FlowModel
import FlowStore

/// `top --by endpoint`
public struct TopEndpointRow: Sendable, Equatable {
    public var endpoint: String
    public var name: String?
    public var sentBytes: Int64
    public var receivedBytes: Int64
    public var sentPackets: Int64
    public var receivedPackets: Int64
    /// What tables show for an endpoint without a node name (``Directory/tableLabel``): not in JSON.
    public var label: String? = nil
    public var bytes: Int64 { Counters.sum(sentBytes, receivedBytes) }
    public var packets: Int64 { Counters.sum(sentPackets, receivedPackets) }
}

/// `top --by pair`: `a < b` as strings; `ab` is a→b.
public struct TopPairRow: Sendable, Equatable {
    public var a: String
    public var b: String
    public var aName: String?
    public var bName: String?
    public var abBytes: Int64
    public var baBytes: Int64
    public var abPackets: Int64
    public var baPackets: Int64
    /// What tables show for an end without a node name: not in JSON.
    public var aLabel: String? = nil
    public var bLabel: String? = nil
    public var bytes: Int64 { Counters.sum(abBytes, baBytes) }
    public var packets: Int64 { Counters.sum(abPackets, baPackets) }
}

/// `top --by port`
public struct TopPortRow: Sendable, Equatable {
    public var proto: UInt8
    public var port: UInt16
    public var bytes: Int64
    public var packets: Int64
}

/// `top --by proto`
public struct TopProtoRow: Sendable, Equatable {
    public var proto: UInt8
    public var bytes: Int64
    public var packets: Int64
}

/// One bucket of a series.
public struct SeriesPoint: Sendable, Equatable {
    public var time: Nanoseconds
    public var bytes: Int64
    public var packets: Int64
}

/// One group of one bucket of a rollup; keys not grouped by are nil.
public struct RollupRow: Sendable, Equatable {
    public var time: Nanoseconds
    public var kind: String?
    public var proto: UInt8?
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
    public var srcLabel: String?
    public var dstLabel: String?

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

/// One peer of an endpoint over an incident window.
public struct ScopePeer: Sendable, Equatable {
    public var peer: String
    public var peerName: String?
    public var sentBytes: Int64
    public var receivedBytes: Int64
    public var sentPackets: Int64
    public var receivedPackets: Int64
    public var protocols: [UInt8]
    public var ports: [UInt16]
    /// Service ports on the peer that the endpoint connected to (it opened those connections).
    public var outboundPorts: [UInt16]
    /// Service ports on the endpoint that the peer connected to.
    public var inboundPorts: [UInt16]
    public var firstSeen: Nanoseconds
    public var lastSeen: Nanoseconds
    /// What tables show for a peer without a node name: not in JSON.
    public var peerLabel: String? = nil
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
    public var srcLabel: String? = nil
    public var dstLabel: String? = nil
}
