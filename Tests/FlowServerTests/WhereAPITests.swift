import Foundation
import Testing
import TestSupport

/// `where=` over HTTP: the CLI's `--where` answers, and its mistakes as 400 with the same text.
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct WhereAPITests {
    @Test func whereAnswersAsTheCLIAndMistakesAre400WithTheSameText() async throws {
        let dir = TempDir()
        let db = dir.path("w.db")
        let api = try Fixtures.bytes("tiny/api-response.json")
        try await TestServer.run(db: db) { app in
            #expect(try await app.post("/api/v1/ingest", api, Auth.ingest).status == 200)
            #expect(try await CLI.run(["nodes", "import", Fixtures.path("tiny/devices.json")], db: db).status == 0)
            let window = ["from": "2026-11-01T09:00:00Z", "to": "2026-11-01T11:00:00Z"]
            let questions: [(String, [String: String])] = [
                ("top", ["where": #"tag = "tag:prod" and port in (22, 5432) and not kind = exit"#]),
                ("top", ["by": "pair", "where": "src in 100.64.0.0/10 or kind = physical"]),
                ("series", ["step": "5m", "where": "endpoint = db-1 and proto = tcp"]),
                ("rollup", ["group-by": "kind,src,dst", "where": "not (dst = * or user = alice@example.com)"]),
                ("scope", ["endpoint": "db-1", "where": "port != 22"]),
                ("flows", ["where": "node = alice-laptop"]),
            ]
            for (command, own) in questions {
                let parameters = own.merging(window) { a, _ in a }
                let answer = try await app.get("/api/v1/\(command)?" + QueryAPITests.query(parameters), Auth.read)
                let cli = try await CLI.run(QueryAPITests.cliArguments(command, parameters), db: db)
                #expect(cli.status == 0, "\(command) \(parameters): \(cli.stderr)")
                #expect(answer.status == 200 && answer.body == cli.stdout, "\(command) \(parameters): \(answer.body)")
                #expect(answer.body.count > 3, "\(command) \(parameters) answers something")
            }
            // Mistakes: 400 whose text is the CLI's (the parameter spelled `where`, not `--where`).
            for expression in ["kind = exit and prot = tcp", "src = db-l", "port in (22,", "proto = tpc"] {
                let parameters = window.merging(["where": expression]) { a, _ in a }
                let answer = try await app.get("/api/v1/top?" + QueryAPITests.query(parameters), Auth.read)
                let cli = try await CLI.run(QueryAPITests.cliArguments("top", parameters), db: db)
                let error = answer.object["error"] as? String ?? ""
                #expect(answer.status == 400 && error.hasPrefix("where: ") && error.contains("^"), "\(expression): \(answer.body)")
                #expect(cli.status == 2 && cli.stderr == "tailflow: error: -" + "-" + error + "\n", "\(expression): \(cli.stderr)")
            }
            // An empty filter box is no filter.
            let blank = try await app.get("/api/v1/top?" + QueryAPITests.query(window.merging(["where": ""]) { a, _ in a }), Auth.read)
            let none = try await app.get("/api/v1/top?" + QueryAPITests.query(window), Auth.read)
            #expect(blank.status == 200 && blank.body == none.body)
        }
    }
}
