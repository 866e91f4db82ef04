#!/usr/bin/env python3
"""race.py: tailflow against two peers, DuckDB and plain SQLite, on the same data.

One run:

1. generates flow logs with `tailflow generate` (JSON Lines plus the device list);
2. loads that file into
   - tailflow (`nodes import`, then `ingest`),
   - DuckDB (`read_json`, one row per Conn, persisted to a .duckdb file),
   - plain SQLite (lines into a staging table, then INSERT … SELECT with
     json_each/json_extract, indexes on start and reporter),
   timing each load (wall clock, indexes included) and checking that all
   three stored the same number of flow rows;
3. asks the same questions of all three (tailflow through its CLI with
   `--format json`, the peers in SQL with the edge model of SPEC §3) and
   checks that every row and every number is equal:
   Q1 `top --by endpoint`, Q2 `top --by pair` (both limit 20, whole window),
   Q3 a dense 1-minute `series --pair A,B` for Q2's first pair;
4. times each question 5 times per system and takes the median;
5. prints one markdown table (and writes `--json OUT`).

`race.py --self-check` runs the three systems on the tiny fixture
(/work/shared/fixtures/tiny) and compares them with its expected answers.

The SQL peers, in brief (see README.md):
- flows(reporter, start_ns, kind, proto, src_ip, src_port, dst_ip, dst_port,
  tx_pkts, tx_bytes, rx_pkts, rx_bytes), one row per Conn; start_ns keeps the
  nanoseconds of the RFC 3339 string; a missing address is NULL.
- addresses(ip, node_id) and nodes(node_id, name) from the device list;
  reporters(node_id), every nodeId that reported a message, built at load
  time (as tailflow keeps it in its nodes table).
- Pragmas for SQLite are tailflow's own (WAL, synchronous=NORMAL, 16 KiB pages,
  64 MiB cache), so the file format is compared, not the settings.

Requires Python 3.11, `pip install duckdb==2.0.0` and a built tailflow.
Deterministic: the generator is seeded and every ranking has a full tie-break.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import duckdb
except ImportError:
    sys.exit("race.py: the duckdb module is missing; install it with `pip install duckdb==2.0.0`")

DEFAULT_TAILFLOW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "tailflow")
TINY = Path("/work/shared/fixtures/tiny")
START = "2026-11-02T00:00:00Z"
RUNS = 5
LIMIT = 20
NS = 1_000_000_000
KIND_PATHS = {"virtual": "virtualTraffic", "subnet": "subnetTraffic",
              "exit": "exitTraffic", "physical": "physicalTraffic"}
DEFAULT_KINDS = ("virtual", "subnet", "exit")
SYSTEMS = ("tailflow", "duckdb", "sqlite")
QUERIES = ("Q1", "Q2", "Q3")
QUERY_TITLES = {"Q1": "top --by endpoint", "Q2": "top --by pair", "Q3": "series 1m --pair"}

# ---------------------------------------------------------------- helpers


def die(message: str) -> None:
    sys.exit(f"race.py: {message}")


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def parse_duration(text: str) -> int:
    """'90s', '15m', '6h', '1d' -> seconds."""
    m = re.fullmatch(r"(\d+)([smhd])", text)
    if not m:
        die(f"bad duration {text!r} (use e.g. 90s, 15m, 6h, 1d)")
    return int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]


def to_ns(rfc3339: str) -> int:
    """'2026-11-02T00:00:00Z' -> ns since the epoch (whole seconds only)."""
    t = dt.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * NS


def rfc3339(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def file_bytes(path: Path) -> int:
    """Size of a database, with its WAL if one is left."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def median_time(fn, runs: int = RUNS) -> tuple[float, list[float], object]:
    """Runs fn `runs` times; returns (median seconds, all times, last result)."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


# ---------------------------------------------------------------- SQL, shared by both peers
#
# Both engines understand substr/instr/CASE/coalesce the same way; only integer
# division and "seconds since the epoch of a timestamp string" differ.


class Dialect:
    def __init__(self, name: str, idiv: str, epoch: str):
        self.name, self._idiv, self._epoch = name, idiv, epoch

    def idiv(self, a: str, b: str) -> str:
        return f"({a} {self._idiv} {b})"

    def epoch(self, text: str) -> str:
        return self._epoch.format(text)


DUCK = Dialect("duckdb", "//", "CAST(epoch(CAST({} AS TIMESTAMP)) AS BIGINT)")
LITE = Dialect("sqlite", "/", "unixepoch({})")


def ip_sql(a: str) -> str:
    """The IP of 'ip:port' or '[ipv6]:port'; NULL stays NULL."""
    return (f"CASE WHEN substr({a}, 1, 1) = '[' THEN substr({a}, 2, instr({a}, ']') - 2) "
            f"ELSE substr({a}, 1, instr({a}, ':') - 1) END")


def port_sql(a: str) -> str:
    return (f"CAST(CASE WHEN substr({a}, 1, 1) = '[' THEN substr({a}, instr({a}, ']') + 2) "
            f"ELSE substr({a}, instr({a}, ':') + 1) END AS INTEGER)")


def start_ns_sql(d: Dialect, s: str) -> str:
    """RFC 3339 UTC ('…T…Z', 0 to 9 fractional digits) -> BIGINT ns since the epoch."""
    frac = (f"CASE WHEN substr({s}, 20, 1) = '.' THEN "
            f"CAST(substr(substr({s}, 21, instr({s}, 'Z') - 21) || '000000000', 1, 9) AS BIGINT) ELSE 0 END")
    return f"({d.epoch(f'substr({s}, 1, 19)')} * 1000000000 + {frac})"


FLOWS_DDL = """
CREATE TABLE flows (
    reporter TEXT NOT NULL,   -- nodeId of the message
    start_ns BIGINT NOT NULL, -- window start, ns since the epoch
    kind TEXT NOT NULL,       -- virtual, subnet, exit, physical
    proto INTEGER NOT NULL,
    src_ip TEXT, src_port INTEGER,
    dst_ip TEXT, dst_port INTEGER,
    tx_pkts BIGINT NOT NULL, tx_bytes BIGINT NOT NULL,
    rx_pkts BIGINT NOT NULL, rx_bytes BIGINT NOT NULL
);
CREATE TABLE addresses (ip TEXT PRIMARY KEY, node_id TEXT NOT NULL);
CREATE TABLE nodes (node_id TEXT PRIMARY KEY, name TEXT);
CREATE TABLE reporters (node_id TEXT PRIMARY KEY);
"""


def device_rows(devices: Path) -> tuple[list[tuple], list[tuple]]:
    """(addresses, nodes) rows of a Tailscale device list."""
    addrs, nodes = [], []
    for d in json.loads(devices.read_text())["devices"]:
        nodes.append((d["nodeId"], d.get("name")))
        addrs.extend((a, d["nodeId"]) for a in d.get("addresses", []))
    return addrs, nodes


def edge_ctes(d: Dialect, lo: int, hi: int, kinds=DEFAULT_KINDS, step: int | None = None,
              observers: list[str] | None = None) -> str:
    """The edge model of SPEC §3 as CTEs, ending in edges(x, y[, t], np, nb).

    obs:   counters per (observer, bucket, physical?, src ip, dst ip) in [lo, hi)
    ends:  addresses resolved to endpoints: node ID, else the IP, else '*';
           a physical row's source is its reporter
    dirs:  each row as two observations: s→d with tx, d→s with rx
    edges: per edge x→y, only the observations that count: by x if x reports,
           else by y if y reports, else all
    `observers` (a pushdown, see series()) keeps only those reporters' rows.
    """
    # t, the bucket start in seconds, only when a step is asked for.
    t = ", t" if step else ""
    bucket = f", {d.idiv('start_ns', str(step * NS))} * {step} AS t" if step else ""
    where = [f"start_ns >= {lo}", f"start_ns < {hi}",
             f"kind IN ({', '.join(sql_str(k) for k in kinds)})"]
    if observers:
        where.append(f"reporter IN ({', '.join(sql_str(o) for o in observers)})")
    return f"""
