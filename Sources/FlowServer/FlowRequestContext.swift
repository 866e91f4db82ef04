public import Hummingbird
public import NIOCore

/// The request context of `tailflow serve`: Hummingbird's core storage, the peer's address
/// (for logs and reject sources) and the role the request was authenticated as.
///
/// ``AuthenticationMiddleware`` sets ``role``; a middleware that runs before it (a session
/// cookie of the web UI, say) may set it first, and the check then passes without a header.
public struct FlowRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The role this request proved, or nil before authentication (and on open endpoints).
    package var role: Role?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// `address:port` of the client, for logs and reject sources.
    package var peer: String {
        guard let a = remoteAddress else { return "unknown" }
        return a.ipAddress.map { "\($0):\(a.port ?? 0)" } ?? "\(a)"
    }
}
