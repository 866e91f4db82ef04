package import FlowModel
import FlowSchema
import Crypto
import GRDB
import Foundation

/// The manifest of an incident export (`tailflow export`): what was exported, from where, and
/// a SHA-256 of the content, so that a case file can be checked before it is trusted.
package struct CaseManifest: Sendable, Equatable, Codable {
    /// The exported window `[from, to)`, ns since the epoch.
    package var from: Nanoseconds
    package var to: Nanoseconds
    /// The `--endpoint` argument as given, and what it resolved to (a stable node ID, an address or `*`).
    package var endpoint: String?
    package var endpointKey: String?
    /// The `--where` expression (canonical form).
    package var filter: String?
    package var messages: Int64
    package var flowRows: Int64
    package var nodes: Int64
    /// Nodes marked as reporters in the case (their own edges count from them, SPEC §3).
    package var reporters: Int64
    package var rejects: Int64
    package var changes: Int64
    package var created: Nanoseconds
    package var tailflowVersion: String
    /// The path of the store it was exported from.
    package var source: String
    /// How ``sha256`` was computed (see ``FlowStore/contentHash()``).
    package var hashScheme: String
    package var sha256: String
    /// When a case with this manifest was imported (nil: the file's own export).
    package var imported: Nanoseconds?

    package init(from: Nanoseconds, to: Nanoseconds, endpoint: String? = nil, endpointKey: String? = nil, filter: String? = nil,
                messages: Int64 = 0, flowRows: Int64 = 0, nodes: Int64 = 0, reporters: Int64 = 0, rejects: Int64 = 0,
                changes: Int64 = 0, created: Nanoseconds = 0, tailflowVersion: String = FlowStore.tailflowVersion,
                source: String = "", hashScheme: String = FlowStore.hashScheme, sha256: String = "", imported: Nanoseconds? = nil) {
        self.from = from
        self.to = to
        self.endpoint = endpoint
        self.endpointKey = endpointKey
        self.filter = filter
        self.messages = messages
        self.flowRows = flowRows
        self.nodes = nodes
        self.reporters = reporters
        self.rejects = rejects
        self.changes = changes
        self.created = created
        self.tailflowVersion = tailflowVersion
        self.source = source
        self.hashScheme = hashScheme
        self.sha256 = sha256
        self.imported = imported
    }
}

/// Which messages of the window an export takes; made by the query layer inside the
/// export's read of the source (so that names resolve as the questions resolve them).
package struct CaseSelection {
    /// Whether a message (its header and its flow rows, address ids of the source) goes into
    /// the case; nil: every message of the window.
    package var includes: ((MessageHeader, [StoredRow]) -> Bool)?
    /// Nodes the case must name even without a message that names them (the endpoint
    /// asked for, nodes the filter names): store ids of the source.
    package var nodes: [Int64]
    /// What `--endpoint` resolved to, for the manifest.
    package var endpointKey: String?

    package init(includes: ((MessageHeader, [StoredRow]) -> Bool)?, nodes: [Int64] = [], endpointKey: String? = nil) {
        self.includes = includes
        self.nodes = nodes
        self.endpointKey = endpointKey
    }
}

/// How far a long copy got, for a progress line.
package struct CopyProgress: Sendable {
    package var messagesScanned: Int
    package var messagesCopied: Int
    /// 0–1, by time through the window.
    package var fraction: Double
}

/// What `tailflow import` merged from one case.
package struct ImportReport: Sendable, Equatable, Codable {
    package var source: String
    /// Messages new to the store, and those it held already (by message identity).
    package var messages: Int
    package var duplicates: Int
    package var flowRows: Int
    package var nodes: Int
    package var rejects: Int
    package var changes: Int
    package var duplicateChanges: Int
    /// The case's manifest, when it has one (checked before anything is merged).
    package var manifest: CaseManifest?
}

/// What a copy from one store into another did.
struct CopyCounts {
    var messages = 0
    var flowRows = 0
    var nodes = 0
    var reporters = 0
    var rejects = 0
    var changes = 0
}

