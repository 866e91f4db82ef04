import Foundation

/// Work on a thread of its own, waited for by ``value()``: what is needed next, read while
/// something else is (a question's node tables while its answer is computed, say).
///
/// For example:
/// ```swift
/// let changes = Background { try engine.scopeChanges(window: w, endpoint: e) }
/// try print(answer)
/// let found = try changes.value()
/// ```
package final class Background<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<T, any Error>?

    /// Starts `work` on a new thread.
    package init(_ work: @escaping @Sendable () throws -> T) {
        let thread = Thread { [self] in
            result = Result { try work() }
            done.signal()
        }
        thread.start()
    }

    /// Work already done (nothing runs in the background).
    package init(done value: T) {
        result = .success(value)
        done.signal()
    }

    /// The work's answer (or its error), once it is done; the same each time it is asked.
    package func value() throws -> T {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
