-- tailflow store, version 8: incident exports (`tailflow export`, `tailflow import`, SPEC §9).
--
-- Migration 004 created a `manifest` table before export existed; no tailflow ever
-- wrote a row to it, so it is replaced here by the shape export and import need.
--
-- A case file (`tailflow export -o CASE.db`) holds exactly one row with
-- `imported_ns` NULL: its own manifest. `tailflow export --verify CASE.db`
-- recomputes `sha256` over the file's content (every table but this one, in the
-- canonical order `hash_scheme` names; see Sources/FlowStore/FlowStore+Export.swift)
-- and compares. `tailflow import CASE.db` copies the case's rows here with
-- `imported_ns` set: the provenance of what was merged into a store (importing the
-- same case again adds no row, as it adds no message).
DROP TABLE manifest;
CREATE TABLE manifest (
    id INTEGER PRIMARY KEY,
    from_ns INTEGER NOT NULL,       -- the exported window [from, to)
    to_ns INTEGER NOT NULL,
    endpoint TEXT,                  -- the --endpoint argument as given (NULL: every endpoint)
    endpoint_key TEXT,              -- what it resolved to: a stable node ID, an address or *
    filter TEXT,                    -- the --where expression, canonical form (NULL: none)
    messages INTEGER NOT NULL,      -- counts of what was exported
    flow_rows INTEGER NOT NULL,
    nodes INTEGER NOT NULL,
    reporters INTEGER NOT NULL,     -- nodes marked as reporters (whether or not a message of theirs was exported)
    rejects INTEGER NOT NULL,
    changes INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    tailflow_version TEXT NOT NULL,
    source TEXT NOT NULL,           -- the path of the store it was exported from
    hash_scheme TEXT NOT NULL,      -- how sha256 was computed, e.g. 'tailflow-case-1'
    sha256 TEXT NOT NULL,           -- hex SHA-256 of the content
    imported_ns INTEGER             -- NULL: this file's own export; else when a case with this manifest was imported
);
