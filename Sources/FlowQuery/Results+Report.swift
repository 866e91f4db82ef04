public import FlowFormat
import FlowModel
public import FlowStore

/// Every answer as a ``Report``: the field names of SPEC §5, shared by the CLI and the server.
extension Report {
    public static func topEndpoints(_ rows: [TopEndpointRow]) -> Report {
        Report(columns: [Column("endpoint", "NODE ID / ADDRESS", wide: true), Column("name", "ENDPOINT", fallback: "endpoint"),
                         Column("sentBytes", "SENT BYTES"), Column("receivedBytes", "RECEIVED BYTES"), Column("sentPackets", "SENT PKTS"),
                         Column("receivedPackets", "RECV PKTS"), Column("bytes", "TOTAL BYTES"), Column("packets", "TOTAL PKTS")],
               rows: rows.map { r in
                   [.string(r.endpoint), .name(r.name, or: r.label), .bytes(r.sentBytes), .bytes(r.receivedBytes), .count(r.sentPackets),
                    .count(r.receivedPackets), .bytes(r.bytes), .count(r.packets)]
               }).named(first: "name")
    }

    public static func topPairs(_ rows: [TopPairRow]) -> Report {
        Report(columns: [Column("a", "A ID", wide: true), Column("b", "B ID", wide: true), Column("aName", "A", fallback: "a"),
                         Column("bName", "B", fallback: "b"), Column("abBytes", "A→B BYTES"), Column("baBytes", "B→A BYTES"),
                         Column("abPackets", "A→B PKTS"), Column("baPackets", "B→A PKTS"), Column("bytes", "TOTAL BYTES"),
                         Column("packets", "TOTAL PKTS")],
               rows: rows.map { r in
                   [.string(r.a), .string(r.b), .name(r.aName, or: r.aLabel), .name(r.bName, or: r.bLabel), .bytes(r.abBytes), .bytes(r.baBytes),
                    .count(r.abPackets), .count(r.baPackets), .bytes(r.bytes), .count(r.packets)]
               })
    }

    public static func topPorts(_ rows: [TopPortRow]) -> Report {
        Report(columns: [Column("proto", "PROTO"), Column("protoName", "NAME", table: false), Column("port", "PORT"),
                         Column("bytes", "BYTES"), Column("packets", "PACKETS")],
               rows: rows.map { r in
                   [.proto(r.proto), .string(ProtocolName.name(r.proto)), .int(Int64(r.port)), .bytes(r.bytes), .count(r.packets)]
               })
    }

    public static func topProtocols(_ rows: [TopProtoRow]) -> Report {
        Report(columns: [Column("proto", "NUMBER"), Column("protoName", "PROTO"), Column("bytes", "BYTES"), Column("packets", "PACKETS")],
               rows: rows.map { r in [.int(Int64(r.proto)), .string(ProtocolName.name(r.proto)), .bytes(r.bytes), .count(r.packets)] })
            .named(first: "protoName")
    }

    public static func series(_ points: [SeriesPoint]) -> Report {
        Report(columns: [Column("time", "TIME"), Column("bytes", "BYTES"), Column("packets", "PACKETS")],
               rows: points.map { [.time($0.time), .bytes($0.bytes), .count($0.packets)] })
    }

    public static func rollup(_ rows: [RollupRow], groupBy: [RollupKeyField]) -> Report {
        var columns = [Column("time", "TIME")]
        for key in groupBy {
            switch key {
            case .src: columns += [Column("src", "SRC ID / ADDRESS", wide: true), Column("srcName", "SRC", fallback: "src")]
            case .dst: columns += [Column("dst", "DST ID / ADDRESS", wide: true), Column("dstName", "DST", fallback: "dst")]
            default: columns.append(Column(key.rawValue, key.rawValue.uppercased()))
            }
        }
        columns += [Column("bytes", "BYTES"), Column("packets", "PACKETS")]
        return Report(columns: columns, rows: rows.map { r in
            var cells: [Cell] = [.time(r.time)]
            for key in groupBy {
                switch key {
                case .kind: cells.append(.string(r.kind))
                case .proto: cells.append(.proto(r.proto ?? 0))
                case .src: cells += [.string(r.src), .name(r.srcName, or: r.srcLabel)]
                case .dst: cells += [.string(r.dst), .name(r.dstName, or: r.dstLabel)]
                case .tag: cells.append(.string(r.tag))
                case .user: cells.append(.string(r.user))
                case .os: cells.append(.string(r.os))
                case .port: cells.append(.int(Int64(r.port ?? 0)))
                }
            }
            return cells + [.bytes(r.bytes), .count(r.packets)]
        })
    }

