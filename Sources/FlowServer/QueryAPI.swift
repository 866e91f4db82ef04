import FlowFormat
import FlowQuery
import FlowStore
import Foundation
import HTTPTypes
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
        let path = request.uri.path, given = parameters
        do {
            let (text, headers) = try await offThePool { () throws -> (String, HTTPFields) in
                let report = try engine.answer(question)
                return (report.render(chosen), Self.pageHeaders(report, path: path, parameters: given, format: chosen))
            }
            let type = switch format {
            case .csv: "text/csv; charset=utf-8"
            case .ndjson: "application/x-ndjson"
            default: "application/json"
            }
            return .raw(.ok, Array(text.utf8), contentType: type, headers: headers)
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        }
    }

    /// An answer cut by a limit says so (SPEC §5): `Tailflow-Total` (the rows without the limit;
    /// `>N` when counting stopped at N), `Tailflow-Shown`, and for pageable rows (those with a
    /// `cursor`) a `Link` to the next page.
    static func pageHeaders(_ report: Report, path: String, parameters: [String: String], format: OutputFormat) -> HTTPFields {
        var headers: HTTPFields = [:]
        guard let cut = report.cut, cut.total > report.rows.count || cut.atLeast else { return headers }
        headers[HTTPField.Name("Tailflow-Total")!] = (cut.atLeast ? ">" : "") + String(cut.total)
        headers[HTTPField.Name("Tailflow-Shown")!] = String(report.rows.count)
        if let c = report.columns.firstIndex(where: { $0.key == "cursor" }), case .string(let cursor?)? = report.rows.last?[c] {
            var next = parameters
            next["after"] = cursor
            if format != .json { next["format"] = format.rawValue }
            let query = next.sorted { $0.key < $1.key }.map { "\(Self.escape($0.key))=\(Self.escape($0.value))" }.joined(separator: "&")
            headers[HTTPField.Name("Link")!] = "<\(path)?\(query)>; rel=\"next\""
        }
        return headers
    }

    static func escape(_ s: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        return s.utf8.map { unreserved.contains($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
    }
}
