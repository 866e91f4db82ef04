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
        var rejected: Int
        var skipped: Int
        var rejects: [Reject]

        struct Reject: Encodable {
            var line: Int?
            var offset: Int64
            var reason: String
        }
    }

    struct ErrorAnswer: Encodable {
        var error: String
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        .json(status, ErrorAnswer(error: message), headers: headers)
    }

    /// The bearer-token refusals the ingest and query endpoints share.
    static func refuse(_ access: Access) -> Response? {
        switch access {
        case .allowed: nil
        case .off: error(.notFound, "not found: this endpoint is off (its token is not set)")
        case .missing, .wrong: error(.unauthorized, "missing or invalid credentials", headers: [.wwwAuthenticate: "Bearer"])
        case .otherRole: error(.forbidden, "this token may not use this endpoint")
        }
    }

    func ingest(_ request: Request, _ context: ServerContext) async throws -> Response {
        if let refusal = Self.refuse(intake.credentials.check(request, for: .ingest)) { return refusal }
        do {
            return try await receive(request, context)
        } catch let problem as IntakeProblem {
            return Self.answer(problem)
        }
    }

    static func answer(_ problem: IntakeProblem) -> Response {
        switch problem {
        case .tooLarge(let limit):
            error(.contentTooLarge, "the request body exceeds the limit of \(Units.iec(Int64(limit))), compressed or not")
        case .unsupportedEncoding(let e):
            error(.unsupportedMediaType, "unsupported Content-Encoding '\(e)': send gzip or plain JSON")
        case .badEncoding(let why):
            error(.badRequest, why)
        case .behind(let seconds):
            error(.serviceUnavailable, "the writer is behind; retry later", headers: [.retryAfter: String(seconds)])
        case .stopping:
            error(.serviceUnavailable, "shutting down; retry later", headers: [.retryAfter: "5"])
        case .storeFailed:
            error(.internalServerError, "the store failed; nothing of this request was stored")
        }
    }

    func receive(_ request: Request, _ context: ServerContext) async throws -> Response {
        let body = try await intake.body(of: request)
        let source = intake.source("ingest", context)
        let decoded = try await offThePool { try DecodedBody(bytes: body, source: source) }
        let (messages, rejects, skipped) = (decoded.messages, decoded.rejects, decoded.skipped)
        let isNew = try await intake.store("ingest", messages: messages,
                                           rejects: rejects,
                                           skipped: skipped, context: context)
        let stored = isNew.filter { $0 }.count
        let answer = Answer(messages: messages.count, rows: messages.reduce(0) { $0 + $1.rows.count },
                            stored: stored, duplicates: messages.count - stored, rejected: rejects.count, skipped: skipped,
                            rejects: rejects.prefix(1000).map { .init(line: $0.location.line, offset: $0.location.offset, reason: $0.reason) })
        if messages.isEmpty && rejects.isEmpty && skipped == 0 {
            return Self.error(.badRequest, "no data: the body is empty")
        }
        return .json(rejects.isEmpty ? .ok : .badRequest, answer)
    }
}
