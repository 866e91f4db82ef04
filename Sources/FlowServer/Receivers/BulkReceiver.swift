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

    /// Adds the Elasticsearch routes to `group` (the root): `_bulk` and what clients probe first,
    /// all behind the bulk user and token.
    func addRoutes(to group: RouterGroup<FlowRequestContext>, credentials: Credentials) {
        let es = group.group().add(middleware: AuthenticationMiddleware(.bulk, credentials: credentials))
        es.post("_bulk") { try await bulk($0, $1, index: nil) }
        es.put("_bulk") { try await bulk($0, $1, index: nil) }
        es.post(":index/_bulk") { try await bulk($0, $1, index: $1.parameters.get("index")) }
        es.put(":index/_bulk") { try await bulk($0, $1, index: $1.parameters.get("index")) }
        es.get("", use: info)
        es.head("", use: info)
        es.get("_cluster/health", use: clusterHealth)
        es.get("_license", use: license)
        es.get("_xpack", use: xpack)
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
        var error: ElasticError.Body.Cause?

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

    func bulk(_ request: Request, _ context: FlowRequestContext, index pathIndex: String?) async throws -> Response {
        do {
            return try await receive(request, context, index: pathIndex)
        } catch let problem as IntakeProblem {
            throw ElasticError(problem)
        }
    }

    func receive(_ request: Request, _ context: FlowRequestContext, index pathIndex: String?) async throws -> Response {
        let started = ContinuousClock.now
        let body = try await intake.body(of: request)
        let source = intake.source("bulk", context)
        let items: [BulkItem]
        do {
            items = try await offThePool { try BulkBody.decode(body, source: source) }
        } catch let malformed as MalformedBulkAction {
            // As Elasticsearch: the whole request is refused, nothing of it stored.
            throw ElasticError(status: .badRequest, type: "illegal_argument_exception", reason: malformed.reason)
        }
        guard !items.isEmpty else {
            throw ElasticError(status: .badRequest, type: "action_request_validation_exception", reason: "Validation Failed: 1: no requests added;")
        }

        var messages: [FlowMessage] = []
        var changes: [ConfigChange] = []
        var rejects: [Reject] = []
        var skipped = 0
        for item in items {
            switch item.outcome {
            case .message(let m): messages.append(m)
            case .change(let c): changes.append(c)
            case .skipped: skipped += 1
            case .rejected(let reason): rejects.append(Reject(location: item.location, reason: reason, excerpt: item.excerpt))
            }
        }
        let (isNew, isNewChange) = try await intake.store("bulk", messages: messages, changes: changes, rejects: rejects,
                                                          skipped: skipped, context: context)
        var nextChange = 0

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
            case .change(let c):
                let created = isNewChange[nextChange]
                nextChange += 1
                answer = ItemAnswer(_index: index, _id: item.id ?? "change-\(c.time)-\(String(UInt64(c.identity), radix: 16))", _version: 1,
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

    @Sendable func info(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
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

    @Sendable func clusterHealth(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
        struct Health: Encodable {
            var cluster_name = "tailflow"
            var status: String
            var timed_out = false
            var number_of_nodes = 1
            var number_of_data_nodes = 1
        }
        return .json(.ok, Health(status: intake.writer.isBehind ? "yellow" : "green"), headers: Self.productHeaders)
    }

    @Sendable func license(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
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

    @Sendable func xpack(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
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
