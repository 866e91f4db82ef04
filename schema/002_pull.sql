-- tailflow store, version 2: pulling from the Tailscale API (`tailflow follow`).
--
-- One checkpoint per (API root, tailnet): every message whose window starts
-- before `checkpoint_ns` has been fetched and committed. It only moves forward,
-- and only after the data up to it is committed, so a follow that is killed
-- resumes from it (re-fetching an overlap, which idempotent ingest makes safe).
CREATE TABLE pull_checkpoints (
    api_url TEXT NOT NULL,          -- the API root, e.g. https://api.tailscale.com
    tailnet TEXT NOT NULL,
    checkpoint_ns INTEGER NOT NULL, -- fetched and committed up to here (exclusive)
    updated_ns INTEGER NOT NULL,    -- wall-clock time of the last advance
    PRIMARY KEY (api_url, tailnet)
) WITHOUT ROWID;
