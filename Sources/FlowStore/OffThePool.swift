import Foundation

/// Runs blocking work (SQLite reads and commits, decoding a body) on a Dispatch thread, outside
/// Swift's cooperative pool, whose few threads must never block.
///
/// Not cancellable: once started, the work (a commit, say) finishes.
package func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try body() })
        }
    }
}
