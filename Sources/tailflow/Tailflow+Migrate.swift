import ArgumentParser
import FlowClickHouse
import FlowFormat
import FlowModel
import FlowStore
import Foundation

extension Tailflow {
    /// `tailflow migrate --from SRC --to DST`: copies a SQLite store into ClickHouse, or back.
    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Copy a SQLite store into a ClickHouse store, or a ClickHouse store into a SQLite file, idempotently.",
            discussion: """
                One side is a SQLite file, the other a clickhouse://[user@]host:port/database[?cluster=NAME] URL (password \
                from $TAILFLOW_CLICKHOUSE_PASSWORD); the target is created when missing. Messages keep their identity \
                (migrating twice adds nothing), node facts go in as the latest report wins, rejects by their identity; \
                the questions then answer the same on both; configuration changes and the DERP map are copied too. Not \
                copied (said in the summary): pull checkpoints, which belong to the store a follow wrote (a follow on \
                the target starts from its own). Progress on a terminal; --format json prints a summary object.
                """)

        @Option(name: .long, help: ArgumentHelp("The store to copy: a SQLite file or a clickhouse:// URL.", valueName: "store"))
        var from: String

        @Option(name: .long, help: ArgumentHelp("The store to copy into (created when missing).", valueName: "store"))
        var to: String

        @Option(name: .long, help: "Output format: table (human) or json.")
        var format: OutputFormatArgument = .table

        @Option(name: .long, help: ArgumentHelp("Messages per batch (one insert or transaction each).", valueName: "n"))
        var batch: Int = 20_000

        func validate() throws {
            if format != .table && format != .json { throw ValidationError("--format: table or json") }
            if batch < 1 { throw ValidationError("--batch: a positive number") }
            switch (ClickHouseURL.names(from), ClickHouseURL.names(to)) {
            case (true, false), (false, true): break
            case (true, true): throw ValidationError("--from and --to are both ClickHouse stores: migrate copies between a SQLite file and ClickHouse")
            case (false, false): throw ValidationError("--from and --to are both SQLite files: migrate copies between a SQLite file and ClickHouse (tailflow import merges SQLite stores)")
            }
            for text in [from, to] where ClickHouseURL.names(text) {
                do { _ = try ClickHouseURL(text) } catch let e as ClickHouseURLError { throw ValidationError(e.description) }
            }
        }

        /// What the migration did (the JSON summary).
        struct Summary: Encodable {
            var from: String
            var to: String
            var sourceMessages: Int
            var messages = 0
            var duplicates = 0
            var flowRows = 0
            var nodes = 0
            var rejects = 0
            var changes = 0
            var seconds = 0.0
            var notCopied: [String] = []
        }

        func clickHouse(_ text: String, create: Bool) throws -> ClickHouseStore {
            let client = ClickHouseClient(url: try ClickHouseURL(text), password: ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_PASSWORD"]) { attempt, error in
                Stderr.write("\r\u{1B}[Ktailflow: \(error); retrying (attempt \(attempt + 1))\n")
            }
            return try ClickHouseStore(client: client, create: create)
        }

        func run() throws {
            let started = ContinuousClock.now
            var summary = Summary(from: from, to: to, sourceMessages: 0)
            let progress = Stderr.isTerminal ? MigrateProgress(verb: "migrating \(from) to \(to)") : nil
            defer { progress?.clear() }
            if ClickHouseURL.names(to) {
                guard FileManager.default.fileExists(atPath: from) else {
                    throw StoreError(.sqlite, "no such store (nothing was migrated)", path: from)
                }
                let source = try FlowStore(path: from, access: .readOnly)
                let target = try clickHouse(to, create: true)
                // The source's node ids, so that raw rows list in the same order on both.
                try target.adoptNodeIDs(try source.read { try $0.nodeEntries() }.map { ($0.stableID, $0.id) }.sorted { $0.1 < $1.1 })
                try target.migrationWriter { writer in
                    var read = 0
                    try source.readForMigration(batch: batch, count: { summary.sourceMessages = $0 }, nodes: { nodes in
                        summary.nodes = try writer.merge(nodes)
                    }, messages: { messages in
                        try writer.begin()
                        for (m, digest) in messages { try writer.add(m, digest: digest) }
                        try writer.commit()
                        read += messages.count
                        progress?.show(read: read, of: summary.sourceMessages, copied: writer.stats.messages)
                    }, extras: { extras in
                        if !extras.rejects.isEmpty {
                            let stored = Set(try target.rejects(limit: Int(Int32.max)).map { "\($0.location.source)\u{1}\($0.location.offset)\u{1}\($0.reason)" })
                            try writer.begin()
                            for r in extras.rejects where !stored.contains("\(r.location.source)\u{1}\(r.location.offset)\u{1}\(r.reason)") {
                                try writer.addReject(r)
                                summary.rejects += 1
                            }
                            try writer.commit()
                        }
                        if !extras.changes.isEmpty {
                            let before = writer.stats.changes
                            try writer.begin()
                            for (c, _) in extras.changes { try writer.addChange(c) }
                            try writer.commit()
                            summary.changes = writer.stats.changes - before
                        }
                        if extras.checkpoints > 0 { summary.notCopied.append("\(extras.checkpoints) pull checkpoints") }
                    })
                    summary.messages = writer.stats.messages
                    summary.duplicates = writer.stats.duplicates
                    summary.flowRows = writer.stats.rows
                }
                // The DERP map (a region imported again replaces what was known).
                let regions = try source.read { try $0.derpRegions() }
                if !regions.isEmpty { try target.importDERPRegions(regions, at: nowNanoseconds()) }
            } else {
                let source = try clickHouse(from, create: false)
                let target = try FlowStore(path: to)
                try target.migrationWriter { writer in
                    var read = 0
                    try source.readForMigration(batch: batch, count: { summary.sourceMessages = $0 }, nodes: { nodes in
                        try writer.begin()
                        // In the source's node order, so that a new file numbers them as the source did.
                        let order = try source.nodeIDs()
                        for n in nodes.sorted(by: { (order[$0.stableID] ?? .max, $0.stableID) < (order[$1.stableID] ?? .max, $1.stableID) }) {
                            try writer.merge(n)
                        }
                        try writer.commit()
                        summary.nodes = nodes.count
                    }, messages: { messages in
                        try writer.begin()
                        for (m, digest) in messages where try writer.add(m, digest: digest) {
                            summary.messages += 1
                            summary.flowRows += m.rows.count
                        }
                        try writer.commit()
                        read += messages.count
                        progress?.show(read: read, of: summary.sourceMessages, copied: summary.messages)
                    }, extras: { extras in
                        let before = try target.rejects(limit: Int(Int32.max)).count
                        try writer.begin()
                        for r in extras.rejects { try writer.addReject(r) }
                        for (c, identity) in extras.changes where try writer.addChange(c, identity: identity) { summary.changes += 1 }
                        try writer.commit()
                        summary.rejects = try target.rejects(limit: Int(Int32.max)).count - before
                    })
                    summary.duplicates = read - summary.messages
                }
                let regions = try source.read { try $0.derpRegions() }
                if !regions.isEmpty { try target.importDERPRegions(regions, at: nowNanoseconds()) }
            }
            let elapsed = ContinuousClock.now - started
            summary.seconds = (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18 * 1).rounded(toPlaces: 2)
            progress?.clear()
            if format == .json {
                Stdout.write(String(decoding: try JSONEncoder.sorted.encode(summary), as: UTF8.self) + "\n")
            } else {
                var out = "\(from) -> \(to): \(Units.grouped(Int64(summary.messages))) new messages (\(Units.grouped(Int64(summary.flowRows))) flow rows), "
                    + "\(Units.grouped(Int64(summary.duplicates))) already there; \(Units.grouped(Int64(summary.nodes))) nodes updated, "
                    + "\(Units.grouped(Int64(summary.rejects))) rejects; \(String(format: "%.2f", summary.seconds)) s\n"
                if summary.changes > 0 { out += "\(Units.grouped(Int64(summary.changes))) configuration changes copied\n" }
                if !summary.notCopied.isEmpty { out += "not copied (a follow's checkpoints stay with the store it wrote): \(summary.notCopied.joined(separator: ", "))\n" }
                Stdout.write(out)
            }
        }
    }
}

private extension Double {
    func rounded(toPlaces n: Int) -> Double {
        let p = pow(10, Double(n))
        return (self * p).rounded() / p
    }
}

/// The migration's progress line on a terminal's standard error, rewritten in place.
final class MigrateProgress {
    let verb: String
    var shown = false

    init(verb: String) {
        self.verb = verb
    }

    func show(read: Int, of total: Int, copied: Int) {
        shown = true
        let percent = total > 0 ? Double(read) / Double(total) * 100 : 100
        Stderr.write(String(format: "\r%@: %3.0f%% (%@ of %@ messages read, %@ new)\u{1B}[K", verb, min(100, percent),
                            Units.grouped(Int64(read)), Units.grouped(Int64(total)), Units.grouped(Int64(copied))))
    }

    func clear() {
        if shown { Stderr.write("\r\u{1B}[K") }
        shown = false
    }
}
