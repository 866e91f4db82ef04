-- tailflow store, version 9: one stored row per reporter and minute instead of one per message (issue 20).
--
-- A message (one node's report over a ~5 s window) cost a row of `messages` and an entry of
-- `messages_by_reporter`: some 56 bytes and two B-tree inserts beside its packed flow rows,
-- which at four or five flow rows a message was half the file and half the writer's time.
-- `message_groups` holds every message a reporter sent whose window starts in one minute:
-- their headers (start, duration, digest, row count, `logged`) packed together, then each
-- message's packed rows as before (format: Sources/FlowStore/MessageGroup.swift). The message
-- identity is unchanged: the writer reads the minute's group before it adds to it and skips a
-- message whose (start, digest) is there already.
--
-- The key is the minute (Unix minutes) times 2^24 plus the reporter: groups are clustered by
-- time, then reporter; a rowid key keeps a group of up to 8 KB on its page.
CREATE TABLE message_groups (
    id INTEGER PRIMARY KEY,            -- minute << 24 | reporter
    messages INTEGER NOT NULL,         -- messages in `body`
    row_count INTEGER NOT NULL,        -- their flow rows
    body BLOB NOT NULL
);
CREATE INDEX message_groups_by_reporter ON message_groups((id & 16777215), id);
