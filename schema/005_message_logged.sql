-- tailflow store, version 5: when the log service received each message (`logged`, SPEC §1).
--
-- `tailflow coverage` estimates a node's clock skew from it: a node whose clock
-- runs ahead stamps its windows later than the service receives them. Stored
-- compactly as the offset from the window's end in whole milliseconds
-- (logged - end; a few hundred to a few thousand for a healthy node, so one to
-- three bytes in the record), NULL when the message did not carry `logged`
-- (log streaming, files without it, and every message stored before this
-- version: coverage then estimates skew from the peers' windows instead).
ALTER TABLE messages ADD COLUMN logged_ms INTEGER;
