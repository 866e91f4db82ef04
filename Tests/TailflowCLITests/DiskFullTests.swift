import FlowModel
import Foundation
import StoreDump
import Testing
import TestSupport

/// A full disk never corrupts the store: ingest and prune stop with a clear error and a re-run
/// completes exactly; the server answers 503 (HEC code 9, Retry-After) while it cannot write and
/// resumes when space returns.
///
/// The disk is a small tmpfs the test mounts (as root). Where none can be mounted the fault is
/// still made, with a quota on the store file (`TAILFLOW_MAX_DB_BYTES`, SQLite's
/// `max_page_count`): a write past it fails exactly as on a full disk. A prune never grows the
/// database file (only its write-ahead log), so a quota cannot stop one: that test needs the
/// tmpfs and is reported as skipped without it, never passed silently.
@Suite(.ownThreads, .serialized, .timeLimit(.minutes(15)))
struct DiskFullTests {
    /// Whether a tmpfs can be mounted here (`TAILFLOW_TEST_NO_MOUNT=1` takes the quota path anyway).
    static let canMount: Bool = {
        guard getuid() == 0, ProcessInfo.processInfo.environment["TAILFLOW_TEST_NO_MOUNT"] == nil else { return false }
        let dir = TempDir(prefix: "tailflow-mount-probe")
        let mnt = dir.path("m")
        guard (try? mount(mnt, megabytes: 1)) == true else { return false }
        unmount(mnt)
        return true
    }()

    /// Where a test's store fills up: a tmpfs of its own, or a quota on the store file.
    final class FullDisk {
        let dir: String
        let mounted: Bool
        private(set) var quota: Int64?

        init(_ temp: TempDir, megabytes: Int) throws {
            dir = temp.path("mnt")
            mounted = try DiskFullTests.canMount && DiskFullTests.mount(dir, megabytes: megabytes)
            if !mounted {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                quota = Int64(megabytes) << 20
            }
        }

        /// The environment of a command that should meet the full disk.
        var env: [String: String] { quota.map { ["TAILFLOW_MAX_DB_BYTES": String($0)] } ?? [:] }

        /// Space returns: the tmpfs grows; a quota is lifted for the commands run from now on.
        func grow() throws {
            if mounted { try DiskFullTests.resize(dir, megabytes: 256) } else { quota = nil }
        }

        func release() {
            if mounted { DiskFullTests.unmount(dir) }
        }
    }

