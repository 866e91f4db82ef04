import FlowFormat
import FlowQuery
import FlowStore
import Foundation
import Hummingbird
import Logging

/// `GET /api/v1/top|series|rollup|scope|flows|nodes`: the CLI's questions, with its options as
/// query parameters (`from`, `to`, `by`, `metric`, `kind`, `proto`, `endpoint`, `tag`, `user`, `limit`,
/// `step`, `pair`, `edge`, `group-by`, `match`, `after`, `flows`, `where`), answered with exactly the JSON
/// that `--format json` prints (or `format=csv|ndjson`). Needs the read token.
struct QueryAPI: Sendable {
    let engine: QueryEngine
    let storeWatch: StoreWatch

    /// Adds one route per question to `group` (which is `/api/v1`), behind the read token.
    func addRoutes(to group: RouterGroup<FlowRequestContext>, credentials: Credentials) {
        let questions = group.group().add(middleware: AuthenticationMiddleware(.read, credentials: credentials))
        for command in Question.commands {
            questions.get(RouterPath(command)) { request, _ in try await answer(command, request) }
        }
    }

    func answer(_ command: String, _ request: Request) async throws -> Response {
        if let why = storeWatch.problem() { throw APIError(.serviceUnavailable, why) }
        var parameters: [String: String] = [:]
        var format = OutputFormat.json
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            if name == "format" {
                guard let f = OutputFormat(rawValue: String(value)), f != .table else {
                    throw APIError(.badRequest, "format '\(value)' is not json, csv or ndjson")
                }
                format = f
                continue
            }
            guard parameters[name] == nil else {
                throw APIError(.badRequest, "the parameter '\(name)' is given twice")
            }
            parameters[name] = String(value)
        }
        let question: Question
        do {
            question = try Question(command: command, parameters: parameters)
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        }
        let engine = self.engine
        let chosen = format
        do {
            let text = try await offThePool { try engine.answer(question).render(chosen) }
            let type = switch format {
            case .csv: "text/csv; charset=utf-8"
            case .ndjson: "application/x-ndjson"
            default: "application/json"
            }
            return .raw(.ok, Array(text.utf8), contentType: type)
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        }
    }
}
