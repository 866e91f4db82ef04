-- tailflow on ClickHouse (SPEC §12, issue 19), version 1. Written for ClickHouse 18.16 and newer.
-- Statements are separated by a semicolon at the end of a line; tailflow sends them one by one
-- in the store's database (`clickhouse://host:port/DATABASE`) and records each file it applied in
-- `schema_migrations`.
--
-- Unlike SQLite's store there are no interned ids: endpoints are node stable IDs and address texts
-- (RFC 5952 for IPv6, '' = no address), so the server resolves addresses to nodes at query time.

-- One row per flow row (Conn) of every stored message, with the message identity on each:
-- (start_ns, reporter, digest) is the message, `row` its index in the message. A message without
-- rows is one row of kind 255 and zero counters, so that its reporter is a reporter and its window
-- is known. Ordered by time then reporter: every question reads a window of `start_ns`.
-- Idempotency: tailflow inserts only messages whose identity the table does not hold yet (the
-- writer reads the identities of its batch's time range first, and again before a retried insert);
-- the Replacing engine collapses any duplicate that two concurrent writers might still add.
-- On a cluster, sharded by reporter: a message's rows, and any duplicate of it, are on one shard.
-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS flows (
    start_ns Int64,
    end_ns Int64,
    reporter String,
    digest Int64,
    row UInt32,
    kind UInt8,
    proto UInt8,
    src String,
    src_port UInt16,
    dst String,
    dst_port UInt16,
    tx_packets UInt64,
    tx_bytes UInt64,
    rx_packets UInt64,
    rx_bytes UInt64,
    logged_ms Nullable(Int64)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(start_ns, 1000000000)))
ORDER BY (start_ns, reporter, digest, row);

-- The reporters (a node is one once any message from it is stored), fed by the flows inserts
-- themselves so that a reporter never exists without its rows; readers take min/max per node.
CREATE TABLE IF NOT EXISTS reporters (
    stable_id String,
    first_ns Int64,
    last_ns Int64
) ENGINE = MergeTree
ORDER BY stable_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS reporters_feed TO reporters AS
    SELECT reporter AS stable_id, min(start_ns) AS first_ns, max(start_ns) AS last_ns FROM flows GROUP BY reporter;

-- What reports and device lists say about nodes, one row per report that changed what tailflow
-- knew (the latest report wins: readers take argMax by (info_ns, seq)). '' stands for no name,
-- os or user; routes only count where has_routes = 1 (messages say nothing of routes).
CREATE TABLE IF NOT EXISTS nodes (
    stable_id String,
    info_ns Int64,
    seq UInt64,
    name String,
    os String,
    user String,
    tags Array(String),
    addresses Array(String),
    has_routes UInt8,
    routes Array(String)
) ENGINE = MergeTree
ORDER BY (stable_id, info_ns);

-- Which node claims an address, and when: the owner is the latest claim (argMax by (info_ns, seq)).
CREATE TABLE IF NOT EXISTS node_addresses (
    ip String,
    node String,
    info_ns Int64,
    seq UInt64
) ENGINE = MergeTree
ORDER BY (ip, info_ns);

-- When nodes were mentioned by stored messages (their own or a peer's); readers take min/max.
CREATE TABLE IF NOT EXISTS node_seen (
    stable_id String,
    first_ns Int64,
    last_ns Int64
) ENGINE = MergeTree
ORDER BY stable_id;

-- Input that could not be stored, with where and why; the same reject recorded twice is one
-- (readers group by the key).
CREATE TABLE IF NOT EXISTS rejects (
    source String,
    offset Int64,
    reason String,
    line Int64,
    excerpt String,
    recorded_ns Int64
) ENGINE = ReplacingMergeTree
ORDER BY (source, offset, reason);
