package import FlowModel
import Foundation
import GRDB

/// A node as `tailflow migrate` carries it between backends: its latest facts and when they were
/// reported, when it was seen and when it reported, and the addresses it owns (each with the
/// time of the claim), so that the target resolves addresses and counts edges as the source does.
package struct MigratedNode: Sendable {
    package var stableID: String
    package var info: NodeInfo?
    package var infoNs: Int64?
    package var firstSeen: Int64?
    package var lastSeen: Int64?
    package var firstReport: Int64?
    package var lastReport: Int64?
    package var owned: [MigratedClaim]

    package init(stableID: String, info: NodeInfo?, infoNs: Int64?, firstSeen: Int64?, lastSeen: Int64?,
                 firstReport: Int64?, lastReport: Int64?, owned: [MigratedClaim]) {
        self.stableID = stableID
        self.info = info
        self.infoNs = infoNs
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.firstReport = firstReport
        self.lastReport = lastReport
        self.owned = owned
    }
}

/// A node's claim of an address, with the time of the report that made it.
package struct MigratedClaim: Sendable, Equatable {
    package var ip: IPAddress
    package var infoNs: Int64

    package init(ip: IPAddress, infoNs: Int64) {
        self.ip = ip
        self.infoNs = infoNs
    }
}

/// What one store holds besides its messages, as `tailflow migrate` reads it.
package struct MigratedExtras: Sendable {
    package var rejects: [Reject] = []
    /// Configuration changes with their stored identity.
    package var changes: [(ConfigChange, Int64)] = []
    package var derpRegions = 0
    package var checkpoints = 0

    package init() {}
}

/// The SQLite store's writer for `tailflow migrate` into it: messages with the identity they
/// had, nodes merged as the latest report (``FlowWriter/merge(_:)``), rejects and changes by
/// identity; rollups are built by the normal write path.
package final class MigrationWriter {
    let writer: FlowWriter

    init(_ writer: FlowWriter) {
        self.writer = writer
    }

    package func begin() throws { try writer.begin() }
    package func commit() throws { try writer.commit() }
    /// Whether the message was new to the store.
    package func add(_ message: FlowMessage, digest: Int64) throws -> Bool { try writer.add(message, digest: digest) }
    package func addReject(_ reject: Reject) throws { try writer.addReject(reject) }
    package func addChange(_ change: ConfigChange, identity: Int64) throws -> Bool { try writer.addChange(change, identity: identity) }
    package var stats: WriteStats { writer.stats }

    package func merge(_ n: MigratedNode) throws {
        try writer.merge(CopiedNode(stableID: n.stableID, info: n.info, infoNs: n.infoNs, firstSeen: n.firstSeen, lastSeen: n.lastSeen,
                                    firstReport: n.firstReport, lastReport: n.lastReport, owned: n.owned.map { ($0.ip, $0.infoNs) }))
    }
}

extension FlowStore {
    /// Runs `body` with the store's writer, for `tailflow migrate` into this store.
    package func migrationWriter<T>(_ body: (MigrationWriter) throws -> T) throws -> T {
        try withWriter { try body(MigrationWriter($0)) }
    }

