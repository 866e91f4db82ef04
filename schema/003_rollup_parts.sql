-- tailflow store, version 3: rollup buckets in parts, so that frequent small commits stay cheap.
--
-- Before, every commit rewrote the whole stored sums of each (step, reporter,
-- bucket) it touched: for the day and multi-day levels a blob of thousands of
-- keys, rewritten at every commit of the server's group-commit writer. Now a
-- commit whose new keys are few next to the bucket's stored ones appends them
-- as a new `part`; once the parts together reach a quarter of part 0 (or 64
-- parts) the writer merges them all back into part 0. A bucket's sums are the
-- sum of its parts; readers add them up as they add up buckets.
CREATE TABLE rollups_in_parts (
    step INTEGER NOT NULL,
    reporter INTEGER NOT NULL REFERENCES nodes(id),
    bucket INTEGER NOT NULL,
    part INTEGER NOT NULL,          -- 0: the merged sums; 1, 2, …: sums added since
    entries INTEGER NOT NULL,       -- keys packed in `sums`
    sums BLOB NOT NULL,
    PRIMARY KEY (step, reporter, bucket, part)
) WITHOUT ROWID;

INSERT INTO rollups_in_parts (step, reporter, bucket, part, entries, sums)
    SELECT step, reporter, bucket, 0, entries, sums FROM rollups;
DROP TABLE rollups;
ALTER TABLE rollups_in_parts RENAME TO rollups;
