public import FlowModel
import GRDB
import Foundation

/// A node as the store knows it.
public struct NodeRecord: Sendable, Equatable {
    public var nodeID: String
    public var name: String?
    public var os: String?
    public var user: String?
    public var tags: [String]
    public var addresses: [String]
    /// Whether any message from the node is stored.
    public var isReporter: Bool
    public var firstSeen: Nanoseconds?
    public var lastSeen: Nanoseconds?
    /// The subnet routes it carries (CIDR prefixes, from a device list).
    public var routes: [String]

    public init(nodeID: String, name: String?, os: String?, user: String?, tags: [String], addresses: [String],
                isReporter: Bool, firstSeen: Nanoseconds?, lastSeen: Nanoseconds?, routes: [String] = []) {
        self.routes = routes
        self.nodeID = nodeID
        self.name = name
        self.os = os
        self.user = user
        self.tags = tags
        self.addresses = addresses
        self.isReporter = isReporter
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

extension FlowStore {
    public func nodes() throws -> [NodeRecord] {
        try sqlite { try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT stable_id, name, os, user, tags, addresses, last_report_ns IS NOT NULL AS reporter,
                       first_seen_ns, last_seen_ns, routes
                FROM nodes ORDER BY name IS NULL, name, stable_id
                """).map { row in
                NodeRecord(nodeID: row[0], name: row[1], os: row[2], user: row[3],
                           tags: Self.decodeArray(row[4]), addresses: Self.decodeArray(row[5]),
                           isReporter: row[6], firstSeen: row[7], lastSeen: row[8], routes: Self.decodeArray(row[9]))
            }
        } }
    }

    /// The strings of a JSON array column (`nodes.tags`, `nodes.addresses`); empty for NULL.
    package static func decodeArray(_ text: String?) -> [String] {
        guard let text, let data = text.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return array
    }
}

extension FlowStore {
    public func rejects(limit: Int) throws -> [Reject] {
        try sqlite {
            try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT source, line, offset, reason, excerpt, recorded_ns FROM rejects ORDER BY id DESC LIMIT ?
                    """, arguments: [limit]).map { row in
                    Reject(location: SourceLocation(source: row[0], line: row[1], offset: row[2]), reason: row[3],
                           excerpt: row[4] ?? "", recorded: row[5])
                }
            }
        }
    }
}

extension FlowStorage {
    /// Stores the regions of a DERP map (a region imported again replaces what was known).
    ///
    /// - throws: ``StoreError``.
    public func importDERPRegions(_ regions: [DERPRegion], at time: Nanoseconds) throws {
        try write(durability: .normal) { writer in
            try writer.begin()
            for r in regions { try writer.importDERPRegion(r, at: time) }
            try writer.commit()
        }
    }

    /// Stores what a device list says; the import time counts as the time of the report.
    ///
    /// For example:
    /// ```swift
    /// try store.importNodes(try DeviceList.parse(bytes, source: "devices.json"), at: now)
    /// ```
    ///
    /// - throws: ``StoreError``.
    public func importNodes(_ nodes: [NodeInfo], at time: Nanoseconds) throws {
        try write(durability: .normal) { writer in
            try writer.begin()
            for node in nodes { try writer.importNode(node, at: time) }
            try writer.commit()
        }
    }
}
