package import FlowModel
package import FlowStore
import Foundation

/// `tailflow migrate` on the ClickHouse side: a SQLite store's content written into ClickHouse
/// (messages with the identity they had, so that the copy is idempotent: a second migrate adds
/// nothing), and a ClickHouse store read out in key order for the way back.
///
/// Node facts go in as the latest report wins: a node's facts, an address claim, a seen or
/// reported range are written only where they are newer (or wider) than what the store holds,
/// so that migrating twice writes them once.
extension ClickHouseStore {
    /// Runs `body` with the writer a migration into this store uses.
    package func migrationWriter<T>(_ body: (ClickHouseMigrationWriter) throws -> T) throws -> T {
        try verified()
        let writer = ClickHouseWriter(self)
        defer { if writer.isInBatch { writer.rollback() } }
        return try body(ClickHouseMigrationWriter(writer))
    }

    /// Reads the whole store for a migration out of it: the message count, the nodes, the
    /// messages in key order (start, reporter, digest) in batches of about `batch` messages,
    /// then the rejects. Duplicates not yet merged away by the Replacing engine are read once.
    package func readForMigration(batch: Int, count: (Int) throws -> Void, nodes: ([MigratedNode]) throws -> Void,
                                  messages: ([(FlowMessage, Int64)]) throws -> Void, extras: (MigratedExtras) throws -> Void) throws {
        try verified()
        try count(Int(try client.rows("SELECT count() FROM (SELECT DISTINCT start_ns, reporter, digest FROM flows)").first?.first ?? "0") ?? 0)
        try nodes(try migratedNodes())
        // Time ranges of about `batch` messages each (by the hour), read one at a time.
        var ranges: [(Int64, Int64)] = []
        var lo: Int64?, hi: Int64 = 0, inRange = 0
        let hour: Int64 = 3_600_000_000_000
        for f in try client.rows("""
            SELECT intDiv(start_ns, \(hour)) AS h, uniqExact(start_ns, reporter, digest) FROM flows GROUP BY h ORDER BY h
            """) where f.count == 2 {
            guard let h = Int64(f[0]), let n = Int(f[1]) else { continue }
            if lo == nil { lo = h * hour }
            hi = (h + 1) * hour
            inRange += n
            if inRange >= batch, let l = lo {
                ranges.append((l, hi))
                lo = nil
                inRange = 0
            }
        }
        if let l = lo { ranges.append((l, hi)) }
        for (from, to) in ranges {
            var out: [(FlowMessage, Int64)] = []
            var current: (start: Int64, reporter: String, digest: Int64)?
            var header = (end: Int64(0), logged: Int64?.none)
            var rows: [FlowRow] = []
            var lastRow: UInt32?
            func flush() {
                guard let c = current else { return }
                out.append((FlowMessage(nodeID: c.reporter, start: c.start, end: header.end, rows: rows,
                                        logged: header.logged.map { header.end + $0 * 1_000_000 }), c.digest))
                rows = []
                lastRow = nil
            }
            for f in try client.rows("""
                SELECT start_ns, end_ns, reporter, digest, row, kind, proto, src, src_port, dst, dst_port,
                       tx_packets, tx_bytes, rx_packets, rx_bytes, logged_ms
                FROM flows WHERE start_ns >= \(from) AND start_ns < \(to)
                ORDER BY start_ns, reporter, digest, row
                """) where f.count == 16 {
                guard let start = Int64(f[0]), let end = Int64(f[1]), let digest = Int64(f[3]), let row = UInt32(f[4]) else { continue }
                if current == nil || current!.start != start || current!.reporter != f[2] || current!.digest != digest {
                    flush()
                    current = (start, f[2], digest)
                    header = (end, f[15] == "\\N" ? nil : Int64(f[15]))
                } else if lastRow == row {
                    continue  // a duplicate row the Replacing engine has not merged yet
                }
                lastRow = row
                guard let kind = UInt8(f[5]), kind != 255, let flowKind = TrafficKind(rawValue: kind) else { continue }
                rows.append(FlowRow(kind: flowKind, proto: UInt8(f[6]) ?? 0, src: IPAddress(f[7]), srcPort: UInt16(f[8]) ?? 0,
                                    dst: IPAddress(f[9]), dstPort: UInt16(f[10]) ?? 0, txPackets: Int64(f[11]) ?? 0, txBytes: Int64(f[12]) ?? 0,
                                    rxPackets: Int64(f[13]) ?? 0, rxBytes: Int64(f[14]) ?? 0))
            }
            flush()
            try messages(out)
        }
        var more = MigratedExtras()
        more.rejects = try rejects(limit: Int(Int32.max))
        try read { snapshot in
            try snapshot.changes(from: .min, to: .max) { c in
                more.changes.append((c, c.identity))
                return true
            }
        }
        try extras(more)
    }