    public static func scope(_ rows: [ScopePeer]) -> Report {
        Report(columns: [Column("peer", "PEER ID / ADDRESS", wide: true), Column("peerName", "PEER", fallback: "peer"),
                         Column("sentBytes", "SENT BYTES"), Column("receivedBytes", "RECEIVED BYTES"), Column("sentPackets", "SENT PKTS"),
                         Column("receivedPackets", "RECV PKTS"), Column("bytes", "TOTAL BYTES"), Column("packets", "TOTAL PKTS"),
                         Column("protocols", "PROTOCOLS"), Column("ports", "PORTS"),
                         Column("firstSeen", "FIRST SEEN"), Column("lastSeen", "LAST SEEN"),
                         Column("outboundPorts", "PORTS OUT"), Column("inboundPorts", "PORTS IN")],
               rows: rows.map { r in
                   [.string(r.peer), .name(r.peerName, or: r.peerLabel), .bytes(r.sentBytes), .bytes(r.receivedBytes), .count(r.sentPackets),
                    .count(r.receivedPackets), .bytes(r.bytes), .count(r.packets),
                    .namedList(r.protocols.map { Int64($0) }, r.protocols.map(ProtocolName.name)), .ints(r.ports.map { Int64($0) }),
                    .time(r.firstSeen), .time(r.lastSeen), .ints(r.outboundPorts.map { Int64($0) }), .ints(r.inboundPorts.map { Int64($0) })]
               }).withTableOrder(["peerName", "peer", "sentBytes", "receivedBytes", "sentPackets", "receivedPackets", "bytes", "packets",
                                  "protocols", "outboundPorts", "inboundPorts", "ports", "firstSeen", "lastSeen"])
    }

    public static func flows(_ rows: [FlowLogRow]) -> Report {
        Report(columns: flowColumns, rows: rows.map(flowCells))
    }

    /// The columns of raw flow rows (`flows`, `scope --flows`).
    package static let flowColumns: [Column] = [
        Column("time", "TIME"), Column("end", "END", table: false), Column("reporter", "REPORTER ID", wide: true),
        Column("reporterName", "REPORTER", fallback: "reporter"), Column("kind", "KIND"), Column("proto", "PROTO"),
        Column("src", "SRC ADDRESS"), Column("srcPort", "SRC PORT"), Column("srcNode", "SRC NODE", wide: true), Column("srcName", "SRC NAME"),
        Column("dst", "DST ADDRESS"), Column("dstPort", "DST PORT"), Column("dstNode", "DST NODE", wide: true), Column("dstName", "DST NAME"),
        Column("txPackets", "TX PKTS"), Column("txBytes", "TX BYTES"), Column("rxPackets", "RX PKTS"), Column("rxBytes", "RX BYTES"),
        Column("cursor", "CURSOR", table: false), Column("initiator", "INITIATOR"),
    ]

    /// One raw flow row's cells, in ``flowColumns``' order.
    package static func flowCells(_ r: FlowLogRow) -> [Cell] {
        [.time(r.start), .time(r.end), .string(r.reporter), .string(r.reporterName), .string(r.kind.name),
         .proto(r.proto), .string(r.src), .int(Int64(r.srcPort)), .string(r.srcNode), .name(r.srcName, or: r.srcLabel),
         .string(r.dst), .int(Int64(r.dstPort)), .string(r.dstNode), .name(r.dstName, or: r.dstLabel),
         .count(r.txPackets), .bytes(r.txBytes), .count(r.rxPackets), .bytes(r.rxBytes), .string(r.cursor),
         .string(r.initiator)]
    }

