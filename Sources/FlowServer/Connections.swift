import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// How `serve` treats connections: an idle timeout, a deadline for reading each request, and
/// a cap on the connections open at once.
struct ConnectionPolicy: Sendable {
    /// A connection with no request in progress is closed after this long (Hummingbird's idle timeout).
    var idleTimeout: Duration
    /// A request's head and body must arrive within this long from its first byte: else 408 and close.
    var readTimeout: Duration
    /// `Content-Length` beyond which `Expect: 100-continue` is not answered (the request gets 413 instead).
    var maxBody: Int
    let registry: ConnectionRegistry

    init(_ configuration: ServerConfiguration, logger: Logger) {
        idleTimeout = configuration.idleTimeout
        readTimeout = configuration.readTimeout
        maxBody = configuration.maxBody
        registry = ConnectionRegistry(limit: configuration.maxConnections, logger: logger)
    }
}

/// HTTP/1.1 (Hummingbird's ``HTTP1Channel``) under a ``ConnectionPolicy``: each accepted
/// connection is admitted by the registry, then gets a ``RequestDeadline`` on its bytes and a
/// ``RequestWatch`` on its HTTP parts.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let responder: HTTPChannelHandler.Responder
    let policy: ConnectionPolicy

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard policy.registry.admit(channel) else {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionRefused())
        }
        let deadline = NIOLoopBound(RequestDeadline(readTimeout: policy.readTimeout, registry: policy.registry, logger: logger),
                                    eventLoop: channel.eventLoop)
        let maxBody = policy.maxBody
        let http1 = HTTP1Channel(
            responder: responder,
            configuration: .init(additionalChannelHandlers: [RequestWatch(deadline: deadline.value, maxBody: maxBody)],
                                 idleTimeout: TimeAmount(policy.idleTimeout)))
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(deadline.value)
        }.flatMap {
            http1.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

struct ConnectionRefused: Error {}

/// The open connections, for `--max-connections`: each is idle, reading a request, or
/// answering one. Beyond the limit a new connection closes the oldest idle one, else the
/// one whose request has been arriving the longest (a slow sender); when every connection
/// is answering a request, the new one is refused (closed at once).
final class ConnectionRegistry: Sendable {
    enum Phase: Sendable {
        case idle, reading, answering
    }

    struct Entry: Sendable {
        var channel: any Channel
        var phase: Phase
        /// When the phase began.
        var since: ContinuousClock.Instant
    }

    let limit: Int
    let logger: Logger
    private let entries = NIOLockedValueBox<[ObjectIdentifier: Entry]>([:])

    init(limit: Int, logger: Logger) {
        self.limit = limit
        self.logger = logger
    }

    var count: Int { entries.withLockedValue { $0.count } }

    /// Admits a new connection, making room if needed; false when there is none to make.
    func admit(_ channel: any Channel) -> Bool {
        let now = ContinuousClock.now
        let (admitted, evicted): (Bool, (any Channel)?) = entries.withLockedValue { entries in
            var evicted: (any Channel)?
            if entries.count >= limit {
                let candidates = entries.filter { $0.value.phase != .answering }
                guard let victim = candidates.min(by: { a, b in
                    a.value.phase != b.value.phase ? a.value.phase == .idle : a.value.since < b.value.since
                }) else { return (false, nil) }
                entries[victim.key] = nil
                evicted = victim.value.channel
            }
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, phase: .idle, since: now)
            return (true, evicted)
        }
        if let evicted {
            logger.debug("connection limit reached: closing the oldest idle or slowest connection", metadata: ["limit": "\(limit)"])
            evicted.close(promise: nil)
        }
        if !admitted {
            logger.warning("connection limit reached and every connection is answering a request: refusing a new one",
                           metadata: ["limit": "\(limit)"])
        }
        channel.closeFuture.whenComplete { [self] _ in remove(channel) }
        return admitted
    }

    func set(_ channel: any Channel, _ phase: Phase) {
        let now = ContinuousClock.now
        entries.withLockedValue { entries in
            let id = ObjectIdentifier(channel)
            guard entries[id] != nil, entries[id]?.phase != phase else { return }
            entries[id]?.phase = phase
            entries[id]?.since = now
        }
    }

    func remove(_ channel: any Channel) {
        _ = entries.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }
}

/// Sees a connection's bytes before the HTTP parser: a request's clock starts at its first
/// byte, and a request not whole within `--read-timeout` is answered 408 (unless an answer has
/// begun) and its connection closed. At shutdown, a request still arriving is not waited for.
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let readTimeout: Duration
    let registry: ConnectionRegistry
    let logger: Logger
    private var context: ChannelHandlerContext?
    private var reading = false
    private var answerStarted = false
    private var timer: Scheduled<Void>?

    init(readTimeout: Duration, registry: ConnectionRegistry, logger: Logger) {
        self.readTimeout = readTimeout
        self.registry = registry
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !reading {
            reading = true
            answerStarted = false
            registry.set(context.channel, .reading)
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(readTimeout)) { [self] in expired() }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, reading {
            // Shutting down: a request still arriving would hold the shutdown up to --read-timeout.
            // Nothing of it was acknowledged; its sender retries.
            logger.debug("shutting down: closing a connection whose request is still arriving")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The request's last part has been parsed.
    func requestRead() {
        reading = false
        timer?.cancel()
        timer = nil
        if let channel = context?.channel { registry.set(channel, .answering) }
    }

    /// The answer's head is on its way.
    func answerBegan() {
        answerStarted = true
    }

    /// The answer's last part is on its way: the connection is idle unless the next request has begun.
    func answerEnded() {
        if !reading, let channel = context?.channel { registry.set(channel, .idle) }
    }

    private func expired() {
        timer = nil
        guard reading, let context else { return }
        logger.info("request not received within the read timeout: closing its connection", metadata: [
            "timeout": "\(readTimeout)", "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "unknown")",
        ])
        if !answerStarted {
            let text = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            context.writeAndFlush(NIOAny(ByteBuffer(string: text)), promise: nil)
        }
        context.close(promise: nil)
    }
}

/// Sees a connection's HTTP parts: tells the ``RequestDeadline`` where requests and answers
/// begin and end, answers `Expect: 100-continue`, and closes the connection after answering a
/// request the parser could not read (a bad chunk size), whose stream cannot go on.
final class RequestWatch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let deadline: RequestDeadline
    let maxBody: Int
    private var broken = false

    init(deadline: RequestDeadline, maxBody: Int) {
        self.deadline = deadline
        self.maxBody = maxBody
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                let length = head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
                if length <= maxBody {
                    context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                }
            }
        case .body:
            break
        case .end:
            deadline.requestRead()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { broken = true }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            deadline.answerBegan()
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            deadline.answerEnded()
            if broken {
                context.writeAndFlush(data, promise: promise)
                context.close(promise: nil)
            } else {
                context.write(data, promise: promise)
            }
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
