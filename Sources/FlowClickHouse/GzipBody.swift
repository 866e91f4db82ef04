import CZlib

/// Request bodies gzipped for the wire (`Content-Encoding: gzip`, which ClickHouse's HTTP
/// interface decodes): a fast level, since on a small machine the cores are the scarce part.
enum GzipBody {
    /// Bodies smaller than this go as they are (the header and the work cost more than they save).
    static let threshold = 16 * 1024

    /// One gzip member holding `bytes`; nil when zlib fails (the caller sends them plain).
    static func compress(_ bytes: [UInt8], level: Int32 = 1) -> [UInt8]? {
        var s = z_stream()
        guard deflateInit2_(&s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { deflateEnd(&s) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&s, UInt(bytes.count))) + 32)
        let rc: Int32 = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                s.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                s.avail_in = UInt32(input.count)
                s.next_out = output.baseAddress
                s.avail_out = UInt32(output.count)
                return deflate(&s, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { return nil }
        out.removeSubrange(Int(s.total_out)...)
        return out
    }
}