    /// `diff`: the change, the key fields of `top --by`, both windows' counters and the rate factor.
    public static func diff(_ rows: [DiffRow], by: DiffDimension) -> Report {
        var keys: [Column]
        switch by {
        case .endpoint: keys = [Column("endpoint", "NODE ID / ADDRESS", wide: true), Column("name", "ENDPOINT", fallback: "endpoint")]
        case .pair: keys = [Column("a", "A ID", wide: true), Column("b", "B ID", wide: true), Column("aName", "A", fallback: "a"),
                            Column("bName", "B", fallback: "b")]
        case .port: keys = [Column("proto", "PROTO"), Column("protoName", "NAME", table: false), Column("port", "PORT")]
        }
        let columns = [Column("change", "CHANGE")] + keys
            + [Column("baselineBytes", "BASELINE BYTES"), Column("bytes", "BYTES"), Column("baselinePackets", "BASELINE PKTS"),
               Column("packets", "PKTS"), Column("factor", "FACTOR")]
        return Report(columns: columns, rows: rows.map { r in
            var cells: [Cell] = [.string(r.change.rawValue)]
            switch by {
            case .endpoint: cells += [.string(r.a), .string(r.aName)]
            case .pair: cells += [.string(r.a), .string(r.b), .string(r.aName), .string(r.bName)]
            case .port: cells += [.proto(r.proto), .string(ProtocolName.name(r.proto)), .int(Int64(r.port))]
            }
            return cells + [.bytes(r.baselineBytes), .bytes(r.bytes), .count(r.baselinePackets), .count(r.packets), .number(r.factor)]
        })
    }

    /// `coverage`: one row per node, worst first.
    public static func coverage(_ rows: [CoverageRow]) -> Report {
        Report(columns: [Column("node", "NODE ID", wide: true), Column("name", "NODE", fallback: "node", maxWidth: 32), Column("verdict", "VERDICT"),
                         Column("reports", "REPORTS"), Column("messages", "MESSAGES"), Column("coverage", "COVERAGE"),
                         Column("gaps", "GAPS (FROM..TO:PEER BYTES)", maxWidth: 70), Column("skewSeconds", "SKEW S"), Column("skewSource", "FROM"),
                         Column("asymmetry", "ASYMMETRY"), Column("asymmetryPeer", "ASYMMETRY PEER", wide: true), Column("rejects", "REJECTS")],
               rows: rows.map { r in
                   [.string(r.node), .string(r.name), .string(r.verdict.rawValue), .bool(r.reports), .count(Int64(r.messages)),
                    .number((r.coverage * 10_000).rounded() / 10_000),
                    .objects(keys: ["from", "to", "peerBytes"], r.gaps.map { [.time($0.from), .time($0.to), .int($0.peerBytes)] }),
                    .number(r.skewSeconds.map { ($0 * 1000).rounded() / 1000 }), .string(r.skewSource?.rawValue),
                    .number(r.asymmetry.map { ($0 * 10_000).rounded() / 10_000 }), .string(r.asymmetryPeer), .count(Int64(r.rejects))]
               }).named(first: "name")
    }

    public static func nodes(_ nodes: [NodeRecord]) -> Report {
        Report(
            columns: [Column("nodeId", "NODE ID", wide: true), Column("name", "NAME", fallback: "nodeId", maxWidth: 28), Column("os", "OS", maxWidth: 8),
                      Column("user", "USER", maxWidth: 22), Column("tags", "TAGS", maxWidth: 22), Column("addresses", "ADDRESSES", wide: true),
                      Column("reporter", "REPORTS"), Column("firstSeen", "FIRST SEEN", wide: true), Column("lastSeen", "LAST SEEN"),
                      Column("routes", "ROUTES", wide: true)],
            rows: nodes.map { n in
                [.string(n.nodeID), .string(n.name), .string(n.os), .string(n.user), .strings(n.tags),
                 .strings(n.addresses), .bool(n.isReporter), .time(n.firstSeen), .time(n.lastSeen), .strings(n.routes)]
            })
    }
}

extension Report {
    /// The table shows these keys first, in this order.
    func withTableOrder(_ keys: [String]) -> Report {
        var r = self
        r.tableOrder = keys
        return r
    }

    /// The table shows `key` first.
    func named(first key: String) -> Report {
        var r = self
        r.tableOrder = [key]
        return r
    }
}

extension Cell {
    /// A name, or where there is none the label tables show instead (JSON keeps null).
    static func name(_ name: String?, or label: String?) -> Cell {
        guard name == nil, let label else { return .string(name) }
        return .label(nil, label)
    }

    /// A protocol number that tables show by name (`tcp`).
    static func proto(_ p: UInt8) -> Cell { .named(Int64(p), ProtocolName.name(p)) }
}
