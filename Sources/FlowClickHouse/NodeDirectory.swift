public import FlowModel
public import FlowStore
import Foundation

/// The nodes as a ClickHouse store knows them now: the latest facts of each, the reporters,
/// first and last seen, and which node owns each address (latest claim wins).
///
/// Small (one row per node and address): questions read it whole to name endpoints and to
/// resolve endpoint arguments; the answers themselves resolve addresses on the server.
public struct NodeDirectory: Sendable {
    public struct Node: Sendable, Equatable {
        public var stableID: String
        public var name: String?
        public var os: String?
        public var user: String?
        public var tags: [String] = []
        public var addresses: [String] = []
        public var routes: [String] = []
        public var isReporter = false
        public var firstSeen: Nanoseconds?
        public var lastSeen: Nanoseconds?
    }

    public var nodes: [String: Node] = [:]
    /// Owner node stable ID by address text.
    public var owners: [String: String] = [:]
    /// The store's id of each node (`node_ids`: 1, 2, 3… in the order the writer first met them).
    var ids: [String: Int64] = [:]
    /// The DERP relay regions (`tailflow derp import`), by id.
    var derp: [DERPRegion] = []

    /// The separator of array elements in the text answers (ClickHouse prints arrays quoted otherwise).
    static let separator = "\u{1}"

    /// Reads the node tables in one request.
    init(_ client: ClickHouseClient) throws {
        var selects = TaggedSelects()
        Self.add(to: &selects)
        self.init(try selects.run(client))
    }

    /// The node tables' parts of a combined request (``TaggedSelects``), tagged `n` (facts),
    /// `s` (seen), `r` (reporters), `a` (address owners), `i` (node ids), `d` (DERP regions).
    static func add(to selects: inout TaggedSelects) {
        let v = "(info_ns, seq)"
        selects.add("n", ["stable_id", "argMax(name, \(v))", "argMax(os, \(v))", "argMax(user, \(v))",
                          "arrayStringConcat(argMax(tags, \(v)), '\\x01')", "arrayStringConcat(argMax(addresses, \(v)), '\\x01')",
                          "arrayStringConcat(argMaxIf(routes, \(v), has_routes = 1), '\\x01')"],
                    "FROM nodes GROUP BY stable_id")
        selects.add("s", ["stable_id", "toString(min(first_ns))", "toString(max(last_ns))"], "FROM node_seen GROUP BY stable_id")
        selects.add("r", ["stable_id"], "FROM reporters GROUP BY stable_id")
        selects.add("a", ["ip", "argMax(node, \(v))"], "FROM node_addresses GROUP BY ip")
        selects.add("i", ["stable_id", "toString(min(id))"], "FROM node_ids GROUP BY stable_id")
        selects.add("d", ["toString(region_id)", "argMax(ifNull(code, '\\x01'), imported_ns)", "argMax(ifNull(name, '\\x01'), imported_ns)"],
                    "FROM derp_regions GROUP BY region_id")
    }

    /// The directory from a combined request's tables (``add(to:)``).
    init(_ tables: [String: [[String]]]) {
        func node(_ id: String) -> Node { nodes[id] ?? Node(stableID: id) }
        for f in tables["n"] ?? [] {
            var n = node(f[0])
            n.name = f[1].isEmpty ? nil : f[1]
            n.os = f[2].isEmpty ? nil : f[2]
            n.user = f[3].isEmpty ? nil : f[3]
            n.tags = Self.split(f[4])
            n.addresses = Self.split(f[5])
            n.routes = Self.split(f[6])
            nodes[n.stableID] = n
        }
        for f in tables["s"] ?? [] {
            var n = node(f[0])
            n.firstSeen = Int64(f[1])
            n.lastSeen = Int64(f[2])
            nodes[n.stableID] = n
        }
        for f in tables["r"] ?? [] {
            var n = node(f[0])
            n.isReporter = true
            nodes[n.stableID] = n
        }
        for f in tables["a"] ?? [] {
            owners[f[0]] = f[1]
        }
        for f in tables["i"] ?? [] {
            if let id = Int64(f[1]) { ids[f[0]] = id }
        }
        derp = (tables["d"] ?? []).compactMap { f in
            guard let id = Int(f[0]) else { return nil }
            return DERPRegion(id: id, code: f[1] == "\u{1}" ? nil : f[1], name: f[2] == "\u{1}" ? nil : f[2])
        }.sorted { $0.id < $1.id }
    }

    static func split(_ text: String) -> [String] {
        text.isEmpty ? [] : text.components(separatedBy: separator)
    }

    /// The nodes as `tailflow nodes` lists them: by name (unnamed last), then stable ID, in byte order.
    public var records: [NodeRecord] {
        nodes.values.sorted { a, b in
            switch (a.name, b.name) {
            case (nil, nil): return a.stableID.utf8.lexicographicallyPrecedes(b.stableID.utf8)
            case (nil, _): return false
            case (_, nil): return true
            case (let x?, let y?):
                return x != y ? x.utf8.lexicographicallyPrecedes(y.utf8) : a.stableID.utf8.lexicographicallyPrecedes(b.stableID.utf8)
            }
        }.map { n in
            NodeRecord(nodeID: n.stableID, name: n.name, os: n.os, user: n.user, tags: n.tags, addresses: n.addresses,
                       isReporter: n.isReporter, firstSeen: n.firstSeen, lastSeen: n.lastSeen, routes: n.routes)
        }
    }

    /// The node's name, nil for an address or `*`.
    public func name(_ endpoint: String) -> String? {
        nodes[endpoint]?.name
    }
}
