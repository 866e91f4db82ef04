import Foundation
import Testing
import TestSupport

/// The web pages of SPEC §8 in a real browser: Debian's chromium, headless, driven over the
/// DevTools protocol (Browser/cdp.py), against a real `tailflow serve` on loopback with a
/// generated store whose first node is named `<script>alert(1)</script>`.
@Suite(.ownThreads, .serialized)
struct WebPageBrowserTests {
    static let hostileName = "<script>alert(1)</script>"
    static let hostileTag = "tag:\"q\"'s'"
    static let from = "2026-11-01T06:00:00Z", to = "2026-11-01T09:00:00Z"
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A generated 30-node, 3-hour tailnet with hostile names, served without any configured secret.
    final class Site: @unchecked Sendable {
        let dir = TempDir()
        let db: String
        let server: ServeProcess
        let token: String
        let openLine: String

        /// Made once for the suite, from a static: on the calling thread (``CLI/runBlocking(_:db:stdin:env:)``).
        init() throws {
            db = dir.path("web.db")
            let logs = dir.path("gen.jsonl"), devices = dir.path("devices.json")
            let g = try CLI.runBlocking(["generate", "--nodes", "30", "--duration", "3h", "--start", WebPageBrowserTests.from, "--seed", "5",
                                 "--changes", "--output", logs, "--devices", devices])
            guard g.status == 0 else { throw ServeError("generate: \(g.stderr)") }
            try CLI.runBlocking(["ingest", logs], db: db)
            // Device names win over message names (the import is the latest report): make two of them hostile.
            var list = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: devices))) as! [String: Any]
            var items = list["devices"] as! [[String: Any]]
            items[0]["name"] = WebPageBrowserTests.hostileName
            items[1]["tags"] = [WebPageBrowserTests.hostileTag]
            items[1].removeValue(forKey: "user")
            list["devices"] = items
            try JSONSerialization.data(withJSONObject: list).write(to: URL(fileURLWithPath: devices))
            let imported = try CLI.runBlocking(["nodes", "import", devices], db: db)
            guard imported.status == 0 else { throw ServeError("import: \(imported.stderr)") }
            server = try ServeProcess(db: db, [])
            // The second line: open http://127.0.0.1:PORT/?token=…
            var line = ""
            let printed = Date().addingTimeInterval(60)
            while line.isEmpty, Date() < printed {
                line = server.stdoutLines.first { $0.hasPrefix("open http://") } ?? ""
                if line.isEmpty { Thread.sleep(forTimeInterval: 0.05) }
            }
            openLine = line
            guard let range = line.range(of: "?token=") else { throw ServeError("no open line: \(server.stdoutLines)") }
            token = String(line[range.upperBound...])
        }

        var url: String { server.url }
        var window: String { "from=\(WebPageBrowserTests.from)&to=\(WebPageBrowserTests.to)" }

        /// Runs the browser over the steps; returns one result per step.
        func browse(_ steps: [[String: Any]], shots: String) async throws -> [[String: Any]] {
            let plan: [String: Any] = ["chromium": WebPageBrowserTests.chromium!, "out": shots, "steps": steps]
            let planFile = dir.path("plan-\(UUID().uuidString.prefix(6)).json")
            try JSONSerialization.data(withJSONObject: plan).write(to: URL(fileURLWithPath: planFile))
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/cdp.py").path
            let r = try await Tool.run("/usr/bin/env", ["python3", script, planFile])
            guard r.status == 0, let results = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
                throw ServeError("the browser driver failed (\(r.status)): \(r.stderr.suffix(3000))")
            }
            return results
        }
    }

    static let site: Result<Site, any Error> = Result { try Site() }

    static var screenshots: String {
        let dir = ProcessInfo.processInfo.environment["TAILFLOW_SCREENSHOTS"] ?? FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-screenshots").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Every table of the page: its answer, its section's JSON link and its rows (field → data-value).
    static let tablesJS = """
        [...document.querySelectorAll('table[data-answer]')].map(t => {
          // A table beside a section's answer (its configuration changes) has downloads of its own.
          const s = t.closest('.aside') || t.closest('section');
          const a = s && s.querySelector('.downloads a');
          return {answer: t.dataset.answer, json: a ? a.getAttribute('href') : null,
                  rows: [...t.tBodies[0].rows].map(r => Object.fromEntries([...r.cells].map(c => [c.dataset.field, c.hasAttribute('data-value') ? c.dataset.value : null])))};
        })
        """

    static func pages(_ site: Site, endpoint: String, pair: (String, String)) -> [(String, String)] {
        [("overview", "/?\(site.window)"), ("graph", "/graph?\(site.window)"), ("flows", "/flows?\(site.window)"),
         ("nodes", "/nodes"), ("health", "/health"), ("changes", "/changes?\(site.window)"),
         ("endpoint", "/endpoint/\(endpoint)?\(site.window)"), ("pair", "/pair/\(pair.0)/\(pair.1)?\(site.window)")]
    }

    /// A node ID of the store (the hostile one) and the top pair, from the API.
    static func subjects(_ site: Site) async throws -> (hostile: String, pair: (String, String)) {
        let client = try Client()
        let auth = [("Authorization", "Bearer \(site.token)")]
        let nodes = try await client.get(site.url + "/api/v1/nodes", auth).json() as! [[String: Any]]
        let hostile = nodes.first { $0["name"] as? String == hostileName }!["nodeId"] as! String
        let top = try await client.get(site.url + "/api/v1/top?by=pair&limit=1&\(site.window)", auth).json() as! [[String: Any]]
        return (hostile, (top[0]["a"] as! String, top[0]["b"] as! String))
    }

    @Test func everyPageLoadsWithoutErrorsOrForeignRequestsAndEqualsTheAPI() async throws {
        guard Self.chromium != nil else { Issue.record("chromium is not installed (scripts/install-deps.sh installs it)"); return }
        let site = try Self.site.get()
        let (hostile, pair) = try await Self.subjects(site)
        var steps: [[String: Any]] = [["name": "login", "url": site.url + "/?token=\(site.token)&\(site.window)", "js": true]]
        for js in [true, false] {
            for (name, path) in Self.pages(site, endpoint: hostile, pair: pair) {
                steps.append(["name": name + (js ? "" : "-nojs"), "url": site.url + path, "js": js, "screenshot": js,
                              "eval": ["tables": Self.tablesJS, "scripts": "document.scripts.length",
                                       "text": "document.body.innerText", "title": "document.title"]])
            }
        }
        let results = try await site.browse(steps, shots: Self.screenshots)
        let login = results[0]
        #expect(login["status"] as? Int == 200)
        #expect(login["url"] as? String == site.url + "/?\(site.window)", "the token stays in the address bar")
        let client = try Client()
        let auth = [("Authorization", "Bearer \(site.token)")]
        for r in results.dropFirst() {
            let name = r["name"] as! String
            #expect(r["status"] as? Int == 200, "\(name): status \(String(describing: r["status"]))")
            #expect((r["console"] as! [String]).isEmpty, "\(name): console errors \(r["console"]!)")
            for request in r["requests"] as! [String] {
                #expect(request.hasPrefix(site.url + "/"), "\(name) asked another host: \(request)")
            }
            let eval = r["eval"] as! [String: Any]
            let text = eval["text"] as? String ?? ""
            #expect(!text.contains("tailflow: error"), "\(name)")
            if name.hasPrefix("nodes") || name.hasPrefix("endpoint") {
                #expect(text.contains(Self.hostileName), "\(name) does not show the hostile name as text")
            }
            if name.hasPrefix("nodes") { #expect(text.contains(Self.hostileTag), "\(name) does not show the tag as text") }
            #expect((eval["scripts"] as? Int ?? 9) <= 1, "\(name) runs a script that is not ours")
            let tables = eval["tables"] as? [[String: Any]] ?? []
            #expect(!tables.isEmpty, "\(name) has no machine table")
            // The numbers of each table equal the API's JSON for the same question.
            for table in tables {
                guard let json = table["json"] as? String else { continue }
                let answer = try await client.get(site.url + json, auth)
                #expect(answer.status == 200, "\(name): \(json) → \(answer.status)")
                let api = try answer.json() as? [[String: Any]] ?? []
                var rows = table["rows"] as! [[String: Any]]
                var expected = api
                if table["answer"] as? String == "scope", name.hasPrefix("pair"), let peer = rows.first?["peer"] as? String {
                    expected = api.filter { $0["peer"] as? String == peer }
                }
                // Long tables cut to their first 25 rows (all of them one link away): the endpoint page's
                // busiest peers, /health's worst nodes. The page shows the answer's first rows.
                if let answer = table["answer"] as? String, Self.cutTables.contains(where: { name.hasPrefix($0.page) && answer == $0.answer }) {
                    #expect(rows.count == min(25, expected.count), "\(name) \(answer): \(rows.count) rows of \(expected.count)")
                    expected = Array(expected.prefix(rows.count))
                }
                if table["answer"] as? String == "rollup" || table["answer"] as? String == "series" {
                    rows = Array(rows.prefix(50)); expected = Array(expected.prefix(50))
                }
                #expect(rows.count == expected.count, "\(name) \(table["answer"]!): \(rows.count) rows, the API \(expected.count)")
                for (row, want) in zip(rows, expected) {
                    for (field, value) in row {
                        if table["answer"] as? String == "changes", field == "old" || field == "new", let text = value as? String {
                            // A change's values are any JSON (a policy is a string): the page holds them as JSON text.
                            let page = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
                            let canonical: (Any) throws -> Data = { try JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed, .sortedKeys]) }
                            #expect(try canonical(page) == canonical(want[field] ?? NSNull()), "\(name) changes \(field): page \(text), API \(String(describing: want[field]))")
                            continue
                        }
                        #expect(Self.same(value, want[field]), "\(name) \(table["answer"]!) \(field): page \(value), API \(String(describing: want[field]))")
                    }
                }
            }
        }
    }

    /// The pages' tables that list only the first 25 rows of their answer.
    static let cutTables: [(page: String, answer: String)] = [("endpoint", "scope"), ("health", "coverage")]

    /// A `data-value` against a JSON value: integers exactly, strings equal, lists as JSON.
    static func same(_ page: Any, _ api: Any?) -> Bool {
        let api = api ?? NSNull()
        switch (page, api) {
        case (is NSNull, is NSNull): return true
        case (let p as String, let a as String): return p == a
        case (let p as String, let a as NSNumber):
            if p == "true" || p == "false" { return p == (a.boolValue ? "true" : "false") }
            return p == a.stringValue
        case (let p as String, let a as [Any]):
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(p.utf8)) as? [Any] else { return false }
            return (parsed as NSArray).isEqual(to: a)
        default: return false
        }
    }

    @Test func linksFromTablesAndTheGraphOpenTheRightPagesAndTheWindowMoves() async throws {
        guard Self.chromium != nil else { return }
        let site = try Self.site.get()
        let firstEndpoint = "document.querySelector('table[data-answer=\"top-endpoint\"] tbody tr td[data-field=\"endpoint\"]').dataset.value"
        let steps: [[String: Any]] = [
            ["name": "login2", "url": site.url + "/?token=\(site.token)"],
            ["name": "row", "url": site.url + "/?\(site.window)", "eval": ["want": firstEndpoint],
             "click": "table[data-answer=\"top-endpoint\"] tbody tr td[data-field=\"endpoint\"] a"],
            ["name": "node", "url": site.url + "/graph?\(site.window)", "js": false,
             "eval": ["want": "document.querySelector('svg.graph .nodes g.node').dataset.endpoint"], "click": "svg.graph .nodes a circle"],
            ["name": "previous", "url": site.url + "/?\(site.window)", "js": false,
             "eval": ["rows": "document.querySelectorAll('table[data-answer=\"top-endpoint\"] tbody tr').length"], "click": ".timenav a"],
            ["name": "after-previous", "url": site.url + "/?from=2026-11-01T03:00:00Z&to=2026-11-01T06:00:00Z", "js": false,
             "eval": ["rows": "document.querySelectorAll('table[data-answer=\"top-endpoint\"] tbody tr').length"]],
            ["name": "preset", "url": site.url + "/?\(site.window)", "js": false, "click": ".presets a"],
            ["name": "after-preset", "url": site.url + "/?from=2026-11-01T08:45:00Z&to=2026-11-01T09:00:00Z", "js": false,
             "eval": ["bytes": "document.querySelector('table[data-answer=\"top-endpoint\"] td[data-field=\"bytes\"]').dataset.value",
                      "full": "1"]],
            ["name": "full", "url": site.url + "/?\(site.window)", "js": false,
             "eval": ["bytes": "document.querySelector('table[data-answer=\"top-endpoint\"] td[data-field=\"bytes\"]').dataset.value"]],
        ]
        let r = try await site.browse(steps, shots: Self.screenshots)
        func eval(_ i: Int, _ key: String) -> Any? { (r[i]["eval"] as? [String: Any])?[key] }
        func clicked(_ i: Int) -> String { ((r[i]["clicked"] as? [String: Any])?["url"] as? String) ?? "" }
        let want = try #require(eval(1, "want") as? String)
        #expect(clicked(1).hasPrefix(site.url + "/endpoint/\(want)?"), "\(clicked(1))")
        let node = try #require(eval(2, "want") as? String)
        #expect(clicked(2).hasPrefix(site.url + "/endpoint/\(node)?"), "\(clicked(2))")
        // previous: the three hours before, which hold nothing (the answer changes).
        #expect(clicked(3) == site.url + "/?from=2026-11-01T03:00:00Z&to=2026-11-01T06:00:00Z")
        #expect((eval(3, "rows") as? Int ?? 0) > 0)
        #expect(eval(4, "rows") as? Int == 0)
        // The 15m preset: the last 15 minutes of this window, a smaller answer.
        #expect(clicked(5) == site.url + "/?from=2026-11-01T08:45:00Z&to=2026-11-01T09:00:00Z")
        let small = Int(eval(6, "bytes") as? String ?? "") ?? 0, full = Int(eval(7, "bytes") as? String ?? "") ?? 0
        #expect(small > 0 && small < full)
    }

    /// `/changes` and `/health` in a 1400-pixel window: their wide tables fit inside their sections (no
    /// column past the page's right edge, no sideways scrolling), and a policy value opens to its whole
    /// indented text inside its cell.
    @Test func theWideTablesFitThePage() async throws {
        guard Self.chromium != nil else { return }
        let site = try Self.site.get()
        func fit(_ answer: String) -> String {
            """
            (() => { const t = document.querySelector('table[data-answer="\(answer)"]');
              const s = t.closest('section').getBoundingClientRect(), b = t.getBoundingClientRect();
              return [Math.round(b.right), Math.round(s.right), document.documentElement.scrollWidth, window.innerWidth,
                      t.tBodies[0].rows.length]; })()
            """
        }
        let open = """
            (() => { const d = document.querySelector('td[data-field="new"] details'); if (!d) return null; d.open = true;
              const p = d.querySelector('pre'), c = d.closest('td').getBoundingClientRect(), r = p.getBoundingClientRect();
              return [p.textContent.split('\\n').length > 3, Math.round(r.right) <= Math.round(c.right) + 1]; })()
            """
        let pages = [("changes", "/changes?\(site.window)"), ("coverage", "/health?\(site.window)")]
        let r = try await site.browse([["name": "login3", "url": site.url + "/?token=\(site.token)"]]
                                + pages.map { answer, path in
                                    ["name": "\(answer)-fit", "url": site.url + path, "screenshot": true,
                                     "eval": answer == "changes" ? ["fit": fit(answer), "open": open] : ["fit": fit(answer)]] },
                                shots: Self.screenshots)
        for ((answer, _), page) in zip(pages, r.dropFirst()) {
            let eval = page["eval"] as? [String: Any] ?? [:]
            let f = eval["fit"] as? [Int] ?? []
            #expect(f.count == 5 && f[4] > 0, "\(answer): \(eval)")
            if f.count == 5 {
                #expect(f[0] <= f[1], "the \(answer) table ends at \(f[0]) px, its section at \(f[1])")
                #expect(f[2] <= f[3], "the \(answer) page is \(f[2]) px wide in a \(f[3]) px window")
            }
            if answer == "changes" { #expect(eval["open"] as? [Bool] == [true, true], "\(String(describing: eval["open"]))") }
        }
    }

    @Test func theReportOpensWithoutAnyRequest() async throws {
        guard Self.chromium != nil else { return }
        let site = try Self.site.get()
        let file = site.dir.path("report.html")
        let made = try await CLI.run(["report", "--from", Self.from, "--to", Self.to, "-o", file], db: site.db)
        #expect(made.status == 0, "\(made.stderr)")
        let r = try await site.browse([["name": "report", "url": "file://" + file, "screenshot": true,
                                  "eval": ["text": "document.body.innerText", "tables": Self.tablesJS]]], shots: Self.screenshots)[0]
        #expect(r["requests"] as? [String] == ["file://" + file])
        #expect((r["console"] as! [String]).isEmpty, "\(r["console"]!)")
        let eval = r["eval"] as! [String: Any]
        #expect((eval["text"] as? String ?? "").contains(Self.hostileName))
        // Top endpoints, pairs, ports, the rollup per day, and the window's configuration changes (the store has some).
        #expect((eval["tables"] as? [[String: Any]])?.map { $0["answer"] as? String ?? "" } == ["rollup", "top-endpoint", "top-pair", "top-port", "changes"])
    }

    @Test func noPageWithoutASessionAndTheCookieIsStrict() async throws {
        let site = try Self.site.get()
        #expect(site.openLine.hasPrefix("open \(site.url)/?token="))
        #expect(site.token.count >= 32)
        let client = try Client(redirects: false)
        defer { Task { try? await client.shutdown() } }
        let (hostile, pair) = try await Self.subjects(site)
        for (name, path) in Self.pages(site, endpoint: hostile, pair: pair) + [("api", "/api/v1/top?\(site.window)")] {
            let answer = try await client.get(site.url + path)
            #expect(answer.status == 401, "\(name) without a session: \(answer.status)")
            #expect(!answer.body.contains("data-answer") && !answer.body.contains("data-value"), "\(name) leaks data")
            let bad = try await client.get(site.url + path + (path.contains("?") ? "&" : "?") + "token=wrong")
            #expect(bad.status == 401, "\(name) with a bad token: \(bad.status)")
            let cookie = try await client.get(site.url + path, [("Cookie", "tailflow_session=forged")])
            #expect(cookie.status == 401, "\(name) with a forged cookie")
        }
        // A good token: a strict cookie and a redirect to the same page without the token.
        let login = try await client.get(site.url + "/graph?token=\(site.token)&\(site.window)&limit=5")
        #expect(login.status == 303)
        #expect(login.headers["location"] == "/graph?\(site.window)&limit=5")
        let setCookie = try #require(login.headers["set-cookie"])
        #expect(setCookie.hasPrefix("tailflow_session="))
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"))
        #expect(!setCookie.contains("Secure"))
        let session = String(setCookie.split(separator: ";")[0])
        let page = try await client.get(site.url + "/graph?\(site.window)", [("Cookie", session)])
        #expect(page.status == 200 && page.body.contains("data-answer=\"top-pair\""))
        let api = try await client.get(site.url + "/api/v1/nodes", [("Cookie", session)])
        #expect(api.status == 200)
        // The login form.
        let form = try await client.get(site.url + "/flows")
        #expect(form.body.contains("<form") && form.body.contains("name=\"token\""))
        let posted = try await client.post(site.url + "/login", Array("token=\(site.token)&next=%2Fflows%3Flimit%3D5".utf8),
                                           [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(posted.status == 303 && posted.headers["location"] == "/flows?limit=5")
        #expect(posted.headers["set-cookie"]?.contains("HttpOnly") == true)
        let wrong = try await client.post(site.url + "/login", Array("token=nope&next=%2F".utf8), [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(wrong.status == 401 && wrong.headers["set-cookie"] == nil)
        let away = try await client.post(site.url + "/login", Array("token=\(site.token)&next=%2F%2Fevil.example%2F".utf8),
                                         [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(away.headers["location"] == "/", "an open redirect: \(String(describing: away.headers["location"]))")
        // Authorization: Bearer is a session too.
        let bearer = try await client.get(site.url + "/nodes", [("Authorization", "Bearer \(site.token)")])
        #expect(bearer.status == 200 && bearer.headers["set-cookie"]?.contains("HttpOnly") == true)
    }

    @Test func underTLSTheCookieIsSecure() async throws {
        let site = try Self.site.get()
        let (cert, key) = try await Tool.certificate(in: site.dir)
        let server = try await ServeProcess.started(db: site.db, ["--read-token", "T-web-read", "--tls-cert", cert, "--tls-key", key], tls: true)
        defer { server.stop() }
        #expect(!server.stdoutLines.contains { $0.hasPrefix("open ") }, "a configured token is not printed")
        let client = try Client(trusting: cert, redirects: false)
        let login = try? await client.get(server.url + "/?token=T-web-read")
        try await client.shutdown()
        #expect(login?.status == 303)
        let cookie = login?.headers["set-cookie"] ?? ""
        #expect(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
    }
}
