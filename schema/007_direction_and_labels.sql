-- tailflow store, version 7: who opened a connection, and names for what is not a node.
--
-- 1. `rollups.sums` entries carry, beside the service port, which end of the
--    summed rows held it (bits 2-3 of the entry's kind byte, see RollupCodec:
--    1 neither, 2 the destination, 3 the source; 0 not recorded), so `scope`
--    can say who opened the connections (`outboundPorts`, `inboundPorts`) at
--    any rollup level, exactly. No table changes: after this file, tailflow
--    rebuilds every stored bucket whose raw flow rows are all still in the
--    store from those rows (FlowStore's RollupRebuild, in the same
--    transaction). A bucket whose raw rows are gone keeps its sums, with the
--    side not recorded.
-- 2. DERP relay regions (`tailflow derp import`, Tailscale's DERP map), so
--    physical rows to 127.3.3.40:N read as "DERP N (nyc)".
-- 3. The subnet routes a node carries (the device list's `enabledRoutes`, else
--    `advertisedRoutes`), so a subnet host reads as "ROUTE via ROUTER". NULL:
--    no device list has said; a message's node facts never clear it.
CREATE TABLE derp_regions (
    region_id INTEGER PRIMARY KEY,  -- the map's RegionID; rows to 127.3.3.40:N are region N
    code TEXT,                      -- RegionCode, e.g. "nyc"
    name TEXT,                      -- RegionName, e.g. "New York City"
    imported_ns INTEGER NOT NULL    -- when the map holding it was imported
);

ALTER TABLE nodes ADD COLUMN routes TEXT;  -- JSON array of CIDR prefixes, e.g. ["192.168.10.0/24"]
