import AsyncHTTPClient
import FlowIngest
import Foundation
import NIOCore

/// The body of one log answer, handed from the network to the ingest thread while it arrives.
///
/// The network side reads the body into a short queue; once ``window`` bytes wait
/// unread it stops reading, and TCP flow control holds the rest at the server. So an
/// answer waiting for its turn (chunks are ingested in time order) costs at most
/// ``window`` bytes of memory, and the answer being ingested is decoded as it
/// arrives instead of after it has been held whole.
///
/// The reading side (``read(into:)``, a ``ByteInput``) blocks its thread until bytes,
/// the end or a failure arrive. A failure (a dropped connection, ``TailscaleAPI``'s
/// timeout) is thrown from `read` and kept in ``failure``: never an early end, which
/// would make a truncated answer look complete.
///
/// The timeout counts the time the answer keeps *us* waiting: from the request to
/// the last byte, less the time the network side stood still because the reader
/// was behind (a chunk waiting for the ones before it is not the server being slow).
final class AnswerStream: ByteInput, @unchecked Sendable {
    /// The request, for errors.
    let url: String
    /// Bytes read from the network and not yet by the reader, at most (about: one part more).
    static let window = 4 << 20

    private let condition = NSCondition()
    private var parts = CircularBuffer<ByteBuffer>()
    private var queued = 0
    private var finished = false
    private var failed: (any Error)?
    private var abandoned = false
    private var room: CheckedContinuation<Void, Never>?
    private var stalledSince: ContinuousClock.Instant?
    private var stalled: Duration = .zero
    private var task: Task<Void, Never>?
    /// Bytes received so far (compressed when the API compressed them).
    var received: Int64 { condition.withLock { _received } }
    private var _received: Int64 = 0

    /// What the timeout counts with: the continuous clock, or a clock a test moves by hand.
    private let now: @Sendable () -> ContinuousClock.Instant

    init(url: String, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.url = url
        self.now = now
    }

    /// Why the answer could not be read to its end, once it could not.
    var failure: (any Error)? { condition.withLock { failed } }

    /// Starts reading `body` in the background.
    ///
    /// - parameter started: when the request was sent; `timeout` counts from there.
    /// - parameter limit: the largest answer accepted.
    func start(_ body: HTTPClientResponse.Body, started: ContinuousClock.Instant, timeout: Duration, limit: Int) {
        let reading = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.pump(body, limit: limit) }
                group.addTask { await self.watch(started: started, timeout: timeout) }
                await group.next()
                group.cancelAll()
            }
        }
        condition.withLock { task = reading }
    }

    /// Stops reading (the reader gave up, or the pull failed); a blocked `read` returns the failure.
    func cancel() {
        let (reading, waiter) = condition.withLock { () -> (Task<Void, Never>?, CheckedContinuation<Void, Never>?) in
            abandoned = true
            if failed == nil, !finished { failed = CancellationError() }
            parts.removeAll()
            queued = 0
            let waiter = room
            room = nil
            condition.broadcast()
            return (self.task, waiter)
        }
        waiter?.resume()
        reading?.cancel()
    }

    // MARK: The network side

    private func pump(_ body: HTTPClientResponse.Body, limit: Int) async {
        do {
            var total = 0
            for try await part in body {
                total += part.readableBytes
                guard total <= limit else {
                    fail(APIError(code: .badResponse, message: "the answer to \(url) is larger than \(limit >> 20) MiB: use a smaller --chunk",
                                  status: 200, attempts: 1))
                    return
                }
                guard await push(part) else { return }
            }
            condition.withLock {
                finished = true
                condition.broadcast()
            }
        } catch {
            fail(error)
        }
    }

    /// Fails the answer once `timeout` of the time since `started`, less the time stalled for the reader, has passed.
    private func watch(started: ContinuousClock.Instant, timeout: Duration) async {
        while !Task.isCancelled {
            let now = self.now()
            let waited = condition.withLock { () -> Duration? in
                if finished || failed != nil { return nil }
                return now - started - stalled - (stalledSince.map { now - $0 } ?? .zero)
            }
            guard let waited else { return }
            if waited >= timeout {
                fail(TailscaleAPI.Timeout(seconds: timeout))
                return
            }
            try? await Task.sleep(for: max(timeout - waited, .milliseconds(10)))
        }
    }

    /// Queues `part`; waits while the queue is full. False when the reader has gone.
    private func push(_ part: ByteBuffer) async -> Bool {
        let full = condition.withLock { () -> Bool? in
            guard !abandoned, failed == nil else { return nil }
            parts.append(part)
            queued += part.readableBytes
            _received += Int64(part.readableBytes)
            condition.broadcast()
            // The wait for the reader starts as the window fills, in the same lock that counts the
            // part: a watch between this and the wait below must not count that time as the server's.
            let full = queued >= Self.window
            if full, stalledSince == nil { stalledSince = now() }
            return full
        }
        guard let full else { return false }
        if full {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = condition.withLock { () -> Bool in
                        guard queued >= Self.window, !abandoned, failed == nil, !Task.isCancelled else {
                            // The reader made room first: the stall ends here.
                            if let since = stalledSince {
                                stalled += now() - since
                                stalledSince = nil
                            }
                            return true
                        }
                        room = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                let waiter = condition.withLock { () -> CheckedContinuation<Void, Never>? in
                    defer { room = nil }
                    return room
                }
                waiter?.resume()
            }
        }
        return condition.withLock { !abandoned && failed == nil }
    }

    private func fail(_ error: any Error) {
        let waiter = condition.withLock { () -> CheckedContinuation<Void, Never>? in
            if failed == nil, !finished { failed = error }
            condition.broadcast()
            defer { room = nil }
            return room
        }
        waiter?.resume()
    }

    // MARK: The reading side

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var copied = 0
        let waiter: CheckedContinuation<Void, Never>?
        condition.lock()
        while parts.isEmpty, !finished, failed == nil { condition.wait() }
        if parts.isEmpty {
            let failure = failed
            condition.unlock()
            if let failure { throw InputError(source: url, message: TailscaleAPI.describe(failure)) }
            return 0
        }
        // Everything queued that fits, so the decoder refills as rarely as it would from a file.
        while copied < buffer.count, var part = parts.first {
            let n = min(buffer.count - copied, part.readableBytes)
            part.withUnsafeReadableBytes { src in
                (buffer.baseAddress! + copied).copyMemory(from: src.baseAddress!, byteCount: n)
            }
            copied += n
            part.moveReaderIndex(forwardBy: n)
            if part.readableBytes == 0 { parts.removeFirst() } else { parts[parts.startIndex] = part }
        }
        queued -= copied
        if queued < Self.window / 2, let since = stalledSince {
            stalled += now() - since
            stalledSince = nil
            waiter = room
            room = nil
        } else {
            waiter = nil
        }
        condition.unlock()
        waiter?.resume()
        return copied
    }
}
