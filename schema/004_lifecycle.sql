-- tailflow store, version 4: store lifecycle (retention, incident exports).
--
-- What `tailflow prune` (or a server's background retention) deleted: one row
-- per level, `level` 0 for raw flow rows (table `messages`), else the rollup
-- step in seconds (60, 3600, 86400, …). Everything of that level whose time
-- (window start, or bucket start) lies before `kept_from_ns` was deleted; the
-- query planner reads this table to answer from the finest level that still
-- holds a range, and to refuse, naming `policy`, what none of them holds.
-- A level without a row was never pruned.
CREATE TABLE retention (
    level INTEGER PRIMARY KEY,
    kept_from_ns INTEGER NOT NULL,  -- the level holds nothing before this (ns, aligned to the level)
    policy TEXT NOT NULL,           -- the keep period that pruned it, e.g. "30d"
    pruned_ns INTEGER NOT NULL      -- wall-clock time of the last prune
) WITHOUT ROWID;

-- An incident export (`tailflow export`) describes itself: one row per export
-- that wrote or was merged into this store. `tailflow export --verify` recomputes
-- `sha256` over the exported content and compares.
CREATE TABLE manifest (
    id INTEGER PRIMARY KEY,
    from_ns INTEGER NOT NULL,       -- the window [from, to)
    to_ns INTEGER NOT NULL,
    endpoint TEXT,                  -- the --endpoint argument, as given (null: every endpoint)
    filter TEXT,                    -- the --where expression (null: none)
    messages INTEGER NOT NULL,      -- counts of what was exported
    flow_rows INTEGER NOT NULL,
    nodes INTEGER NOT NULL,
    rejects INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    tailflow_version TEXT NOT NULL,
    source TEXT NOT NULL,           -- the path of the store it was exported from
    sha256 TEXT NOT NULL            -- hex SHA-256 of the content (see Sources/FlowStore/FlowStore+Export.swift)
);