obs AS (
    SELECT reporter AS r{bucket}, kind = 'physical' AS phys, src_ip, dst_ip,
           sum(tx_pkts) AS txp, sum(tx_bytes) AS txb, sum(rx_pkts) AS rxp, sum(rx_bytes) AS rxb
    FROM flows
    WHERE {' AND '.join(where)}
    GROUP BY r{t}, phys, src_ip, dst_ip),
ends AS (
    SELECT o.r{t.replace('t', 'o.t')},
           CASE WHEN o.phys THEN o.r ELSE coalesce(sa.node_id, o.src_ip, '*') END AS s,
           coalesce(da.node_id, o.dst_ip, '*') AS d,
           o.txp, o.txb, o.rxp, o.rxb
    FROM obs o
    LEFT JOIN addresses sa ON sa.ip = o.src_ip
    LEFT JOIN addresses da ON da.ip = o.dst_ip),
dirs AS (
    SELECT r{t}, s AS x, d AS y, txp AS np, txb AS nb FROM ends
    UNION ALL
    SELECT r{t}, d AS x, s AS y, rxp AS np, rxb AS nb FROM ends),
edges AS (
    SELECT x, y{t}, sum(np) AS np, sum(nb) AS nb
    FROM dirs
    WHERE CASE WHEN x IN (SELECT node_id FROM reporters) THEN r = x
               WHEN y IN (SELECT node_id FROM reporters) THEN r = y
               ELSE TRUE END
    GROUP BY x, y{t})"""


def top_endpoint_sql(d: Dialect, lo: int, hi: int, kinds=DEFAULT_KINDS) -> str:
    return f"""WITH {edge_ctes(d, lo, hi, kinds)},
