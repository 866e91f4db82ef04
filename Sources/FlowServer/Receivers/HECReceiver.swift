import FlowFormat
import FlowIngest
import FlowModel
import FlowStore
import Foundation
import Hummingbird
import Logging

/// Splunk HTTP Event Collector: `POST /services/collector/event` (and `/services/collector`),
/// `Authorization: Splunk <token>`, answers in HEC's JSON shape; `GET /services/collector/health`.
///
/// A body with malformed events still stores its good ones, then answers 400 with HEC's
/// `invalid-event-number` (the first bad event, 0-based) and, beyond HEC, every bad event's reason.
struct HECReceiver: Sendable {
    let intake: Intake

    /// HEC's answer: `{"text":…, "code":…}` plus the invalid event for codes 6, 12 and 13.
    struct Answer: Encodable {
        var text: String
        var code: Int
        var invalidEventNumber: Int?
        var reasons: [Reason]?

        struct Reason: Encodable {
            var event: Int
            var line: Int?
            var reason: String
        }

        enum CodingKeys: String, CodingKey {
            case text, code
            case invalidEventNumber = "invalid-event-number"
            case reasons
        }
    }

    static func answer(_ status: HTTPResponse.Status, _ text: String, _ code: Int, headers: HTTPFields = [:]) -> Response {
        .json(status, Answer(text: text, code: code), headers: headers)
    }

    /// 404 for an unset token, 401 for missing or wrong credentials, 403 for another role's token.
    func refuse(_ access: Access) -> Response? {
        switch access {
        case .allowed: nil
        case .off: Self.answer(.notFound, "The requested URL was not found on this server.", 404)
        case .missing: Self.answer(.unauthorized, "Token is required", 2, headers: [.wwwAuthenticate: "Splunk"])
        case .wrong: Self.answer(.unauthorized, "Invalid token", 4, headers: [.wwwAuthenticate: "Splunk"])
        case .otherRole: Self.answer(.forbidden, "Token disabled", 1)
        }
    }

    func event(_ request: Request, _ context: ServerContext) async throws -> Response {
        if let refusal = refuse(intake.credentials.check(request, for: .hec)) { return refusal }
        do {
            return try await receive(request, context)
        } catch let problem as IntakeProblem {
            return Self.answer(problem)
        }
    }

    func receive(_ request: Request, _ context: ServerContext) async throws -> Response {
        let body = try await intake.body(of: request)
        let source = intake.source("hec", context)
        let events = try await offThePool { HECBody.decode(body, source: source) }
        guard !events.isEmpty else { return Self.answer(.badRequest, "No data", 5) }

        var messages: [FlowMessage] = []
        var rejects: [Reject] = []
        var reasons: [Answer.Reason] = []
        var firstProblem: HECEvent?
        var skipped = 0
        for e in events {
            switch e.outcome {
            case .message(let m): messages.append(m)
            case .skipped: skipped += 1
            case .rejected(let reason):
                if firstProblem == nil { firstProblem = e }
                rejects.append(Reject(location: e.location, reason: reason, excerpt: e.excerpt))
                if reasons.count < 100 { reasons.append(.init(event: e.number, line: e.location.line, reason: reason)) }
            }
        }
        _ = try await intake.store("hec", messages: messages, rejects: rejects, skipped: skipped, context: context)
        guard let first = firstProblem else { return Self.answer(.ok, "Success", 0) }
        let (text, code) = switch first.problem ?? .invalidDataFormat {
        case .invalidDataFormat: ("Invalid data format", 6)
        case .eventRequired: ("Event field is required", 12)
        case .eventBlank: ("Event field cannot be blank", 13)
        }
        context.logger.info("HEC body with rejected events", metadata: [
            "rejected": "\(rejects.count)", "stored": "\(messages.count)", "peer": "\(context.peer)",
        ])
        return .json(.badRequest, Answer(text: text, code: code, invalidEventNumber: first.number, reasons: reasons))
    }

    static func answer(_ problem: IntakeProblem) -> Response {
        switch problem {
        case .tooLarge(let limit):
            answer(.contentTooLarge, "Content too large: the limit is \(Units.iec(Int64(limit))), compressed or not", 413)
        case .unsupportedEncoding(let e):
            answer(.unsupportedMediaType, "Unsupported Content-Encoding '\(e)': send gzip or plain JSON", 6)
        case .badEncoding(let why):
            answer(.badRequest, "Invalid data format: \(why)", 6)
        case .behind(let seconds):
            answer(.serviceUnavailable, "Server is busy", 9, headers: [.retryAfter: String(seconds)])
        case .stopping:
            answer(.serviceUnavailable, "Server is busy", 9, headers: [.retryAfter: "5"])
        case .storeFailed:
            answer(.internalServerError, "Internal server error", 8)
        }
    }

    func health(_ request: Request, _ context: ServerContext) async throws -> Response {
        guard intake.credentials.isOn(.hec) else { return refuse(.off)! }
        if intake.writer.isBehind {
            return Self.answer(.serviceUnavailable, "HEC is unhealthy, queues are full", 18)
        }
        return Self.answer(.ok, "HEC is healthy", 17)
    }
}
