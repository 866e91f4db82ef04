import FlowIngest
import Foundation
import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the peer's address (for logs and reject sources).
struct ServerContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    var peer: String {
        guard let a = remoteAddress else { return "unknown" }
        return a.ipAddress.map { "\($0):\(a.port ?? 0)" } ?? "\(a)"
    }
}

/// Why a request's body was not taken; each receiver answers it in its own protocol's shape.
enum IntakeProblem: Error {
    /// Over `--max-body`, as sent or decompressed (413).
    case tooLarge(limit: Int)
    /// Damaged gzip (400).
    case badEncoding(String)
    /// A `Content-Encoding` other than gzip (415).
    case unsupportedEncoding(String)
    /// The writer is behind: come back after this many seconds (503).
    case behind(retryAfter: Int)
    /// The server is shutting down (503).
    case stopping
    /// The store failed; nothing of the request was stored (500).
    case storeFailed
}

extension Request {
    /// The body, decompressed when it is gzip (by `Content-Encoding` or by its magic bytes),
    /// at most `limit` bytes both as sent and decompressed.
    func readBody(limit: Int) async throws -> [UInt8] {
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw IntakeProblem.tooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw IntakeProblem.tooLarge(limit: limit)
        }
        let bytes = Array(buffer.readableBytesView)
        let encoding = headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces) ?? ""
        switch encoding {
        case "gzip", "x-gzip":
            break
        case "", "identity":
            guard GzipInput.hasMagic(bytes) else { return bytes }
        default:
            throw IntakeProblem.unsupportedEncoding(encoding)
        }
        do {
            return try GzipInput.decompress(bytes, limit: limit)
        } catch is DecompressedTooLarge {
            throw IntakeProblem.tooLarge(limit: limit)
        } catch {
            throw IntakeProblem.badEncoding("\(error)")
        }
    }
}

extension Response {
    /// A JSON answer.
    static func json(_ status: HTTPResponse.Status, _ body: some Encodable, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        return raw(status, Array(data), contentType: "application/json", headers: headers)
    }

    static func raw(_ status: HTTPResponse.Status, _ bytes: [UInt8], contentType: String, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
