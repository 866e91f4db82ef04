import FlowFormat
import Foundation
package import HTTPTypes
package import Hummingbird

/// An error of tailflow's own API (`/api/v1/…`), answered as `{"error": "<message>"}`.
///
/// Thrown by handlers and middleware; Hummingbird turns it into the answer. For example:
/// ```swift
/// throw APIError(.badRequest, "format 'xml' is not json, csv or ndjson")
/// ```
package struct APIError: HTTPResponseError, CustomStringConvertible {
    package var status: HTTPResponse.Status
    package var message: String
    package var headers: HTTPFields

    package init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    package var description: String { "\(status.code) \(message)" }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        .json(status, ["error": message], headers: headers)
    }
}

/// An error of the Splunk HEC endpoints, answered in HEC's shape: `{"text": …, "code": …}`.
struct HECError: HTTPResponseError {
    var status: HTTPResponse.Status
    var text: String
    var code: Int
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        .json(status, HECReceiver.Answer(text: text, code: code), headers: headers)
    }
}

/// An error of the Elasticsearch endpoints, answered as Elasticsearch does (`error.root_cause`, `type`,
/// `reason`, `status`) with its `X-Elastic-Product` header, which clients check.
struct ElasticError: HTTPResponseError {
    var status: HTTPResponse.Status
    var type: String
    var reason: String
    var headers: HTTPFields = [:]

    struct Body: Encodable {
        struct Cause: Encodable {
            var type: String
            var reason: String
        }
        struct Detail: Encodable {
            var root_cause: [Cause]
            var type: String
            var reason: String
        }
        var error: Detail
        var status: Int
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var all = BulkReceiver.productHeaders
        all.append(contentsOf: headers)
        let cause = Body.Cause(type: type, reason: reason)
        return .json(status, Body(error: .init(root_cause: [cause], type: type, reason: reason), status: Int(status.code)), headers: all)
    }
}

/// Why a request's body was not taken; each receiver answers it in its own protocol's shape.
enum IntakeProblem: Error {
    /// Over `--max-body`, as sent or decompressed (413).
    case tooLarge(limit: Int)
    /// Damaged gzip, or a body the HTTP parser could not read (a bad chunk size) (400).
    case badEncoding(String)
    /// A `Content-Encoding` other than gzip (415).
    case unsupportedEncoding(String)
    /// The store's disk is full: nothing was stored; come back after this many seconds (503).
    case diskFull(retryAfter: Int)
    /// The writer is behind: come back after this many seconds (503).
    case behind(retryAfter: Int)
    /// Another process held the store's write lock too long: nothing was stored; come back after
    /// this many seconds (503).
    case locked(retryAfter: Int)
    /// The server is shutting down (503).
    case stopping
    /// The store failed; nothing of the request was stored (500).
    case storeFailed
    /// The store's file was deleted or replaced under the server (503 until a restart).
    case storeGone(String)
}

extension APIError {
    /// The answer of the plain ingest endpoint to a body it did not take.
    init(_ problem: IntakeProblem) {
        switch problem {
        case .tooLarge(let limit):
            self.init(.contentTooLarge, "the request body exceeds the limit of \(Units.iec(Int64(limit))), compressed or not")
        case .unsupportedEncoding(let e):
            self.init(.unsupportedMediaType, "unsupported Content-Encoding '\(e)': send gzip or plain JSON")
        case .badEncoding(let why):
            self.init(.badRequest, why)
        case .behind(let seconds):
            self.init(.serviceUnavailable, "the writer is behind; retry later", headers: [.retryAfter: String(seconds)])
        case .diskFull(let seconds):
            self.init(.serviceUnavailable, "the store's disk is full: nothing of this request was stored; retry later", headers: [.retryAfter: String(seconds)])
        case .locked(let seconds):
            self.init(.serviceUnavailable, "another process holds the store's write lock: nothing of this request was stored; retry later",
                      headers: [.retryAfter: String(seconds)])
        case .stopping:
            self.init(.serviceUnavailable, "shutting down; retry later", headers: [.retryAfter: "5"])
        case .storeFailed:
            self.init(.internalServerError, "the store failed; nothing of this request was stored")
        case .storeGone(let why):
            self.init(.serviceUnavailable, why)
        }
    }
}

extension HECError {
    init(_ problem: IntakeProblem) {
        switch problem {
        case .tooLarge(let limit):
            self.init(status: .contentTooLarge, text: "Content too large: the limit is \(Units.iec(Int64(limit))), compressed or not", code: 413)
        case .unsupportedEncoding(let e):
            self.init(status: .unsupportedMediaType, text: "Unsupported Content-Encoding '\(e)': send gzip or plain JSON", code: 6)
        case .badEncoding(let why):
            self.init(status: .badRequest, text: "Invalid data format: \(why)", code: 6)
        case .behind(let seconds):
            self.init(status: .serviceUnavailable, text: "Server is busy", code: 9, headers: [.retryAfter: String(seconds)])
        case .diskFull(let seconds):
            self.init(status: .serviceUnavailable, text: "Server is busy: its disk is full", code: 9, headers: [.retryAfter: String(seconds)])
        case .locked(let seconds):
            self.init(status: .serviceUnavailable, text: "Server is busy: its store is locked by another process", code: 9,
                      headers: [.retryAfter: String(seconds)])
        case .stopping:
            self.init(status: .serviceUnavailable, text: "Server is busy", code: 9, headers: [.retryAfter: "5"])
        case .storeFailed:
            self.init(status: .internalServerError, text: "Internal server error", code: 8)
        case .storeGone(let why):
            self.init(status: .serviceUnavailable, text: "Server is busy: \(why)", code: 9)
        }
    }
}

extension ElasticError {
    init(_ problem: IntakeProblem) {
        switch problem {
        case .tooLarge(let limit):
            self.init(status: .contentTooLarge, type: "content_too_long_exception",
                      reason: "the request body exceeds the limit of \(Units.iec(Int64(limit))), compressed or not")
        case .unsupportedEncoding(let e):
            self.init(status: .unsupportedMediaType, type: "illegal_argument_exception",
                      reason: "unsupported Content-Encoding [\(e)]: send gzip or plain NDJSON")
        case .badEncoding(let why):
            self.init(status: .badRequest, type: "parse_exception", reason: why)
        case .behind(let seconds):
            self.init(status: .serviceUnavailable, type: "es_rejected_execution_exception", reason: "tailflow's writer is behind; retry later",
                      headers: [.retryAfter: String(seconds)])
        case .diskFull(let seconds):
            self.init(status: .serviceUnavailable, type: "es_rejected_execution_exception", reason: "tailflow's disk is full; retry later",
                      headers: [.retryAfter: String(seconds)])
        case .locked(let seconds):
            self.init(status: .serviceUnavailable, type: "es_rejected_execution_exception",
                      reason: "tailflow's store is locked by another process; retry later", headers: [.retryAfter: String(seconds)])
        case .stopping:
            self.init(status: .serviceUnavailable, type: "node_closed_exception", reason: "tailflow is shutting down; retry later",
                      headers: [.retryAfter: "5"])
        case .storeFailed:
            self.init(status: .internalServerError, type: "exception", reason: "the store failed; nothing of this request was stored")
        case .storeGone(let why):
            self.init(status: .serviceUnavailable, type: "unavailable_shards_exception", reason: why)
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
