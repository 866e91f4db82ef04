@testable import FlowClickHouse
import Foundation
import Testing
import TestSupport

/// How a migration's statements run on each server of a cluster (issue 19): tables as a local
/// table and a Distributed one, views and ALTERs on the local tables.
@Suite(.ownThreads)
struct ClickHouseSchemaTests {
    let sharded: Set<String> = ["flows", "reporters", "nodes"]

    @Test func tablesBecomeLocalPlusDistributed() {
        let sql = """
            -- a comment
            -- shard by: cityHash64(reporter)
            CREATE TABLE IF NOT EXISTS flows (
                start_ns Int64,
                reporter String
            ) ENGINE = ReplacingMergeTree
            ORDER BY (start_ns, reporter);

            CREATE TABLE IF NOT EXISTS nodes (stable_id String, info_ns Int64) ENGINE = MergeTree
            ORDER BY (stable_id, info_ns);
            CREATE TABLE IF NOT EXISTS reporters (stable_id String) ENGINE = MergeTree ORDER BY stable_id;
            CREATE TABLE IF NOT EXISTS log (x UInt8) ENGINE = MergeTree ORDER BY tuple();
            """
        let statements = ClickHouseSchema.parse(sql)
        #expect(statements.count == 4)
        #expect(statements[0].shardKey == "cityHash64(reporter)" && statements[1].shardKey == nil)
        let flows = ClickHouseSchema.onCluster(statements[0], cluster: "two", database: "db", sharded: sharded)
        #expect(flows.count == 2)
        #expect(flows[0].hasPrefix("CREATE TABLE IF NOT EXISTS flows_local ("))
        #expect(flows[1] == "CREATE TABLE IF NOT EXISTS flows AS flows_local ENGINE = Distributed(two, db, flows_local, cityHash64(reporter))")
        #expect(ClickHouseSchema.onCluster(statements[1], cluster: "two", database: "db", sharded: sharded)[1]
                    .hasSuffix("Distributed(two, db, nodes_local, cityHash64(stable_id, info_ns))"))
        #expect(ClickHouseSchema.onCluster(statements[2], cluster: "two", database: "db", sharded: sharded)[1]
                    .hasSuffix("Distributed(two, db, reporters_local, cityHash64(stable_id))"))
        #expect(ClickHouseSchema.onCluster(statements[3], cluster: "two", database: "db", sharded: sharded)[1]
                    .hasSuffix("Distributed(two, db, log_local, rand())"))
    }

    @Test func viewsAndAltersUseTheLocalTables() {
        let view = ClickHouseSchema.Statement(sql: """
            CREATE MATERIALIZED VIEW IF NOT EXISTS reporters_feed TO reporters AS
                SELECT reporter AS stable_id, min(start_ns) AS first_ns FROM flows GROUP BY reporter
            """, shardKey: nil)
        #expect(ClickHouseSchema.onCluster(view, cluster: "two", database: "db", sharded: sharded) == ["""
            CREATE MATERIALIZED VIEW IF NOT EXISTS reporters_feed TO reporters_local AS
                SELECT reporter AS stable_id, min(start_ns) AS first_ns FROM flows_local GROUP BY reporter
            """])
        let alter = ClickHouseSchema.Statement(sql: "ALTER TABLE flows ADD COLUMN x UInt8", shardKey: nil)
        #expect(ClickHouseSchema.onCluster(alter, cluster: "two", database: "db", sharded: sharded)
                    == ["ALTER TABLE flows_local ADD COLUMN x UInt8", "ALTER TABLE flows ADD COLUMN x UInt8"])
        // A migration's fill (003: rollups from the rows held): each server from its own rows into its own tables.
        let fill = ClickHouseSchema.Statement(sql: "INSERT INTO reporters (stable_id) SELECT reporter FROM flows", shardKey: nil)
        #expect(ClickHouseSchema.onCluster(fill, cluster: "two", database: "db", sharded: sharded)
                    == ["INSERT INTO reporters_local (stable_id) SELECT reporter FROM flows_local"])
        // The real migrations: every table of them is sharded, flows and the rollups by reporter.
        #expect(ClickHouseSchema.shardedTables.isSuperset(of: ["flows", "reporters", "nodes", "node_addresses", "node_seen", "rejects",
                                                               "rollup_1m", "rollup_1h", "rollup_1d", "sightings_1m", "sightings_1h", "sightings_1d"]))
    }
}

/// gzip on the wire by default only for a server over the network (measured: on loopback it only costs the cores).
@Suite(.ownThreads)
struct ClickHouseWireTests {
    @Test func gzipByDefaultOnlyOverTheNetwork() throws {
        #expect(ClickHouseClient.isLoopback("127.0.0.1") && ClickHouseClient.isLoopback("127.0.0.2") && ClickHouseClient.isLoopback("localhost")
                    && ClickHouseClient.isLoopback("::1"))
        #expect(!ClickHouseClient.isLoopback("10.0.0.5") && !ClickHouseClient.isLoopback("clickhouse.example"))
        #expect(ClickHouseClient(url: try ClickHouseURL("clickhouse://10.1.2.3:8123/x"), password: nil, gzip: nil).gzip
                    == (ProcessInfo.processInfo.environment["TAILFLOW_CLICKHOUSE_GZIP"] != "0"))
        #expect(!ClickHouseClient(url: try ClickHouseURL("clickhouse://10.1.2.3:8123/x"), password: nil, gzip: false).gzip)
        // The body round-trips through zlib.
        let body = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let packed = try #require(GzipBody.compress(body))
        #expect(packed.count < body.count / 4 && packed.prefix(2) == [0x1f, 0x8b])
    }
}
