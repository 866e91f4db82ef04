-- tailflow on ClickHouse, version 4: first and last sightings per minute, hour and day, so that
-- `scope` finds when each peer was first and last seen inside a rollup bucket without reading the
-- bucket's raw rows (issue 19). For a busy endpoint those raw rows were nearly every block of the
-- window's first and last days: 0.55-0.9 s of a day's `scope` on 22 M rows.
--
-- A row is a rollup key without the service port (schema 003's key: bucket start in Unix seconds,
-- reporter, kind, proto, both raw endpoints as address texts) and, per direction of the flow row,
-- the earliest and the latest window start (`start_ns`) of the raw rows of that key in the bucket
-- whose counters in that direction are not both zero: `tx_first`/`tx_last` for the src→dst
-- observation (tx counters), `rx_first`/`rx_last` for dst→src (rx counters). A direction without
-- such a row holds the sentinels 9223372036854775807 (first) and -9223372036854775807 (last).
-- The edge model (SPEC §3) and address resolution run on these rows at query time as on raw rows:
-- the reporter, the kind and both ends are in the key. Messages without flow rows (kind 255) are no key.
--
-- AggregatingMergeTree of min/max states, fed by materialized views over `flows`: min and max are
-- idempotent, so a row inserted twice (a retried insert, the writer's repair, the fill below) changes
-- nothing, and a key's rows in several inserts merge into one lazily. Readers take
-- `finalizeAggregation` per row and min/max over the rows (unmerged rows of a key give the same).
--
-- On a cluster each shard feeds its `_local` tables from its own rows (sharded by reporter, as
-- `flows`), and the Distributed tables read them all.

-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS sightings_1m (
    bucket Int64,
    reporter String,
    kind UInt8,
    proto UInt8,
    src String,
    dst String,
    tx_first AggregateFunction(min, Int64),
    tx_last AggregateFunction(max, Int64),
    rx_first AggregateFunction(min, Int64),
    rx_last AggregateFunction(max, Int64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(bucket))
ORDER BY (bucket, reporter, kind, proto, src, dst);

-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS sightings_1h (
    bucket Int64,
    reporter String,
    kind UInt8,
    proto UInt8,
    src String,
    dst String,
    tx_first AggregateFunction(min, Int64),
    tx_last AggregateFunction(max, Int64),
    rx_first AggregateFunction(min, Int64),
    rx_last AggregateFunction(max, Int64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(toDateTime(bucket))
ORDER BY (bucket, reporter, kind, proto, src, dst);

-- shard by: cityHash64(reporter)
CREATE TABLE IF NOT EXISTS sightings_1d (
    bucket Int64,
    reporter String,
    kind UInt8,
    proto UInt8,
    src String,
    dst String,
    tx_first AggregateFunction(min, Int64),
    tx_last AggregateFunction(max, Int64),
    rx_first AggregateFunction(min, Int64),
    rx_last AggregateFunction(max, Int64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYear(toDateTime(bucket))
ORDER BY (bucket, reporter, kind, proto, src, dst);

CREATE MATERIALIZED VIEW IF NOT EXISTS sightings_1m_feed TO sightings_1m AS
    SELECT intDiv(start_ns, 60000000000) * 60 AS bucket, reporter, kind, proto, src, dst,
           minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(9223372036854775807))) AS tx_first,
           maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(-9223372036854775807))) AS tx_last,
           minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(9223372036854775807))) AS rx_first,
           maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(-9223372036854775807))) AS rx_last
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, src, dst;

CREATE MATERIALIZED VIEW IF NOT EXISTS sightings_1h_feed TO sightings_1h AS
    SELECT intDiv(start_ns, 3600000000000) * 3600 AS bucket, reporter, kind, proto, src, dst,
           minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(9223372036854775807))) AS tx_first,
           maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(-9223372036854775807))) AS tx_last,
           minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(9223372036854775807))) AS rx_first,
           maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(-9223372036854775807))) AS rx_last
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, src, dst;

CREATE MATERIALIZED VIEW IF NOT EXISTS sightings_1d_feed TO sightings_1d AS
    SELECT intDiv(start_ns, 86400000000000) * 86400 AS bucket, reporter, kind, proto, src, dst,
           minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(9223372036854775807))) AS tx_first,
           maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(-9223372036854775807))) AS tx_last,
           minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(9223372036854775807))) AS rx_first,
           maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(-9223372036854775807))) AS rx_last
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, src, dst;

-- A store written before this migration: its sightings from the raw rows it holds (nothing for a
-- new store). On a cluster each server fills its local tables from its own rows. The minutes are
-- filled twice: an insert that began before the views existed and landed after the first fill
-- began is in neither the views nor the first fill (min and max make the second fill harmless).
-- What the tables still lack (a cluster shard not yet filled, a server that died between an
-- insert's views) is found at query time: `scope` takes a bucket's sightings only when they hold
-- the same keys as its rollup rows, and reads the raw rows otherwise (ClickHouseQueries.scope);
-- the writer's repair refills them.
INSERT INTO sightings_1m (bucket, reporter, kind, proto, src, dst, tx_first, tx_last, rx_first, rx_last)
    SELECT intDiv(start_ns, 60000000000) * 60 AS bucket, reporter, kind, proto, src, dst,
           minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(9223372036854775807))),
           maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(-9223372036854775807))),
           minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(9223372036854775807))),
           maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(-9223372036854775807)))
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, src, dst;

INSERT INTO sightings_1m (bucket, reporter, kind, proto, src, dst, tx_first, tx_last, rx_first, rx_last)
    SELECT intDiv(start_ns, 60000000000) * 60 AS bucket, reporter, kind, proto, src, dst,
           minState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(9223372036854775807))),
           maxState(if(tx_packets != 0 OR tx_bytes != 0, start_ns, toInt64(-9223372036854775807))),
           minState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(9223372036854775807))),
           maxState(if(rx_packets != 0 OR rx_bytes != 0, start_ns, toInt64(-9223372036854775807)))
    FROM flows WHERE kind != 255
    GROUP BY bucket, reporter, kind, proto, src, dst;

INSERT INTO sightings_1h (bucket, reporter, kind, proto, src, dst, tx_first, tx_last, rx_first, rx_last)
    SELECT intDiv(bucket, 3600) * 3600 AS b, reporter, kind, proto, src, dst,
           minMergeState(tx_first), maxMergeState(tx_last), minMergeState(rx_first), maxMergeState(rx_last)
    FROM sightings_1m
    GROUP BY b, reporter, kind, proto, src, dst;

INSERT INTO sightings_1d (bucket, reporter, kind, proto, src, dst, tx_first, tx_last, rx_first, rx_last)
    SELECT intDiv(bucket, 86400) * 86400 AS b, reporter, kind, proto, src, dst,
           minMergeState(tx_first), maxMergeState(tx_last), minMergeState(rx_first), maxMergeState(rx_last)
    FROM sightings_1h
    GROUP BY b, reporter, kind, proto, src, dst;
