import FlowFormat
import FlowQuery
import FlowStore
import FlowModel
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
        questions.get("changes") { request, _ in try await changes(request) }
    }

    /// `GET /api/v1/changes?from=&to=[&actor=][&target=][&type=][&where=][&limit=][&tz=]`: the configuration
    /// audit log of the window (SPEC §13), exactly as `tailflow changes --format json` prints it.
    func changes(_ request: Request) async throws -> Response {
        if let why = storeWatch.problem() { throw APIError(.serviceUnavailable, why) }
        var p: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard ["from", "to", "tz", "actor", "target", "type", "where", "limit", "format"].contains(name) else {
                throw APIError(.badRequest, "unknown parameter '\(name)' for changes (it takes from, to, tz, actor, target, type, where, limit, format)")
            }
            guard p[name] == nil else { throw APIError(.badRequest, "the parameter '\(name)' is given twice") }
            p[name] = String(value)
        }
        guard let format = OutputFormat(rawValue: p["format"] ?? "json"), format != .table else {
            throw APIError(.badRequest, "format '\(p["format"] ?? "")' is not json, csv or ndjson")
        }
        let query: ChangeQuery
        do {
            let window = try QuestionText.window(from: p["from"], to: p["to"], zone: TimeWindow.zone(p["tz"]))
            let limit = try p["limit"].map { _ in try QuestionText.limit(p["limit"], default: 0) }
            query = ChangeQuery(window: window, actor: p["actor"], target: p["target"], type: p["type"], limit: limit,
                                filter: try QuestionText.filter(p["where"]))
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        }
        let engine = self.engine
        let text: String, headers: HTTPFields
        do {
            (text, headers) = try await offThePool { () throws -> (String, HTTPFields) in
                let report = try engine.changes(query)
                return (report.render(format), Self.cutHeaders(report))
            }
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        }
        let type = switch format {
        case .csv: "text/csv; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        default: "application/json"
        }
        return .raw(.ok, Array(text.utf8), contentType: type, headers: headers)
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
        // `scope?changes=true`: the window's configuration changes of E's node and the tailnet-wide ones (SPEC §13).
        var scopeChanges = false
        if command == "scope", let flag = parameters.removeValue(forKey: "changes") {
            do { scopeChanges = try QuestionText.flag(flag, parameter: "changes") } catch let e as QueryError { throw APIError(.badRequest, e.message(for: .http)) }
        }
        let question: Question
        do {
            question = try Question(command: command, parameters: parameters)
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        }
        if scopeChanges {
            guard case .scope(let o) = question, let endpoint = o.endpoint else {
                throw APIError(.badRequest, "changes=true and flows=true are two different answers: ask for one")
            }
            let engine = self.engine, chosen = format
            let text = try await offThePool { Report.changes(try engine.scopeChanges(window: o.window, endpoint: endpoint)).render(chosen) }
            let type = switch format {
            case .csv: "text/csv; charset=utf-8"
            case .ndjson: "application/x-ndjson"
            default: "application/json"
            }
            return .raw(.ok, Array(text.utf8), contentType: type)
        }
        let chosen = format
        let type = switch format {
        case .csv: "text/csv; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        default: "application/json"
        }
        do {
            switch question {
            case .flows(let o, let match, let limit, let after):
                return try await page(o, match: match, limit: limit, after: after, format: chosen, type: type, request: request)
            case .scopeFlows(let o, let limit):
                return try await page(o, match: nil, limit: limit, after: nil, format: chosen, type: type, request: request)
            default:
                let engine = self.engine
                let (text, headers) = try await offThePool { () throws -> (String, HTTPFields) in
                    let report = try engine.answer(question)
                    var headers = Self.cutHeaders(report)
                    if let r = report.resolution { headers[HTTPField.Name("Tailflow-Resolution")!] = r }
                    return (report.render(chosen), headers)
                }
                return .raw(.ok, Array(text.utf8), contentType: type, headers: headers)
            }
        } catch let e as QueryError {
            throw APIError(.badRequest, e.message(for: .http))
        } catch let e as RetentionError {
            // The data the question needs was pruned: gone, for good (the message names what is kept).
            throw APIError(.gone, e.message)
        }
    }

    /// Raw flow rows are answered a page at a time: at most this many rows per answer.
    static let pageRows = 10_000

    /// One page of raw flow rows (at most ``pageRows``, whatever the limit), with a
    /// `Link: <…>; rel="next"` to the rest when rows remain: the same question from the
    /// last row's cursor, over the same absolute window, for what remains of the limit.
    func page(_ o: QueryOptions, match: String?, limit: Int, after: String?, format: OutputFormat, type: String,
              request: Request) async throws -> Response {
        let size = min(limit, Self.pageRows)
        let engine = self.engine
        let (text, cursor) = try await offThePool {
            var stream = ReportStream(columns: Report.flowColumns, format: format)
            var text = ""
            var last: String?
            var more = false
            // One row beyond the page tells whether there is a next one.
            try engine.flows(o, match: match, limit: size + 1, after: after) { row in
                guard stream.count < size else {
                    more = true
                    return
                }
                text += stream.row(Report.flowCells(row))
                last = row.cursor
            }
            text += stream.end()
            return (text, more ? last : nil)
        }
        var headers: HTTPFields = [:]
        if let cursor {
            headers[HTTPField.Name("Link")!] = "<\(Self.nextPage(request, window: o.window, after: cursor, limit: limit > size ? limit - size : limit))>; rel=\"next\""
        }
        return .raw(.ok, Array(text.utf8), contentType: type, headers: headers)
    }

    /// `/api/v1/flows` with the request's parameters, the window made absolute, and `after`
    /// and `limit` for the next page (`scope?flows=true` continues as `flows?endpoint=…`).
    static func nextPage(_ request: Request, window: TimeWindow, after: String, limit: Int) -> String {
        var items: [(String, String)] = [("from", Timestamp.formatRFC3339(window.from)), ("to", Timestamp.formatRFC3339(window.to))]
        for (key, value) in request.uri.queryParameters where !["from", "to", "after", "limit", "flows"].contains(String(key)) {
            items.append((String(key), String(value)))
        }
        items += [("limit", String(limit)), ("after", after)]
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        return "/api/v1/flows?" + items.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }

    /// An answer cut by a limit says so (SPEC §5): `Tailflow-Total` (the rows without the
    /// limit) and `Tailflow-Shown`. (Raw flow rows page with a `Link` instead: ``page``.)
    static func cutHeaders(_ report: Report) -> HTTPFields {
        var headers: HTTPFields = [:]
        guard let cut = report.cut, cut.total > report.rows.count || cut.atLeast else { return headers }
        headers[HTTPField.Name("Tailflow-Total")!] = (cut.atLeast ? ">" : "") + String(cut.total)
        headers[HTTPField.Name("Tailflow-Shown")!] = String(report.rows.count)
        return headers
    }
}
