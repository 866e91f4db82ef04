#!/usr/bin/env python3
"""Writes the configuration-change fixtures (issue 18) from messages.json and the events below.

Every file holds the same six flow-log messages (the tiny tailnet of ../../../README's
examples) and the same six configuration audit log records, interleaved, in one container:
api.json ({"logs":[...]}), mixed.jsonl, mixed.jsonl.gz, hec.json (Splunk HEC), bulk.ndjson
(Elasticsearch _bulk); network.jsonl holds the messages alone. bad.jsonl holds malformed events.
Run it again after editing: python3 make.py
"""
import gzip, json

messages = json.load(open("messages.json"))

def actor(id, login, name, type="USER"):
    return {"id": id, "type": type, "loginName": login, "displayName": name}

alice = actor("uAl1ceCNTRL", "alice@example.com", "Alice Ng")
bob = actor("uB0bCNTRL", "bob@example.com", "Bob Ito")
control = {"id": "tailscale", "type": "AUTOMATED_WORKER", "displayName": "Tailscale"}

events = [
    {"eventTime": "2026-11-01T09:58:00.512Z", "type": "CONFIG", "eventGroupID": "7f9d1c0e2b", "origin": "ADMIN_CONSOLE",
     "actor": alice, "target": {"id": "example.com", "name": "example.com", "type": "TAILNET", "property": "ACL"},
     "action": "UPDATE", "old": "{\"acls\":[{\"action\":\"accept\",\"src\":[\"group:eng\"],\"dst\":[\"tag:db:5432\"]}]}",
     "new": "{\"acls\":[{\"action\":\"accept\",\"src\":[\"group:eng\"],\"dst\":[\"tag:db:5432\",\"autogroup:internet:*\"]}]}"},
    {"eventTime": "2026-11-01T09:59:30Z", "type": "CONFIG", "eventGroupID": "a1b2c3d4e5", "origin": "CONFIG_API",
     "actor": bob, "target": {"id": "nDb1x9ZCNTRL", "name": "db-1.tail7f3e.ts.net", "type": "NODE", "property": "TAGS"},
     "action": "UPDATE", "old": ["tag:db"], "new": ["tag:db", "tag:prod"], "actionDetails": "promote db-1 to prod"},
    {"eventTime": "2026-11-01T10:00:05Z", "type": "CONFIG", "eventGroupID": "c0ffee0001", "origin": "ADMIN_CONSOLE",
     "actor": alice, "target": {"id": "nCi4Lm8CNTRL", "name": "old-ci.tail7f3e.ts.net", "type": "NODE", "property": "MACHINE_AUTHORIZED"},
     "action": "APPROVE", "old": False, "new": True},
    {"eventTime": "2026-11-01T10:00:20Z", "type": "CONFIG", "eventGroupID": "c0ffee0002", "origin": "ADMIN_CONSOLE",
     "actor": bob, "target": {"id": "nRt7Pq2CNTRL", "name": "router-1.tail7f3e.ts.net", "type": "NODE", "property": "KEY_EXPIRY_TIME"},
     "action": "UPDATE", "old": "2026-12-01T00:00:00Z", "new": "2027-05-30T00:00:00Z"},
    {"eventTime": "2026-11-01T10:00:40Z", "type": "CONFIG", "eventGroupID": "d0d0d0d0d0", "origin": "CONFIG_API",
     "actor": bob, "target": {"id": "example.com", "name": "example.com", "type": "TAILNET", "property": "DNS_NAMESERVERS"},
     "action": "UPDATE", "old": ["1.1.1.1"], "new": ["1.1.1.1", "9.9.9.9"], "error": "nameserver 9.9.9.9 is not reachable"},
    {"eventTime": "2026-11-01T10:01:00Z", "type": "CONFIG", "eventGroupID": "e1e1e1e1e1", "origin": "CONTROL",
     "actor": control, "target": {"id": "nCi4Lm8CNTRL", "name": "old-ci.tail7f3e.ts.net", "type": "NODE"},
     "action": "DELETE", "actionDetails": "ephemeral node inactive"},
]

def interleaved():
    out = []
    for i in range(6):
        out.append(("message", messages[i]))
        out.append(("change", events[i]))
    return out

items = interleaved()
line = lambda v: json.dumps(v, separators=(",", ":"))

with open("api.json", "w") as f:
    json.dump({"logs": [v for _, v in items], "version": 1}, f, indent=1)
with open("mixed.jsonl", "w") as f:
    f.writelines(line(v) + "\n" for _, v in items)
with gzip.GzipFile("mixed.jsonl.gz", "wb", mtime=0) as f:
    f.write("".join(line(v) + "\n" for _, v in items).encode())
with open("network.jsonl", "w") as f:
    f.writelines(line(m) + "\n" for m in messages)
with open("hec.json", "w") as f:
    for kind, v in items:
        t = v.get("eventTime") or v["start"]
        st = "tailscale:audit" if kind == "change" else "tailscale:network"
        f.write(line({"time": t, "host": "tailscale", "sourcetype": st, "event": v}) + "\n")
with open("bulk.ndjson", "w") as f:
    for i, (kind, v) in enumerate(items):
        f.write(line({"create" if i % 2 == 0 else "index": {"_index": "tailscale-" + kind}}) + "\n")
        f.write(line(v) + "\n")
with open("bad.jsonl", "w") as f:
    f.write(line({"eventGroupID": "x1", "action": "UPDATE", "actor": alice, "target": events[1]["target"]}) + "\n")
    f.write(line({"eventTime": "yesterday", "eventGroupID": "x2", "action": "UPDATE", "actor": bob}) + "\n")
    f.write(line({"eventTime": "2026-11-01T10:02:00Z", "action": "UPDATE", "actor": "bob", "target": {"id": 7}}) + "\n")
    f.write(line(events[2]) + "\n")
