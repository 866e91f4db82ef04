import FlowFormat
import FlowIngest
import FlowModel
import FlowStore
import Foundation
import Hummingbird
import Logging

/// `POST /api/v1/ingest` with `Authorization: Bearer <ingest token>`: any container of SPEC §1,
/// gzip or not, as `tailflow ingest` reads files. Answers with the ingest summary; 400 with
/// every reject's line, offset and reason when some input was rejected (the rest is stored).
struct PlainReceiver: Sendable {
    let intake: Intake

    struct Answer: Encodable {
        var messages: Int
        var rows: Int
        var stored: Int
        var duplicates: Int
        /// Configuration audit log records (SPEC §13): decoded, and stored for the first time.
        var changes: Int
        var storedChanges: Int
        var rejected: Int
        var skipped: Int
        var rejects: [Reject]

        struct Reject: Encodable {
            var line: Int?
            var offset: Int64
            var reason: String
        }
    }

    /// Adds `POST ingest` to `group` (which is `/api/v1`), behind the ingest token.
    func addRoutes(to group: RouterGroup<FlowRequestContext>, credentials: Credentials) {
        group.group().add(middleware: AuthenticationMiddleware(.ingest, credentials: credentials))
            .post("ingest", use: ingest)
    }

    @Sendable func ingest(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
        do {
            return try await receive(request, context)
        } catch let problem as IntakeProblem {
            throw APIError(problem)
        }
    }

    func receive(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
        let body = try await intake.body(of: request)
        let source = intake.source("ingest", context)
        let decoded = try await offThePool { try DecodedBody(bytes: body, source: source) }
        let (messages, rejects, skipped) = (decoded.messages, decoded.rejects, decoded.skipped)
        let changes = decoded.changes
        let (isNew, isNewChange) = try await intake.store("ingest", messages: messages, changes: changes,
                                                          rejects: rejects, skipped: skipped, context: context)
        let stored = isNew.filter { $0 }.count
        let answer = Answer(messages: messages.count, rows: messages.reduce(0) { $0 + $1.rows.count },
                            stored: stored, duplicates: messages.count - stored,
                            changes: changes.count, storedChanges: isNewChange.filter { $0 }.count, rejected: rejects.count, skipped: skipped,
                            rejects: rejects.prefix(1000).map { .init(line: $0.location.line, offset: $0.location.offset, reason: $0.reason) })
        if messages.isEmpty && rejects.isEmpty && skipped == 0 && changes.isEmpty {
            throw APIError(.badRequest, "no data: the body is empty")
        }
        return .json(rejects.isEmpty ? .ok : .badRequest, answer)
    }
}