sides AS (
    SELECT x AS e, nb AS sb, 0 AS rb, np AS sp, 0 AS rp FROM edges
    UNION ALL
    SELECT y AS e, 0 AS sb, nb AS rb, 0 AS sp, np AS rp FROM edges),
tot AS (
    SELECT e, sum(sb) AS sb, sum(rb) AS rb, sum(sp) AS sp, sum(rp) AS rp FROM sides GROUP BY e)
SELECT tot.e, n.name, sb, rb, sp, rp, sb + rb AS bytes, sp + rp AS packets
FROM tot LEFT JOIN nodes n ON n.node_id = tot.e
WHERE sb + rb <> 0 OR sp + rp <> 0
ORDER BY bytes DESC, tot.e
LIMIT {LIMIT}"""


def top_pair_sql(d: Dialect, lo: int, hi: int) -> str:
    return f"""WITH {edge_ctes(d, lo, hi)},
pairs AS (
    SELECT CASE WHEN x <= y THEN x ELSE y END AS a,
           CASE WHEN x <= y THEN y ELSE x END AS b,
           sum(CASE WHEN x <= y THEN nb ELSE 0 END) AS abb,
           sum(CASE WHEN x <= y THEN 0 ELSE nb END) AS bab,
           sum(CASE WHEN x <= y THEN np ELSE 0 END) AS abp,
           sum(CASE WHEN x <= y THEN 0 ELSE np END) AS bap
    FROM edges GROUP BY 1, 2)
SELECT a, b, na.name, nb.name, abb, bab, abp, bap, abb + bab AS bytes, abp + bap AS packets
FROM pairs
LEFT JOIN nodes na ON na.node_id = a
LEFT JOIN nodes nb ON nb.node_id = b
WHERE abb + bab <> 0 OR abp + bap <> 0
ORDER BY bytes DESC, a, b
LIMIT {LIMIT}"""


def series_sql(d: Dialect, lo: int, hi: int, step: int, a: str, b: str, observers: list[str]) -> str:
    first, last = (lo // NS) // step * step, ((hi - 1) // NS) // step * step
    return f"""WITH RECURSIVE {edge_ctes(d, lo, hi, step=step, observers=observers)},
buckets(t) AS (SELECT {first} UNION ALL SELECT t + {step} FROM buckets WHERE t + {step} <= {last}),
s AS (
    SELECT t, sum(nb) AS nb, sum(np) AS np FROM edges
    WHERE (x = {sql_str(a)} AND y = {sql_str(b)}) OR (x = {sql_str(b)} AND y = {sql_str(a)})
    GROUP BY t)
