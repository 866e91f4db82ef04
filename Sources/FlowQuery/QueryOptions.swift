public import FlowModel
public import Foundation

/// What every question shares: the window and the filters.
public struct QueryOptions: Sendable {
    public var window: TimeWindow
    /// Traffic kinds to cover; by default virtual, subnet and exit (physical traffic only when asked for).
    public var kinds: Set<TrafficKind> = Set(TrafficKind.defaultQueryKinds) { didSet { kindsChosen = true } }
    /// Whether `kinds` was set (else the default stands, and a filter naming `physical` widens it).
    var kindsChosen = false
    /// Only this IANA protocol number.
    public var proto: UInt8?
    /// Only edges with this endpoint at either end (a node ID, node name, IP address or `*`).
    public var endpoint: String?
    /// Only edges with a node carrying this tag (e.g. `tag:prod`) at either end.
    public var tag: String?
    /// Only edges with a node of this user (login) at either end.
    public var user: String?
    /// The zone calendar words (`today`, `last-week`) were read in and `1d`/`1w` buckets align to (default UTC).
    public var zone: TimeZone = .utc
    /// A `--where` expression (SPEC §11), combined with the other filters by `and`.
    public var filter: FilterExpression?

    /// The kinds read before the filter: `kinds`; but when `kinds` was left at its
    /// default and the filter names `physical` (`kind = physical`), physical traffic too,
    /// since asking for it by kind is how physical traffic is asked for.
    package var candidateKinds: Set<TrafficKind> {
        kindsChosen || !(filter?.namesPhysicalKind ?? false) ? kinds : kinds.union([.physical])
    }

    public init(window: TimeWindow) {
        self.window = window
    }
}

/// What `top` ranks.
public enum TopDimension: String, Sendable, CaseIterable {
    case endpoint, pair, port, proto
}

/// What rankings sort by.
public enum Metric: String, Sendable, CaseIterable {
    case bytes, packets
}

/// Keys a rollup groups by.
///
/// `tag`, `user` and `os` are node attributes at either end of the counted edge,
/// as the `--where` terms of the same names: a group holds the traffic with such
/// a node at either end, so an edge between two groups counts in both (null: no
/// end has one). `port` is the service port (the lower non-zero of the two).
public enum RollupKeyField: String, Sendable, CaseIterable {
    case kind, proto, src, dst, tag, user, os, port
}

/// Which traffic a series follows.
public enum SeriesSubject: Sendable, Equatable {
    case all
    /// Both directions of one endpoint's traffic.
    case endpoint(String)
    /// Both directions between two endpoints.
    case pair(String, String)
    /// One direction: from the first endpoint to the second.
    case edge(String, String)
}

/// Protocol names for people.
public enum ProtocolName {
    public static func name(_ proto: UInt8) -> String {
        switch proto {
        case 0: "-"
        case 1: "icmp"
        case 6: "tcp"
        case 17: "udp"
        case 58: "icmpv6"
        case 132: "sctp"
        default: String(proto)
        }
    }
}
