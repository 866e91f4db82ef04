import CZlib

/// Why a gzip stream could not be read to its end.
public struct GzipError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Decompresses a gzip stream (RFC 1952) while it is read; concatenated members are read in turn.
///
/// The end of the input before the end of a member is an error
/// (a truncated download must not look like a complete file).
package final class GzipInput: ByteInput {
    var upstream: any ByteInput
    var stream = z_stream()
    var inBuffer: UnsafeMutableRawBufferPointer
    var inCount = 0
    var upstreamDone = false
    var memberDone = false
    var finished = false
    /// Compressed bytes consumed so far.
    private(set) var compressedOffset: Int64 = 0
    /// Decompressed bytes produced so far.
    private(set) var decompressedOffset: Int64 = 0
    /// A bound on the decompressed size; exceeding it is an error (a defence against gzip bombs).
    var maxDecompressedBytes: Int64 = .max

    /// - parameter prefix: bytes already read from `upstream` (used to sniff the magic number).
    package init(upstream: any ByteInput, prefix: [UInt8]) throws {
        self.upstream = upstream
        inBuffer = .allocate(byteCount: max(1 << 16, prefix.count), alignment: 16)
        prefix.withUnsafeBytes { inBuffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: prefix.count) }
        inCount = prefix.count
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError(message: "gzip: cannot initialise zlib")
        }
        stream.next_in = inBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.avail_in = UInt32(inCount)
    }

    deinit {
        inflateEnd(&stream)
        inBuffer.deallocate()
    }

    /// Whether `bytes` start with the gzip magic number.
    package static func hasMagic(_ bytes: some Collection<UInt8>) -> Bool {
        var it = bytes.makeIterator()
        return it.next() == 0x1f && it.next() == 0x8b
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard !finished, buffer.count > 0 else { return 0 }
        while true {
            if stream.avail_in == 0 && !upstreamDone {
                let n = try upstream.read(into: inBuffer)
                if n == 0 { upstreamDone = true } else {
                    stream.next_in = inBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_in = UInt32(n)
                }
            }
            if memberDone {
                // Another member may follow; trailing zero padding is tolerated.
                skipZeroPadding()
                if stream.avail_in == 0 && upstreamDone {
                    finished = true
                    return 0
                }
                if stream.avail_in == 0 { continue }
                inflateReset(&stream)
                memberDone = false
            }
            if stream.avail_in == 0 && upstreamDone {
                throw GzipError(message: "gzip stream truncated: the compressed data ends after \(compressedOffset) bytes, before the end of the stream")
            }
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = UInt32(min(buffer.count, Int(UInt32.max)))
            let before = stream.avail_in
            let status = inflate(&stream, Z_NO_FLUSH)
            compressedOffset += Int64(before - stream.avail_in)
            let produced = buffer.count - Int(stream.avail_out)
            decompressedOffset += Int64(produced)
            switch status {
            case Z_STREAM_END:
                memberDone = true
            case Z_OK, Z_BUF_ERROR:
                break
            default:
                let why = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw GzipError(message: "gzip data corrupt after \(compressedOffset) compressed bytes: \(why)")
            }
            if decompressedOffset > maxDecompressedBytes {
                throw GzipError(message: "gzip stream decompresses to more than \(maxDecompressedBytes) bytes")
            }
            if produced > 0 { return produced }
        }
    }

    private func skipZeroPadding() {
        while stream.avail_in > 0, stream.next_in.pointee == 0 {
            stream.next_in += 1
            stream.avail_in -= 1
            compressedOffset += 1
        }
    }
}
