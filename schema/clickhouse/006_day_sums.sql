-- tailflow on ClickHouse, version 6: each day's counted edges, resolved and summed once, so that a
-- `top` by endpoint or pair over days reads a few rows per day instead of every reporter's rollup
-- keys of it with the edge model and address resolution applied to each (issue 19; SQLite keeps the
-- same in `edge_sums`, schema/010). Over the 300-node week: 9,497 endpoint and 102,761 pair rows
-- instead of 187,200 day rows resolved and counted at every question.
--
-- Written by the questions, not by the writer (ClickHouseDaySums): a `top` whose window holds whole
-- days reads each day's signature (a sum over its `rollup_1d` rows of their counters times a mix
-- of their numeric key columns: a row added with traffic, or any counter changed, changes it; the
-- reporter and addresses are not mixed in, so counters moved between them alone do not) and looks for a fill
-- of that day under the same signature and the same fingerprint of the node tables it resolves
-- with (the owner of each address, whether that owner reports). A day without one is filled then:
-- one INSERT … SELECT on the server from that day's rollup rows, each stored row carrying its rollup
-- rows' share of the signature, then the fill's record here, summed from the rows written (so the
-- signature recorded is that of exactly the rows summed, whatever was inserted meanwhile).
--
-- No unique keys, no insert deduplication: two questions may fill the same day at once. Each fill
-- has an id of its own (its partition, random); a reader takes one fill per day (the latest record
-- of its fingerprint and signature), so a second fill is never added to the first. A fill whose
-- record is missing (a question that died between its rows and its record) is never read.
--
-- Bound: after a fill, fills older than 10 minutes are given up unless they are the filler's current
-- ones or the newest of their day under its fingerprint (a tombstone record: `rows` 0, `fp` 0, made
-- then; readers skip them), and dropped (DROP PARTITION, then their records) 10 minutes after their
-- tombstone, so that a question that took one before its tombstone still reads it: fills of other
-- fingerprints (owners changed), of older signatures (a late message in that day), duplicates, and
-- fills without a record. What stays is about one fill per day asked (kept until that day is filled
-- again: a partition per day ever asked) and the last 10 minutes' fills. One INSERT fills at most
-- 100 days (newer servers refuse more partitions in one insert block).
--
-- These tables are a cache that questions write (the only writes a question makes). A user that
-- may not write (readonly, code 164) or a fill not all there when read back: the question answers
-- without them, resolving the days at query time.
--
-- `day_sums` rows, one fill's: `level` 0 a pair of resolved ends `a <= b` of one kind, `ab_*` its a→b
-- and `ba_*` its b→a counters as `top --by pair` counts them; level 1 an endpoint `a` (`b` empty),
-- `ab_*` what it sent and `ba_*` what it received as `top` counts them, `star` bit 0: traffic between
-- `*` and `*`, bit 1: between `*` and another end (for `*`'s label). `sig`: on pair rows, their rollup
-- rows' share of the day's signature. `day_sums_fills`: one record per fill, under the fingerprint
-- `fp`, with the day's signature summed from its rows, its row count and when it was made.
--
-- Not used on a cluster (`?cluster=`): the tables exist there, empty; the questions resolve each
-- day's rollup rows at query time as before.

CREATE TABLE IF NOT EXISTS day_sums (
    fill UInt64,
    bucket Int64,
    level UInt8,
    kind UInt8,
    a String,
    b String,
    ab_packets UInt64,
    ab_bytes UInt64,
    ba_packets UInt64,
    ba_bytes UInt64,
    star UInt8,
    sig UInt64
) ENGINE = MergeTree
PARTITION BY fill
ORDER BY (level, kind, a, b);

CREATE TABLE IF NOT EXISTS day_sums_fills (
    fp UInt64,
    bucket Int64,
    sig UInt64,
    fill UInt64,
    rows UInt64,
    made DateTime
) ENGINE = MergeTree
ORDER BY (fp, bucket, sig);
