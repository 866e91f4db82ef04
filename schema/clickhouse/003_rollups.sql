-- tailflow on ClickHouse, version 3: rollup tables, so that a long window is not a scan of every
-- raw row in it (issue 19). The levels are the SQLite planner's (Sources/FlowQuery/Planner.swift):
-- minute, hour and day buckets (epoch-aligned, UTC); the planner's 2-, 4-, 8- and 16-day levels are
-- read from the day table, summed by the larger bucket (a day bucket lies inside exactly one of
-- them), so they need no table of their own.
--
-- A rollup row is SQLite's rollup key (schema/001_store.sql, `rollups`): per bucket, reporter,
-- kind, proto, service port (the lower non-zero of the row's two ports), the side that held it
-- (1 both, 2 dst, 3 src: as the raw questions compute it) and both raw endpoints (address texts,
-- '' = none), the four counters summed. Raw endpoints and the reporter stay in the key, so that the
-- edge model (SPEC §3) and address resolution still run at query time on the rollups as on raw rows.
-- `bucket` is the bucket start in Unix seconds. Messages without flow rows (kind 255) are no key.
--
-- Fed by materialized views over `flows`: every insert into `flows` feeds each level with the
-- block's sums. The writer inserts only message identities `flows` does not hold (schema 001), so
-- a view sees each message once: re-ingest and retried inserts add nothing. SummingMergeTree merges
-- rows of one key lazily: readers always `sum(...) GROUP BY`. Should a server die between an
-- insert's part of `flows` and its parts of the rollups, the writer's reconciliation (after a
-- retried insert, and for every batch that met messages already stored) inserts the difference
-- between the raw rows and the rollups of that time (ClickHouseWriter.reconcileRollups).
--
-- On a cluster each shard feeds its `_local` rollups from its own rows (sharded by reporter, as
-- `flows`), and the Distributed tables read them all.

-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS rollup_1m (
    bucket Int64,
    reporter String,
    kind UInt8,
    proto UInt8,
    port UInt16,
    side UInt8,
    src String,
    dst String,
    tx_packets UInt64,
    tx_bytes UInt64,
    rx_packets UInt64,
    rx_bytes UInt64
) ENGINE = SummingMergeTree((tx_packets, tx_bytes, rx_packets, rx_bytes))
PARTITION BY toYYYYMM(toDateTime(bucket))
ORDER BY (bucket, reporter, kind, proto, port, side, src, dst);

-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS rollup_1h (
    bucket Int64,
    reporter String,
    kind UInt8,
    proto UInt8,
    port UInt16,
    side UInt8,
    src String,
    dst String,
    tx_packets UInt64,
    tx_bytes UInt64,
    rx_packets UInt64,
    rx_bytes UInt64
) ENGINE = SummingMergeTree((tx_packets, tx_bytes, rx_packets, rx_bytes))
PARTITION BY toYYYYMM(toDateTime(bucket))
ORDER BY (bucket, reporter, kind, proto, port, side, src, dst);

-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS rollup_1d (
    bucket Int64,
    reporter String,
    kind UInt8,
    proto UInt8,
    port UInt16,
    side UInt8,
    src String,
    dst String,
    tx_packets UInt64,
    tx_bytes UInt64,
    rx_packets UInt64,
    rx_bytes UInt64
) ENGINE = SummingMergeTree((tx_packets, tx_bytes, rx_packets, rx_bytes))
PARTITION BY toYear(toDateTime(bucket))
ORDER BY (bucket, reporter, kind, proto, port, side, src, dst);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1m_feed TO rollup_1m AS
    SELECT intDiv(start_ns, 60000000000) * 60 AS bucket, reporter, kind, proto,
           if(src_port = 0, dst_port, if(dst_port = 0, src_port, least(src_port, dst_port))) AS port,
           toUInt8(if(src_port = dst_port, 1, if(port = dst_port, 2, 3))) AS side, src, dst,
           sum(tx_packets) AS tx_packets, sum(tx_bytes) AS tx_bytes, sum(rx_packets) AS rx_packets, sum(rx_bytes) AS rx_bytes
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, port, side, src, dst;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1h_feed TO rollup_1h AS
    SELECT intDiv(start_ns, 3600000000000) * 3600 AS bucket, reporter, kind, proto,
           if(src_port = 0, dst_port, if(dst_port = 0, src_port, least(src_port, dst_port))) AS port,
           toUInt8(if(src_port = dst_port, 1, if(port = dst_port, 2, 3))) AS side, src, dst,
           sum(tx_packets) AS tx_packets, sum(tx_bytes) AS tx_bytes, sum(rx_packets) AS rx_packets, sum(rx_bytes) AS rx_bytes
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, port, side, src, dst;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_1d_feed TO rollup_1d AS
    SELECT intDiv(start_ns, 86400000000000) * 86400 AS bucket, reporter, kind, proto,
           if(src_port = 0, dst_port, if(dst_port = 0, src_port, least(src_port, dst_port))) AS port,
           toUInt8(if(src_port = dst_port, 1, if(port = dst_port, 2, 3))) AS side, src, dst,
           sum(tx_packets) AS tx_packets, sum(tx_bytes) AS tx_bytes, sum(rx_packets) AS rx_packets, sum(rx_bytes) AS rx_bytes
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, port, side, src, dst;

-- A store written before this migration: its rollups from the raw rows it holds (each level from
-- the finer one; nothing for a new store). On a cluster each server fills its local tables from
-- its own rows.
INSERT INTO rollup_1m (bucket, reporter, kind, proto, port, side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes)
    SELECT intDiv(start_ns, 60000000000) * 60 AS bucket, reporter, kind, proto,
           if(src_port = 0, dst_port, if(dst_port = 0, src_port, least(src_port, dst_port))) AS port,
           toUInt8(if(src_port = dst_port, 1, if(port = dst_port, 2, 3))) AS side, src, dst,
           sum(tx_packets), sum(tx_bytes), sum(rx_packets), sum(rx_bytes)
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, port, side, src, dst;

INSERT INTO rollup_1h (bucket, reporter, kind, proto, port, side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes)
    SELECT intDiv(bucket, 3600) * 3600 AS b, reporter, kind, proto, port, side, src, dst,
           sum(tx_packets), sum(tx_bytes), sum(rx_packets), sum(rx_bytes)
    FROM rollup_1m
    GROUP BY b, reporter, kind, proto, port, side, src, dst;

INSERT INTO rollup_1d (bucket, reporter, kind, proto, port, side, src, dst, tx_packets, tx_bytes, rx_packets, rx_bytes)
    SELECT intDiv(bucket, 86400) * 86400 AS b, reporter, kind, proto, port, side, src, dst,
           sum(tx_packets), sum(tx_bytes), sum(rx_packets), sum(rx_bytes)
    FROM rollup_1h
    GROUP BY b, reporter, kind, proto, port, side, src, dst;
