-- tailflow store, version 10: counted edge sums per long rollup bucket (issue 20).
--
-- A `top` by endpoint or pair over weeks reads, for every day-or-longer rollup bucket of
-- the window, every reporter's rollup keys and runs the edge model (SPEC §3) on each: a
-- 30-day question on 300 nodes reads millions of keys to find tens of thousands of edges.
-- `edge_sums` keeps the answer of that work per bucket: the counted edges (kind, from
-- endpoint, to endpoint) with their packets and bytes, packed (format:
-- Sources/FlowStore/EdgeSumCodec.swift), so such a question reads a few rows instead.
--
-- It is a cache and never the only copy: a bucket without a row, or with a row counted
-- under other address owners or reporters than the store has now (`resolution`, a
-- fingerprint of both: the edge model resolves addresses to nodes and picks the counting
-- side by who reports), is read from the rollups as before. Any change to a bucket's
-- rollups deletes its row (the triggers below), so a row present is the sum of what the
-- rollups hold. Writers fill it in after they commit (`ingest`, `nodes import`, `serve`
-- when idle); questions only read it.
CREATE TABLE edge_sums (
    step INTEGER NOT NULL,          -- the rollup step, seconds (a day or more)
    bucket INTEGER NOT NULL,        -- the bucket start, Unix seconds
    resolution INTEGER NOT NULL,    -- fingerprint of the address owners and reporters it was counted with
    edges INTEGER NOT NULL,         -- edges packed in `sums`
    sums BLOB NOT NULL,
    PRIMARY KEY (step, bucket)
) WITHOUT ROWID;

CREATE TRIGGER edge_sums_stale_on_insert AFTER INSERT ON rollups WHEN NEW.step >= 86400
BEGIN
    DELETE FROM edge_sums WHERE step = NEW.step AND bucket = NEW.bucket;
END;

CREATE TRIGGER edge_sums_stale_on_update AFTER UPDATE ON rollups WHEN OLD.step >= 86400 OR NEW.step >= 86400
BEGIN
    DELETE FROM edge_sums WHERE step = OLD.step AND bucket = OLD.bucket;
    DELETE FROM edge_sums WHERE step = NEW.step AND bucket = NEW.bucket;
END;

CREATE TRIGGER edge_sums_stale_on_delete AFTER DELETE ON rollups WHEN OLD.step >= 86400
BEGIN
    DELETE FROM edge_sums WHERE step = OLD.step AND bucket = OLD.bucket;
END;
