import FlowIngest
import FlowModel
import FlowStore
import Foundation
import Hummingbird
import Logging

/// What the receivers share: the secrets, the body limit, the group-commit writer and the metrics.
struct Intake: Sendable {
    let credentials: Credentials
    let maxBody: Int
    let writer: GroupCommitWriter
    let metrics: ServerMetrics
    let requests = RequestCounter()

    /// A name for a request's rejects in the store: the receiver, the peer, the time and a sequence number.
    func source(_ receiver: String, _ context: ServerContext) -> String {
        "\(receiver) request #\(requests.next()) from \(context.peer) at \(Timestamp.formatRFC3339(Int64(Date().timeIntervalSince1970 * 1e9)))"
    }

    /// Stores the messages of a body and records its rejects; answers per message whether it was new.
    ///
    /// Returns only after the commit. Throws ``GroupCommitWriter/Failure``.
    func store(_ receiver: String, messages: [FlowMessage], rejects: [NewReject], skipped: Int) async throws -> [Bool] {
        metrics.received(receiver, messages: messages.count, rows: messages.reduce(0) { $0 + $1.rows.count },
                         rejected: rejects.count, skipped: skipped)
        guard !messages.isEmpty || !rejects.isEmpty else { return [] }
        return try await writer.submit(messages, rejects: rejects)
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

extension NewReject {
    init(_ location: SourceLocation, reason: String, excerpt: String) {
        self.init(source: location.source, line: location.line, offset: location.offset, reason: reason, excerpt: excerpt)
    }
}
