import FlowIngest
import FlowModel
import FlowStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// What the receivers share: the secrets, the body limit, the group-commit writer and the metrics.
struct Intake: Sendable {
    let credentials: Credentials
    let maxBody: Int
    let writer: WritePipeline
    let metrics: ServerMetrics
    let storeWatch: StoreWatch
    let requests = RequestCounter()

    /// A name for a request's rejects in the store: the receiver, the peer, the time and a sequence number.
    func source(_ receiver: String, _ context: FlowRequestContext) -> String {
        "\(receiver) request #\(requests.next()) from \(context.peer) at \(Timestamp.formatRFC3339(Int64(Date().timeIntervalSince1970 * 1e9)))"
    }

    /// The request's body, decompressed, within `--max-body`. Throws ``IntakeProblem``.
    func body(of request: Request) async throws -> [UInt8] {
        try await request.readBody(limit: maxBody)
    }

    /// Stores the messages of a body and records its rejects; answers per message whether it was new.
    ///
    /// Returns only after the commit. Throws ``IntakeProblem`` when the writer is behind, stopping or failed.
    func store(_ receiver: String, messages: [FlowMessage], rejects: [Reject], skipped: Int,
               context: FlowRequestContext) async throws -> [Bool] {
        try await store(receiver, messages: messages, changes: [], rejects: rejects, skipped: skipped, context: context).messages
    }

    /// Stores messages, configuration events and rejects; per message and per change, whether it was new.
    func store(_ receiver: String, messages: [FlowMessage], changes: [ConfigChange], rejects: [Reject], skipped: Int,
               context: FlowRequestContext) async throws -> (messages: [Bool], changes: [Bool]) {
        metrics.received(receiver, messages: messages.count, rows: messages.reduce(0) { $0 + $1.rows.count },
                         rejected: rejects.count, skipped: skipped)
        guard !messages.isEmpty || !rejects.isEmpty || !changes.isEmpty else { return ([], []) }
        if let why = storeWatch.problem() { throw IntakeProblem.storeGone(why) }
        do {
            return try await writer.submit(messages, rejects: rejects, changes: changes)
        } catch let failure as WritePipeline.Failure {
            switch failure {
            case .overloaded(let seconds): throw IntakeProblem.behind(retryAfter: seconds)
            case .stopped: throw IntakeProblem.stopping
            case .store(let why):
                context.logger.error("store failed", metadata: ["receiver": "\(receiver)", "error": "\(why)"])
                throw IntakeProblem.storeFailed
            case .diskFull(let why):
                // Nothing of it was stored; the sender retries, and the writer resumes once space returns.
                context.logger.error("disk full", metadata: ["receiver": "\(receiver)", "error": "\(why)"])
                throw IntakeProblem.diskFull(retryAfter: 30)
            case .locked(let why):
                // Another process (a backup, a second writer) held the lock: nothing was stored; the sender retries.
                context.logger.warning("store locked", metadata: ["receiver": "\(receiver)", "error": "\(why)"])
                throw IntakeProblem.locked(retryAfter: 5)
            }
        }
    }
}

/// Numbers requests for reject sources.
final class RequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
extension Request {
    /// The body, decompressed when it is gzip (by `Content-Encoding` or by its magic bytes),
    /// at most `limit` bytes both as sent and decompressed.
    func readBody(limit: Int) async throws -> [UInt8] {
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw IntakeProblem.tooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw IntakeProblem.tooLarge(limit: limit)
        } catch let error as HTTPParserError {
            // A body the parser cannot read (a bad chunk size): the client's fault, not ours.
            throw IntakeProblem.badEncoding("the request body cannot be read: \(error)")
        }
        let bytes = Array(buffer.readableBytesView)
        let encoding = headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces) ?? ""
        switch encoding {
        case "gzip", "x-gzip":
            break
        case "", "identity":
            guard GzipInput.hasMagic(bytes) else { return bytes }
        default:
            throw IntakeProblem.unsupportedEncoding(encoding)
        }
        do {
            return try GzipInput.decompress(bytes, limit: limit)
        } catch is DecompressedTooLarge {
            throw IntakeProblem.tooLarge(limit: limit)
        } catch {
            throw IntakeProblem.badEncoding("\(error)")
        }
    }
}
