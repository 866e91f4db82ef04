import FlowFormat
import FlowIngest
import FlowModel
import FlowStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Elasticsearch `_bulk`: `POST /_bulk` and `/{index}/_bulk` with basic auth (user + token),
/// answered in the bulk API's shape with a status per item, plus the cluster-info
/// endpoints a bulk client probes before it sends (`GET /`, `/_cluster/health`, `/_license`, `/_xpack`).
///
/// A document already stored is acknowledged as success (status 200, result `noop`), never
/// as a conflict, so a sender's retry ends. As in Elasticsearch, the request itself
/// answers 200 with `errors: true` when some items failed; each failed item carries its reason.
struct BulkReceiver: Sendable {
    let intake: Intake

    static let productHeaders: HTTPFields = [HTTPField.Name("X-Elastic-Product")!: "Elasticsearch"]

    struct ErrorAnswer: Encodable {
        struct Cause: Encodable {
            var type: String
            var reason: String
        }
        struct Detail: Encodable {
            var root_cause: [Cause]
            var type: String
            var reason: String
        }
        var error: Detail
        var status: Int
    }

    static func error(_ status: HTTPResponse.Status, _ type: String, _ reason: String, headers: HTTPFields = [:]) -> Response {
        var all = productHeaders
        all.append(contentsOf: headers)
        return .json(status, ErrorAnswer(error: .init(root_cause: [.init(type: type, reason: reason)], type: type, reason: reason),
                                         status: Int(status.code)), headers: all)
    }

    func refuse(_ access: Access, _ request: Request) -> Response? {
        let path = request.uri.path
        switch access {
        case .allowed: return nil
        case .off: return Self.error(.notFound, "resource_not_found_exception", "no handler found for uri [\(path)]")
        case .missing:
            return Self.error(.unauthorized, "security_exception", "missing authentication credentials for REST request [\(path)]",
                              headers: [.wwwAuthenticate: "Basic realm=\"tailflow\", charset=\"UTF-8\""])
        case .wrong:
            return Self.error(.unauthorized, "security_exception", "unable to authenticate for REST request [\(path)]",
                              headers: [.wwwAuthenticate: "Basic realm=\"tailflow\", charset=\"UTF-8\""])
        case .otherRole:
            return Self.error(.forbidden, "security_exception", "action [indices:data/write/bulk] is unauthorized for these credentials")
        }
    }

    /// One item of the answer, keyed by its action.
    struct ItemAnswer: Encodable {
        var _index: String
        var _id: String
        var _version: Int?
        var result: String?
        var _shards: Shards?
        var _seq_no: Int?
        var _primary_term: Int?
        var status: Int
        var error: ErrorAnswer.Cause?

        struct Shards: Encodable {
            var total = 1
            var successful = 1
            var failed = 0
        }
    }

    struct Answer: Encodable {
        var took: Int
        var errors: Bool
        var items: [[String: ItemAnswer]]
    }

    func bulk(_ request: Request, _ context: ServerContext, index pathIndex: String?) async throws -> Response {
        if let refusal = refuse(intake.credentials.check(request, for: .bulk), request) { return refusal }
        do {
            return try await receive(request, context, index: pathIndex)
        } catch let problem as IntakeProblem {
            return Self.answer(problem)
        }
    }

    static func answer(_ problem: IntakeProblem) -> Response {
        switch problem {
        case .tooLarge(let limit):
            error(.contentTooLarge, "content_too_long_exception", "the request body exceeds the limit of \(Units.iec(Int64(limit))), compressed or not")
        case .unsupportedEncoding(let e):
            error(.unsupportedMediaType, "illegal_argument_exception", "unsupported Content-Encoding [\(e)]: send gzip or plain NDJSON")
        case .badEncoding(let why):
            error(.badRequest, "parse_exception", why)
        case .behind(let seconds):
            error(.serviceUnavailable, "es_rejected_execution_exception", "tailflow's writer is behind; retry later",
                  headers: [.retryAfter: String(seconds)])
        case .stopping:
            error(.serviceUnavailable, "node_closed_exception", "tailflow is shutting down; retry later", headers: [.retryAfter: "5"])
        case .storeFailed:
            error(.internalServerError, "exception", "the store failed; nothing of this request was stored")
        }
    }

