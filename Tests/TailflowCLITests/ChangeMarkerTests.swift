import Foundation
import Testing
import TestSupport

/// Configuration changes marked on `--format svg` time charts and in `tailflow report` (SPEC §13),
/// read back with python's xml.etree: each marker's line stands where its change's time falls on the x axis.
@Suite(.ownThreads)
struct ChangeMarkerTests {
    static let from = "2026-11-01T09:55:00Z", to = "2026-11-01T10:05:00Z"
    /// The changes of Tests/Data/changes/mixed.jsonl: time, and what the hover text names.
    static let changes: [(time: String, says: String)] = [
        ("2026-11-01T09:58:00.512Z", "alice@example.com (Alice Ng): UPDATE ACL on example.com"),
        ("2026-11-01T09:59:30Z", "bob@example.com (Bob Ito): UPDATE TAGS on db-1.tail7f3e.ts.net"),
        ("2026-11-01T10:00:05Z", "alice@example.com (Alice Ng): APPROVE MACHINE_AUTHORIZED on old-ci.tail7f3e.ts.net"),
        ("2026-11-01T10:00:20Z", "bob@example.com (Bob Ito): UPDATE KEY_EXPIRY_TIME on router-1.tail7f3e.ts.net"),
        ("2026-11-01T10:00:40Z", "bob@example.com (Bob Ito): UPDATE DNS_NAMESERVERS on example.com"),
        ("2026-11-01T10:01:00Z", "Tailscale: DELETE on old-ci.tail7f3e.ts.net"),
    ]

    struct Chart {
        var plotX: Double
        var plotWidth: Double
        /// Per marker: its line's x, and its hover text.
        var markers: [(x: Double, title: String)]
    }

    /// Every time chart (`svg` element with `data-plot-x`) of an SVG or HTML file, in document order.
    static func charts(_ file: String) async throws -> [Chart] {
        let script = """
            import sys, json, xml.etree.ElementTree as E, html.parser
            text = open(sys.argv[1]).read()
            if text.lstrip().startswith("<!DOCTYPE"):
                # HTML: take each inline <svg>…</svg> (our own markup is well-formed XML).
                parts, at = [], 0
                while True:
                    i = text.find("<svg", at)
                    if i < 0: break
                    j = text.find("</svg>", i) + len("</svg>")
                    parts.append(text[i:j]); at = j
            else:
                parts = [text]
            out = []
            for part in parts:
                root = E.fromstring(part)
                if "data-plot-x" not in root.attrib: continue
                ns = "{http://www.w3.org/2000/svg}" if root.tag.startswith("{") else ""
                markers = []
                for g in root.iter(ns + "g"):
                    if g.attrib.get("class") != "marker": continue
                    line = g.find(ns + "line")
                    title = g.find(ns + "title")
                    markers.append([float(line.attrib["x1"]), title.text])
                out.append({"plotX": float(root.attrib["data-plot-x"]), "plotWidth": float(root.attrib["data-plot-width"]), "markers": markers})
            print(json.dumps(out))
            """
        let r = try await Tool.run("/usr/bin/env", ["python3", "-c", script, file])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        return json.map { c in
            Chart(plotX: c["plotX"] as? Double ?? -1, plotWidth: c["plotWidth"] as? Double ?? -1,
                  markers: (c["markers"] as? [[Any]] ?? []).map { ($0[0] as? Double ?? -1, $0[1] as? String ?? "") })
        }
    }

    /// Seconds since the window's start.
    static func offset(_ time: String) -> Double {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let g = ISO8601DateFormatter()
        let t = f.date(from: time) ?? g.date(from: time)!
        return t.timeIntervalSince(g.date(from: from)!)
    }

    /// Checks that `chart` marks exactly `expected`, each at its time's x (to the tenth of a pixel the SVG writes).
    static func check(_ chart: Chart, marks expected: [(time: String, says: String)], span: Double = 600) {
        #expect(chart.markers.count == expected.count, "\(chart.markers.map(\.title))")
        for (marker, change) in zip(chart.markers, expected) {
            let x = chart.plotX + offset(change.time) / span * chart.plotWidth
            #expect(abs(marker.x - x) <= 0.051, "\(change.time): at \(marker.x), expected \(x)")
            #expect(marker.title.contains(change.says), "\(marker.title)")
        }
    }

    static func store(_ dir: TempDir) async throws -> String {
        let db = dir.path("c.db")
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/changes/mixed.jsonl").path
        let r = try await CLI.run(["ingest", data], db: db)
        #expect(r.status == 0, "\(r.stderr)")
        return db
    }

    @Test func seriesAndRollupChartsMarkTheChangesOfTheirSubject() async throws {
        let dir = TempDir()
        let db = try await Self.store(dir)
        let window = ["--from", Self.from, "--to", Self.to, "--format", "svg"]
        func chart(_ question: [String]) async throws -> Chart {
            let r = try await CLI.run(question + window, db: db)
            #expect(r.status == 0, "\(r.stderr)")
            let file = dir.path("chart-\(UUID().uuidString.prefix(6)).svg")
            try Data(r.stdout.utf8).write(to: URL(fileURLWithPath: file))
            return try await #require(try Self.charts(file).first)
        }
        // All traffic: every change. One endpoint: its node's and the tailnet-wide ones. A pair: either end's.
        Self.check(try await chart(["series", "--step", "1m"]), marks: Self.changes)
        Self.check(try await chart(["series", "--step", "1m", "--endpoint", "db-1"]), marks: [Self.changes[0], Self.changes[1], Self.changes[4]])
        Self.check(try await chart(["series", "--step", "1m", "--pair", "db-1,router-1"]),
                   marks: [Self.changes[0], Self.changes[1], Self.changes[3], Self.changes[4]])
        Self.check(try await chart(["rollup", "--step", "1m", "--group-by", "kind"]), marks: Self.changes)
        Self.check(try await chart(["rollup", "--step", "1m", "--endpoint", "router-1"]), marks: [Self.changes[0], Self.changes[3], Self.changes[4]])
        // A window that holds none has no marker.
        let r = try await CLI.run(["series", "--step", "1m", "--from", "2026-11-01T10:02:00Z", "--to", "2026-11-01T10:05:00Z", "--format", "svg"], db: db)
        #expect(r.status == 0 && !r.stdout.contains(#"class="marker""#))
    }

    @Test func theReportMarksAndListsTheChangesOfItsWindow() async throws {
        let dir = TempDir()
        let db = try await Self.store(dir)
        let out = dir.path("report.html")
        let r = try await CLI.run(["report", "--from", Self.from, "--to", Self.to, "-o", out], db: db)
        #expect(r.status == 0, "\(r.stderr)")
        // The report's first time chart is traffic by kind at 1m over the 10 minutes.
        let charts = try await Self.charts(out)
        Self.check(try #require(charts.first), marks: Self.changes)
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.contains(#"<table data-answer="changes">"#))
        #expect(html.components(separatedBy: #"<td data-field="action""#).count - 1 == Self.changes.count)
        #expect(!html.contains("http://") && !html.contains("<script"))
        // Without changes in the window: no table, no markers.
        let quiet = dir.path("quiet.html")
        #expect(try await CLI.run(["report", "--from", "2026-11-01T10:02:00Z", "--to", "2026-11-01T10:05:00Z", "-o", quiet], db: db).status == 0)
        let text = try String(contentsOfFile: quiet, encoding: .utf8)
        #expect(!text.contains(#"data-answer="changes""#) && !text.contains(#"class="marker""#))
    }
}
