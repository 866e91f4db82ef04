import FlowStore
import Foundation
public import GRDB

/// Everything a store holds that ingest decides, as sorted text lines that do not depend on
/// internal ids: two stores with equal lines hold the same content. Shared by the test targets
/// that compare a store filled one way (serve, pull) with one filled by `tailflow ingest`.
public enum StoreDump {
    /// - parameter importTimes: include when node facts were learned (`info_ns`); a device-list
    ///   sync stamps them with the wall clock, so tests of syncs leave them out.
    public static func lines(_ path: String, importTimes: Bool = true) throws -> [String] {
        let db = try DatabaseQueue(path: path, configuration: readOnly)
        return try db.read { db in
            var lines: [String] = []
            let ips = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, ip FROM addresses").map { ($0[0] as Int64, $0[1] as String) })
            func ip(_ id: Int64) -> String { id == 0 ? "-" : ips[id] ?? "?\(id)" }
            let stable = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, stable_id FROM nodes").map { ($0[0] as Int64, $0[1] as String) })
            for m in try FlowStore.storedMessages(db) {
                let rows = try RowCodec.decode(m.rows).map { r in
                    "\(r.kind) \(r.proto) \(ip(r.src)):\(r.srcPort) \(ip(r.dst)):\(r.dstPort) \(r.txPackets) \(r.txBytes) \(r.rxPackets) \(r.rxBytes)"
                }
                lines.append("message \(m.start) \(stable[m.reporter] ?? "?") \(m.digest) \(m.duration) \(m.rowCount) [\(rows.joined(separator: "; "))]")
            }
            // A bucket's sums are the sum of its parts (schema/003_rollup_parts.sql). The levels of a
            // day and more hold the hours after their mark once a writer folds them in
            // (schema/012_rollup_marks.sql): they are dumped as they will be, so that a store whose
            // longer levels lag equals one that wrote them at once.
            let marks = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT level, complete_to_ns FROM rollup_marks")
                .map { ($0[0] as Int64, $0[1] as Int64) })
            var rollups: [String: [Int64]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT r.step, r.bucket, n.stable_id, r.sums FROM rollups r JOIN nodes n ON n.id = r.reporter") {
                let step: Int64 = row[0], bucket: Int64 = row[1]
                var steps = [step]
                if step == 3600 {
                    for (level, mark) in marks where bucket * 1_000_000_000 >= mark { steps.append(level) }
                }
                for e in try RollupCodec.decode(Array(row[3] as Data)) {
                    for s in steps {
                        let b = bucket - ((bucket % s) + s) % s
                        let key = "rollup \(s) \(b) \(row[2] as String) \(e.kind) \(ip(e.src)) \(ip(e.dst)) \(e.proto) \(e.port)"
                        let c = e.counters
                        let sum = rollups[key, default: [0, 0, 0, 0]]
                        rollups[key] = [sum[0] + c.txPackets, sum[1] + c.txBytes, sum[2] + c.rxPackets, sum[3] + c.rxBytes]
                    }
                }
            }
            for (key, c) in rollups { lines.append("\(key) \(c[0]) \(c[1]) \(c[2]) \(c[3])") }
            let nodeColumns = importTimes
                ? "stable_id, name, os, user, tags, addresses, info_ns, first_seen_ns, last_seen_ns, first_report_ns, last_report_ns"
                : "stable_id, name, os, user, tags, addresses, first_seen_ns, last_seen_ns, first_report_ns, last_report_ns"
            for row in try Row.fetchAll(db, sql: "SELECT \(nodeColumns) FROM nodes") {
                lines.append("node " + (0..<row.count).map { "\(row[$0] as DatabaseValue)" }.joined(separator: " "))
            }
            for row in try Row.fetchAll(db, sql: """
                SELECT a.ip, n.stable_id\(importTimes ? ", na.info_ns" : "") FROM node_addresses na
                JOIN addresses a ON a.id = na.address JOIN nodes n ON n.id = na.node
                """) {
                lines.append("owner " + (0..<row.count).map { "\(row[$0] as DatabaseValue)" }.joined(separator: " "))
            }
            for row in try Row.fetchAll(db, sql: "SELECT source, line, offset, reason, excerpt FROM rejects") {
                lines.append("reject " + (0..<5).map { "\(row[$0] as DatabaseValue)" }.joined(separator: " "))
            }
            return lines.sorted()
        }
    }

    /// One integer from a query, read-only.
    /// Messages stored with a window starting in `[from, to)`.
    public static func messageCount(_ path: String, from: Int64 = .min, to: Int64 = .max) throws -> Int {
        try DatabaseQueue(path: path, configuration: readOnly).read { try FlowStore.storedMessageCount($0, from: from, to: to) }
    }

    public static func count(_ path: String, _ sql: String) throws -> Int {
        try DatabaseQueue(path: path, configuration: readOnly).read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }

    public static var readOnly: Configuration {
        var c = Configuration()
        c.readonly = true
        c.busyMode = .timeout(10)
        return c
    }
}
