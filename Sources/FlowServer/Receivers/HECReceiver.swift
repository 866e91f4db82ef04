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

    /// Adds the HEC routes to `group` (which is `/services/collector`): the event endpoints behind
    /// the HEC token, the health check behind nothing but the receiver being on.
    func addRoutes(to group: RouterGroup<FlowRequestContext>, credentials: Credentials) {
        let events = group.group().add(middleware: AuthenticationMiddleware(.hec, credentials: credentials))
        for path in ["", "event", "event/1.0"] {
            events.post(RouterPath(path), use: event)
        }
        let health = group.group().add(middleware: AuthenticationMiddleware(.hec, credentials: credentials, onlyWhenOn: true))
        for path in ["health", "health/1.0"] {
            health.get(RouterPath(path), use: self.health)
        }
    }

    @Sendable func event(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
        do {
            return try await receive(request, context)
        } catch let problem as IntakeProblem {
            throw HECError(problem)
        }
    }

    func receive(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
        let t0 = Trace.isOn ? Trace.now() : 0
        let body = try await intake.body(of: request)
        let t1 = Trace.isOn ? Trace.now() : 0
        let source = intake.source("hec", context)
        let events = try await offThePool { HECBody.decode(body, source: source) }
        let t2 = Trace.isOn ? Trace.now() : 0
        defer { if Trace.isOn { Trace.record("{\"k\":\"r\",\"s\":\(t0),\"b\":\(t1),\"d\":\(t2),\"e\":\(Trace.now())}") } }
        guard !events.isEmpty else { throw HECError(status: .badRequest, text: "No data", code: 5) }

        var messages: [FlowMessage] = []
        var changes: [ConfigChange] = []
        var rejects: [Reject] = []
        var reasons: [Answer.Reason] = []
        var firstProblem: HECEvent?
        var skipped = 0
        for e in events {
            switch e.outcome {
            case .message(let m): messages.append(m)
            case .change(let c): changes.append(c)
            case .skipped: skipped += 1
            case .rejected(let reason):
                if firstProblem == nil { firstProblem = e }
                rejects.append(Reject(location: e.location, reason: reason, excerpt: e.excerpt))
                if reasons.count < 100 { reasons.append(.init(event: e.number, line: e.location.line, reason: reason)) }
            }
        }
        _ = try await intake.store("hec", messages: messages, changes: changes, rejects: rejects, skipped: skipped, context: context)
        guard let first = firstProblem else { return .json(.ok, Answer(text: "Success", code: 0)) }
        let (text, code) = switch first.problem ?? .invalidDataFormat {
        case .invalidDataFormat: ("Invalid data format", 6)
        case .eventRequired: ("Event field is required", 12)
        case .eventBlank: ("Event field cannot be blank", 13)
        }
        context.logger.info("HEC body with rejected events", metadata: [
            "rejected": "\(rejects.count)", "stored": "\(messages.count)", "changes": "\(changes.count)", "peer": "\(context.peer)",
        ])
        return .json(.badRequest, Answer(text: text, code: code, invalidEventNumber: first.number, reasons: reasons))
    }

    @Sendable func health(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
        if intake.writer.isBehind {
            throw HECError(status: .serviceUnavailable, text: "HEC is unhealthy, queues are full", code: 18)
        }
        return .json(.ok, Answer(text: "HEC is healthy", code: 17))
    }
}
