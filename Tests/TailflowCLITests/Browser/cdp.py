#!/usr/bin/env python3
"""Drives headless chromium over the DevTools protocol for tailflow's page tests.

Standard library only: a minimal WebSocket client (RFC 6455, client side, text frames).
Reads a plan (JSON) from argv[1], writes results (JSON) to stdout.

plan = {"chromium": path, "out": dir, "steps": [step, ...]}
step = {"name": str, "url": str, "js": bool, "screenshot": bool, "eval": {key: js-expression},
        "click": css-selector (optional: click it for real, then report where the browser went)}
result per step = {"name", "status", "url", "console": [..], "requests": [..], "eval": {..},
                   "clicked": {"url", "status"} | null, "screenshot": path | null}
"""
import base64, json, os, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request


class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, path = url[5:].split("/", 1)
        host, port = hostport.split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("websocket handshake: connection closed")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("websocket handshake refused: %r" % head)
        self.buffer = b""

    def send(self, text):
        data = text.encode()
        header = bytearray([0x81])
        n = len(data)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126); header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127); header += struct.pack(">Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("websocket closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def receive(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise RuntimeError("websocket closed by chromium")
            if opcode in (0x9, 0xA):
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()


class Browser:
    def __init__(self, chromium, profile):
        self.proc = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                      "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                                      "--disable-component-update", "--disable-sync", "--metrics-recording-only",
                                      "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                                      "--window-size=1400,1000", "--remote-debugging-port=0",
                                      "--user-data-dir=" + profile, "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError("chromium exited: %s" % self.proc.returncode)
                continue
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://")[1].split("/")[0].split(":")[1])
                break
        if port is None:
            raise RuntimeError("chromium did not start its DevTools listener")
        # Keep draining stderr so chromium never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        pages = []
        for _ in range(100):
            pages = [t for t in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list")) if t["type"] == "page"]
            if pages:
                break
            time.sleep(0.1)
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
        self.next_id = 0
        self.events = []
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(domain + ".enable")

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.receive())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method, timeout=30):
        deadline = time.time() + timeout
        for i, e in enumerate(self.events):
            if e["method"] == method:
                del self.events[: i + 1]
                return e
        self.ws.sock.settimeout(timeout)
        while time.time() < deadline:
            msg = json.loads(self.ws.receive())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == "Page.javascriptDialogOpening":
                    # A page script opened alert(): record it (the event stays) and dismiss it so loading goes on.
                    self.call("Page.handleJavaScriptDialog", accept=True)
                if msg["method"] == method:
                    return msg
        raise RuntimeError("timed out waiting for " + method)

    def drain(self, seconds=0.3):
        self.ws.sock.settimeout(seconds)
        try:
            while True:
                msg = json.loads(self.ws.receive())
                if "method" in msg:
                    self.events.append(msg)
        except (socket.timeout, TimeoutError):
            pass
        finally:
            self.ws.sock.settimeout(30)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            return {"error": r["exceptionDetails"].get("text", "exception")}
        return r["result"].get("value")

    def load(self, url):
        """Navigates and waits for the load event; returns (status of the main document, final URL)."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.drain()
        return self.document_status(), self.evaluate("location.href")

    def document_status(self):
        status = None
        for e in self.events:
            if e["method"] == "Network.responseReceived" and e["params"].get("type") == "Document":
                status = e["params"]["response"]["status"]
        return status

    def click(self, selector):
        box = self.evaluate("(() => { const e = document.querySelector(%s); if (!e) return null; e.scrollIntoView({block: 'center'});"
                            " const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()"
                            % json.dumps(selector))
        if not box:
            return None
        x, y = box
        self.events.clear()
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        try:
            self.wait_for("Page.loadEventFired", timeout=20)
        except (RuntimeError, socket.timeout, TimeoutError):
            return {"url": None, "status": None, "error": "the click led nowhere", "at": box}
        self.drain()
        return {"url": self.evaluate("location.href"), "status": self.document_status()}

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    plan = json.load(open(sys.argv[1]))
    profile = tempfile.mkdtemp(prefix="tailflow-chromium-")
    browser = Browser(plan["chromium"], profile)
    results = []
    try:
        for step in plan["steps"]:
            browser.call("Emulation.setScriptExecutionDisabled", value=not step.get("js", True))
            status, url = browser.load(step["url"])
            events = list(browser.events)
            result = {"name": step["name"], "status": status, "url": url, "console": [], "requests": [], "eval": {},
                      "clicked": None, "screenshot": None}
            for e in events:
                m, p = e["method"], e["params"]
                if m == "Network.requestWillBeSent":
                    result["requests"].append(p["request"]["url"])
                elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                    result["console"].append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
                elif m == "Runtime.exceptionThrown":
                    result["console"].append(p["exceptionDetails"].get("text", "exception"))
                elif m == "Page.javascriptDialogOpening":
                    result["console"].append("dialog opened: " + p.get("message", ""))
                elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                    result["console"].append(p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
            for key, expression in step.get("eval", {}).items():
                result["eval"][key] = browser.evaluate(expression)
            if step.get("screenshot"):
                height = browser.evaluate("Math.min(document.documentElement.scrollHeight, 6000)") or 1000
                shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                    clip={"x": 0, "y": 0, "width": 1400, "height": height, "scale": 1})
                path = os.path.join(plan["out"], step["name"] + ".png")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                result["screenshot"] = path
            if step.get("click"):
                result["clicked"] = browser.click(step["click"])
            results.append(result)
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
