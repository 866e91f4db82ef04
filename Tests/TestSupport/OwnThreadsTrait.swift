import Foundation
package import StoreDump
package import Testing

/// Runs every test of a suite on threads of its own (``OwnThreads/tests``) instead of Swift's
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
        try await withTaskExecutorPreference(OwnThreads.tests) { try await function() }
    }
}

extension Trait where Self == OnOwnThreads {
    /// Each test of the suite on threads of its own (``OnOwnThreads``).
    package static var ownThreads: Self { OnOwnThreads() }
}

extension OwnThreads {
    /// The threads of ``OnOwnThreads``: more than the machine has cores, so that a test that
    /// blocks one of them (a synchronous wait) holds back no other test; apart from the servers'
    /// ``shared`` ones, so that busy tests never stall a server.
    package static let tests = OwnThreads(threads: 8, name: "tailflow-test", stackSize: 16 << 20)
}