SELECT buckets.t, coalesce(s.nb, 0), coalesce(s.np, 0)
FROM buckets LEFT JOIN s ON s.t = buckets.t
ORDER BY buckets.t"""


OBSERVERS_SQL = "SELECT node_id FROM reporters WHERE node_id IN ({})"


def observers_of(reporters: set[str], a: str, b: str) -> list[str]:
    """The reporters whose rows can count for the pair {a, b} (SPEC §3); [] = all rows.

    Edge a→b counts from a if a reports, else from b if b reports, else from anyone;
    likewise b→a. This lets the series use the reporter index.
    """
    out = set()
    for x, y in ((a, b), (b, a)):
        if x in reporters:
            out.add(x)
        elif y in reporters:
            out.add(y)
        else:
            return []
    return sorted(out)


class SQLPeer:
    """Runs the three questions on a DB-API connection (DuckDB or sqlite3)."""

    def __init__(self, name: str, dialect: Dialect, connect):
        self.name, self.d, self.connect = name, dialect, connect
        self.con = None

    def open(self):
        self.con = self.connect()

    def close(self):
        if self.con is not None:
            self.con.close()
            self.con = None

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.con.execute(sql).fetchall()]

    def top_endpoint(self, lo, hi, kinds=DEFAULT_KINDS):
        return self.rows(top_endpoint_sql(self.d, lo, hi, kinds))

    def top_pair(self, lo, hi):
        return self.rows(top_pair_sql(self.d, lo, hi))

    def series(self, lo, hi, step, a, b):
        reps = {r[0] for r in self.rows(OBSERVERS_SQL.format(f"{sql_str(a)}, {sql_str(b)}"))}
        rows = self.rows(series_sql(self.d, lo, hi, step, a, b, observers_of(reps, a, b)))
        return [(rfc3339(t), nb, np) for t, nb, np in rows]


# ---------------------------------------------------------------- loaders


def load_tailflow(bin_: str, db: Path, jsonl: Path, devices: Path) -> dict:
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    run_tailflow(bin_, ["nodes", "import", "--db", str(db), str(devices)])
    out = run_tailflow(bin_, ["ingest", "--db", str(db), "--quiet", "--format", "json", str(jsonl)])
    seconds = time.perf_counter() - t0
    summary = json.loads(out)
    if summary.get("rejected") or summary.get("skipped"):
        die(f"tailflow rejected or skipped input: {summary}")
    return {"seconds": seconds, "rows": summary["storedRows"], "file_bytes": file_bytes(db)}


DUCK_CONN = ("STRUCT(proto INTEGER, src VARCHAR, dst VARCHAR, txPkts UBIGINT, txBytes UBIGINT, "
             "rxPkts UBIGINT, rxBytes UBIGINT)[]")


def load_duckdb(db: Path, jsonl: Path, devices: Path) -> dict:
    db.unlink(missing_ok=True)
    Path(f"{db}.wal").unlink(missing_ok=True)
    columns = {"nodeId": "VARCHAR", "start": "VARCHAR", **{p: DUCK_CONN for p in KIND_PATHS.values()}}
    kinds = ", ".join(sql_str(k) for k in KIND_PATHS)
    lists = ", ".join(KIND_PATHS.values())
    c = "conn"
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(FLOWS_DDL)
    addrs, nodes = device_rows(devices)
    con.executemany("INSERT INTO addresses VALUES (?, ?)", addrs)
    con.executemany("INSERT INTO nodes VALUES (?, ?)", nodes)
    # One scan of the file into a temporary table of messages (faster than scanning
    # it twice, once for the Conns and once for the reporters).
    con.execute(f"""CREATE TEMP TABLE msgs AS
                    SELECT * FROM read_json({sql_str(str(jsonl))}, format = 'newline_delimited',
                                            columns = {json.dumps(columns).replace('"', "'")})""")
    # The four arrays are unnested side by side with their kind, then each Conn.
    con.execute(f"""
INSERT INTO flows
SELECT nodeId, {start_ns_sql(DUCK, 'start')}, kind, coalesce({c}.proto, 0),
       {ip_sql(f'{c}.src')}, {port_sql(f'{c}.src')}, {ip_sql(f'{c}.dst')}, {port_sql(f'{c}.dst')},
       CAST(coalesce({c}.txPkts, 0) AS BIGINT), CAST(coalesce({c}.txBytes, 0) AS BIGINT),
       CAST(coalesce({c}.rxPkts, 0) AS BIGINT), CAST(coalesce({c}.rxBytes, 0) AS BIGINT)
FROM (SELECT nodeId, start, kind, unnest(conns) AS {c}
      FROM (SELECT nodeId, start, unnest([{kinds}]) AS kind, unnest([{lists}]) AS conns FROM msgs))""")
    # Every node that sent a message reports, even if the message had no Conn.
    con.execute("INSERT INTO reporters SELECT DISTINCT nodeId FROM msgs WHERE nodeId IS NOT NULL")
    con.execute("DROP TABLE msgs")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM flows").fetchone()[0]
    con.close()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": rows, "file_bytes": db.stat().st_size}


SQLITE_PRAGMAS = ("PRAGMA page_size = 16384", "PRAGMA journal_mode = WAL",
                  "PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -65536")


def sqlite_connect(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(db), isolation_level=None)
    for p in SQLITE_PRAGMAS:
        con.execute(p)
    return con


def load_sqlite(db: Path, jsonl: Path, devices: Path) -> dict:
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    kinds = " UNION ALL ".join(f"SELECT {sql_str(k)}, {sql_str('$.' + p)}" for k, p in KIND_PATHS.items())
    v = "c.value"
    t0 = time.perf_counter()
    con = sqlite_connect(db)
    con.executescript(FLOWS_DDL)  # (executescript commits first, so before BEGIN)
    con.execute("BEGIN")
    addrs, nodes = device_rows(devices)
    con.executemany("INSERT INTO addresses VALUES (?, ?)", addrs)
    con.executemany("INSERT INTO nodes VALUES (?, ?)", nodes)
    con.execute("CREATE TEMP TABLE staging (line TEXT NOT NULL)")
    with open(jsonl, encoding="utf-8") as f:
        con.executemany("INSERT INTO staging VALUES (?)", ((line,) for line in f if line.strip()))
    # MATERIALIZED: each json_extract runs once per Conn; inlined, the address
    # and time expressions below would repeat them (about 1.5x slower).
    con.execute(f"""
