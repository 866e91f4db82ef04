/// Which traffic array of a message a flow row came from.
///
/// The raw values are stored in the database; never renumber them.
public enum TrafficKind: UInt8, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// Traffic between two tailnet nodes (`virtualTraffic`).
    case virtual = 0
    /// Traffic to or from an advertised subnet route (`subnetTraffic`).
    case subnet = 1
    /// Traffic through an exit node (`exitTraffic`), possibly anonymised.
    case exit = 2
    /// Underlay WireGuard/DERP packets used to reach a peer (`physicalTraffic`).
    case physical = 3

    /// The name used on the command line and in JSON output.
    public var name: String {
        switch self {
        case .virtual: "virtual"
        case .subnet: "subnet"
        case .exit: "exit"
        case .physical: "physical"
        }
    }

    public var description: String { name }

    /// The JSON key of the message field that holds this kind of traffic.
    public var messageKey: String {
        switch self {
        case .virtual: "virtualTraffic"
        case .subnet: "subnetTraffic"
        case .exit: "exitTraffic"
        case .physical: "physicalTraffic"
        }
    }

    /// Parses a kind name as written on the command line (`virtual`, `subnet`, `exit`, `physical`).
    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }

    /// The kinds a query covers unless told otherwise: physical traffic duplicates virtual traffic one layer down.
    public static let defaultQueryKinds: [TrafficKind] = [.virtual, .subnet, .exit]

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
