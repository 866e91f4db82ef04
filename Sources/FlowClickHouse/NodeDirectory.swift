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

    /// The separator of array elements in the text answers (ClickHouse prints arrays quoted otherwise).
    static let separator = "\u{1}"

    init(_ client: ClickHouseClient) throws {
        func node(_ id: String) -> Node { nodes[id] ?? Node(stableID: id) }
        let v = "(info_ns, seq)"
        for f in try client.rows("""
            SELECT stable_id, argMax(name, \(v)), argMax(os, \(v)), argMax(user, \(v)),
                   arrayStringConcat(argMax(tags, \(v)), '\\x01'), arrayStringConcat(argMax(addresses, \(v)), '\\x01'),
                   arrayStringConcat(argMaxIf(routes, \(v), has_routes = 1), '\\x01')
            FROM nodes GROUP BY stable_id
            """) where f.count == 7 {
            var n = node(f[0])
            n.name = f[1].isEmpty ? nil : f[1]
            n.os = f[2].isEmpty ? nil : f[2]
            n.user = f[3].isEmpty ? nil : f[3]
            n.tags = Self.split(f[4])
            n.addresses = Self.split(f[5])
            n.routes = Self.split(f[6])
            nodes[n.stableID] = n
        }
        for f in try client.rows("SELECT stable_id, min(first_ns), max(last_ns) FROM node_seen GROUP BY stable_id") where f.count == 3 {
            var n = node(f[0])
            n.firstSeen = Int64(f[1])
            n.lastSeen = Int64(f[2])
            nodes[n.stableID] = n
        }
        for f in try client.rows("SELECT DISTINCT stable_id FROM reporters") where f.count == 1 {
            var n = node(f[0])
            n.isReporter = true
            nodes[n.stableID] = n
        }
        for f in try client.rows("SELECT ip, argMax(node, (info_ns, seq)) FROM node_addresses GROUP BY ip") where f.count == 2 {
            owners[f[0]] = f[1]
        }
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