    /// Reads the whole store in one snapshot for `tailflow migrate`: the message count (for
    /// progress), the nodes, the messages in key order in batches (each with its stored
    /// identity digest), then the rejects and changes.
    ///
    /// - throws: ``StoreError``, or what the callbacks throw.
    package func readForMigration(batch: Int, count: (Int) throws -> Void, nodes body: ([MigratedNode]) throws -> Void,
                                  messages: ([(FlowMessage, Int64)]) throws -> Void, extras: (MigratedExtras) throws -> Void) throws {
        try sqlite {
            try pool.read { db in
                try count(try Int.fetchOne(db, sql: "SELECT coalesce(sum(messages), 0) FROM message_groups") ?? 0)
                var nodes: [Int64: MigratedNode] = [:]
                for r in try Row.fetchAll(db, sql: """
                    SELECT id, stable_id, name, os, user, tags, addresses, info_ns, first_seen_ns, last_seen_ns, first_report_ns, last_report_ns, routes
                    FROM nodes
                    """) {
                    let infoNs: Int64? = r[7]
                    let routesText: String? = r[12]
                    let info = infoNs == nil ? nil : NodeInfo(nodeID: r[1], name: r[2], os: r[3], user: r[4], tags: Self.decodeArray(r[5]),
                                                              addresses: Self.decodeArray(r[6]).compactMap(IPAddress.init),
                                                              routes: routesText.map(Self.decodeArray))
                    nodes[r[0]] = MigratedNode(stableID: r[1], info: info, infoNs: infoNs, firstSeen: r[8], lastSeen: r[9],
                                               firstReport: r[10], lastReport: r[11], owned: [])
                }
                for r in try Row.fetchAll(db, sql: "SELECT na.node, na.info_ns, a.ip FROM node_addresses na JOIN addresses a ON a.id = na.address") {
                    let node: Int64 = r[0]
                    if let ip = IPAddress(r[2] as String) { nodes[node]?.owned.append(MigratedClaim(ip: ip, infoNs: r[1])) }
                }
                try body(nodes.keys.sorted().compactMap { nodes[$0] })

                var addresses: [Int64: IPAddress] = [:]
                for r in try Row.fetchAll(db, sql: "SELECT id, ip FROM addresses") {
                    if let a = IPAddress(r[1] as String) { addresses[r[0]] = a }
                }
                func ip(_ id: Int64) throws -> IPAddress? {
                    guard id != 0 else { return nil }
                    guard let a = addresses[id] else { throw StoreError(.corrupt, "address id \(id) of a stored flow row is missing or not an address") }
                    return a
                }
                var pending: [(FlowMessage, Int64)] = []
                var rows: [StoredRow] = []
                try SQLiteSnapshot(db).groupedMessages(from: .min, to: .max, reporter: nil, descending: false, reporters: { _ in true }) { h, info, packed in
                    let start = h.start, end = h.end, reporterID = h.reporter
                    guard let reporter = nodes[reporterID] else {
                        throw StoreError(.corrupt, "a stored message names reporter id \(reporterID), which is no node")
                    }
                    rows.removeAll(keepingCapacity: true)
                    try RowCodec.decode(packed) { rows.append($0) }
                    var flowRows: [FlowRow] = []
                    flowRows.reserveCapacity(rows.count)
                    for r in rows {
                        flowRows.append(FlowRow(kind: r.kind, proto: r.proto, src: try ip(r.src), srcPort: r.srcPort, dst: try ip(r.dst),
                                                dstPort: r.dstPort, txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets,
                                                rxBytes: r.rxBytes))
                    }
                    pending.append((FlowMessage(nodeID: reporter.stableID, start: start, end: end, rows: flowRows,
                                                logged: info.loggedMs.map { end + $0 * 1_000_000 }), h.digest))
                    if pending.count >= batch {
                        try messages(pending)
                        pending.removeAll(keepingCapacity: true)
                    }
                    return true
                }
                if !pending.isEmpty { try messages(pending) }

                var more = MigratedExtras()
                for r in try Row.fetchAll(db, sql: "SELECT source, line, offset, reason, excerpt, recorded_ns FROM rejects ORDER BY id") {
                    more.rejects.append(Reject(location: SourceLocation(source: r[0], line: r[1], offset: r[2]), reason: r[3],
                                               excerpt: r[4] ?? "", recorded: r[5]))
                }
                for r in try Row.fetchAll(db, sql: """
                    SELECT time_ns, identity, event_group, origin, actor_id, actor_type, actor_login, actor_name, target_id, target_name,
                           target_type, property, action, old, new, details, error, record
                    FROM changes ORDER BY time_ns, identity
                    """) {
                    more.changes.append((ConfigChange(time: r[0], eventGroupID: r[2], origin: r[3], actorID: r[4], actorType: r[5],
                                                      actorLogin: r[6], actorName: r[7], targetID: r[8], targetName: r[9], targetType: r[10],
                                                      property: r[11], action: r[12], old: r[13], new: r[14], details: r[15], error: r[16],
                                                      record: r[17]), r[1]))
                }
                more.derpRegions = try Int.fetchOne(db, sql: "SELECT count(*) FROM derp_regions") ?? 0
                more.checkpoints = (try Int.fetchOne(db, sql: "SELECT count(*) FROM pull_checkpoints") ?? 0) + (try Int.fetchOne(db, sql: "SELECT count(*) FROM log_checkpoints") ?? 0)
                try extras(more)
            }
        }
    }
}
