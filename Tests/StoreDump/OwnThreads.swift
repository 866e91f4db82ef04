import Foundation

/// A task executor with threads of its own, for the servers the tests run in process (the
/// in-process `serve` of the connection tests, the stand-in Tailscale API) and for code that
/// times itself.
///
/// `swift test` runs every suite in one process, on Swift's cooperative pool: one thread per
/// core, two on CI. Synchronous tests that wait for the real binary (most of TailflowCLITests)
/// hold those threads for as long as the binary runs, so a server answering on the same pool
/// stalls for tens of seconds and a client's deadline expires (a `/healthz` unanswered in 15 s
/// on a loaded machine). On these threads a server answers whatever the rest of the process does.
public final class OwnThreads: TaskExecutor, @unchecked Sendable {
    public static let shared = OwnThreads(threads: 8)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "tailflow-test-server-\(i)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