INSERT INTO flows
WITH k(kind, path) AS ({kinds}),
conns AS MATERIALIZED (
    SELECT json_extract(s.line, '$.nodeId') AS reporter, json_extract(s.line, '$.start') AS start,
           k.kind AS kind,
           coalesce(json_extract({v}, '$.proto'), 0) AS proto,
           json_extract({v}, '$.src') AS src, json_extract({v}, '$.dst') AS dst,
           coalesce(json_extract({v}, '$.txPkts'), 0) AS tx_pkts,
           coalesce(json_extract({v}, '$.txBytes'), 0) AS tx_bytes,
           coalesce(json_extract({v}, '$.rxPkts'), 0) AS rx_pkts,
           coalesce(json_extract({v}, '$.rxBytes'), 0) AS rx_bytes
    FROM staging s JOIN k JOIN json_each(s.line, k.path) c)
SELECT reporter, {start_ns_sql(LITE, 'start')}, kind, proto,
       {ip_sql('src')}, {port_sql('src')}, {ip_sql('dst')}, {port_sql('dst')},
       tx_pkts, tx_bytes, rx_pkts, rx_bytes
FROM conns""")
    con.execute("""INSERT INTO reporters SELECT DISTINCT json_extract(line, '$.nodeId') FROM staging
                   WHERE json_extract(line, '$.nodeId') IS NOT NULL""")
    con.execute("DROP TABLE staging")
    con.execute("CREATE INDEX flows_by_start ON flows (start_ns)")
    con.execute("CREATE INDEX flows_by_reporter ON flows (reporter, start_ns)")
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = con.execute("SELECT count(*) FROM flows").fetchone()[0]
    con.close()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": rows, "file_bytes": file_bytes(db)}


# ---------------------------------------------------------------- tailflow CLI


def run_tailflow(bin_: str, args: list[str], discard: bool = False) -> str:
    p = subprocess.run([bin_, *args], stdout=subprocess.DEVNULL if discard else subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        die(f"tailflow {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout or ""


class TailflowCLI:
    def __init__(self, bin_: str, db: Path):
        self.bin, self.db = bin_, db

    def args(self, cmd: list[str], lo: int, hi: int) -> list[str]:
        return [*cmd, "--db", str(self.db), "--from", rfc3339(lo // NS), "--to", rfc3339(hi // NS),
                "--format", "json"]

    def top_endpoint_args(self, lo, hi, kinds=DEFAULT_KINDS):
        kind = [] if kinds == DEFAULT_KINDS else ["--kind", ",".join(kinds)]
        return self.args(["top", "--by", "endpoint", "--limit", str(LIMIT), *kind], lo, hi)

    def top_pair_args(self, lo, hi):
        return self.args(["top", "--by", "pair", "--limit", str(LIMIT)], lo, hi)

    def series_args(self, lo, hi, step, a, b):
        step_text = f"{step // 60}m" if step % 60 == 0 else f"{step}s"
        return self.args(["series", "--step", step_text, "--pair", f"{a},{b}"], lo, hi)

    def top_endpoint(self, lo, hi, kinds=DEFAULT_KINDS):
        return self.rows("Q1", self.top_endpoint_args(lo, hi, kinds))

    def top_pair(self, lo, hi):
        return self.rows("Q2", self.top_pair_args(lo, hi))

    def series(self, lo, hi, step, a, b):
        return self.rows("Q3", self.series_args(lo, hi, step, a, b))

    def rows(self, q: str, args: list[str]) -> list[tuple]:
        return [tuple(r[k] for k in COLUMNS[q]) for r in json.loads(run_tailflow(self.bin, args))]


# ---------------------------------------------------------------- comparing answers

COLUMNS = {
    "Q1": ("endpoint", "name", "sentBytes", "receivedBytes", "sentPackets", "receivedPackets", "bytes", "packets"),
    "Q2": ("a", "b", "aName", "bName", "abBytes", "baBytes", "abPackets", "baPackets", "bytes", "packets"),
    "Q3": ("time", "bytes", "packets"),
}


def normalise(rows: list[tuple]) -> list[tuple]:
    """Answers as tuples of str/None/int; a float would mean inexact arithmetic somewhere."""
    for r in rows:
        if any(isinstance(v, float) for v in r):
            die(f"a float in an answer row: {r}")
    return [tuple(r) for r in rows]


def compare(q: str, answers: dict[str, list[tuple]], reference: str = "tailflow", show: int = 15) -> bool:
    """True when every system's rows equal the reference's; prints a diff otherwise."""
    ok = True
    ref = answers[reference]
    for name, rows in answers.items():
        if name == reference or rows == ref:
            continue
        ok = False
        print(f"\n!! {q} ({QUERY_TITLES.get(q, q)}): {name} differs from {reference} "
              f"({len(rows)} vs {len(ref)} rows)")
        shown = 0
        for i in range(max(len(rows), len(ref))):
            a = ref[i] if i < len(ref) else None
            b = rows[i] if i < len(rows) else None
            if a == b:
                continue
            if a is None or b is None:
                print(f"   row {i}: {reference}={a}  {name}={b}")
            else:
                diffs = [f"{col}: {x!r} vs {y!r}" for col, x, y in zip(COLUMNS[q], a, b) if x != y]
                print(f"   row {i} ({a[0]}): " + "; ".join(diffs))
            shown += 1
            if shown >= show:
                print("   …")
                break
    return ok


# ---------------------------------------------------------------- one race


def machine_info(bin_: str) -> dict:
    cpu = ""
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
    except OSError:
        pass
    digest = hashlib.sha256(Path(bin_).read_bytes()).hexdigest()[:12]
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "loadavg": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "sqlite": sqlite3.sqlite_version,
        "tailflow": {"path": bin_, "sha256": digest,
                     "mtime": rfc3339(int(Path(bin_).stat().st_mtime))},
    }


def load_all(bin_: str, work: Path, ingest_file: Path, jsonl: Path, devices: Path) -> tuple[dict, dict]:
    """Loads the data into the three systems, one after another. Returns (loads, query runners)."""
    paths = {"tailflow": work / "tailflow.db", "duckdb": work / "peer.duckdb", "sqlite": work / "peer.sqlite"}
    loads = {}
    log("loading tailflow …")
    loads["tailflow"] = load_tailflow(bin_, paths["tailflow"], ingest_file, devices)
    log("loading duckdb …")
    loads["duckdb"] = load_duckdb(paths["duckdb"], jsonl, devices)
    log("loading sqlite …")
    loads["sqlite"] = load_sqlite(paths["sqlite"], jsonl, devices)
    runners = {
        "tailflow": TailflowCLI(bin_, paths["tailflow"]),
        "duckdb": SQLPeer("duckdb", DUCK, lambda: duckdb.connect(str(paths["duckdb"]), read_only=True)),
        "sqlite": SQLPeer("sqlite", LITE, lambda: sqlite_connect(paths["sqlite"])),
    }
    for r in runners.values():
        if isinstance(r, SQLPeer):
            r.open()
    counts = {s: loads[s]["rows"] for s in SYSTEMS}
    if len(set(counts.values())) != 1:
        die(f"the systems stored different numbers of flow rows: {counts}")
    return loads, runners


def ask(runners: dict, lo: int, hi: int, step: int = 60, timed: bool = False) -> tuple[bool, dict, dict]:
    """Asks Q1–Q3 of every system; returns (all equal, answers, timings)."""
    answers = {q: {} for q in QUERIES}
    timings = {q: {} for q in QUERIES}

    def go(q, name, fn):
        if timed:
            med, runs, res = median_time(fn)
            timings[q][name] = {"median_s": med, "runs_s": runs}
        else:
            res = fn()
        answers[q][name] = normalise(res)

    for name, r in runners.items():
        log(f"asking {name} Q1, Q2 …")
        go("Q1", name, lambda: r.top_endpoint(lo, hi))
        go("Q2", name, lambda: r.top_pair(lo, hi))
    ok = compare("Q1", answers["Q1"]) & compare("Q2", answers["Q2"])
    top = answers["Q2"]["tailflow"]
    if not top:
        die("Q2 is empty: no pair for the series")
    a, b = top[0][0], top[0][1]
    for name, r in runners.items():
        log(f"asking {name} Q3 (pair {a},{b}) …")
        go("Q3", name, lambda: r.series(lo, hi, step, a, b))
    ok &= compare("Q3", answers["Q3"])
    answers["pair"] = [a, b]
    return ok, answers, timings


def tailflow_extras(cli: TailflowCLI, lo: int, hi: int, a: str, b: str) -> dict:
    """Timings that put tailflow's CLI numbers in context: output discarded, and the floor
    (process start, opening the store and an empty answer)."""
    out = {}
    for q, args in (("Q1", cli.top_endpoint_args(lo, hi)), ("Q2", cli.top_pair_args(lo, hi)),
                    ("Q3", cli.series_args(lo, hi, 60, a, b))):
        out[q] = median_time(lambda: run_tailflow(cli.bin, args, discard=True))[0]
    empty = cli.args(["top", "--by", "endpoint", "--limit", str(LIMIT)], 0, 60 * NS)
    out["floor"] = median_time(lambda: run_tailflow(cli.bin, empty, discard=True))[0]
    return out


def ms(s: float) -> str:
    return f"{s * 1000:.1f}" if s < 10 else f"{s * 1000:.0f}"


def report(info: dict, params: dict, loads: dict, timings: dict, extras: dict, equal: bool) -> dict:
    rows = loads["tailflow"]["rows"]
    res = {"machine": info, "params": params, "answers_equal": equal, "systems": {}, "ratios": {},
           "tailflow_cli": dict(extras)}
    for s in SYSTEMS:
        l = loads[s]
        res["systems"][s] = {
            "load_s": l["seconds"], "rows": l["rows"], "rows_per_s": l["rows"] / l["seconds"],
            "file_bytes": l["file_bytes"], "bytes_per_row": l["file_bytes"] / l["rows"],
            "queries_s": {q: timings[q][s]["median_s"] for q in QUERIES},
            "query_runs_s": {q: timings[q][s]["runs_s"] for q in QUERIES},
        }
    tf = res["systems"]["tailflow"]
    for s in ("duckdb", "sqlite"):
        p = res["systems"][s]
        res["ratios"][s] = {
            "ingest_rate": tf["rows_per_s"] / p["rows_per_s"],
            "bytes_per_row": tf["bytes_per_row"] / p["bytes_per_row"],
            **{q: tf["queries_s"][q] / p["queries_s"][q] for q in QUERIES},
        }

    print(f"\n## tailflow vs DuckDB vs SQLite: {params['nodes']} nodes, {params['duration']}, "
          f"{rows:,} flow rows ({params['input_bytes'] / 1e6:.0f} MB JSON Lines)\n")
    print(f"machine: {info['nproc']} cores ({info['cpu']}), {info['date']}, load average at start "
          f"{info['loadavg'][0]:.2f}; Python {info['python']}, DuckDB {info['duckdb']}, "
          f"SQLite {info['sqlite']}, tailflow {info['tailflow']['sha256']} ({info['tailflow']['mtime']})\n")
    print("| system | load s | rows/s | bytes/row | file MB | " +
          " | ".join(f"{q} {QUERY_TITLES[q]} ms" for q in QUERIES) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(QUERIES))
    for s in SYSTEMS:
        r = res["systems"][s]
        print(f"| {s} | {r['load_s']:.2f} | {r['rows_per_s']:,.0f} | {r['bytes_per_row']:.1f} | "
              f"{r['file_bytes'] / 1e6:.1f} | " + " | ".join(ms(r["queries_s"][q]) for q in QUERIES) + " |")
    for s in ("duckdb", "sqlite"):
        r = res["ratios"][s]
        print(f"| tailflow / {s} | | {r['ingest_rate']:.2f}× | {r['bytes_per_row']:.2f}× | | " +
              " | ".join(f"{r[q]:.2f}×" for q in QUERIES) + " |")
    print(f"\nRatios: rows/s is tailflow rate / peer rate (>1: tailflow ingests faster); bytes/row and "
          f"query times are tailflow / peer (<1: tailflow smaller or faster). Query times are medians of "
          f"{RUNS} runs. tailflow's are whole CLI processes (start, open the store, answer, print JSON); "
          f"with stdout discarded: " + ", ".join(f"{q} {ms(extras[q])} ms" for q in QUERIES) +
          f"; an empty-window `top` (the process floor) takes {ms(extras['floor'])} ms. The peers run "
          f"in this Python process on an open connection, fetching the rows. Loads include process "
          f"start (tailflow), device import, indexes and the final checkpoint.")
    print(f"\nanswers equal across all three: {'yes' if equal else 'NO (see the diff above)'}")
    return res


def race(args) -> int:
    bin_ = args.tailflow
    secs = parse_duration(args.duration)
    own_dir = args.workdir is None
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tailflow-race-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine_info(bin_)
    # A private copy: the build tree may be rebuilt while we run.
    local_bin = str(work / "tailflow")
    shutil.copy2(bin_, local_bin)
    jsonl, devices = work / "flows.jsonl", work / "devices.json"
    created = [Path(local_bin), jsonl, devices]
    try:
        log(f"generating {args.nodes} nodes × {args.duration} into {work} …")
        run_tailflow(local_bin, ["generate", "--nodes", str(args.nodes), "--duration", args.duration,
                                 "--rate", str(args.rate), "--start", START, "-o", str(jsonl), "--devices", str(devices)])
        loads, runners = load_all(local_bin, work, jsonl, jsonl, devices)
        created += [work / n for n in ("tailflow.db", "tailflow.db-wal", "tailflow.db-shm",
                                       "peer.duckdb", "peer.duckdb.wal", "peer.sqlite",
                                       "peer.sqlite-wal", "peer.sqlite-shm")]
        lo = to_ns(START)
        hi = lo + secs * NS
        equal, answers, timings = ask(runners, lo, hi, timed=True)
        a, b = answers["pair"]
        log("timing tailflow with output discarded, and its floor …")
        extras = tailflow_extras(runners["tailflow"], lo, hi, a, b)
        for r in runners.values():
            if isinstance(r, SQLPeer):
                r.close()
        params = {"nodes": args.nodes, "duration": args.duration, "rate": args.rate, "start": START,
                  "from": rfc3339(lo // NS), "to": rfc3339(hi // NS), "limit": LIMIT, "runs": RUNS,
                  "series_pair": [a, b], "input_bytes": jsonl.stat().st_size}
        res = report(info, params, loads, timings, extras, equal)
        res["machine"]["loadavg_end"] = os.getloadavg()
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
        return 0 if equal else 1
    finally:
        if not args.keep:
            if own_dir:
                shutil.rmtree(work, ignore_errors=True)
            else:
                for p in created:
                    p.unlink(missing_ok=True)
        else:
            log(f"kept {work}")


# ---------------------------------------------------------------- self-check on the tiny fixture


def self_check(args) -> int:
    """The three systems on fixtures/tiny against its expected answers (SPEC §3 worked example)."""
    work = Path(tempfile.mkdtemp(prefix="tailflow-race-check-"))
    try:
        api = TINY / "api-response.json"
        jsonl = work / "tiny.jsonl"  # the SQL peers read JSON Lines; tailflow reads the API response as is
        jsonl.write_text("".join(json.dumps(m) + "\n" for m in json.loads(api.read_text())["logs"]))
        loads, runners = load_all(args.tailflow, work, api, jsonl, TINY / "devices.json")
        lo, hi = to_ns("2026-11-01T10:00:00Z"), to_ns("2026-11-01T11:00:00Z")
        ok, answers, _ = ask(runners, lo, hi)
        expected = {
            "Q1": [tuple(r[k] for k in COLUMNS["Q1"]) for r in json.loads((TINY / "expected-top-endpoint.json").read_text())],
            "Q2": [tuple(r[k] for k in COLUMNS["Q2"]) for r in json.loads((TINY / "expected-top-pair.json").read_text())],
        }
        for q in ("Q1", "Q2"):
            ok &= compare(q, {"expected": expected[q], **answers[q]}, reference="expected")
        # Q3: the top pair moved 1248000 bytes / 220 packets, all in the 10:00 bucket.
        want = [("2026-11-01T10:00:00Z", 1248000, 220)] + [(rfc3339(lo // NS + 60 * i), 0, 0) for i in range(1, 60)]
        ok &= compare("Q3", {"expected": want, **answers["Q3"]}, reference="expected")
        # Physical traffic: A→203.0.113.7 (tx) and back (rx), observed by A (expected.md).
        phys = {n: normalise(r.top_endpoint(lo, hi, kinds=("physical",))) for n, r in runners.items()}
        want = [("203.0.113.7", None, 1240000, 60000, 112, 130, 1300000, 242),
                ("nKq3vX1CNTRL", "alice-laptop.tail7f3e.ts.net", 60000, 1240000, 130, 112, 1300000, 242)]
        ok &= compare("Q1", {"expected": want, **phys}, reference="expected")
        for r in runners.values():
            if isinstance(r, SQLPeer):
                r.close()
        rows = {s: loads[s]["rows"] for s in SYSTEMS}
        print(f"self-check on {TINY}: flow rows {rows}; "
              f"Q1 {len(answers['Q1']['tailflow'])} rows, Q2 {len(answers['Q2']['tailflow'])} rows, "
              f"Q3 {len(answers['Q3']['tailflow'])} buckets, Q1 --kind physical {len(phys['tailflow'])} rows: "
              f"{'OK' if ok else 'FAILED'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100, help="nodes in the generated tailnet (default 100)")
    ap.add_argument("--duration", default="6h", help="generated span: 90s, 15m, 6h, 1d … (default 6h)")
    ap.add_argument("--rate", type=float, default=1.0,
                    help="traffic intensity (generate --rate; default 1.0): a low rate over 30 days gives the sparse "
                         "file whose buckets hold few rows, e.g. --nodes 100 --duration 30d --rate 0.02")
    ap.add_argument("--tailflow", default=os.environ.get("TAILFLOW_BIN", DEFAULT_TAILFLOW),
                    help=f"the tailflow binary (default $TAILFLOW_BIN or {DEFAULT_TAILFLOW})")
    ap.add_argument("--workdir", help="where data and databases go (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the generated data and databases")
    ap.add_argument("--json", metavar="OUT", help="also write the numbers to OUT as JSON")
    ap.add_argument("--self-check", action="store_true",
                    help="run the three systems on the tiny fixture and compare with its expected answers")
    args = ap.parse_args()
    if not os.access(args.tailflow, os.X_OK):
        die(f"no tailflow binary at {args.tailflow} (use --tailflow PATH)")
    return self_check(args) if args.self_check else race(args)


if __name__ == "__main__":
    sys.exit(main())