    /// Every node with its latest facts, address claims (the owner of each address and its
    /// claim's time), seen and reported ranges.
    func migratedNodes() throws -> [MigratedNode] {
        var nodes: [String: MigratedNode] = [:]
        func node(_ id: String) -> MigratedNode {
            nodes[id] ?? MigratedNode(stableID: id, info: nil, infoNs: nil, firstSeen: nil, lastSeen: nil, firstReport: nil, lastReport: nil, owned: [])
        }
        let v = "(info_ns, seq)"
        for f in try client.rows("""
            SELECT stable_id, max(info_ns), argMax(name, \(v)), argMax(os, \(v)), argMax(user, \(v)),
                   arrayStringConcat(argMax(tags, \(v)), '\\x01'), arrayStringConcat(argMax(addresses, \(v)), '\\x01'),
                   arrayStringConcat(argMaxIf(routes, \(v), has_routes = 1), '\\x01'), max(has_routes)
            FROM nodes GROUP BY stable_id
            """) where f.count == 9 {
            var n = node(f[0])
            n.infoNs = Int64(f[1])
            n.info = NodeInfo(nodeID: f[0], name: f[2].isEmpty ? nil : f[2], os: f[3].isEmpty ? nil : f[3], user: f[4].isEmpty ? nil : f[4],
                              tags: NodeDirectory.split(f[5]), addresses: NodeDirectory.split(f[6]).compactMap(IPAddress.init),
                              routes: f[8] == "1" ? NodeDirectory.split(f[7]) : nil)
            nodes[f[0]] = n
        }
        for f in try client.rows("SELECT stable_id, min(first_ns), max(last_ns) FROM node_seen GROUP BY stable_id") where f.count == 3 {
            var n = node(f[0])
            n.firstSeen = Int64(f[1])
            n.lastSeen = Int64(f[2])
            nodes[f[0]] = n
        }
        for f in try client.rows("SELECT stable_id, min(first_ns), max(last_ns) FROM reporters GROUP BY stable_id") where f.count == 3 {
            var n = node(f[0])
            n.firstReport = Int64(f[1])
            n.lastReport = Int64(f[2])
            nodes[f[0]] = n
        }
        for f in try client.rows("SELECT ip, argMax(node, (info_ns, seq)), max(info_ns) FROM node_addresses GROUP BY ip ORDER BY ip") where f.count == 3 {
            guard let ip = IPAddress(f[0]), let t = Int64(f[2]) else { continue }
            var n = node(f[1])
            n.owned.append(MigratedClaim(ip: ip, infoNs: t))
            nodes[f[1]] = n
        }
        return nodes.keys.sorted().compactMap { nodes[$0] }
    }
}

