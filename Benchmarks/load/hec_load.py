#!/usr/bin/env python3
"""A bounded load test of `tailflow serve`'s Splunk HEC receiver on loopback.

Generates a tailnet's flow logs with `tailflow generate --container splunk`, cuts
them into HEC bodies of --events events, gzips each body (as a log streamer
would), then --senders threads post every body once, each on its own keep-alive
connection, and time each request from the first byte sent to the answer
(the acknowledgement, which tailflow sends only after the commit).

Prints the sustained flow rows per second and the acknowledgement latency
percentiles; --json prints one JSON object instead.

    Benchmarks/load/hec_load.py --tailflow .build-release/release/tailflow --nodes 300 --duration 2h
"""
import argparse
import gzip
import http.client
import json
import os
import pickle
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time


def events_of(path):
    """Yields (bytes, rows) per HEC event of a file of concatenated HEC objects."""
    with open(path, "r") as f:
        text = f.read()
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        obj, end = decoder.raw_decode(text, pos)
        event = obj["event"]
        rows = sum(len(event.get(k) or []) for k in ("virtualTraffic", "subnetTraffic", "exitTraffic", "physicalTraffic"))
        yield text[pos:end].encode(), rows
        pos = end


# serve refuses tokens shorter than 16 characters.
TOKEN = "load-test-token-0123456789abcdef"


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tailflow", default=".build-release/release/tailflow")
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--duration", default="2h")
    ap.add_argument("--events", type=int, default=1000, help="HEC events per request body")
    ap.add_argument("--senders", type=int, default=8, help="concurrent connections")
    ap.add_argument("--rate", type=float, default=0,
                    help="offered load in flow rows/s: bodies are sent on that schedule (open loop); 0 sends as fast as answers come")
    ap.add_argument("--db", help="database (default: a new temporary file)")
    ap.add_argument("--hec", help="a file of HEC events made before (`tailflow generate --container splunk`): "
                    "runs compared with each other then post the same bytes, and none pays for generating them")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--latencies", help="write each acknowledged request's send time and latency (s, perf_counter: "
                    "CLOCK_MONOTONIC on Linux, the clock of the server's TAILFLOW_TRACE) to this file, one JSON line each")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="tailflow-load-")
    hec = args.hec or os.path.join(work, "hec.json")
    if not args.hec:
        subprocess.run([args.tailflow, "generate", "--nodes", str(args.nodes), "--duration", args.duration,
                        "--container", "splunk", "-o", hec], check=True)
    # The bodies of a --hec file are cut and gzipped once, then kept beside it.
    cached = f"{args.hec}.bodies-{args.events}.pickle" if args.hec else None
    if cached and os.path.exists(cached):
        with open(cached, "rb") as f:
            bodies = pickle.load(f)
    else:
        bodies = []  # (gzipped body, rows, raw bytes)
        batch, rows = [], 0
        for line, n in events_of(hec):
            batch.append(line)
            rows += n
            if len(batch) == args.events:
                raw = b"\n".join(batch)
                bodies.append((gzip.compress(raw, 6), rows, len(raw)))
                batch, rows = [], 0
        if batch:
            raw = b"\n".join(batch)
            bodies.append((gzip.compress(raw, 6), rows, len(raw)))
        if cached:
            with open(cached, "wb") as f:
                pickle.dump(bodies, f)
    total_rows = sum(b[1] for b in bodies)

    db = args.db or os.path.join(work, "load.db")
    server = subprocess.Popen([args.tailflow, "serve", "--db", db, "--listen", "127.0.0.1:0", "--log-level", "warning"],
                              stdout=subprocess.PIPE, env=dict(os.environ, TAILFLOW_HEC_TOKEN=TOKEN))
    line = server.stdout.readline().decode()
    port = int(re.search(r":(\d+)$", line.strip()).group(1))

    work_queue = queue.Queue()
    due, cumulative = [], 0
    for b in bodies:
        due.append(cumulative / args.rate if args.rate > 0 else 0.0)
        cumulative += b[1]
    for i, b in enumerate(bodies):
        work_queue.put((b, due[i]))
    latencies, from_send, sent, statuses, lock = [], [], [], {}, threading.Lock()

    def sender():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            try:
                (body, n, _), at = work_queue.get_nowait()
            except queue.Empty:
                break
            wait = start + at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            # Latency counts from when the body was due by the schedule (open loop: a body that
            # waited for a free sender, behind a stall, counts that wait; as fast as answered: from
            # its first attempt) to its 200, 503s and their Retry-After included. `ack_from_send_ms`
            # times the answered attempt alone, as this script did before (coordinated omission).
            first = time.perf_counter()
            due_at = min(start + at, first) if args.rate > 0 else first
            while True:
                t0 = time.perf_counter()
                conn.request("POST", "/services/collector/event", body=body,
                             headers={"Authorization": "Splunk " + TOKEN, "Content-Encoding": "gzip"})
                answer = conn.getresponse()
                answer.read()
                dt = time.perf_counter() - t0
                with lock:
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
                    if answer.status == 200:
                        latencies.append(time.perf_counter() - due_at)
                        from_send.append(dt)
                        sent.append((t0, dt))
                if answer.status == 503:  # the writer is behind: come back as told
                    time.sleep(float(answer.getheader("Retry-After", "1")))
                    continue
                break
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    start = time.perf_counter() + 0.2
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    metrics = {}
    for line in conn.getresponse().read().decode().splitlines():
        if line.startswith("tailflow_") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            metrics[name] = float(value)
    conn.close()
    # The server's CPU time (Linux): steadier than the rate on a shared machine.
    try:
        fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
        server_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        server_cpu = None
    server.terminate()
    server.wait()

    if args.latencies:
        with open(args.latencies, "w") as f:
            for t0, dt in sorted(sent):
                f.write(json.dumps({"sent": t0, "latency": dt}) + "\n")
    latencies.sort()
    from_send.sort()
    result = {
        "nodes": args.nodes, "duration": args.duration, "requests": len(bodies), "events_per_request": args.events,
        "senders": args.senders, "offered_rows_per_second": args.rate or None, "rows": total_rows, "seconds": round(elapsed, 3),
        "rows_per_second": round(total_rows / elapsed), "json_mb_per_second": round(sum(b[2] for b in bodies) / elapsed / 1e6, 1),
        "gzip_bytes": sum(len(b[0]) for b in bodies),
        "ack_ms": {"p50": round(percentile(latencies, 50) * 1e3, 1), "p90": round(percentile(latencies, 90) * 1e3, 1),
                   "p99": round(percentile(latencies, 99) * 1e3, 1), "max": round(latencies[-1] * 1e3, 1) if latencies else 0},
        "ack_from_send_ms": {"p50": round(percentile(from_send, 50) * 1e3, 1), "p90": round(percentile(from_send, 90) * 1e3, 1),
                             "p99": round(percentile(from_send, 99) * 1e3, 1), "max": round(from_send[-1] * 1e3, 1) if from_send else 0},
        "statuses": statuses,
        "commits": int(metrics.get("tailflow_commits_total", 0)),
        "commit_seconds": round(metrics.get("tailflow_commit_duration_seconds_total", 0), 2),
        "server_cpu_seconds": round(server_cpu, 2) if server_cpu is not None else None,
        "loadavg": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        offered = f", offered {args.rate:,.0f} rows/s" if args.rate else ", as fast as answered"
        print(f"{total_rows:,} flow rows in {len(bodies)} gzip HEC requests ({args.events} events each, {args.senders} senders{offered}): "
              f"{elapsed:.2f} s, {result['rows_per_second']:,} rows/s, {result['json_mb_per_second']} MB/s of JSON")
        a = result["ack_ms"]
        print(f"acknowledgement latency: p50 {a['p50']} ms, p90 {a['p90']} ms, p99 {a['p99']} ms, max {a['max']} ms; statuses {statuses}")
        print(f"writer: {result['commits']} commits, {result['commit_seconds']} s inside them "
              f"({result['commit_seconds'] / max(result['commits'], 1) * 1e3:.0f} ms each)")
        if server_cpu:
            print(f"server CPU {server_cpu:.2f} s ({total_rows / server_cpu:,.0f} rows per CPU-second); load average {result['loadavg']}")
    if not args.db:
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)


if __name__ == "__main__":
    sys.exit(main())
