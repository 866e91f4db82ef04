import FlowModel
import FlowQuery
package import FlowServer
import FlowStore
import Foundation
import HTTPTypes
package import Hummingbird

/// The web UI on `tailflow serve`'s listener: the pages of SPEC §8, their assets, and sign-in.
///
/// Access: a page needs a session. The read token in the URL (`/?token=…`, as printed by
/// `tailflow serve`), the login form, or `Authorization: Bearer` make one: a cookie
/// (HttpOnly, SameSite=Strict, Secure under TLS), and for the URL a redirect to the same page
/// without the token. Without a session a page is a 401 with the login form, and shows no data.
/// The same session authenticates the query API (`/api/v1/…`), so a page's JSON and CSV links work.
///
/// For example:
/// ```swift
/// let app = try buildApplication(configuration: configuration, store: store, routes: [WebUI()])
/// ```
package struct WebUI: ServerRoutes {
    package let sessions: SessionStore

    package init(sessions: SessionStore = SessionStore()) {
        self.sessions = sessions
    }

    static let cookie = "tailflow_session"

    /// The pages at `/{name}` with no path parameters: one list for the routes and for the
    /// session middleware, so a new page cannot be routed yet refuse every signed-in request.
    static let plainPages = ["graph", "flows", "nodes", "health", "changes"]

    package func addMiddleware(to router: Router<FlowRequestContext>, server: ServerParts) {
        router.middlewares.add(SessionMiddleware(ui: Handlers(server: server, sessions: sessions)))
    }

    package func addRoutes(to router: Router<FlowRequestContext>, server: ServerParts) {
        let ui = Handlers(server: server, sessions: sessions)
        for name in Self.plainPages {
            router.get(RouterPath(name)) { request, context in try await ui.page(name, request, context) }
        }
        router.get("endpoint/:e") { request, context in try await ui.page("endpoint", request, context) }
        router.get("pair/:a/:b") { request, context in try await ui.page("pair", request, context) }
        router.get("login") { request, _ in ui.login(next: request.uri.queryParameters.get("next") ?? "/", error: nil, status: .ok) }
        router.post("login") { request, context in try await ui.signIn(request, context) }
        router.post("logout") { request, _ in ui.signOut(request) }
        router.get("assets/:file") { _, context in
            guard let name = context.parameters.get("file"), let asset = WebPages.assets[name] else { throw HTTPError(.notFound) }
            var headers: HTTPFields = [.contentType: asset.type, .cacheControl: "max-age=3600"]
            headers[.xContentTypeOptions] = "nosniff"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: asset.body)))
        }
    }

    /// The pages' handlers, shared by the routes and the session middleware.
    struct Handlers: Sendable {
        let server: ServerParts
        let sessions: SessionStore

        var secure: Bool { server.configuration.tlsCertificate != nil }

        var pages: WebPages {
            let writer = server.writer
            return WebPages(engine: server.engine) {
                let s = writer.stats
                return [
                    .init(field: "commits", label: "commits since start", value: String(s.commits)),
                    .init(field: "messages", label: "messages stored since start", value: String(s.messages)),
                    .init(field: "rows", label: "flow rows stored since start", value: String(s.rows)),
                    .init(field: "duplicates", label: "duplicate messages skipped", value: String(s.duplicates)),
                    .init(field: "rejects", label: "rejects recorded since start", value: String(s.rejects)),
                    .init(field: "refused", label: "requests told to come back (503)", value: String(s.refused)),
                    .init(field: "pendingRows", label: "rows waiting for the writer", value: String(s.pendingRows)),
                    .init(field: "behind", label: "the writer is behind", value: writer.isBehind ? "yes" : "no"),
                ]
            }
        }

        /// Renders a page for a signed-in request; others get the login page (401).
        func page(_ name: String, _ request: Request, _ context: FlowRequestContext) async throws -> Response {
            guard context.role == .read else { return login(next: Self.target(request), error: nil, status: .unauthorized) }
            let route: WebPages.Route
            switch name {
            case "graph": route = .graph
            case "flows": route = .flows
            case "nodes": route = .nodes
            case "health": route = .health
            case "changes": route = .changes
            case "endpoint":
                route = .endpoint(Self.decoded(context.parameters.get("e") ?? ""))
            case "pair":
                route = .pair(Self.decoded(context.parameters.get("a") ?? ""), Self.decoded(context.parameters.get("b") ?? ""))
            default: route = .overview
            }
            var query = PageQuery()
            for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
            let pages = self.pages, asked = query
            let page = try await offThePool { pages.render(route, query: asked) }
            return Self.html(page.html, status: HTTPResponse.Status(code: page.status))
        }

        /// The login page (a form posting the token to `/login`).
        func login(next: String, error: String?, status: HTTPResponse.Status) -> Response {
            struct Model {
                var next: String
                var error: String?
            }
            var response = Self.html(Templates.render(Model(next: Self.safeNext(next), error: error), "login"), status: status)
            if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"tailflow\"" }
            return response
        }

        /// `POST /login`: `token` and `next`, as a form.
        func signIn(_ request: Request, _ context: FlowRequestContext) async throws -> Response {
            let body = try await request.body.collect(upTo: 16 * 1024)
            var form: [String: String] = [:]
            for pair in String(buffer: body).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map {
                    String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
                }
                if parts.count == 2, form[parts[0]] == nil { form[parts[0]] = parts[1] }
            }
            let next = Self.safeNext(form["next"] ?? "/")
            guard let token = form["token"], server.credentials.accepts(token: token, for: .read) else {
                return login(next: next, error: "That is not this server's read token.", status: .unauthorized)
            }
            var response = Response(status: .seeOther, headers: [.location: next, .cacheControl: "no-store"])
            response.headers[.setCookie] = sessionCookie(sessions.create())
            return response
        }

        /// `POST /logout`: ends the session.
        func signOut(_ request: Request) -> Response {
            if let id = request.cookies[WebUI.cookie]?.value { sessions.end(id) }
            var response = Response(status: .seeOther, headers: [.location: "/login", .cacheControl: "no-store"])
            response.headers[.setCookie] = "\(WebUI.cookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
            return response
        }

        func sessionCookie(_ id: String) -> String {
            "\(WebUI.cookie)=\(id); Path=/; Max-Age=\(Int(SessionStore.lifetime)); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
        }

        static func html(_ html: String, status: HTTPResponse.Status) -> Response {
            var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
            // Defence in depth: even a name that slipped past escaping could load nothing and run nothing.
            headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
                + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            headers[.xContentTypeOptions] = "nosniff"
            headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
        }

        /// The path and query a request asked for (to come back to after signing in).
        static func target(_ request: Request) -> String {
            var query = PageQuery()
            for (key, value) in request.uri.queryParameters where key != "token" { query[String(key)] = String(value) }
            return query.url(request.uri.path)
        }

        /// Only paths of this server: never `//host` or `https://…` (no open redirect).
        static func safeNext(_ next: String) -> String {
            guard next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/\\"), !next.contains("\r"), !next.contains("\n") else { return "/" }
            return next
        }

        static func decoded(_ segment: String) -> String {
            segment.removingPercentEncoding ?? segment
        }
    }
}

