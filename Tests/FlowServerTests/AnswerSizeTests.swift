import FlowStore
import Foundation
import Testing
import TestSupport

/// Answers of any size (issue 14, item 4): raw flow rows are paged over HTTP (at most 10,000
/// per answer, then a `Link: rel="next"` from the last row's cursor) and streamed by the CLI,
/// so memory stays flat whatever the limit.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct AnswerSizeTests {
    static let window = "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"

    /// The `next` target of a `Link` header, or nil.
    static func next(_ link: String?) -> String? {
        guard let link, let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">"), link.contains("rel=\"next\"") else { return nil }
        return String(link[link.index(after: open)..<close])
    }

    static func cursors(_ ndjson: String) throws -> [String] {
        try ndjson.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return object?["cursor"] as? String ?? ""
        }
    }

    @Test func flowsArePagedWithANextLink() async throws {
        let dir = TempDir()
        let db = dir.path("pages.db")
        let body = Array(Synthetic.jsonl(count: 2000, rows: 6))  // 12,000 rows
        try await TestServer.run(db: db) { app in
            #expect(try await app.post("/api/v1/ingest", body, Auth.ingest).status == 200)
            // A huge limit: one page of 10,000 rows, then the rest.
            let first = try await app.get("/api/v1/flows?format=ndjson&limit=10000000000&" + Self.window, Auth.read)
            #expect(first.status == 200)
            let firstRows = try Self.cursors(first.body)
            #expect(firstRows.count == 10_000)
            let link = try #require(Self.next(first["Link"]), "\(first.headers)")
            #expect(link.contains("limit=9999990000") && link.contains("after=" + firstRows.last!))
            let second = try await app.get(link, Auth.read)
            let secondRows = try Self.cursors(second.body)
            #expect(second.status == 200 && secondRows.count == 2_000 && Self.next(second["Link"]) == nil)
            // The pages are the whole answer, as the CLI prints it.
            let cli = try await CLI.run(["flows", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z",
                                         "--limit", "100000", "--format", "ndjson"], db: db)
            #expect(first.body + second.body == cli.stdout)
            // A limit under the page size pages by that limit.
            let five = try await app.get("/api/v1/flows?limit=5&" + Self.window, Auth.read)
            let fiveLink = try #require(Self.next(five["Link"]))
            #expect(fiveLink.contains("limit=5&"))
            let next = try await app.get(fiveLink, Auth.read)
            let cliTen = try await CLI.run(["flows", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z",
                                            "--limit", "10", "--format", "ndjson"], db: db)
            let pages = (try JSONSerialization.jsonObject(with: Data(five.body.utf8)) as? [[String: Any]] ?? [])
                + (try JSONSerialization.jsonObject(with: Data(next.body.utf8)) as? [[String: Any]] ?? [])
            #expect(pages.map { $0["cursor"] as? String ?? "" } == (try Self.cursors(cliTen.stdout)))
            // scope?flows=true continues as flows of that endpoint.
            let scope = try await app.get("/api/v1/scope?flows=true&endpoint=n1&limit=100&" + Self.window, Auth.read)
            let scopeLink = try #require(Self.next(scope["Link"]))
            #expect(scopeLink.hasPrefix("/api/v1/flows?") && scopeLink.contains("endpoint=n1") && !scopeLink.contains("flows=true"))
            // Everything whole fits one page: no link.
            let all = try await app.get("/api/v1/flows?limit=20000&endpoint=n1&" + Self.window, Auth.read)
            #expect(Self.next(all["Link"]) == nil)
        }
    }

    /// Peak resident memory (KiB) of `tailflow args…`, from the kernel's accounting of a child.
    static func peakKiB(_ args: [String], db: String) throws -> (kib: Int, lines: Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import resource, subprocess, sys
            out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE).stdout
            print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, out.count(b"\\n"))
            """, CLI.binary] + args + ["--db", db]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let parts = text.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        return (parts.first ?? -1, parts.count > 1 ? parts[1] : -1)
    }

    @Test func memoryStaysFlatWhateverTheLimit() async throws {
        let dir = TempDir()
        let db = dir.path("big.db")
        let jsonl = Synthetic.jsonl(count: 20_000, rows: 6)  // 120,000 rows
        let ingest = try await CLI.run(["ingest", "--quiet", "-"], db: db, stdin: jsonl)
        #expect(ingest.status == 0)
        // The CLI streams: 120,000 rows (~60 MB of NDJSON) in well under 100 MiB.
        let cli = try await offThePool {
            try Self.peakKiB(["flows", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z", "--limit", "10000000000",
                              "--format", "ndjson"], db: db)
        }
        #expect(cli.lines == 120_000)
        #expect(cli.kib > 0 && cli.kib < 100 << 10, "the CLI peaked at \(cli.kib) KiB")

        // The server pages: a huge limit costs one page of memory.
        let server = Process()
        server.executableURL = URL(fileURLWithPath: CLI.binary)
        server.arguments = ["serve", "--db", db, "--listen", "127.0.0.1:0", "--read-token", "T4-read-0123456789abcdef"]
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        let line = try await offThePool {
            var text = ""
            while !text.contains("\n") {
                let data = out.fileHandleForReading.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            return text
        }
        let port = try #require(listeningPort(line), "\(line)")
        try await offThePool {
            try Process.run(URL(fileURLWithPath: "/usr/bin/curl"), arguments: [
                "-s", "-o", "/dev/null", "-H", "Authorization: Bearer T4-read-0123456789abcdef",
                "http://127.0.0.1:\(port)/api/v1/flows?limit=10000000000&" + Self.window,
            ]).waitUntilExit()
        }
        let status = try String(contentsOfFile: "/proc/\(server.processIdentifier)/status", encoding: .utf8)
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? -1
        #expect(peak > 0 && peak < 100 << 10, "the server peaked at \(peak) KiB")
    }
}
