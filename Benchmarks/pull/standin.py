#!/usr/bin/env python3
"""A stand-in for the Tailscale API's network log, for measuring `tailflow pull`.

Serves `GET /api/v2/tailnet/{tailnet}/logging/network?start=…&end=…` as
`{"logs":[…]}` from a JSON Lines file of messages (as `tailflow generate`
writes them): the messages whose `start` lies in the window, in file order,
uncompressed, with a Content-Length, as fast as the socket takes them. Any
bearer token is accepted; the configuration log answers `{"logs":[]}` and the
device list `{"devices":[]}`.

    python3 standin.py FILE.jsonl [--port 8780]
    /usr/bin/time -v tailflow pull --api-url http://127.0.0.1:8780 --tailnet x \
        --from … --to … --chunk 1h --concurrency 4 --no-devices --db pulled.db
"""
import argparse
import bisect
import json
import os
import re
import sys
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

START = re.compile(rb'"start":"([^"]+)"')


def seconds(text):
    text = text.decode() if isinstance(text, bytes) else text
    text = re.sub(r"\.\d+", "", text).replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(timezone.utc).timestamp()


def index(path):
    """(start second, offset, length) of every line, sorted by start."""
    rows = []
    with open(path, "rb") as f:
        offset = 0
        for line in f:
            m = START.search(line)
            if m:
                rows.append((seconds(m.group(1)), offset, len(line.rstrip(b"\n"))))
            offset += len(line)
    rows.sort(key=lambda r: r[0])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--port", type=int, default=8780)
    args = ap.parse_args()
    rows = index(args.file)
    starts = [r[0] for r in rows]
    fd = os.open(args.file, os.O_RDONLY)
    print(f"standin: {len(rows)} messages indexed, serving on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path.endswith("/devices"):
                return self.send(b'{"devices":[]}')
            if not url.path.endswith("/logging/network"):
                return self.send(b'{"logs":[]}')
            q = parse_qs(url.query)
            lo, hi = seconds(q["start"][0]), seconds(q["end"][0])
            a, b = bisect.bisect_left(starts, lo), bisect.bisect_left(starts, hi)
            picked = sorted(rows[a:b], key=lambda r: r[1])
            length = len(b'{"logs":[]}') + sum(r[2] for r in picked) + max(0, len(picked) - 1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(b'{"logs":[')
            for i, (_, offset, n) in enumerate(picked):
                if i:
                    self.wfile.write(b",")
                self.wfile.write(os.pread(fd, n, offset))
            self.wfile.write(b"]}")

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
