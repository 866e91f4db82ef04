import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport

/// `--format svg` and `tailflow report`, through the real binary.
@Suite(.ownThreads)
struct ChartCommandTests {
    static let window = ["--from", "2026-11-01T10:00:00Z", "--to", "2026-11-01T11:00:00Z"]

    /// Parses text as XML with python's xml.etree (another parser than ours) and returns the root tag and all text.
    static func etree(_ text: String, file: String) throws -> (root: String, text: String) {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import sys, xml.etree.ElementTree as E
            root = E.parse(sys.argv[1]).getroot()
            print(root.tag)
            print(" ".join(root.itertext()))
            for e in root.iter():
                for v in e.attrib.values(): print(v)
            """, file]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "not well-formed XML: \(errors)")
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", maxSplits: 1).map(String.init)
        return (lines.first ?? "", lines.count > 1 ? lines[1] : "")
    }

    @Test(arguments: [
        ["top"], ["top", "--by", "pair"], ["top", "--by", "port", "--metric", "packets"], ["top", "--by", "proto"],
        ["series", "--step", "1m"], ["series", "--step", "5m", "--pair", "nDb1x9ZCNTRL,nKq3vX1CNTRL"],
        ["rollup", "--step", "10m", "--group-by", "kind"], ["rollup", "--step", "1m", "--group-by", "src,dst"], ["rollup", "--step", "1h"],
    ])
    func svgIsWellFormedXML(_ question: [String]) async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let r = try await CLI.run(question + Self.window + ["--format", "svg"], db: db)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("<?xml"))
        let parsed = try Self.etree(r.stdout, file: dir.path("chart.svg"))
        #expect(parsed.root == "{http://www.w3.org/2000/svg}svg")
        #expect(!r.stdout.contains("<script"))
    }

    @Test func svgLabelsNodesAndShowsExactValuesOnHover() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let json = try await QueryCommandTests.json(CLI.run(["top"] + Self.window + ["--format", "json"], db: db))
        let svg = try await CLI.run(["top"] + Self.window + ["--format", "svg"], db: db).stdout
        let first = try #require(json.first)
        let bytes = try #require(first["bytes"] as? Int)
        // The hover text holds the exact total with thousands separators.
        var digits = String(bytes), grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        grouped = digits + grouped
        #expect(svg.contains("total: ") && svg.contains(grouped + " bytes"), "\(grouped)")
        if let name = first["name"] as? String {
            #expect(svg.contains(String(name.split(separator: ".").first!)))
        }
    }

    @Test func svgIsOnlyForChartableQuestions() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let r = try await CLI.run(["scope", "--endpoint", "db-1", "--format", "svg"] + Self.window, db: db)
        #expect(r.status == 2)
    }

    @Test func reportIsOneSelfContainedFile() async throws {
        let dir = TempDir()
        let db = try await QueryCommandTests.tiny(dir)
        let out = dir.path("weekly.html")
        let r = try await CLI.run(["report"] + Self.window + ["-o", out], db: db)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(out)"))
        let html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        for answer in ["top-endpoint", "top-pair", "top-port", "rollup"] {
            #expect(html.contains("data-answer=\"\(answer)\""))
        }
        #expect(html.contains("<svg"))
        // To stdout with -, and a bad window is a usage error.
        let stdout = try await CLI.run(["report"] + Self.window + ["-o", "-"], db: db)
        #expect(stdout.stdout.hasPrefix("<!DOCTYPE html>"))
        let bad = try await CLI.run(["report", "--from", "2026-11-02", "--to", "2026-11-01", "-o", out], db: db)
        #expect(bad.status == 2)
    }
}
