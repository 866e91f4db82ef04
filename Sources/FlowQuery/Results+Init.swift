public import FlowModel

// Answer rows made outside this module: stores that answer questions themselves (the
// ClickHouse backend) build the same rows from their SQL and print them with the same reports.
// Static functions rather than initializers, which would clash with the memberwise ones here.

extension TopEndpointRow {
    package static func make(endpoint: String, name: String?, sentBytes: Int64, receivedBytes: Int64, sentPackets: Int64,
                            receivedPackets: Int64, label: String? = nil) -> TopEndpointRow {
        TopEndpointRow(endpoint: endpoint, name: name, sentBytes: sentBytes, receivedBytes: receivedBytes, sentPackets: sentPackets,
                       receivedPackets: receivedPackets, label: label)
    }
}

extension TopPairRow {
    package static func make(a: String, b: String, aName: String?, bName: String?, abBytes: Int64, baBytes: Int64, abPackets: Int64,
                            baPackets: Int64, aLabel: String? = nil, bLabel: String? = nil) -> TopPairRow {
        TopPairRow(a: a, b: b, aName: aName, bName: bName, abBytes: abBytes, baBytes: baBytes, abPackets: abPackets, baPackets: baPackets,
                   aLabel: aLabel, bLabel: bLabel)
    }
}

extension SeriesPoint {
    package static func make(time: Nanoseconds, bytes: Int64, packets: Int64) -> SeriesPoint {
        SeriesPoint(time: time, bytes: bytes, packets: packets)
    }
}

extension TopPortRow {
    package static func make(proto: UInt8, port: UInt16, bytes: Int64, packets: Int64) -> TopPortRow {
        TopPortRow(proto: proto, port: port, bytes: bytes, packets: packets)
    }
}

extension TopProtoRow {
    package static func make(proto: UInt8, bytes: Int64, packets: Int64) -> TopProtoRow {
        TopProtoRow(proto: proto, bytes: bytes, packets: packets)
    }
}

extension ScopePeer {
    package static func make(peer: String, peerName: String?, sentBytes: Int64, receivedBytes: Int64, sentPackets: Int64, receivedPackets: Int64,
                            protocols: [UInt8], ports: [UInt16], outboundPorts: [UInt16], inboundPorts: [UInt16],
                            firstSeen: Nanoseconds, lastSeen: Nanoseconds, peerLabel: String? = nil) -> ScopePeer {
        var row = ScopePeer(peer: peer, peerName: peerName, sentBytes: sentBytes, receivedBytes: receivedBytes, sentPackets: sentPackets,
                            receivedPackets: receivedPackets, protocols: protocols, ports: ports, outboundPorts: outboundPorts,
                            inboundPorts: inboundPorts, firstSeen: firstSeen, lastSeen: lastSeen)
        row.peerLabel = peerLabel
        return row
    }
}

extension FlowLogRow {
    public static func make(start: Nanoseconds, end: Nanoseconds, reporter: String, reporterName: String?, kind: TrafficKind, proto: UInt8,
                            src: String?, srcPort: UInt16, srcNode: String?, srcName: String?,
                            dst: String?, dstPort: UInt16, dstNode: String?, dstName: String?,
                            txPackets: Int64, txBytes: Int64, rxPackets: Int64, rxBytes: Int64, cursor: String,
                            srcLabel: String? = nil, dstLabel: String? = nil) -> FlowLogRow {
        FlowLogRow(start: start, end: end, reporter: reporter, reporterName: reporterName, kind: kind, proto: proto,
                   src: src, srcPort: srcPort, srcNode: srcNode, srcName: srcName, dst: dst, dstPort: dstPort, dstNode: dstNode, dstName: dstName,
                   txPackets: txPackets, txBytes: txBytes, rxPackets: rxPackets, rxBytes: rxBytes, cursor: cursor,
                   initiator: Direction.initiator(srcPort: srcPort, dstPort: dstPort), srcLabel: srcLabel, dstLabel: dstLabel)
    }
}

/// A position in the newest-first order of raw flow rows (the `cursor` of a ``FlowLogRow``).
package struct FlowPosition: Sendable, Equatable {
    package var start: Int64
    package var reporter: Int64
    package var digest: Int64
    package var index: Int

    /// - throws: ``QueryError`` for text that is no cursor.
    package init(parsing text: String) throws {
        let c = try FlowCursor(parsing: text)
        (start, reporter, digest, index) = (c.start, c.reporter, c.digest, c.index)
    }

    package static func text(start: Int64, reporter: Int64, digest: Int64, index: Int) -> String {
        FlowCursor(start: start, reporter: reporter, digest: digest, index: index).text
    }
}
