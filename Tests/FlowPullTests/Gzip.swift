import CZlib

/// Gzip for the stand-in's compressed answers.
enum Gzip {
    struct Failure: Error {
        var code: Int32
    }

    static func compress(_ input: [UInt8]) throws -> [UInt8] {
        var s = z_stream()
        guard deflateInit2_(&s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(code: -1)
        }
        defer { deflateEnd(&s) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&s, UInt(input.count))) + 64)
        var source = input
        let rc = source.withUnsafeMutableBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                s.next_in = src.baseAddress
                s.avail_in = UInt32(src.count)
                s.next_out = dst.baseAddress
                s.avail_out = UInt32(dst.count)
                return deflate(&s, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { throw Failure(code: rc) }
        return Array(out.prefix(Int(s.total_out)))
    }
}
