package import Hummingbird

/// Lets a request through only with the credentials of one role, and records the role in
/// the context. One middleware for every protected route group (each receiver, the queries).
///
/// Refusals keep each protocol's own answers: 404 when the role's secret is not set (the
/// endpoint is off), 401 with `WWW-Authenticate` for missing or wrong credentials, 403 for
/// the valid secret of another role — in HEC's shape for HEC, Elasticsearch's for bulk and
/// `{"error": …}` for tailflow's API. A request whose context already holds the role (set
/// by a session middleware that runs first) passes without a header.
///
/// For example:
/// ```swift
/// router.group("api/v1").add(middleware: AuthenticationMiddleware(.read, credentials: credentials))
/// ```
package struct AuthenticationMiddleware: RouterMiddleware {
    package typealias Context = FlowRequestContext
    /// What to throw for a refused request; by default the role's protocol's answer.
    package typealias Refusal = @Sendable (Access, Role, Request) -> any Error

    let role: Role
    let credentials: Credentials
    /// Only check that the endpoint is on (HEC's health check needs no token).
    let onlyWhenOn: Bool
    let refusal: Refusal

    /// - parameter role: the role whose secret the request must carry.
    /// - parameter onlyWhenOn: when true, only answer 404 while the role is off; no credentials needed.
    /// - parameter refusal: the error for a refused request (default: ``defaultRefusal(_:_:_:)``).
    package init(_ role: Role, credentials: Credentials, onlyWhenOn: Bool = false, refusal: @escaping Refusal = Self.defaultRefusal) {
        self.role = role
        self.credentials = credentials
        self.onlyWhenOn = onlyWhenOn
        self.refusal = refusal
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard credentials.isOn(role) else { throw refusal(.off, role, request) }
        if onlyWhenOn || context.role == role { return try await next(request, context) }
        let access = credentials.check(request, for: role)
        guard access == .allowed else { throw refusal(access, role, request) }
        var context = context
        context.role = role
        return try await next(request, context)
    }

    /// The refusal each protocol's clients expect.
    package static func defaultRefusal(_ access: Access, _ role: Role, _ request: Request) -> any Error {
        switch role {
        case .hec: hecRefusal(access)
        case .bulk: elasticRefusal(access, path: request.uri.path)
        case .ingest, .read: apiRefusal(access)
        }
    }

    static func hecRefusal(_ access: Access) -> HECError {
        switch access {
        case .allowed, .off: HECError(status: .notFound, text: "The requested URL was not found on this server.", code: 404)
        case .missing: HECError(status: .unauthorized, text: "Token is required", code: 2, headers: [.wwwAuthenticate: "Splunk"])
        case .wrong: HECError(status: .unauthorized, text: "Invalid token", code: 4, headers: [.wwwAuthenticate: "Splunk"])
        case .otherRole: HECError(status: .forbidden, text: "Token disabled", code: 1)
        }
    }

    static func elasticRefusal(_ access: Access, path: String) -> ElasticError {
        let challenge: HTTPFields = [.wwwAuthenticate: "Basic realm=\"tailflow\", charset=\"UTF-8\""]
        return switch access {
        case .allowed, .off:
            ElasticError(status: .notFound, type: "resource_not_found_exception", reason: "no handler found for uri [\(path)]")
        case .missing:
            ElasticError(status: .unauthorized, type: "security_exception",
                         reason: "missing authentication credentials for REST request [\(path)]", headers: challenge)
        case .wrong:
            ElasticError(status: .unauthorized, type: "security_exception", reason: "unable to authenticate for REST request [\(path)]",
                         headers: challenge)
        case .otherRole:
            ElasticError(status: .forbidden, type: "security_exception",
                         reason: "action [indices:data/write/bulk] is unauthorized for these credentials")
        }
    }

    static func apiRefusal(_ access: Access) -> APIError {
        switch access {
        case .allowed, .off: APIError(.notFound, "not found: this endpoint is off (its token is not set)")
        case .missing, .wrong: APIError(.unauthorized, "missing or invalid credentials", headers: [.wwwAuthenticate: "Bearer"])
        case .otherRole: APIError(.forbidden, "this token may not use this endpoint")
        }
    }
}
