-- tailflow store, version 1.
--
-- One flow-log *message* (one node's report over a ~5 s window) is one row of
-- `messages`; its flow rows (one per Conn) are packed into `rows`, a compact
-- varint encoding described in Sources/FlowStore/RowCodec.swift. Packing keeps
-- the time and reporter indexes one entry per message instead of one per flow
-- row, which is what makes ingest fast and the file small.

-- Interned IP addresses, canonical text form (RFC 5952 for IPv6).
-- Flow rows and rollups refer to them by id; id 0 is never used and means
-- "no address" (anonymised exit traffic, totals-only rows).
CREATE TABLE addresses (
    id INTEGER PRIMARY KEY,
    ip TEXT NOT NULL UNIQUE
);

-- Nodes learned from srcNode, dstNodes and device-list imports, or only from
-- the nodeId of a message they reported. The latest report wins: `info_ns` is
-- the time of the report the descriptive columns came from.
CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    stable_id TEXT NOT NULL UNIQUE,
    name TEXT,
    os TEXT,
    user TEXT,
    tags TEXT,                 -- JSON array of strings, e.g. ["tag:prod"]
    addresses TEXT,            -- JSON array of strings
    info_ns INTEGER,           -- time of the report that set name..addresses
    first_seen_ns INTEGER,     -- earliest message that mentions the node
    last_seen_ns INTEGER,      -- latest message that mentions the node
    first_report_ns INTEGER,   -- earliest message the node reported itself;
    last_report_ns INTEGER     --   not null = the node is a reporter
);

-- Which node owns an address (latest report wins). Resolution of addresses to
-- endpoints happens at query time through this map, so a later device import
-- improves earlier answers.
CREATE TABLE node_addresses (
    address INTEGER PRIMARY KEY REFERENCES addresses(id),
    node INTEGER NOT NULL REFERENCES nodes(id),
    info_ns INTEGER NOT NULL
);
CREATE INDEX node_addresses_by_node ON node_addresses(node);

-- One row per distinct message. The primary key is the message identity
-- (see README, "Message identity") and clusters the table by time.
CREATE TABLE messages (
    start_ns INTEGER NOT NULL,     -- window start, ns since the Unix epoch (UTC)
    reporter INTEGER NOT NULL REFERENCES nodes(id),
    digest INTEGER NOT NULL,       -- 48-bit hash of the message's content
    duration_ns INTEGER NOT NULL,  -- window end - start
    row_count INTEGER NOT NULL,
    rows BLOB NOT NULL,            -- the packed flow rows
    PRIMARY KEY (start_ns, reporter, digest)
) WITHOUT ROWID;
CREATE INDEX messages_by_reporter ON messages(reporter, start_ns);

-- Pre-aggregated flow rows, kept in the same transaction as the messages they
-- summarise. `step` is the bucket width in seconds (a minute, an hour, 1, 2, 4,
-- 8 and 16 days: see RollupStep in Sources/FlowStore/Rollup.swift), `bucket`
-- the bucket start in Unix seconds (UTC, epoch-aligned). One row per
-- (step, reporter, bucket) packs every sum of that reporter in that bucket
-- (format: Sources/FlowStore/RollupCodec.swift): per key (kind, src address,
-- dst address, proto, service port) the four counter sums. The key keeps what
-- the edge model needs: the observer (reporter), the kind and both addresses;
-- ports are reduced to the service port (the lower non-zero one). Packing keeps
-- a long window's scan to one SQLite row per reporter and bucket, and the
-- reporter-first key lets a pair's question read only its two ends' reports.
CREATE TABLE rollups (
    step INTEGER NOT NULL,
    reporter INTEGER NOT NULL REFERENCES nodes(id),
    bucket INTEGER NOT NULL,
    entries INTEGER NOT NULL,      -- keys packed in `sums`
    sums BLOB NOT NULL,
    PRIMARY KEY (step, reporter, bucket)
) WITHOUT ROWID;

-- Input that could not be stored, with where it was and why. Recording the
-- same reject twice (the same file ingested again) keeps one row.
CREATE TABLE rejects (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,          -- file path, "stdin", or a request id
    line INTEGER,                  -- 1-based line of the rejected value, if known
    offset INTEGER NOT NULL,       -- byte offset (of the decompressed stream)
    reason TEXT NOT NULL,
    excerpt TEXT,                  -- the first bytes of the rejected value
    recorded_ns INTEGER NOT NULL,
    UNIQUE (source, offset, reason)
);
