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
    /// none running past the blob's end), without assembling their values.
    @inline(__always)
    mutating func skipVarints(_ count: Int) throws {
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
