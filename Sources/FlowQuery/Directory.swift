import FlowModel
package import FlowStore
import Foundation

/// The nodes and the address-to-node map, read at query time: resolution
/// happens here, so a later device import improves earlier answers.
///
/// Lives inside one read of the store (it looks up address texts lazily).
final class Directory {
    let snapshot: any StoreSnapshot
    let nodes: [Int64: NodeEntry]
    /// Owner node id by address id (0 = none), dense. Immutable: no exclusivity checks on the hot path.
    let owner: [Int64]
    /// Reporter flag by node id, dense.
    let reporter: [Bool]
    var texts: [Int64: String] = [:]
    /// ``describe(address:port:)``'s findings per address id.
    var descriptions: [Int64: Description] = [:]
    /// DERP relay regions by id (`tailflow derp import`).
    let derp: [Int: DERPRegion]
    /// Subnet routes (from device lists) with the node that carries each, most specific first.
    let routes: [(network: Network, node: Int64)]
    /// The first store error met where a caller cannot throw (the filter's per-row
    /// tests); ``QueryEngine`` throws it once the question is answered.
    private(set) var failure: (any Error)?

    init(_ snapshot: any StoreSnapshot) throws {
        self.snapshot = snapshot
        var maxNode: Int64 = 0
        var nodes: [Int64: NodeEntry] = [:]
        for n in try snapshot.nodeEntries() {
            nodes[n.id] = n
            maxNode = max(maxNode, n.id)
        }
        self.nodes = nodes
        var reporter = Array(repeating: false, count: Int(maxNode) + 1)
        for n in nodes.values where n.isReporter { reporter[Int(n.id)] = true }
        self.reporter = reporter
        let owners = try snapshot.addressOwners()
        var owner = [Int64](repeating: 0, count: Int(owners.maxAddressID) + 1)
        for (a, n) in owners.owners where a >= 0 && a < owner.count {
            owner[Int(a)] = n
        }
        self.owner = owner
        derp = Dictionary(try snapshot.derpRegions().map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var routes: [(network: Network, node: Int64)] = []
        for n in nodes.values {
            for r in n.routes {
                // An exit node's default routes would claim every address.
                if let net = FilterValues.network(r), net.bits > 0 { routes.append((net, n.id)) }
            }
        }
        // Longest prefix first, then the router's id: the first match is the most specific.
        self.routes = routes.sorted { ($0.network.bits, $1.node) > ($1.network.bits, $0.node) }
    }

    /// The endpoint an address stands for now.
    @inline(__always)
    func endpoint(address id: Int64) -> Endpoint {
        if id <= 0 { return .star }
        if id < owner.count {
            let n = owner[Int(id)]
            if n != 0 { return .node(n) }
        }
        return .address(id)
    }

    /// The address ids that resolve to `e` (for `*`, the id 0 of "no address").
    func addressIDs(of e: Endpoint) -> [Int64] {
        if let a = e.addressID { return [a] }
        guard let n = e.nodeID else { return [0] }
        return owner.indices.filter { owner[$0] == n }.map { Int64($0) }
    }

    /// Whether the endpoint is a node with any stored message.
    @inline(__always)
    func isReporter(_ e: Endpoint) -> Bool {
        guard e.raw < 0 else { return false }
        let id = Int(-e.raw)
        return id < reporter.count && reporter[id]
    }

    @inline(__always)
    func isReporter(node id: Int64) -> Bool {
        id >= 0 && id < reporter.count && reporter[Int(id)]
    }

    /// The endpoint's key as answers print it: stable node ID, IP address, or `*`.
    ///
    /// - throws: ``StoreError`` when the store cannot be read.
    func label(_ e: Endpoint) throws -> String {
        if let n = e.nodeID { return nodes[n]?.stableID ?? "node#\(n)" }
        if let a = e.addressID { return try addressText(a) }
        return "*"
    }

    /// What an address that is no node is, for people: `DERP 1 (nyc)` for the DERP relays'
    /// address with the region as `port` (`DERP relays` without one), `192.168.10.0/24 via
    /// router-1` for a host inside a node's subnet route; nil when nothing is known.
    func describe(address id: Int64, port: UInt16? = nil) -> String? {
        guard id > 0 else { return nil }
        // Per address, once: raw rows repeat their addresses.
        let known: Description
        if let d = descriptions[id] {
            known = d
        } else {
            known = describe(id)
            descriptions[id] = known
        }
        switch known {
        case .none: return nil
        case .relays:
            guard let port, port > 0 else { return "DERP relays" }
            return DERPRegion.label(Int(port), derp[Int(port)])
        case .route(let text): return text
        }
    }

    enum Description {
        case none, relays, route(String)
    }

    func describe(_ id: Int64) -> Description {
        guard let text = recordingAddressText(id), let ip = IPAddress(text) else { return .none }
        return describe(ip)
    }

    func describe(_ ip: IPAddress) -> Description {
        if ip == DERPRegion.magicAddress { return .relays }
        guard let route = routes.first(where: { $0.network.contains(ip) }) else { return .none }
        let router = nodes[route.node].map { n in n.name.map { String($0.split(separator: ".").first ?? Substring($0)) } ?? n.stableID } ?? "node#\(route.node)"
        return .route("\(Self.networkText(route.network)) via \(router)")
    }

    static func networkText(_ n: Network) -> String {
        "\(n.base)/\(n.bits)"
    }

    /// What tables show for an endpoint that has no node name: `(anonymised exit traffic)` for
    /// `*` (`(unattributed totals)` when its traffic is only totals, `*` to `*`), the address
    /// with what it is for a subnet host (`192.168.10.5 (192.168.10.0/24 via router-1)`), the
    /// DERP regions for the relays' address (`DERP 1 (nyc), DERP 9 (dfw)`); nil otherwise.
    ///
    /// - parameter ports: the service ports seen with it (for the relays, their regions).
    /// - parameter starOnly: whether `*`'s traffic is only with `*` (nil: some of each).
    func tableLabel(_ e: Endpoint, ports: [UInt16] = [], starOnly: Bool? = false) -> String? {
        if e == .star {
            switch starOnly {
            case true?: return "(unattributed totals)"
            case false?: return "(anonymised exit traffic)"
            case nil: return "(anonymised exit traffic, unattributed totals)"
            }
        }
        guard let a = e.addressID, let text = recordingAddressText(a), let ip = IPAddress(text) else { return nil }
        return tableLabel(text, ip, ports: ports) { describe(address: a) }
    }

    /// ``tableLabel(_:ports:starOnly:)`` of an address that is no node, by its text.
    func tableLabel(address text: String, ports: [UInt16] = []) -> String? {
        guard let ip = IPAddress(text) else { return nil }
        return tableLabel(text, ip, ports: ports) {
            if case .route(let route) = describe(ip) { return route }
            return nil
        }
    }

    private func tableLabel(_ text: String, _ ip: IPAddress, ports: [UInt16], describe: () -> String?) -> String? {
        if ip == DERPRegion.magicAddress {
            let regions = ports.filter { $0 > 0 }
            if regions.isEmpty { return "DERP relays" }
            return regions.map { DERPRegion.label(Int($0), derp[Int($0)]) }.joined(separator: ", ")
        }
        return describe().map { "\(text) (\($0))" }
    }

    /// The node's name, nil for addresses and `*`.
    func name(_ e: Endpoint) -> String? {
        e.nodeID.flatMap { nodes[$0]?.name }
    }

    func node(_ e: Endpoint) -> NodeEntry? {
        e.nodeID.flatMap { nodes[$0] }
    }

    /// The text of an address id ("*" for 0).
    ///
    /// - throws: ``StoreError`` when the store cannot be read.
    func addressText(_ id: Int64) throws -> String {
        if id == 0 { return "*" }
        if let t = texts[id] { return t }
        let t = try snapshot.addressTexts([id])[id] ?? "address#\(id)"
        texts[id] = t
        return t
    }

    /// ``addressText(_:)`` for callers that cannot throw: nil on a store error,
    /// which is kept in ``failure`` and thrown when the question ends.
    func recordingAddressText(_ id: Int64) -> String? {
        do {
            return try addressText(id)
        } catch {
            if failure == nil { failure = error }
            return nil
        }
    }

    /// Resolves an endpoint argument: a stable node ID, a full node name or its
    /// first label, an IP address, or `*`.
    ///
    /// - throws: ``QueryError`` for an unknown or ambiguous argument (the message lists the candidates).
    func resolve(_ argument: String) throws -> Endpoint {
        let arg = argument.trimmingCharacters(in: .whitespaces)
        if arg == "*" { return .star }
        if let n = nodes.values.first(where: { $0.stableID == arg }) { return .node(n.id) }
        if let ip = IPAddress(arg) {
            // A well-formed address never seen is an indicator that matched nothing, not a typo: an empty answer.
            guard let id = try snapshot.addressID(ip) else {
                return .unseen
            }
            return endpoint(address: id)
        }
        let lower = arg.lowercased()
        var matches = nodes.values.filter { ($0.name?.lowercased()).map { $0 == lower || $0 == lower + "." } ?? false }
        if matches.isEmpty {
            matches = nodes.values.filter { n in
                guard let name = n.name?.lowercased() else { return false }
                return name.split(separator: ".", maxSplits: 1).first.map(String.init) == lower
            }
        }
        if matches.count == 1 { return .node(matches[0].id) }
        if matches.isEmpty {
            throw QueryError("unknown endpoint '\(argument)': not a node ID or node name in this store, nor an IP address (`tailflow nodes` lists them)")
        }
        let list = matches.sorted { $0.stableID < $1.stableID }.map { "\($0.stableID) (\($0.name ?? "unnamed"))" }
        throw QueryError("ambiguous endpoint '\(argument)': it names \(matches.count) nodes: \(list.joined(separator: ", ")); use a full name or a node ID")
    }
}

/// What tables show for endpoints of an answer computed elsewhere (the ClickHouse backend's
/// pushed-down questions), by endpoint key: the same labels as ``Directory/tableLabel(_:ports:starOnly:)``.
package struct EndpointLabels {
    let directory: Directory

    /// - throws: ``StoreError`` when the snapshot cannot be read.
    package init(_ snapshot: any StoreSnapshot) throws {
        directory = try Directory(snapshot)
    }

    /// The label of an endpoint key without a node name: `*`, an address; nil for nothing to say.
    ///
    /// - parameter starOnly: for `*`: whether its traffic is only with `*` (nil: some of each).
    package func tableLabel(_ key: String, ports: [UInt16] = [], starOnly: Bool? = false) -> String? {
        if key == "*" { return directory.tableLabel(.star, starOnly: starOnly) }
        return directory.tableLabel(address: key, ports: ports)
    }

    /// What a raw row's address without a node name is (`(anonymised exit traffic)` for none,
    /// `(unattributed totals)` when neither end has one, the DERP region by `port`, a subnet route).
    package func flowLabel(_ text: String?, port: UInt16, other: String?) -> String? {
        guard let text, let ip = IPAddress(text) else { return other == nil ? "(unattributed totals)" : "(anonymised exit traffic)" }
        switch directory.describe(ip) {
        case .none: return nil
        case .relays: return port > 0 ? DERPRegion.label(Int(port), directory.derp[Int(port)]) : "DERP relays"
        case .route(let route): return route
        }
    }

    /// A rollup row's `src` or `dst` label, as the engine gives it (nil when not grouped by it, or a node).
    package func rollupLabel(_ keys: Set<RollupKeyField>, _ field: RollupKeyField, _ key: String, other: String?, port: UInt16?) -> String? {
        guard keys.contains(field) else { return nil }
        let otherKey: RollupKeyField = field == .src ? .dst : .src
        let starOnly: Bool? = keys.contains(otherKey) ? other == "*" : nil
        return tableLabel(key, ports: keys.contains(.port) ? [port ?? 0] : [], starOnly: starOnly)
    }
}