extension FlowStore {
    /// The version a case's manifest records.
    package static var tailflowVersion: String { "tailflow 0.8 (schema \(Schema.migrations.last?.name ?? "?"))" }

    /// The canonical order ``contentHash()`` reads a store in; a manifest names it.
    package static let hashScheme = "tailflow-case-1"

    /// Messages per transaction while copying (bounds memory; the export's file is its own).
    static let copyBatch = 4096

    /// Writes an incident export: a new, self-contained store holding the window's messages
    /// (those `select` takes), the nodes they name, the rejects and configuration changes of the
    /// window, rollups rebuilt by the normal write path, and a manifest with a SHA-256 of it all.
    ///
    /// For example:
    /// ```swift
    /// let manifest = try store.exportCase(to: "case.db", from: from, to: to) { _ in nil }
    /// ```
    ///
    /// The source is read in one snapshot (a running server may keep writing). The case is
    /// written beside `target` and moved into place when complete.
    ///
    /// - parameter select: Builds the selection inside the source's read (nil: every message).
    /// - throws: ``StoreError`` when `target` exists (without `replace`), when the window's raw
    ///   rows were pruned, or on a failure of either store.
    package func exportCase(to target: String, from: Nanoseconds, to: Nanoseconds, endpoint: String? = nil, filter: String? = nil,
                           replace: Bool = false, progress: ((CopyProgress) -> Void)? = nil,
                           select: (any StoreSnapshot) throws -> CaseSelection?) throws -> CaseManifest {
        let fm = FileManager.default
        if fm.fileExists(atPath: target), !replace {
            throw StoreError(.sqlite, "\(target) exists already; choose another name or remove it (nothing was written)", path: path)
        }
        let temporary = target + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        func removeTemporary() {
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: temporary + suffix) }
        }
        removeTemporary()
        var manifest = CaseManifest(from: from, to: to, endpoint: endpoint, filter: filter, source: path)
        do {
            let caseStore = try FlowStore(path: temporary)
            let counts: CopyCounts = try sqlite {
                try pool.read { db in
                    let snapshot = SQLiteSnapshot(db)
                    let kept = try snapshot.levelCoverage().earliest(0)
                    if from < kept {
                        throw StoreError(.sqlite, "cannot export from \(Timestamp.formatRFC3339(from)): raw flow rows before "
                                         + "\(Timestamp.formatRFC3339(kept)) were pruned; the earliest time available is "
                                         + Timestamp.formatRFC3339(kept))
                    }
                    let selection = try select(snapshot)
                    manifest.endpointKey = selection?.endpointKey
                    return try caseStore.withWriter { writer in
                        try Self.copy(from: db, into: writer, window: (from, to), selection: selection, keepIDs: true, progress: progress)
                    }
                }
            }
            manifest.messages = Int64(counts.messages)
            manifest.flowRows = Int64(counts.flowRows)
            manifest.nodes = Int64(counts.nodes)
            manifest.reporters = Int64(counts.reporters)
            manifest.rejects = Int64(counts.rejects)
            manifest.changes = Int64(counts.changes)
            manifest.created = Int64(Date().timeIntervalSince1970 * 1e9)
            manifest.sha256 = try caseStore.contentHash()
            try caseStore.sqlite {
                try caseStore.pool.write { db in try Self.insert(manifest, into: db) }
                try caseStore.pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
                try caseStore.pool.close()
            }
        } catch {
            removeTemporary()
            throw error
        }
        for suffix in ["-wal", "-shm"] { try? fm.removeItem(atPath: temporary + suffix) }
        if replace {
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: target + suffix) }
        }
        do {
            try fm.moveItem(atPath: temporary, toPath: target)
        } catch {
            removeTemporary()
            throw StoreError(.sqlite, "cannot move the case into place at \(target): \(error.localizedDescription)", path: path)
        }
        return manifest
    }

    /// Merges another store (an export, or any tailflow store) into this one, idempotently:
    /// messages by their identity (as ingest stores them), node facts as the latest report,
    /// rejects and configuration changes by their identity; rollups through the normal write path.
    ///
    /// A case whose content does not match its manifest is refused before anything is merged.
    ///
    /// - parameter batch: Messages per transaction (a running server waits at most one batch).
    /// - throws: ``StoreError`` with code `.corrupt` for a case that fails its manifest.
    package func importCase(_ source: FlowStore, batch: Int = 1024, progress: ((CopyProgress) -> Void)? = nil) throws -> ImportReport {
        let manifests = try source.caseManifests()
        let own = manifests.first { $0.imported == nil }
        if let own {
            let hash = try source.contentHash()
            guard hash == own.sha256 else {
                throw StoreError(.corrupt, "its content does not match its manifest (SHA-256 \(hash), manifest says \(own.sha256)): "
                                 + "it was changed after export; nothing was imported", path: source.path)
            }
        }
        var report = ImportReport(source: source.path, messages: 0, duplicates: 0, flowRows: 0, nodes: 0, rejects: 0, changes: 0,
                                  duplicateChanges: 0, manifest: own)
        try source.sqlite {
            try source.pool.read { db in
                try sqlite {
                    try withWriter { writer in
                        let counts = try Self.copy(from: db, into: writer, window: nil, selection: nil, batch: batch, progress: progress)
                        report.messages = writer.stats.messages
                        report.duplicates = writer.stats.duplicates
                        report.flowRows = writer.stats.rows
                        report.nodes = counts.nodes
                        report.rejects = counts.rejects
                        report.changes = writer.stats.changes
                        report.duplicateChanges = writer.stats.duplicateChanges
                    }
                }
            }
        }
        // Provenance: the manifests of what was merged (once per case).
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        try sqlite {
            try pool.write { db in
                for var m in manifests {
                    let known = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM manifest WHERE sha256 = ? AND from_ns = ? AND to_ns = ?)",
                                                  arguments: [m.sha256, m.from, m.to]) ?? false
                    if known { continue }
                    if m.imported == nil { m.imported = now }
                    try Self.insert(m, into: db)
                }
            }
        }
        return report
    }

    /// The manifests this store holds: a case's own (``CaseManifest/imported`` nil) and those of
    /// the cases imported into it, oldest first.
    ///
    /// - throws: ``StoreError``.
    package func caseManifests() throws -> [CaseManifest] {
        try sqlite {
            try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT from_ns, to_ns, endpoint, endpoint_key, filter, messages, flow_rows, nodes, reporters, rejects, changes,
                           created_ns, tailflow_version, source, hash_scheme, sha256, imported_ns
                    FROM manifest ORDER BY id
                    """).map { r in
                    CaseManifest(from: r[0], to: r[1], endpoint: r[2], endpointKey: r[3], filter: r[4], messages: r[5], flowRows: r[6],
                                 nodes: r[7], reporters: r[8], rejects: r[9], changes: r[10], created: r[11], tailflowVersion: r[12],
                                 source: r[13], hashScheme: r[14], sha256: r[15], imported: r[16])
                }
            }
        }
    }

    static func insert(_ m: CaseManifest, into db: Database) throws {
        try db.execute(sql: """
            INSERT INTO manifest (from_ns, to_ns, endpoint, endpoint_key, filter, messages, flow_rows, nodes, reporters, rejects, changes,
                                  created_ns, tailflow_version, source, hash_scheme, sha256, imported_ns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [m.from, m.to, m.endpoint, m.endpointKey, m.filter, m.messages, m.flowRows, m.nodes, m.reporters, m.rejects,
                             m.changes, m.created, m.tailflowVersion, m.source, m.hashScheme, m.sha256, m.imported])
    }

    // MARK: Copying

    /// Copies the messages of `window` (all when nil) that `selection` takes from the store
    /// read by `db` through `writer`, with the nodes they name, and the rejects, changes and
    /// DERP regions that go with them. Messages go through ``FlowWriter/add(_:digest:)``, so
    /// the target's rollups are built as ingest builds them, and identity is the source's.
    /// With `keepIDs` (a new, empty target) nodes keep the source's ids.
    static func copy(from db: Database, into writer: FlowWriter, window: (Nanoseconds, Nanoseconds)?, selection: CaseSelection?,
                     batch: Int = copyBatch, keepIDs: Bool = false, progress: ((CopyProgress) -> Void)?) throws -> CopyCounts {
        var counts = CopyCounts()
        // The source's nodes and address ownership: small tables, read once.
        struct SourceNode {
            var row: CopiedNode
            var routes: Bool
        }
        var nodes: [Int64: SourceNode] = [:]
        for r in try Row.fetchAll(db, sql: """
            SELECT id, stable_id, name, os, user, tags, addresses, info_ns, first_seen_ns, last_seen_ns, first_report_ns, last_report_ns, routes
            FROM nodes
            """) {
            let infoNs: Int64? = r[7]
            let routesText: String? = r[12]
            let info = infoNs == nil ? nil : NodeInfo(nodeID: r[1], name: r[2], os: r[3], user: r[4], tags: decodeArray(r[5]),
                                                      addresses: decodeArray(r[6]).compactMap(IPAddress.init),
                                                      routes: routesText.map(decodeArray))
            nodes[r[0]] = SourceNode(row: CopiedNode(stableID: r[1], info: info, infoNs: infoNs, firstSeen: r[8], lastSeen: r[9],
                                                     firstReport: r[10], lastReport: r[11], owned: []),
                                     routes: !decodeArray(routesText).isEmpty)
        }
        var owner: [Int64: Int64] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT na.address, na.node, na.info_ns, a.ip FROM node_addresses na JOIN addresses a ON a.id = na.address") {
            let address: Int64 = r[0], node: Int64 = r[1]
            owner[address] = node
            if let ip = IPAddress(r[3] as String) { nodes[node]?.row.owned.append((ip, r[2])) }
        }
        var addresses: [Int64: IPAddress] = [:]
        let addressText = try db.makeStatement(sql: "SELECT ip FROM addresses WHERE id = ?")
        func ip(_ id: Int64) throws -> IPAddress? {
            guard id != 0 else { return nil }
            if let a = addresses[id] { return a }
            guard let text = try String.fetchOne(addressText, arguments: [id]), let a = IPAddress(text) else {
                throw StoreError(.corrupt, "address id \(id) of a stored flow row is missing or not an address")
            }
            addresses[id] = a
            return a
        }

        // Messages, in key order, in batches.
        var named: Set<Int64> = Set(selection?.nodes ?? [])
        var usedAddresses: Set<Int64> = []
        let includes = selection?.includes
        let (from, to) = window ?? (.min, .max)
        var scanned = 0, inBatch = 0
        var rows: [StoredRow] = []
        var lastProgress = ContinuousClock.now
        try writer.begin()
        try SQLiteSnapshot(db).groupedMessages(from: from, to: to, reporter: nil, descending: false, reporters: { _ in true }) { stored, info, packed in
            scanned += 1
            let header = MessageHeader(start: stored.start, end: stored.end, reporter: stored.reporter, digest: stored.digest)
            rows.removeAll(keepingCapacity: true)
            try RowCodec.decode(packed) { rows.append($0) }
            if let includes, !includes(header, rows) { return true }
            guard let reporter = nodes[header.reporter] else {
                throw StoreError(.corrupt, "a stored message names reporter id \(header.reporter), which is no node")
            }
            if keepIDs { try writer.reserveNode(id: header.reporter, stableID: reporter.row.stableID) }
            var flowRows: [FlowRow] = []
            flowRows.reserveCapacity(rows.count)
            for r in rows {
                flowRows.append(FlowRow(kind: r.kind, proto: r.proto, src: try ip(r.src), srcPort: r.srcPort, dst: try ip(r.dst),
                                        dstPort: r.dstPort, txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
                usedAddresses.insert(r.src)
                usedAddresses.insert(r.dst)
            }
            let message = FlowMessage(nodeID: reporter.row.stableID, start: header.start, end: header.end, rows: flowRows,
                                      logged: info.loggedMs.map { header.end + $0 * 1_000_000 })
            if try writer.add(message, digest: header.digest) {
                counts.messages += 1
                counts.flowRows += rows.count
            }
            named.insert(header.reporter)
            inBatch += 1
            if inBatch >= batch {
                try writer.commit()
                try writer.begin()
                inBatch = 0
            }
            if let progress, ContinuousClock.now - lastProgress > .milliseconds(500) {
                lastProgress = ContinuousClock.now
                let fraction = window == nil || to <= from ? 0 : Double(header.start - from) / Double(to - from)
                progress(CopyProgress(messagesScanned: scanned, messagesCopied: counts.messages, fraction: min(1, max(0, fraction))))
            }
            return true
        }

        // The nodes they name: reporters, owners of their addresses, the routers that name subnet
        // hosts, and what the selection asks for; every node when copying a whole store.
        for a in usedAddresses { if let n = owner[a] { named.insert(n) } }
        for (id, n) in nodes where n.routes || window == nil { named.insert(id) }
        var stableIDs: Set<String> = []
        for id in named.sorted() {
            guard let n = nodes[id] else { continue }
            if keepIDs { try writer.reserveNode(id: id, stableID: n.row.stableID) }
            try writer.merge(n.row)
            stableIDs.insert(n.row.stableID)
            counts.nodes += 1
            if n.row.lastReport != nil { counts.reporters += 1 }
        }

        // Rejects: those recorded in the window, and those naming a node of the copy (a
        // reject holds no flow time; coverage counts them per node).
        for r in try Row.fetchAll(db, sql: "SELECT source, line, offset, reason, excerpt, recorded_ns FROM rejects ORDER BY id") {
            let reject = Reject(location: SourceLocation(source: r[0], line: r[1], offset: r[2]), reason: r[3], excerpt: r[4] ?? "",
                                recorded: r[5])
            let recorded = reject.recorded ?? .min
            guard window == nil || (from <= recorded && recorded < to) || reject.namedNodeID.map(stableIDs.contains) == true else { continue }
            try writer.addReject(reject)
            counts.rejects += 1
        }

        // Configuration changes of the window (tailnet-wide facts: every export carries them).
        for r in try Row.fetchAll(db, sql: """
            SELECT time_ns, identity, event_group, origin, actor_id, actor_type, actor_login, actor_name, target_id, target_name,
                   target_type, property, action, old, new, details, error, record
            FROM changes WHERE time_ns >= ? AND time_ns < ? ORDER BY time_ns, identity
            """, arguments: [from, to]) {
            let c = ConfigChange(time: r[0], eventGroupID: r[2], origin: r[3], actorID: r[4], actorType: r[5], actorLogin: r[6],
                                 actorName: r[7], targetID: r[8], targetName: r[9], targetType: r[10], property: r[11], action: r[12],
                                 old: r[13], new: r[14], details: r[15], error: r[16], record: r[17])
            if try writer.addChange(c, identity: r[1]) { counts.changes += 1 }
        }

        // DERP regions: a handful of labels for physical rows.
        for r in try Row.fetchAll(db, sql: "SELECT region_id, code, name, imported_ns FROM derp_regions ORDER BY region_id") {
            try writer.importDERPRegion(DERPRegion(id: r[0], code: r[1], name: r[2]), at: r[3])
        }
        try writer.commit()
        progress?(CopyProgress(messagesScanned: scanned, messagesCopied: counts.messages, fraction: 1))
        return counts
    }

    // MARK: Content hash

    /// The tables ``contentHash()`` reads, each in a fixed column list and order.
    static let hashedTables: [(name: String, sql: String)] = [
        ("addresses", "SELECT id, ip FROM addresses ORDER BY id"),
        ("nodes", """
            SELECT id, stable_id, name, os, user, tags, addresses, info_ns, first_seen_ns, last_seen_ns, first_report_ns, last_report_ns, routes
            FROM nodes ORDER BY id
            """),
        ("node_addresses", "SELECT address, node, info_ns FROM node_addresses ORDER BY address"),
        // Read from `message_groups` (schema/009) as the rows of the `messages` table it replaced:
        // start_ns, reporter, digest, duration_ns, row_count, logged_ms, rows, in that key order.
        ("messages", ""),
        ("rollups", "SELECT step, reporter, bucket, part, entries, sums FROM rollups ORDER BY step, reporter, bucket, part"),
        ("rejects", "SELECT source, line, offset, reason, excerpt, recorded_ns FROM rejects ORDER BY source, offset, reason"),
        ("changes", """
            SELECT time_ns, identity, event_group, origin, actor_id, actor_type, actor_login, actor_name, target_id, target_name,
                   target_type, property, action, old, new, details, error, record
            FROM changes ORDER BY time_ns, identity
            """),
        ("derp_regions", "SELECT region_id, code, name, imported_ns FROM derp_regions ORDER BY region_id"),
        ("retention", "SELECT level, kept_from_ns, policy, pruned_ns FROM retention ORDER BY level"),
        // Last, and only when it holds a row (schema/012): a store whose longer levels are
        // complete hashes as before that table existed.
        ("rollup_marks", "SELECT level, complete_to_ns FROM rollup_marks ORDER BY level"),
    ]

    /// The tables of ``hashedTables`` that are hashed only when they hold a row.
    static let hashedWhenNotEmpty: Set<String> = ["rollup_marks"]

    /// The hex SHA-256 of the store's content, scheme `tailflow-case-1`: for each table of
    /// ``hashedTables`` in that order, a table marker (0x10, the name's length as one byte, the
    /// name), then per row (in the listed order) 0x11 and each column: 0x00 for NULL, 0x01 and 8
    /// bytes big-endian for an integer, 0x02 and the 8 bytes of a real, 0x03 (text) or 0x04
    /// (blob) with an 8-byte big-endian length and the bytes. Everything but the manifest is
    /// covered, so a changed row, rollup, node or address changes the hash, and so does a mark of
    /// the longer rollup levels (it says which of their buckets questions read); `rollup_marks`
    /// is left out, marker and all, when empty, as every store written by an export is.
    ///
    /// - throws: ``StoreError``.
    package func contentHash() throws -> String {
        try sqlite {
            try pool.read { db in
                var hasher = SHA256()
                var buffer: [UInt8] = []
                buffer.reserveCapacity(1 << 16)
                func flush() {
                    hasher.update(data: buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
                func int(_ v: UInt64) {
                    for shift in stride(from: 56, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
                }
                for (name, sql) in Self.hashedTables {
                    if Self.hashedWhenNotEmpty.contains(name), try !Bool.fetchOne(db, sql: "SELECT EXISTS (\(sql))")! { continue }
                    buffer.append(0x10)
                    buffer.append(UInt8(name.utf8.count))
                    buffer.append(contentsOf: name.utf8)
                    if name == "messages" {
                        try SQLiteSnapshot(db).groupedMessages(from: .min, to: .max, reporter: nil, descending: false,
                                                               reporters: { _ in true }) { h, info, packed in
                            buffer.append(0x11)
                            for v in [h.start, h.reporter, h.digest, h.end - h.start, info.rowCount] {
                                buffer.append(1)
                                int(UInt64(bitPattern: v))
                            }
                            if let logged = info.loggedMs {
                                buffer.append(1)
                                int(UInt64(bitPattern: logged))
                            } else {
                                buffer.append(0)
                            }
                            buffer.append(4)
                            int(UInt64(packed.count))
                            buffer.append(contentsOf: packed)
                            if buffer.count > 1 << 16 { flush() }
                            return true
                        }
                        continue
                    }
                    let rows = try Row.fetchCursor(db, sql: sql)
                    while let row = try rows.next() {
                        buffer.append(0x11)
                        for value in row.databaseValues {
                            switch value.storage {
                            case .null:
                                buffer.append(0)
                            case .int64(let v):
                                buffer.append(1)
                                int(UInt64(bitPattern: v))
                            case .double(let v):
                                buffer.append(2)
                                int(v.bitPattern)
                            case .string(let s):
                                buffer.append(3)
                                int(UInt64(s.utf8.count))
                                buffer.append(contentsOf: s.utf8)
                            case .blob(let d):
                                buffer.append(4)
                                int(UInt64(d.count))
                                buffer.append(contentsOf: d)
                            }
                        }
                        if buffer.count > 1 << 16 { flush() }
                    }
                }
                flush()
                return hasher.finalize().map { String(format: "%02x", $0) }.joined()
            }
        }
    }
}
