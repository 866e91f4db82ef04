import Hummingbird
import Prometheus

/// Records each request's latency in `tailflow_http_request_duration_seconds`, labelled by
/// route name and status. Requests that match no route are not recorded.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = FlowRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        if let route = RouteName.of(context.endpointPath) {
            metrics.requestDuration(route: route, status: Int(response.status.code)).record(ContinuousClock.now - started)
        }
        return response
    }
}

/// The short names routes carry in metrics and logs (`hec`, `bulk`, `top`, …).
enum RouteName {
    /// The name of a matched route's path pattern (its `endpointPath`); the pattern itself
    /// for routes this table does not know (pages added by the web UI).
    static func of(_ endpointPath: String?) -> String? {
        guard let path = endpointPath else { return nil }
        switch path {
        case "/services/collector/health", "/services/collector/health/1.0": return "hec_health"
        case "/services/collector", "/services/collector/event", "/services/collector/event/1.0": return "hec"
        case "/_bulk", "/{index}/_bulk": return "bulk"
        case "/", "/_cluster/health", "/_license", "/_xpack": return "es_info"
        case "/healthz": return "healthz"
        case "/metrics": return "metrics"
        case "/api/v1/ingest": return "ingest"
        default:
            if path.hasPrefix("/api/v1/") { return String(path.dropFirst("/api/v1/".count)) }
            return path
        }
    }
}
