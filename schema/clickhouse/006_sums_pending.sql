-- tailflow on ClickHouse, version 6: the spans of time whose rollups and sightings a writer is
-- writing (issue 19, a crash gap of 005).
--
-- Since 005 the writer inserts a batch's raw rows, then their rollups and sightings (summed by
-- tailflow): two steps, not one transaction. A writer killed between them left that time's rollups
-- short until an ingest met the same messages again. Now each batch opens a span here (its id, its
-- first and last window start, done = 0) before its raw rows and closes it (the same row with
-- done = 1) after its sums; a writer starting finds the spans left open, makes those times' rollups
-- and sightings equal to their raw rows (ClickHouseRollups.reconcile), then closes them.
-- Open spans: SELECT id FROM sums_pending GROUP BY id HAVING max(done) = 0. The engine keeps one
-- row per id once merged (the closed one).
CREATE TABLE IF NOT EXISTS sums_pending (
    id UInt64,
    from_ns Int64,
    through_ns Int64,
    done UInt8
) ENGINE = ReplacingMergeTree(done)
ORDER BY id;
