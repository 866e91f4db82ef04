/// A decompressed size over the bound: the body (or file) is refused, not truncated.
package struct DecompressedTooLarge: Error, CustomStringConvertible, Sendable {
    package var limit: Int
    package var description: String { "the gzip data decompresses to more than \(limit) bytes" }
}

extension GzipInput {
    /// Decompresses gzip bytes held in memory, refusing to produce more than `limit` bytes (a gzip bomb stops there).
    ///
    /// - throws: ``DecompressedTooLarge`` over the limit; ``GzipError`` when the data is damaged or truncated.
    package static func decompress(_ bytes: [UInt8], limit: Int) throws -> [UInt8] {
        let input = try GzipInput(upstream: MemoryInput(bytes), prefix: [])
        input.maxDecompressedBytes = Int64(limit)
        var out: [UInt8] = []
        out.reserveCapacity(min(limit, max(bytes.count * 4, 1 << 16)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n: Int
            do {
                n = try chunk.withUnsafeMutableBytes { try input.read(into: $0) }
            } catch is GzipError where input.decompressedOffset > Int64(limit) {
                throw DecompressedTooLarge(limit: limit)
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}