    func receive(_ request: Request, _ context: ServerContext, index pathIndex: String?) async throws -> Response {
        let started = ContinuousClock.now
        let body = try await intake.body(of: request)
        let source = intake.source("bulk", context)
        let items: [BulkItem]
        do {
            items = try await offThePool { try BulkBody.decode(body, source: source) }
        } catch let malformed as MalformedBulkAction {
            // As Elasticsearch: the whole request is refused, nothing of it stored.
            return Self.error(.badRequest, "illegal_argument_exception", malformed.reason)
        }
        guard !items.isEmpty else { return Self.error(.badRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;") }

        var messages: [FlowMessage] = []
        var rejects: [NewReject] = []
        var skipped = 0
        for item in items {
            switch item.outcome {
            case .message(let m): messages.append(m)
            case .skipped: skipped += 1
            case .rejected(let reason): rejects.append(NewReject(item.location, reason: reason, excerpt: item.excerpt))
            }
        }
        let isNew = try await intake.store("bulk", messages: messages, rejects: rejects, skipped: skipped, context: context)

        var answers: [[String: ItemAnswer]] = []
        answers.reserveCapacity(items.count)
        var next = 0
        var errors = false
        for item in items {
            let index = item.index ?? pathIndex ?? "tailflow"
            var answer: ItemAnswer
            switch item.outcome {
            case .message(let m):
                let created = isNew[next]
                next += 1
                answer = ItemAnswer(_index: index, _id: item.id ?? Self.documentID(m), _version: 1,
                                    result: created ? "created" : "noop", _shards: .init(), _seq_no: 0, _primary_term: 1,
                                    status: created ? 201 : 200)
            case .skipped:
                answer = ItemAnswer(_index: index, _id: item.id ?? "-", _version: 1, result: "noop", _shards: .init(),
                                    _seq_no: 0, _primary_term: 1, status: 200)
            case .rejected(let reason):
                errors = true
                let type = item.action == .update || item.action == .delete ? "illegal_argument_exception" : "document_parsing_exception"
                answer = ItemAnswer(_index: index, _id: item.id ?? "-", status: 400,
                                    error: .init(type: type, reason: "\(item.location): \(reason)"))
            }
            answers.append([item.action.rawValue: answer])
        }
        let took = Int((ContinuousClock.now - started).seconds * 1000)
        return .json(.ok, Answer(took: took, errors: errors, items: answers), headers: Self.productHeaders)
    }

    /// A stable id for a message sent without `_id`: the same message always gets the same id.
    static func documentID(_ m: FlowMessage) -> String {
        "\(m.nodeID)-\(m.start)-\(String(UInt64(bitPattern: m.digest), radix: 16))"
    }

    // MARK: What a client probes first

    func info(_ request: Request, _ context: ServerContext) async throws -> Response {
        if let refusal = refuse(intake.credentials.check(request, for: .bulk), request) { return refusal }
        struct Info: Encodable {
            struct Version: Encodable {
                var number = "8.15.0"
                var build_flavor = "default"
                var build_type = "tailflow"
                var lucene_version = "9.11.1"
                var minimum_wire_compatibility_version = "7.17.0"
                var minimum_index_compatibility_version = "7.0.0"
            }
            var name = "tailflow"
            var cluster_name = "tailflow"
            var cluster_uuid = "tailflow"
            var version = Version()
            var tagline = "You Know, for Search"
        }
        return .json(.ok, Info(), headers: Self.productHeaders)
    }

    func clusterHealth(_ request: Request, _ context: ServerContext) async throws -> Response {
        if let refusal = refuse(intake.credentials.check(request, for: .bulk), request) { return refusal }
        struct Health: Encodable {
            var cluster_name = "tailflow"
            var status: String
            var timed_out = false
            var number_of_nodes = 1
            var number_of_data_nodes = 1
        }
        return .json(.ok, Health(status: intake.writer.isBehind ? "yellow" : "green"), headers: Self.productHeaders)
    }

    func license(_ request: Request, _ context: ServerContext) async throws -> Response {
        if let refusal = refuse(intake.credentials.check(request, for: .bulk), request) { return refusal }
        struct License: Encodable {
            struct Body: Encodable {
                var status = "active"
                var type = "basic"
                var uid = "tailflow"
            }
            var license = Body()
        }
        return .json(.ok, License(), headers: Self.productHeaders)
    }

    func xpack(_ request: Request, _ context: ServerContext) async throws -> Response {
        if let refusal = refuse(intake.credentials.check(request, for: .bulk), request) { return refusal }
        struct XPack: Encodable {
            struct Build: Encodable { var hash = "tailflow" }
            struct License: Encodable {
                var uid = "tailflow"
                var type = "basic"
                var mode = "basic"
                var status = "active"
            }
            var build = Build()
            var license = License()
            var features: [String: String] = [:]
        }
        return .json(.ok, XPack(), headers: Self.productHeaders)
    }
}
