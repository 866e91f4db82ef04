/// LEB128 varints, the encoding of every packed blob in the store.
enum Varint {
    @inline(__always)
    static func put(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Writes `value` at `p + n` and moves `n` past it (the caller made room: at most 10 bytes).
    @inline(__always)
    static func put(_ value: UInt64, _ p: UnsafeMutablePointer<UInt8>, _ n: inout Int) {
        var v = value
        while v >= 0x80 {
            p[n] = UInt8(truncatingIfNeeded: v) | 0x80
            v >>= 7
            n += 1
        }
        p[n] = UInt8(v)
        n += 1
    }
}

/// Reads a packed blob front to back; every read is bounds-checked.
struct BlobReader {
    let blob: UnsafeRawBufferPointer
    var offset: Int
    /// Named in errors: "flow rows", "rollup".
    let what: String

    init(_ blob: UnsafeRawBufferPointer, version: UInt8, what: String) throws {
        guard blob.count >= 1, blob[0] == version else { throw StoreError(.sqlite, "\(what) blob has an unknown format") }
        self.blob = blob
        offset = 1
        self.what = what
    }

    @inline(__always)
    var atEnd: Bool { offset >= blob.count }

    @inline(__always)
    mutating func byte() -> UInt8 {
        defer { offset += 1 }
        return blob[offset]
    }

    @inline(__always)
    mutating func varint() throws -> UInt64 {
        // Most are one byte (address ids, small counts).
        if offset < blob.count, blob[offset] < 0x80 {
            defer { offset += 1 }
            return UInt64(blob[offset])
        }
        // Then two (ports, most counts).
        if offset + 1 < blob.count, blob[offset + 1] < 0x80 {
            defer { offset += 2 }
            return UInt64(blob[offset] & 0x7f) | UInt64(blob[offset + 1]) << 7
        }
        return try longVarint()
    }

    mutating func longVarint() throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while offset < blob.count {
            let b = blob[offset]
            offset += 1
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
            if shift > 63 { break }
        }
        throw StoreError(.sqlite, "\(what) blob is truncated or corrupt")
    }

    /// Steps over `count` varints with the checks of ``varint()`` (at most ten bytes each,
    /// none running past the blob's end), without assembling their values. The usual case
    /// (at most eight, all within the next 16 bytes) is read a word at a time: the bytes
    /// without a continuation bit end the varints; anything else goes a byte at a time, which
    /// throws where it must.
    @inline(__always)
    mutating func skipVarints(_ count: Int) throws {
        if count <= 8, offset + 16 <= blob.count {
            let high: UInt64 = 0x8080_8080_8080_8080
            var ends0 = ~UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) & high
            var ends1 = ~UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)) & high
            var last = -1, left = count
            while left > 0 {
                let end: Int
                if ends0 != 0 {
                    end = ends0.trailingZeroBitCount >> 3
                    ends0 &= ends0 - 1
                } else if ends1 != 0 {
                    end = 8 + (ends1.trailingZeroBitCount >> 3)
                    ends1 &= ends1 - 1
                } else {
                    break
                }
                if end - last > 10 { break }
                last = end
                left -= 1
            }
            if left == 0 {
                offset += last + 1
                return
            }
        }
        var left = count, continued = 0
        while left > 0 {
            guard offset < blob.count, continued < 10 else { throw StoreError(.sqlite, "\(what) blob is truncated or corrupt") }
            if blob[offset] < 0x80 {
                left -= 1
                continued = 0
            } else {
                continued += 1
            }
            offset += 1
        }
    }
}
