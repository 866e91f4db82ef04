-- tailflow store, version 12: the levels of a day and more may lag behind the rest (issue 20).
--
-- The server commits a group of submissions many times a second, and every commit used to
-- add a part to every reporter's day, 2-, 4-, 8- and 16-day buckets: most of what it wrote
-- to the write-ahead log. Its writer now writes the minute and hour levels at every commit
-- and folds finished hours into the longer levels later, once per hour of data.
--
-- `rollup_marks` says how far a level of a day or more is complete: it holds exactly the
-- flow rows whose message window starts before `complete_to_ns` (an hour boundary), and none
-- after; a row at or after the mark is in the minute and hour levels only, until a writer
-- folds it in and moves the mark. A level without a row is complete. Questions read such a
-- level only for buckets that end at or before its mark and take the rest from the hour
-- level (Sources/FlowQuery/Planner.swift); a writer that does not defer folds everything in
-- and deletes the rows (Sources/FlowStore/FlowWriter+Fold.swift).
CREATE TABLE rollup_marks (
    level INTEGER PRIMARY KEY,      -- the rollup step, seconds (a day or more)
    complete_to_ns INTEGER NOT NULL
);
