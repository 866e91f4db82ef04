public import FlowModel

/// Tailscale's device list, `GET /api/v2/tailnet/{tailnet}/devices`:
/// `{"devices":[{"nodeId","name","addresses":[…],"os","user","tags":[…]}, …]}` (a bare array is accepted too).
public enum DeviceList {
    /// A device list that cannot be read, with where and why.
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// Reads a device list file (`-` for standard input; gzip detected by magic number).
    public static func read(path: String) throws -> [NodeInfo] {
        try parse(readBytes(path: path), source: path == "-" ? "stdin" : path)
    }

    /// The whole content of a file (`-` for standard input), gunzipped when it is gzip.
    static func readBytes(path: String) throws -> [UInt8] {
        var input: any ByteInput = try FileInput(path: path)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var sniffed = false
        while true {
            let n = try chunk.withUnsafeMutableBytes { try input.read(into: $0) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
            if !sniffed, bytes.count >= 2 {
                sniffed = true
                if GzipInput.hasMagic(bytes) {
                    input = try GzipInput(upstream: input, prefix: bytes)
                    bytes.removeAll()
                }
            }
        }
        return bytes
    }

    /// Parses a device list. Every device must have a `nodeId`; any problem is an error naming the device.
    public static func parse(_ bytes: [UInt8], source: String) throws -> [NodeInfo] {
        var nodes: [NodeInfo] = []
        try document(bytes, source: source, what: "device list", key: "devices", shape: "{\"devices\":[…]}", bareArray: true) {
            (p: inout MessageParser, problems: inout [String]) throws(ScanError) in
            try devices(&p, &nodes, &problems)
        }
        return nodes
    }

    /// Reads a document of the Tailscale API whose payload is the value of one key of its
    /// top-level object (other keys skipped), or, when `bareArray`, the document itself if it is
    /// an array: what device lists and DERP maps share.
    ///
    /// - parameter what: the document's name in errors ("device list").
    /// - parameter shape: how the document looks, for "not a device list (expected …)".
    /// - parameter payload: reads the payload at the parser's cursor, recording problems.
    /// - throws: ``Error`` naming the source (and line) of a syntax error, a missing key, text
    ///   after the document, or the problems the payload recorded.
    static func document(_ bytes: [UInt8], source: String, what: String, key: StaticString, shape: String, bareArray: Bool,
                         payload: (inout MessageParser, inout [String]) throws(ScanError) -> Void) throws {
        var padded = bytes
        padded.append(0x0A)
        try padded.withUnsafeBufferPointer { buffer throws in
            var p = MessageParser(buffer, at: 0)
            var problems: [String] = []
            do {
                let c = try p.cursor.peek()
                if c == UInt8(ascii: "{") {
                    p.cursor.pos += 1
                    var found = false
                    if try p.cursor.peek() != UInt8(ascii: "}") {
                        while true {
                            let name = try p.cursor.string()
                            try p.cursor.expect(UInt8(ascii: ":"), "':' after an object key")
                            if p.cursor.equals(name, key) {
                                found = true
                                try payload(&p, &problems)
                            } else {
                                try p.cursor.skipValue(depth: 1)
                            }
                            if try p.cursor.endOfMembers(close: UInt8(ascii: "}"), what: "object member") { break }
                        }
                    } else {
                        p.cursor.pos += 1
                    }
                    guard found else { throw Error(message: "\(source): not a \(what) (no \"\(key)\" key)") }
                } else if bareArray, c == UInt8(ascii: "[") {
                    try payload(&p, &problems)
                } else {
                    throw Error(message: "\(source): not a \(what) (expected \(shape))")
                }
                p.cursor.skipWhitespace()
                if p.cursor.pos < buffer.count {
                    throw Error(message: "\(source):\(line(buffer, p.cursor.pos)): text after the \(what)")
                }
            } catch let error as ScanError {
                switch error {
                case .needMore:
                    throw Error(message: "\(source): unexpected end of input (truncated JSON)")
                case .syntax(let at, let reason):
                    throw Error(message: "\(source):\(line(buffer, at)): JSON syntax error: \(reason)")
                case .tooDeep(let at):
                    throw Error(message: "\(source):\(line(buffer, at)): nested too deeply")
                }
            }
            if !problems.isEmpty {
                throw Error(message: "\(source): " + problems.joined(separator: "; "))
            }
        }
    }

    static func devices(_ p: inout MessageParser, _ nodes: inout [NodeInfo], _ problems: inout [String]) throws(ScanError) {
        try p.arrayField("devices", &problems) { (p: inout MessageParser, i: Int, problems: inout [String]) throws(ScanError) in
            if let n = try p.nodeField("devices[\(i)]", &problems) { nodes.append(n) }
        }
    }

    static func line(_ buffer: UnsafeBufferPointer<UInt8>, _ at: Int) -> Int {
        1 + buffer[..<min(at, buffer.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}