/// Runs first on every request: a valid session cookie makes the request the read role (pages
/// and the query API); a page asked with `?token=` becomes a session and a redirect without it;
/// `Authorization: Bearer` on a page becomes a session too. `GET /` from a browser is the
/// overview page (Elasticsearch clients, which send basic auth, still get their cluster info).
struct SessionMiddleware: RouterMiddleware {
    typealias Context = FlowRequestContext
    let ui: WebUI.Handlers

    static let pagePrefixes = WebUI.plainPages.map { "/" + $0 } + ["/endpoint/", "/pair/"]

    static func isPage(_ request: Request) -> Bool {
        guard request.method == .get else { return false }
        let path = request.uri.path
        if path == "/" {
            // Elasticsearch clients send basic auth (or ask HEAD /); browsers do not.
            return !(request.headers[.authorization]?.lowercased().hasPrefix("basic ") ?? false)
        }
        return pagePrefixes.contains { path == $0 || (path.hasPrefix($0) && $0.hasSuffix("/")) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let id = request.cookies[WebUI.cookie]?.value, ui.sessions.isValid(id) { context.role = .read }
        guard Self.isPage(request) else { return try await next(request, context) }
        if let token = request.uri.queryParameters.get("token") {
            guard ui.server.credentials.accepts(token: token, for: .read) else {
                return ui.login(next: WebUI.Handlers.target(request), error: "That is not this server's read token.", status: .unauthorized)
            }
            var response = Response(status: .seeOther, headers: [.location: WebUI.Handlers.target(request), .cacheControl: "no-store"])
            response.headers[.setCookie] = ui.sessionCookie(ui.sessions.create())
            return response
        }
        var newSession: String?
        if context.role != .read, ui.server.credentials.check(request, for: .read) == .allowed {
            context.role = .read
            newSession = ui.sessions.create()
        }
        var response = request.uri.path == "/" ? try await ui.page("overview", request, context) : try await next(request, context)
        if let newSession { response.headers[.setCookie] = ui.sessionCookie(newSession) }
        return response
    }
}

/// Sessions of the web UI: random IDs, kept in memory for twelve hours (a restart signs everyone out).
package final class SessionStore: @unchecked Sendable {
    static let lifetime: TimeInterval = 12 * 3600
    static let capacity = 10_000
    private var expiry: [String: Date] = [:]
    private let lock = NSLock()

    package init() {}

    /// A new session's ID: 32 random bytes as hex.
    package func create() -> String {
        var generator = SystemRandomNumberGenerator()
        let id = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        lock.lock()
        defer { lock.unlock() }
        if expiry.count >= Self.capacity {
            let now = Date()
            expiry = expiry.filter { $0.value > now }
            if expiry.count >= Self.capacity, let oldest = expiry.min(by: { $0.value < $1.value })?.key { expiry[oldest] = nil }
        }
        expiry[id] = Date().addingTimeInterval(Self.lifetime)
        return id
    }

    package func isValid(_ id: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let until = expiry[id] else { return false }
        if until < Date() {
            expiry[id] = nil
            return false
        }
        return true
    }

    package func end(_ id: String) {
        lock.lock()
        defer { lock.unlock() }
        expiry[id] = nil
    }
}
