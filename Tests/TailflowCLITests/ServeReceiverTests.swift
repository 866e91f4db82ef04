import Foundation
import Testing
import NIOHTTP1
import TestSupport

/// `tailflow serve` as a process: TLS with a real certificate, settings from flags, the
/// environment and a file. (The receivers, authentication, the query API and metrics are
/// tested in process, in FlowServerTests.)
@Suite(.ownThreads, .timeLimit(.minutes(15)))
struct ServeReceiverTests {
    @Test func tlsWithACertificateMadeHere() async throws {
        let dir = TempDir()
        let (cert, key) = try await Tool.certificate(in: dir)
        let db = dir.path("tls.db")
        let server = try await ServeProcess.started(db: db, ServeProcess.tokens + ["--tls-cert", cert, "--tls-key", key], tls: true)
        #expect(server.url.hasPrefix("https://"))
        let c = try await curl(["--cacert", cert, "-H", "Authorization: Splunk T1-hec", "--data-binary",
                          "@" + Fixtures.path("containers/splunk-hec.json"), server.url + "/services/collector/event"])
        #expect(c.status == 200)
        let client = try Client(trusting: cert)
        let answer: Answer
        do {
            answer = try await client.get(server.url + "/api/v1/nodes", Auth.read)
            try await client.shutdown()
        } catch {
            try await client.shutdown()
            throw error
        }
        #expect(answer.status == 200 && answer.body.contains("nKq3vX1CNTRL"))
        // Plain HTTP on the TLS port gets no answer; an untrusted certificate is refused by the client.
        await #expect(throws: (any Error).self) { _ = try await curl(["--max-time", "5", "http://127.0.0.1:\(server.port)/healthz"]) }
        await #expect(throws: (any Error).self) { _ = try await curl(["--max-time", "5", server.url + "/healthz"]) }
        #expect(server.stop() == 0)
        // A key that does not exist is a clear startup error.
        let bad = try await CLI.run(["serve", "--db", db, "--listen", "127.0.0.1:0", "--hec-token", "x", "--allow-weak-tokens", "--tls-cert", cert,
                               "--tls-key", dir.path("missing.pem")])
        #expect(bad.status != 0 && bad.stderr.contains("missing.pem"))
    }

    @Test func settingsFromAConfigFileAndTheEnvironment() async throws {
        let dir = TempDir()
        let config = dir.path("serve.json")
        try Data(#"{"listen": "127.0.0.1:0", "hec-token": "from-file", "read-token": "R", "max-body": "1MiB"}"#.utf8)
            .write(to: URL(fileURLWithPath: config))
        let server = try await ServeProcess.started(db: dir.path("cfg.db"), ["--config", config], env: ["TAILFLOW_HEC_TOKEN": "from-env"])
        let client = try Client()
        let body = try Fixtures.bytes("containers/splunk-hec.json")
        // The environment wins over the file.
        #expect(try await client.post(server.url + "/services/collector/event", body, [("Authorization", "Splunk from-file")]).status == 401)
        #expect(try await client.post(server.url + "/services/collector/event", body, [("Authorization", "Splunk from-env")]).status == 200)
        #expect(try await client.get(server.url + "/services/collector/health").object["code"] as? Int == 17)
        #expect(server.stop() == 0)
        try await client.shutdown()
        try Data(#"{"listen": "127.0.0.1:0", "hec-tokn": "x"}"#.utf8).write(to: URL(fileURLWithPath: config))
        let bad = try await CLI.run(["serve", "--db", dir.path("cfg.db"), "--config", config])
        #expect(bad.status == 2 && bad.stderr.contains("hec-tokn"))

        // Timeouts and the connection cap are settings too, named in errors as the file spells them.
        try Data(#"{"listen": "127.0.0.1:0", "read-token": "R", "allow-weak-tokens": true, "read-timeout": "1s", "idle-timeout": 30, "max-connections": 64}"#.utf8)
            .write(to: URL(fileURLWithPath: config))
        let timed = try await ServeProcess.started(db: dir.path("cfg.db"), ["--config", config], weakTokens: false)
        // A request whose headers never end is cut after the file's read timeout of 1s.
        let slow = try await Tool.run("/usr/bin/env", ["python3", "-c", """
            import socket, sys, time
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: t\\r\\n")
            s.settimeout(60)
            t = time.time(); data = s.recv(4096)
            print(data.decode().split("\\r\\n")[0], round(time.time() - t))
            """, String(timed.port)])
        let seconds = Int(slow.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 99
        // Well under the 30 s default, with room for a loaded machine.
        #expect(slow.stdout.hasPrefix("HTTP/1.1 408") && seconds < 15, "\(slow.stdout) \(slow.stderr)")
        #expect(timed.stop() == 0)
        for (setting, value) in [("idle-timeout", "\"soon\""), ("read-timeout", "-1"), ("max-connections", "0")] {
            try Data(#"{"read-token": "0123456789abcdef", \#("\"" + setting + "\""): \#(value)}"#.utf8).write(to: URL(fileURLWithPath: config))
            let r = try await CLI.run(["serve", "--db", dir.path("cfg.db"), "--config", config])
            #expect(r.status == 2 && r.stderr.contains(config + ": " + setting), "\(setting): \(r.stderr)")
        }

        // No secret at all still serves the pages and the query API, with a read token made for this run (SPEC §8).
        let pages = try await ServeProcess.started(db: dir.path("cfg.db"), [])
        let printed = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < printed, !pages.stdoutLines.contains(where: { $0.hasPrefix("open http://127.0.0.1:\(pages.port)/?token=") }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(pages.stdoutLines.contains { $0.hasPrefix("open http://127.0.0.1:\(pages.port)/?token=") }, "\(pages.stdoutLines)")
        #expect(pages.stop() == 0)
    }

    @Test func weakSecretsAreRefusedOrWarnedAbout() async throws {
        let dir = TempDir()
        let db = dir.path("weak.db")
        // Under 8 characters: refused (usage error) naming the setting, never echoing the secret.
        let refused = try await CLI.run(["serve", "--db", db, "--listen", "127.0.0.1:0", "--hec-token", "q7Z"])
        #expect(refused.status == 2 && refused.stderr.contains("--hec-token") && refused.stderr.contains("3 characters"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("q7Z"))
        let fromEnvironment = try await CLI.run(["serve", "--db", db, "--listen", "127.0.0.1:0"], env: ["TAILFLOW_READ_TOKEN": "x"])
        #expect(fromEnvironment.status == 2 && fromEnvironment.stderr.contains("read-token"), "\(fromEnvironment.stderr)")
        // Allowed, or 8 to 15 characters: the server starts and warns.
        for (args, length) in [(["--hec-token", "q7Z", "--allow-weak-tokens"], 3), (["--read-token", "Kq8vZ2xW4mPa"], 12)] {
            let server = try await ServeProcess.started(db: db, args, weakTokens: false)
            #expect(server.stop() == 0)
            #expect(server.stderr.contains("only \(length) characters"), "\(server.stderr)")
            #expect(!server.stderr.contains(args[1]))
        }
        // 16 and more: no warning.
        let strong = try await ServeProcess.started(db: db, ["--read-token", "9f86d081884c7d659a2feaa0c55ad015"], weakTokens: false)
        #expect(strong.stop() == 0)
        #expect(!strong.stderr.contains("characters"), "\(strong.stderr)")
    }
}