/// Writes a migration into a ClickHouse store: messages by their identity (the store's
/// writer skips those it holds), node facts where newer than stored, rejects.
package final class ClickHouseMigrationWriter {
    let writer: ClickHouseWriter
    var client: ClickHouseClient { writer.client }

    init(_ writer: ClickHouseWriter) {
        self.writer = writer
    }

    package func begin() throws { try writer.begin() }
    package func commit() throws { try writer.commit() }
    package var stats: WriteStats { writer.stats }
    /// Adds a message with the identity it had in the source (new or not is known at commit: ``stats``).
    package func add(_ message: FlowMessage, digest: Int64) throws { try writer.add(message, digest: digest) }
    package func addReject(_ reject: Reject) throws { try writer.addReject(reject) }
    /// Adds a configuration change (stored unless held already: ``stats``).
    package func addChange(_ change: ConfigChange) throws { _ = try writer.addChange(change) }

    /// Writes what the nodes say where it is newer or wider than what the store holds; returns
    /// how many nodes changed.
    package func merge(_ nodes: [MigratedNode]) throws -> Int {
        var info: [String: Int64] = [:]
        for f in try client.rows("SELECT stable_id, max(info_ns) FROM nodes GROUP BY stable_id") where f.count == 2 { info[f[0]] = Int64(f[1]) }
        var claims: [String: Int64] = [:]
        for f in try client.rows("SELECT ip, node, max(info_ns) FROM node_addresses GROUP BY ip, node") where f.count == 3 {
            claims[f[0] + "\u{1}" + f[1]] = Int64(f[2])
        }
        func ranges(_ table: String) throws -> [String: (Int64, Int64)] {
            var out: [String: (Int64, Int64)] = [:]
            for f in try client.rows("SELECT stable_id, min(first_ns), max(last_ns) FROM \(table) GROUP BY stable_id") where f.count == 3 {
                if let a = Int64(f[1]), let b = Int64(f[2]) { out[f[0]] = (a, b) }
            }
            return out
        }
        let seen = try ranges("node_seen"), reported = try ranges("reporters")
        var infoRows = RowBinary(), claimRows = RowBinary(), seenRows = RowBinary(), reporterRows = RowBinary()
        var counts = (info: 0, claims: 0, seen: 0, reporters: 0)
        var changed: Set<String> = []
        let seq = UInt64(Date().timeIntervalSince1970 * 1e6)
        for n in nodes {
            if let i = n.info, let t = n.infoNs, info[n.stableID].map({ $0 < t }) ?? true {
                infoRows.nodeInfo(n.stableID, i, at: t, seq: seq)
                counts.info += 1
                changed.insert(n.stableID)
            }
            for c in n.owned where claims[c.ip.description + "\u{1}" + n.stableID].map({ $0 < c.infoNs }) ?? true {
                claimRows.string(c.ip.description)
                claimRows.string(n.stableID)
                claimRows.i64(c.infoNs)
                claimRows.u64(seq)
                counts.claims += 1
                changed.insert(n.stableID)
            }
            func widens(_ have: (Int64, Int64)?, _ first: Int64?, _ last: Int64?) -> (Int64, Int64)? {
                guard let first, let last else { return nil }
                guard let have else { return (first, last) }
                return first < have.0 || last > have.1 ? (min(first, have.0), max(last, have.1)) : nil
            }
            if let (a, b) = widens(seen[n.stableID], n.firstSeen, n.lastSeen) {
                seenRows.string(n.stableID)
                seenRows.i64(a)
                seenRows.i64(b)
                counts.seen += 1
                changed.insert(n.stableID)
            }
            if let (a, b) = widens(reported[n.stableID], n.firstReport, n.lastReport) {
                reporterRows.string(n.stableID)
                reporterRows.i64(a)
                reporterRows.i64(b)
                counts.reporters += 1
                changed.insert(n.stableID)
            }
        }
        if counts.info > 0 {
            try client.run("INSERT INTO nodes (stable_id, info_ns, seq, name, os, user, tags, addresses, has_routes, routes) FORMAT RowBinary",
                           data: infoRows.bytes)
        }
        if counts.claims > 0 { try client.run("INSERT INTO node_addresses (ip, node, info_ns, seq) FORMAT RowBinary", data: claimRows.bytes) }
        if counts.seen > 0 { try client.run("INSERT INTO node_seen (stable_id, first_ns, last_ns) FORMAT RowBinary", data: seenRows.bytes) }
        if counts.reporters > 0 { try client.run("INSERT INTO reporters (stable_id, first_ns, last_ns) FORMAT RowBinary", data: reporterRows.bytes) }
        writer.known = nil
        return changed.count
    }
}
