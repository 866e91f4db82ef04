import FlowSchema
import Foundation

/// Applies `schema/clickhouse/NNN_*.sql` in order and records each in `schema_migrations`;
/// refuses a store whose schema is newer than this binary knows.
enum ClickHouseSchema {
    static let migrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (name String, applied_ns Int64) ENGINE = MergeTree ORDER BY name
        """

    /// The migrations applied in the store, after applying the missing ones when `create`.
    ///
    /// - throws: ``ClickHouseError`` (kind `.store`) for a missing store when not `create`,
    ///   a schema newer than this binary, or an older one when not `create`.
    static func prepare(_ client: ClickHouseClient, create: Bool) throws -> [String] {
        let known = Schema.clickhouseMigrations.map(\.name)
        let where_ = "\(client.url.database) at \(client.url.server)"
        if create {
            try client.run("CREATE DATABASE IF NOT EXISTS \(client.url.database)", inDatabase: false)
            try client.run(migrationsTable)
        }
        var applied: [String]
        do {
            applied = try client.rows("SELECT DISTINCT name FROM schema_migrations ORDER BY name").map { $0[0] }
        } catch let e as ClickHouseError where !create && (e.message.hasPrefix("Code: 60,") || e.message.hasPrefix("Code: 81,")) {
            // UNKNOWN_TABLE, UNKNOWN_DATABASE: no store there (other refusals, a password, say, are what they are).
            throw ClickHouseError(.store, server: client.url.server,
                                  "no tailflow store in database \(client.url.database) (\(e.message)); `tailflow ingest --store \(client.url)` creates it")
        }
        if let newer = applied.first(where: { !known.contains($0) }) {
            throw ClickHouseError(.store, server: client.url.server,
                                  "the store \(where_) has schema migration \(newer), which this tailflow does not know (it knows \(known.joined(separator: ", "))): it was written by a newer tailflow; use that one")
        }
        let missing = Schema.clickhouseMigrations.filter { !applied.contains($0.name) }
        guard !missing.isEmpty else { return applied }
        guard create else {
            throw ClickHouseError(.store, server: client.url.server,
                                  "the store \(where_) lacks schema migration \(missing[0].name): `tailflow ingest --store \(client.url)` upgrades it")
        }
        for m in missing {
            for statement in statements(m.sql) { try client.run(statement) }
            try client.run("INSERT INTO schema_migrations (name, applied_ns) VALUES (\(ClickHouseClient.quote(m.name)), \(Int64(Date().timeIntervalSince1970 * 1e9)))")
            applied.append(m.name)
        }
        return applied
    }

    /// A migration's statements: separated by a semicolon at the end of a line, comment lines dropped.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = []
        var current: [Substring] = []
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") || trimmed.isEmpty { continue }
            if trimmed.hasSuffix(";") {
                current.append(line[..<line.lastIndex(of: ";")!])
                out.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        let tail = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        if !tail.isEmpty { out.append(tail) }
        return out
    }
}
