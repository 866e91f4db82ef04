import Foundation
package import Testing

/// Runs every test of a suite on threads of its own (``TestThreads``) instead of Swift's
/// cooperative pool.
///
/// `swift test` runs all suites at once in one process, on the cooperative pool: one thread per
/// core, two on CI, and a task there runs until it awaits. The synchronous work of a test (an
/// in-process ingest, a store dump, a property test's thousand questions) held both threads for
/// minutes at a time: in a full run the first one-line unit test finished only after 138 s, and
/// tests whose own tasks had to run meanwhile (a stream's pump, a follower's polls, HTTP
/// senders) ran out of time. On these threads the kernel shares the cores among all of them.
package struct OnOwnThreads: SuiteTrait, TestTrait, TestScoping {
    package var isRecursive: Bool { true }

    package func provideScope(for test: Test, testCase: Test.Case?,
                              performing function: @Sendable () async throws -> Void) async throws {
        try await withTaskExecutorPreference(TestThreads.shared) { try await function() }
    }
}

extension Trait where Self == OnOwnThreads {
    /// Each test of the suite on threads of its own (``OnOwnThreads``).
    package static var ownThreads: Self { OnOwnThreads() }
}

/// A task executor with threads of its own, many more than the machine has cores: a test that
/// blocks one of them (a synchronous wait) holds back no other test.
package final class TestThreads: TaskExecutor, @unchecked Sendable {
    package static let shared = TestThreads(threads: 8)

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "tailflow-test-\(i)"
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    package func enqueue(_ job: consuming ExecutorJob) {
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
            if head > 1024, head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