    /// A tmpfs of `megabytes` at `path`; false where it cannot be mounted (not root, no mount).
    static func mount(_ path: String, megabytes: Int) throws -> Bool {
        guard getuid() == 0 else { return false }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return try Tool.runBlocking("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]).status == 0
    }

    static func resize(_ path: String, megabytes: Int) throws {
        #expect(try Tool.runBlocking("/bin/mount", ["-o", "remount,size=\(megabytes)m", path]).status == 0)
    }

    static func unmount(_ path: String) {
        _ = try? Tool.runBlocking("/bin/umount", ["-l", path])
    }

    @Test func ingestOnAFullDiskStopsClearlyAndARerunCompletesExactly() async throws {
        let dir = TempDir()
        let disk = try FullDisk(dir, megabytes: 2)
        defer { disk.release() }
        let input = dir.path("in.jsonl")
        try Synthetic.jsonl(count: 20_000, reporters: 50).write(to: URL(fileURLWithPath: input))
        let db = disk.dir + "/full.db"
        let full = try await CLI.run(["ingest", "--quiet", "--commit-rows", "10000", input], db: db, env: disk.env)
        #expect(full.status == 1, "\(full.stdout) \(full.stderr)")
        #expect(full.stderr.contains(db) && full.stderr.contains("the disk is full"), "\(full.stderr)")
        #expect(!full.stderr.contains("Fatal error"))
        #expect(try StoreDump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") > 0, "the batches before the full disk are kept")
        // Space returns: the store opens, is sound, and the same ingest completes it exactly.
        try disk.grow()
        #expect(try await CLI.run(["check", "--full"], db: db, env: disk.env).status == 0)
        let again = try await CLI.run(["ingest", "--quiet", input], db: db, env: disk.env)
        #expect(again.status == 0, "\(again.stderr)")
        let clean = dir.path("clean.db")
        #expect(try await CLI.run(["ingest", "--quiet", input], db: clean).status == 0)
        #expect(try Dump.of(db) == Dump.of(clean))
        #expect(try await CLI.run(["check", "--full"], db: db, env: disk.env).status == 0)
    }

    @Test func theServerAnswers503OnAFullDiskAndResumes() async throws {
        let dir = TempDir()
        let disk = try FullDisk(dir, megabytes: 3)
        defer { disk.release() }
        let db = disk.dir + "/serve.db"
        var server = try await ServeProcess.started(db: db, env: disk.env)
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
        // Space returns: the same request is taken; on the tmpfs with no restart (a quota is
        // the process's own, so there the server is started again without it).
        try disk.grow()
        if !disk.mounted {
            #expect(server.stop() == 0)
            server = try await ServeProcess.started(db: db, env: disk.env)
        }
        let retryURL = server.url + "/services/collector/event"
        var retried = try await client.post(retryURL, body, Auth.hec)
        try await eventually(every: .milliseconds(250)) {
            if retried.status == 200 { return true }
            retried = try await client.post(retryURL, body, Auth.hec)
            return retried.status == 200
        }
        #expect(retried.status == 200, "\(retried.body)")
        #expect(server.stop() == 0)
        // Everything acknowledged is stored, and the store is sound.
        let stored = try ServeDurabilityTests.storedKeys(db)
        for b in acknowledged + [body] {
            for key in try ServeDurabilityTests.keys(of: b) { #expect(stored.contains(key)) }
        }
        let check = try await CLI.run(["check", "--full"], db: db)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
    }

    /// The disk fills while `prune` deletes: it stops with the same clear error after its last whole
    /// transaction, the store stays sound, and once space returns the same prune completes it to
    /// exactly what a prune without the fault leaves.
    @Test(.enabled(if: canMount, "needs a tmpfs (root): a quota cannot stop a prune, which never grows the database file"))
    func pruneOnAFullDiskStopsClearlyAndARerunCompletesExactly() async throws {
        let dir = TempDir()
        let disk = try FullDisk(dir, megabytes: 24)
        defer { disk.release() }
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let hour: Int64 = 3600 * Timestamp.nanosPerSecond
        let from = Timestamp.bucketStart(now - 10 * 24 * hour, step: hour)
        let input = dir.path("old.jsonl"), db = disk.dir + "/prune.db", clean = dir.path("clean.db")
        let g = try await CLI.run(["generate", "--nodes", "10", "--duration", "3h", "--rate", "0.5", "--start", Timestamp.formatRFC3339(from), "-o", input])
        #expect(g.status == 0, "\(g.stderr)")
        #expect(try await CLI.run(["ingest", "--quiet", input], db: db).status == 0)
        // A consistent copy (a plain file copy could miss what is still in the write-ahead log).
        #expect(try await CLI.run(["backup", "-o", clean], db: db).status == 0)

        // Fill the tmpfs, then give back a little: room for a few of the prune's transactions in the log.
        let filler = disk.dir + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: filler))
        let chunk = Data(count: 64 << 10)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size > 192 << 10 ? size - (192 << 10) : 0)
        try handle.close()

        let full = try await CLI.run(["prune", "--raw", "7d"], db: db)
        #expect(full.status == 1, "\(full.stdout) \(full.stderr)")
        #expect(full.stderr.contains(db) && full.stderr.contains("the disk is full"), "\(full.stderr)")
        #expect(!full.stderr.contains("Fatal error"))
        try FileManager.default.removeItem(atPath: filler)
        #expect(try await CLI.run(["check", "--full"], db: db).status == 0)
        let again = try await CLI.run(["prune", "--raw", "7d"], db: db)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await CLI.run(["prune", "--raw", "7d"], db: clean).status == 0)
        #expect(try StoreDump.count(db, "SELECT coalesce(sum(messages), 0) FROM message_groups") == 0)
        let (a, b) = (try Dump.of(db), try Dump.of(clean))
        #expect(a == b, "only after the fault: \(Set(a).subtracting(b).sorted().prefix(5)); only in the clean prune: \(Set(b).subtracting(a).sorted().prefix(5))")
        #expect(try await CLI.run(["check", "--full"], db: db).status == 0)
    }
}
