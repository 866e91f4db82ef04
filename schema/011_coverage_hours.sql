-- tailflow store, version 11: what `coverage` needs of each hour of messages (issue 17).
--
-- `tailflow coverage` over a day read every message of the day (1.9 M on a 300-node tailnet)
-- and, without `logged`, decoded every flow row (12 M) to find who first reported each
-- conversation. `coverage_hours` keeps, per hour of message window starts, what that reading
-- finds (format: Sources/FlowStore/CoverageHours.swift): per reporter the count of its
-- messages, the union of their windows and their `end - logged` offsets; per conversation its
-- first two reporters and when each first reported it. A question reads one row per hour
-- fully inside its window and the messages of the rest.
--
-- It is a cache and never the only copy: an hour without a row is read from its messages.
-- Whatever stores, changes or deletes a message of an hour deletes the hour's row in the same
-- transaction (the writer for each message it stores or whose `logged` it fills in, prune for
-- the hours it cuts into), so a row present is exactly what its messages give; `check --full`
-- compares every row with its messages. Writers fill rows in after they commit (`ingest`,
-- `pull`); the first of them after this migration fills every hour of an existing store.
CREATE TABLE coverage_hours (
    hour INTEGER PRIMARY KEY,       -- the hour's start, Unix seconds
    summary BLOB NOT NULL
) WITHOUT ROWID;
