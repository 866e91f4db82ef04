import FlowModel
import FlowStore
public import GRDB
import Foundation

/// A node as queries see it.
public struct NodeEntry: Sendable {
    public var id: Int64
    public var stableID: String
    public var name: String?
    public var user: String?
    public var os: String?
    public var tags: [String]
    public var addresses: [String]
    public var isReporter: Bool
}

/// The nodes and the address-to-node map, read at query time: resolution
/// happens here, so a later device import improves earlier answers.
///
/// Lives inside one read transaction (it looks up address texts lazily).
public final class Directory {
    let db: Database
    public let nodes: [Int64: NodeEntry]
    /// Owner node id by address id (0 = none), dense. Immutable: no exclusivity checks on the hot path.
    let owner: [Int64]
    /// Reporter flag by node id, dense.
    let reporter: [Bool]
    var texts: [Int64: String] = [:]

    public init(_ db: Database) throws {
        self.db = db
        var maxNode: Int64 = 0
        var nodes: [Int64: NodeEntry] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, stable_id, name, user, tags, addresses, last_report_ns IS NOT NULL, os FROM nodes") {
            let n = NodeEntry(id: row[0], stableID: row[1], name: row[2], user: row[3], os: row[7],
                              tags: FlowStore.decodeArray(row[4]), addresses: FlowStore.decodeArray(row[5]), isReporter: row[6])
            nodes[n.id] = n
            maxNode = max(maxNode, n.id)
        }
        self.nodes = nodes
        var reporter = Array(repeating: false, count: Int(maxNode) + 1)
        for n in nodes.values where n.isReporter { reporter[Int(n.id)] = true }
        self.reporter = reporter
        let maxAddress = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) FROM addresses") ?? 0
        var owner = [Int64](repeating: 0, count: Int(maxAddress) + 1)
        for row in try Row.fetchAll(db, sql: "SELECT address, node FROM node_addresses") {
            let a: Int64 = row[0]
            if a >= 0, a < owner.count { owner[Int(a)] = row[1] }
        }
        self.owner = owner
    }

    /// The endpoint an address stands for now.
    @inline(__always)
    public func endpoint(address id: Int64) -> Endpoint {
        if id <= 0 { return .star }
        if id < owner.count {
            let n = owner[Int(id)]
            if n != 0 { return .node(n) }
        }
        return .address(id)
    }

    /// The address ids that resolve to `e` (for `*`, the id 0 of "no address").
    public func addressIDs(of e: Endpoint) -> [Int64] {
        if let a = e.addressID { return [a] }
        guard let n = e.nodeID else { return [0] }
        return owner.indices.filter { owner[$0] == n }.map { Int64($0) }
    }

    /// Whether the endpoint is a node with any stored message.
    @inline(__always)
    public func isReporter(_ e: Endpoint) -> Bool {
        guard e.raw < 0 else { return false }
        let id = Int(-e.raw)
        return id < reporter.count && reporter[id]
    }

    @inline(__always)
    public func isReporter(node id: Int64) -> Bool {
        id >= 0 && id < reporter.count && reporter[Int(id)]
    }

    /// The endpoint's key as answers print it: stable node ID, IP address, or `*`.
    public func label(_ e: Endpoint) -> String {
        if let n = e.nodeID { return nodes[n]?.stableID ?? "node#\(n)" }
        if let a = e.addressID { return addressText(a) }
        return "*"
    }

    /// The node's name, nil for addresses and `*`.
    public func name(_ e: Endpoint) -> String? {
        e.nodeID.flatMap { nodes[$0]?.name }
    }

    public func node(_ e: Endpoint) -> NodeEntry? {
        e.nodeID.flatMap { nodes[$0] }
    }

    public func addressText(_ id: Int64) -> String {
        if id == 0 { return "*" }
        if let t = texts[id] { return t }
        let t = (try? StoreScan.addressTexts(db, ids: [id]))?[id] ?? "address#\(id)"
        texts[id] = t
        return t
    }

    /// Resolves an endpoint argument: a stable node ID, a full node name or its
    /// first label, an IP address, or `*`.
    ///
    /// - throws: ``QueryError`` for an unknown or ambiguous argument (the message lists the candidates).
    public func resolve(_ argument: String) throws -> Endpoint {
        let arg = argument.trimmingCharacters(in: .whitespaces)
        if arg == "*" { return .star }
        if let n = nodes.values.first(where: { $0.stableID == arg }) { return .node(n.id) }
        if let ip = IPAddress(arg) {
            let text = ip.description
            // A well-formed address never seen is an indicator that matched nothing, not a typo: an empty answer.
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM addresses WHERE ip = ?", arguments: [text]) else {
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
