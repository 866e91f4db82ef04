import FlowSchema
import Foundation

/// Applies `schema/clickhouse/NNN_*.sql` in order and records each in `schema_migrations`;
/// refuses a store whose schema is newer than this binary knows.
///
/// On a cluster (`?cluster=NAME`) every server of the cluster (each replica of each shard, as
/// `system.clusters` lists them) gets the schema, through its HTTP interface at its host and the
/// URL's port: each table of a migration becomes a local table `NAME_local` on every server and a
/// `Distributed` table `NAME` over them (on every server too, so any of them answers), sharded
/// by the key its migration names (`-- shard by: EXPR` above the statement), else by a hash of
/// its sort key (so that a row and its duplicate land on the same shard, where the Replacing
/// engine collapses them); materialized views read and feed the local tables, so that each
/// shard derives what it holds from its own rows. Each server records the migrations in its own
/// `schema_migrations`.
enum ClickHouseSchema {
    static let migrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (name String, applied_ns Int64) ENGINE = MergeTree ORDER BY name
        """

    /// The migrations applied in the store, after applying the missing ones when `create`
    /// (on every server of the cluster, for a cluster).
    ///
    /// - throws: ``ClickHouseError`` (kind `.store`) for a missing store when not `create`,
    ///   a schema newer than this binary, or an older one when not `create`, or an unknown cluster.
    static func prepare(_ client: ClickHouseClient, create: Bool) throws -> [String] {
        guard create else { return try check(client) }
        guard let cluster = client.url.cluster else {
            let applied = try prepare(client, create: true, cluster: nil)
            try checkLayout(client)
            return applied
        }
        var entry: [String] = []
        for server in try servers(of: cluster, client) {
            let applied = try prepare(server, create: true, cluster: cluster)
            if server.url.server == client.url.server { entry = applied }
        }
        if entry.isEmpty { entry = try prepare(client, create: true, cluster: cluster) }
        try checkLayout(client)
        return entry
    }

    /// What a reader checks (the migrations applied, and how `flows` is laid out), as parts of a
    /// combined request (``TaggedSelects``): `m` each applied migration, `l` the engine of `flows`.
    /// ``verify(_:_:)`` judges the answer.
    static func addCheck(to selects: inout TaggedSelects, database: String) {
        selects.add("m", ["name"], "FROM schema_migrations GROUP BY name")
        selects.add("l", ["engine", "engine_full"], "FROM system.tables WHERE database = \(ClickHouseClient.quote(database)) AND name = 'flows'")
    }

    /// A reader's check in one request (``addCheck(to:database:)``, ``verify(_:_:)``): the
    /// migrations the store holds, when this binary can read it.
    ///
    /// - throws: ``ClickHouseError`` (kind `.store`) for a missing store, a schema newer or older
    ///   than this binary's, or a store opened as it is not laid out.
    static func check(_ client: ClickHouseClient) throws -> [String] {
        var selects = TaggedSelects()
        addCheck(to: &selects, database: client.url.database)
        let tables: [String: [[String]]]
        do {
            tables = try selects.run(client)
        } catch let e as ClickHouseError where e.message.hasPrefix("Code: 60,") || e.message.hasPrefix("Code: 81,") {
            // UNKNOWN_TABLE, UNKNOWN_DATABASE: no store there (other refusals, a password, say, are what they are).
            throw ClickHouseError(.store, server: client.url.server,
                                  "no tailflow store in database \(client.url.database) (\(e.message)); `tailflow ingest --store \(client.url)` creates it")
        }
        return try verify(client, tables)
    }

    /// Judges a reader's check (``addCheck(to:database:)``) as ``prepare(_:create:)`` does without `create`.
    static func verify(_ client: ClickHouseClient, _ tables: [String: [[String]]]) throws -> [String] {
        let known = Schema.clickhouseMigrations.map(\.name)
        let where_ = "\(client.url.database) at \(client.url.server)"
        let applied = Set((tables["m"] ?? []).map { $0[0] }).sorted()
        if let newer = applied.first(where: { !known.contains($0) }) {
            throw ClickHouseError(.store, server: client.url.server,
                                  "the store \(where_) has schema migration \(newer), which this tailflow does not know (it knows \(known.joined(separator: ", "))): it was written by a newer tailflow; use that one")
        }
        if let missing = Schema.clickhouseMigrations.first(where: { !applied.contains($0.name) }) {
            throw ClickHouseError(.store, server: client.url.server,
                                  "the store \(where_) lacks schema migration \(missing.name): `tailflow ingest --store \(client.url)` upgrades it")
        }
        try checkLayout(client, engine: tables["l"]?.first.map { [$0[0], $0[1]] })
        return applied
    }

    /// Refuses a store opened as it is not laid out: one server's tables with `?cluster=`, or a
    /// cluster's Distributed tables without it (or over another cluster), so that writes and
    /// reads never mix the two.
    static func checkLayout(_ client: ClickHouseClient) throws {
        try checkLayout(client, engine: try client.rows("""
            SELECT engine, engine_full FROM system.tables WHERE database = \(ClickHouseClient.quote(client.url.database)) AND name = 'flows'
            """).first)
    }

    /// ``checkLayout(_:)`` given `flows`' engine and its full text (nil: no such table).
    static func checkLayout(_ client: ClickHouseClient, engine: [String]?) throws {
        guard let engine, engine.count == 2 else { return }
        let spread = engine[0] == "Distributed"
        // Distributed('two', 'db', 'flows_local', cityHash64(reporter)): the cluster is the first argument.
        let over = spread ? engine[1].drop { $0 != "(" }.dropFirst().prefix { $0 != "," }.trimmingCharacters(in: CharacterSet(charactersIn: "' ")) : nil
        let store = "the store \(client.url.database) at \(client.url.server)"
        switch (client.url.cluster, over) {
        case (let c?, nil):
            throw ClickHouseError(.store, server: client.url.server,
                                  "\(store) is on this one server, not spread over a cluster: open it without ?cluster=\(c) (tailflow migrate copies it into a cluster's database)")
        case (nil, let o?):
            throw ClickHouseError(.store, server: client.url.server, "\(store) is spread over cluster \(o): open it with ?cluster=\(o)")
        case (let c?, let o?) where c != o:
            throw ClickHouseError(.store, server: client.url.server, "\(store) is spread over cluster \(o), not \(c): open it with ?cluster=\(o)")
        default:
            return
        }
    }

    /// A client for each server of `cluster` (as the entry server's `system.clusters` lists them),
    /// at its host and the entry URL's HTTP port, with the same user and password.
    ///
    /// - throws: ``ClickHouseError`` (kind `.store`) when the server knows no such cluster.
    static func servers(of cluster: String, _ client: ClickHouseClient) throws -> [ClickHouseClient] {
        let hosts = TabSeparated.parse(try client.run("""
            SELECT DISTINCT host_name FROM system.clusters WHERE cluster = \(ClickHouseClient.quote(cluster)) ORDER BY host_name
            FORMAT TabSeparated
            """, inDatabase: false)).map { $0[0] }
        guard !hosts.isEmpty else {
            throw ClickHouseError(.store, server: client.url.server,
                                  "the server knows no cluster '\(cluster)' (system.clusters lists the clusters of <remote_servers> in its configuration)")
        }
        return hosts.map { host in
            var url = client.url
            url.host = host
            return ClickHouseClient(url: url, password: client.password, retry: client.retry, gzip: client.gzip, onRetry: client.onRetry)
        }
    }

    /// One server: its migrations table, the check against what this binary knows, the missing migrations.
    static func prepare(_ client: ClickHouseClient, create: Bool, cluster: String?) throws -> [String] {
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
        let sharded = shardedTables
        for m in missing {
            for statement in parse(m.sql) {
                let sql = cluster.map { onCluster(statement, cluster: $0, database: client.url.database, sharded: sharded) } ?? [statement.sql]
                for s in sql where try !columnAlreadyAdded(s, client) { try client.run(s) }
            }
            try client.run("INSERT INTO schema_migrations (name, applied_ns) VALUES (\(ClickHouseClient.quote(m.name)), \(Int64(Date().timeIntervalSince1970 * 1e9)))")
            applied.append(m.name)
        }
        return applied
    }

    /// Whether `sql` is `ALTER TABLE t ADD COLUMN c …` and `t` has `c` already: a migration that
    /// stopped after it (a failure or a lost answer later on, one server of a cluster done, the other
    /// not) is run again from its start, and ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`.
    static func columnAlreadyAdded(_ sql: String, _ client: ClickHouseClient) throws -> Bool {
        let ns = sql as NSString
        guard let m = addColumn.firstMatch(in: sql, range: NSRange(location: 0, length: ns.length)) else { return false }
        let table = ns.substring(with: m.range(at: 1)), column = ns.substring(with: m.range(at: 2))
        return try client.rows("""
            SELECT count() FROM system.columns
            WHERE database = currentDatabase() AND table = \(ClickHouseClient.quote(table)) AND name = \(ClickHouseClient.quote(column))
            """) != [["0"]]
    }

    static let addColumn = try! NSRegularExpression(
        pattern: #"^\s*ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+ADD\s+COLUMN\s+([A-Za-z_][A-Za-z0-9_]*)\s"#,
        options: [.caseInsensitive])

    /// One statement of a migration, with the sharding key its `-- shard by: EXPR` line names.
    struct Statement: Equatable {
        var sql: String
        var shardKey: String?
    }

    /// A migration's statements: separated by a semicolon at the end of a line, comment lines dropped.
    static func statements(_ sql: String) -> [String] {
        parse(sql).map(\.sql)
    }

    static func parse(_ sql: String) -> [Statement] {
        var out: [Statement] = []
        var current: [Substring] = []
        var key: String?
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-- shard by:") {
                key = trimmed.dropFirst("-- shard by:".count).trimmingCharacters(in: .whitespaces)
                continue
            }
            if trimmed.hasPrefix("--") || trimmed.isEmpty { continue }
            if trimmed.hasSuffix(";") {
                current.append(line[..<line.lastIndex(of: ";")!])
                out.append(Statement(sql: current.joined(separator: "\n"), shardKey: key))
                current = []
                key = nil
            } else {
                current.append(line)
            }
        }
        let tail = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        if !tail.isEmpty { out.append(Statement(sql: tail, shardKey: key)) }
        return out
    }

    /// The tables every migration creates (each is sharded on a cluster).
    static var shardedTables: Set<String> {
        var names: Set<String> = []
        for m in Schema.clickhouseMigrations {
            for s in parse(m.sql) { if let t = createdTable(s.sql) { names.insert(t.name) } }
        }
        return names
    }

    static let createTable = try! NSRegularExpression(pattern: #"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\("#, options: [.caseInsensitive])
    static let orderBy = try! NSRegularExpression(pattern: #"ORDER\s+BY\s+(\(([^()]*)\)|(\w+))\s*$"#, options: [.caseInsensitive])
    static let tableReference = try! NSRegularExpression(pattern: #"\b(TO|FROM|JOIN|TABLE|INTO)(\s+)(\w+)\b"#, options: [.caseInsensitive])

    /// The table a `CREATE TABLE name (` statement creates, and the range of its name.
    static func createdTable(_ sql: String) -> (name: String, range: Range<String.Index>)? {
        guard let m = createTable.firstMatch(in: sql, range: NSRange(sql.startIndex..., in: sql)),
              let r = Range(m.range(at: 2), in: sql) else { return nil }
        return (String(sql[r]), r)
    }

    /// A statement as it runs on each server of a cluster: a table as its local table and the
    /// Distributed table over the shards; a view or an ALTER on the local tables (an ALTER on the
    /// Distributed table too, so both keep the same columns); an `INSERT INTO … SELECT` from local
    /// tables into local tables (each server fills its own); anything else as it is.
    static func onCluster(_ statement: Statement, cluster: String, database: String, sharded: Set<String>) -> [String] {
        let sql = statement.sql
        if let (name, range) = createdTable(sql) {
            var local = sql
            local.replaceSubrange(range, with: name + "_local")
            let key = statement.shardKey ?? defaultShardKey(sql)
            return [local, "CREATE TABLE IF NOT EXISTS \(name) AS \(name)_local ENGINE = Distributed(\(cluster), \(database), \(name)_local, \(key))"]
        }
        let upper = sql.uppercased().trimmingCharacters(in: .whitespacesAndNewlines)
        if upper.hasPrefix("CREATE MATERIALIZED VIEW") {
            return [localized(sql, sharded)]
        }
        if upper.hasPrefix("ALTER TABLE") {
            return [localized(sql, sharded), sql]
        }
        if upper.hasPrefix("INSERT INTO") {
            // A migration's fill (003: rollups from the rows held): each server from its own rows into its own tables.
            return [localized(sql, sharded)]
        }
        return [sql]
    }

    /// `sql` with each reference to a sharded table (after TO, FROM, JOIN, TABLE or INTO) naming its local table.
    static func localized(_ sql: String, _ sharded: Set<String>) -> String {
        let ns = sql as NSString
        var out = ""
        var last = 0
        for m in tableReference.matches(in: sql, range: NSRange(location: 0, length: ns.length)) {
            let name = ns.substring(with: m.range(at: 3))
            guard sharded.contains(name) else { continue }
            out += ns.substring(with: NSRange(location: last, length: m.range(at: 3).location + m.range(at: 3).length - last)) + "_local"
            last = m.range(at: 3).location + m.range(at: 3).length
        }
        return out + ns.substring(from: last)
    }

    /// A hash of the table's sort key: a row's copies land on one shard.
    static func defaultShardKey(_ sql: String) -> String {
        let trimmed = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let m = orderBy.firstMatch(in: trimmed, range: NSRange(trimmed.startIndex..., in: trimmed)) else { return "rand()" }
        for group in [2, 3] {
            if let r = Range(m.range(at: group), in: trimmed) {
                let columns = trimmed[r].trimmingCharacters(in: .whitespaces)
                return columns.isEmpty || columns == "tuple" ? "rand()" : "cityHash64(\(columns))"
            }
        }
        return "rand()"
    }
}
