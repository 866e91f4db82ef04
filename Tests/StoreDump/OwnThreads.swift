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
    private var head = 0

    /// - parameter name: the threads' name, numbered from 0.
    /// - parameter stackSize: bytes, or nil for Foundation's default.
    public init(threads: Int, name: String = "tailflow-test-server", stackSize: Int? = nil) {
        for i in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "\(name)-\(i)"
            if let stackSize { thread.stackSize = stackSize }
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
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            // Taken jobs are dropped in bulk, not one removeFirst (a shift of the rest) per job.
            if head > 1024, head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
