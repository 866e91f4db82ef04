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

/// Why a request body cannot be read.
enum BodyError: Error {
    case tooLarge(limit: Int)
    case badEncoding(String)
    case unsupportedEncoding(String)
}

extension Request {
    /// The body, decompressed when it is gzip (by `Content-Encoding` or by its magic bytes),
    /// at most `limit` bytes both as sent and decompressed.
    func readBody(limit: Int) async throws -> [UInt8] {
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw BodyError.tooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw BodyError.tooLarge(limit: limit)
        }
        let bytes = Array(buffer.readableBytesView)
        let encoding = headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces) ?? ""
        switch encoding {
        case "gzip", "x-gzip":
            break
        case "", "identity":
            guard GzipInput.hasMagic(bytes) else { return bytes }
        default:
            throw BodyError.unsupportedEncoding(encoding)
        }
        do {
            return try GzipInput.decompress(bytes, limit: limit)
        } catch is DecompressedTooLarge {
            throw BodyError.tooLarge(limit: limit)
        } catch {
            throw BodyError.badEncoding("\(error)")
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
