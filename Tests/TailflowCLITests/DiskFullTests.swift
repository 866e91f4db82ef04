import FlowModel
import Foundation
import Testing
import TestSupport

/// A full disk (a small tmpfs the test mounts; needs root) never corrupts the store: ingest stops
/// with a clear error and a re-run completes exactly; the server answers 503 (HEC code 9,
/// Retry-After) while it cannot write and resumes by itself when space returns.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct DiskFullTests {
    /// A tmpfs of `megabytes` at `path`, or nil where it cannot be mounted (not root, no mount).
    static func mount(_ path: String, megabytes: Int) throws -> Bool {
        guard getuid() == 0 else { return false }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return try Tool.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]).status == 0
    }

    static func resize(_ path: String, megabytes: Int) throws {
        #expect(try Tool.run("/bin/mount", ["-o", "remount,size=\(megabytes)m", path]).status == 0)
    }

    static func unmount(_ path: String) {
        _ = try? Tool.run("/bin/umount", ["-l", path])
    }

    @Test func ingestOnAFullDiskStopsClearlyAndARerunCompletesExactly() throws {
        let dir = TempDir()
        let mnt = dir.path("mnt")
        guard try Self.mount(mnt, megabytes: 2) else { return }
        defer { Self.unmount(mnt) }
        let input = dir.path("in.jsonl")
        try Synthetic.jsonl(count: 20_000, reporters: 50).write(to: URL(fileURLWithPath: input))
        let db = mnt + "/full.db"
        let full = try CLI.run(["ingest", "--quiet", "--commit-rows", "10000", input], db: db)
        #expect(full.status == 1, "\(full.stdout) \(full.stderr)")
        #expect(full.stderr.contains(db) && full.stderr.contains("the disk is full"), "\(full.stderr)")
        #expect(!full.stderr.contains("Fatal error"))
        // Space returns: the store opens, is sound, and the same ingest completes it exactly.
        try Self.resize(mnt, megabytes: 256)
        #expect(try CLI.run(["check", "--full"], db: db).status == 0)
        let again = try CLI.run(["ingest", "--quiet", input], db: db)
        #expect(again.status == 0, "\(again.stderr)")
        let clean = dir.path("clean.db")
        #expect(try CLI.run(["ingest", "--quiet", input], db: clean).status == 0)
        #expect(try Dump.of(db) == Dump.of(clean))
        #expect(try CLI.run(["check", "--full"], db: db).status == 0)
    }

    @Test func theServerAnswers503OnAFullDiskAndResumesByItself() async throws {
        let dir = TempDir()
        let mnt = dir.path("mnt")
        guard try Self.mount(mnt, megabytes: 3) else { return }
        defer { Self.unmount(mnt) }
        let db = mnt + "/serve.db"
        let server = try ServeProcess(db: db)
        defer { server.stop() }
        let client = try Client()
        let (bodies, _) = ServeDurabilityTests.hecBatches(400, 50)
        let url = server.url + "/services/collector/event"
        var acknowledged: [[UInt8]] = []
        var refused: (body: [UInt8], answer: Answer)?
        for body in bodies {
            let a = try await client.post(url, body, Auth.hec)
            if a.status == 200 {
                acknowledged.append(body)
            } else {
                refused = (body, a)
                break
            }
        }
        let (body, answer) = try #require(refused, "3 MB never filled")
        #expect(answer.status == 503, "\(answer.body)")
        #expect(answer.object["code"] as? Int == 9, "\(answer.body)")
        #expect(answer.headers["retry-after"] != nil)
        // Space returns: the same request is taken, with no restart.
        try Self.resize(mnt, megabytes: 256)
        var retried = try await client.post(url, body, Auth.hec)
        for _ in 0..<20 where retried.status != 200 {
            try await Task.sleep(for: .milliseconds(250))
            retried = try await client.post(url, body, Auth.hec)
        }
        #expect(retried.status == 200, "\(retried.body)")
        #expect(server.stop() == 0)
        // Everything acknowledged is stored, and the store is sound.
        let stored = try ServeDurabilityTests.storedKeys(db)
        for b in acknowledged + [body] {
            for key in try ServeDurabilityTests.keys(of: b) { #expect(stored.contains(key)) }
        }
        let check = try CLI.run(["check", "--full"], db: db)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
    }
}
