-- tailflow store, version 6: Tailscale's configuration audit log beside the flows (SPEC §13).
--
-- One row per configuration event (who changed what, when), as the API's
-- `/logging/configuration` answers and log streaming sends them. The decoded
-- fields are columns; `record` keeps the whole record verbatim (the JSON object
-- as it arrived).
--
-- Identity: (time_ns, identity), where `identity` is ConfigChange.identity, a
-- 63-bit hash of eventTime, eventGroupID, origin, actor.id, target.id,
-- target.type, target.property, action, old, new (compact JSON), actionDetails
-- and error. Names, login names and the record's spacing or extra keys are not
-- part of it, so the same event re-sent, pulled twice over an overlap, or read
-- from two containers is stored once (INSERT OR IGNORE).
CREATE TABLE changes (
    time_ns INTEGER NOT NULL,       -- eventTime, ns since the epoch
    identity INTEGER NOT NULL,
    event_group TEXT,               -- eventGroupID
    origin TEXT,
    actor_id TEXT,
    actor_type TEXT,
    actor_login TEXT,               -- actor.loginName
    actor_name TEXT,                -- actor.displayName
    target_id TEXT,
    target_name TEXT,
    target_type TEXT,
    property TEXT,                  -- target.property
    action TEXT NOT NULL,
    old TEXT,                       -- compact JSON, NULL when absent
    new TEXT,
    details TEXT,                   -- actionDetails
    error TEXT,
    record TEXT NOT NULL,           -- the record as received
    PRIMARY KEY (time_ns, identity)
) WITHOUT ROWID;

CREATE INDEX changes_by_target ON changes (target_id, time_ns);

-- `tailflow follow` keeps one checkpoint per log type (SPEC §13): the network
-- log's stays in pull_checkpoints (002); the others are here.
CREATE TABLE log_checkpoints (
    api_url TEXT NOT NULL,
    tailnet TEXT NOT NULL,
    log_type TEXT NOT NULL,         -- 'configuration'
    checkpoint_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (api_url, tailnet, log_type)
) WITHOUT ROWID;
