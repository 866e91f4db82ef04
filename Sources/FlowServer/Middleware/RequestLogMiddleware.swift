import FlowModel
import Hummingbird
import Logging

/// Logs every request (route, status, peer, milliseconds): at debug, or warning for a 5xx.
///
/// An error that is not an HTTP answer (a bug, a store failure nobody mapped) is logged
/// with its description and answered `500 {"error": "internal error"}`: the client never
/// sees the description, the log does.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = FlowRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: [
                "route": "\(RouteName.of(context.endpointPath) ?? request.uri.path)", "error": "\(error)",
            ])
            response = try APIError(.internalServerError, "internal error").response(from: request, context: context)
        }
        let status = Int(response.status.code)
        context.logger.log(level: status >= 500 ? .warning : .debug, "request", metadata: [
            "route": "\(RouteName.of(context.endpointPath) ?? "-")", "method": "\(request.method)", "status": "\(status)",
            "peer": "\(context.peer)", "ms": "\((ContinuousClock.now - started).seconds * 1000)",
        ])
        return response
    }
}
