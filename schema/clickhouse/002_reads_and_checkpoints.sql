-- tailflow on ClickHouse, version 2: what every command and question needs besides the flows
-- (issue 19): node ids in the order the store first heard of each node, the configuration audit
-- log (SPEC §13), pull and follow checkpoints, the DERP map.

-- The store's id of each node: 1, 2, 3… in the order the writer first met it (as SQLite's
-- `nodes.id`), so that raw rows list in the same order on both backends and their cursors
-- (`start-reporter-digest-row`) are the same. Readers take min(id) per node.
CREATE TABLE IF NOT EXISTS node_ids (
    stable_id String,
    id UInt64
) ENGINE = MergeTree
ORDER BY stable_id;

-- The configuration audit log, one row per record; (time_ns, identity) is the record, and the
-- writer inserts only records the table does not hold yet (readers also keep one row per key).
CREATE TABLE IF NOT EXISTS changes (
    time_ns Int64,
    identity Int64,
    event_group Nullable(String),
    origin Nullable(String),
    actor_id Nullable(String),
    actor_type Nullable(String),
    actor_login Nullable(String),
    actor_name Nullable(String),
    target_id Nullable(String),
    target_name Nullable(String),
    target_type Nullable(String),
    property Nullable(String),
    action String,
    old Nullable(String),
    new Nullable(String),
    details Nullable(String),
    error Nullable(String),
    record String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(time_ns, 1000000000)))
ORDER BY (time_ns, identity);

-- Where `pull` and `follow` got to, per API root, tailnet and log type ('network',
-- 'configuration'); a checkpoint only moves forward: readers take the row with the largest one.
CREATE TABLE IF NOT EXISTS pull_checkpoints (
    api_url String,
    tailnet String,
    log_type String,
    checkpoint_ns Int64,
    updated_ns Int64
) ENGINE = MergeTree
ORDER BY (api_url, tailnet, log_type);

-- DERP relay regions (`tailflow derp import`): the latest import of a region wins.
CREATE TABLE IF NOT EXISTS derp_regions (
    region_id Int64,
    code Nullable(String),
    name Nullable(String),
    imported_ns Int64
) ENGINE = MergeTree
ORDER BY region_id;
