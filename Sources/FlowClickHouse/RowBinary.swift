/// ClickHouse's RowBinary insert format: little-endian integers, strings as a LEB128 length
/// and their bytes, Nullable as a null flag byte then the value.
struct RowBinary {
    var bytes: [UInt8] = []

    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }

    @inline(__always) mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    @inline(__always) mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always) mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always) mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    /// A length as RowBinary writes it: unsigned LEB128.
    mutating func length(_ count: Int) {
        var n = UInt64(count)
        repeat {
            var b = UInt8(n & 0x7f)
            n >>= 7
            if n != 0 { b |= 0x80 }
            bytes.append(b)
        } while n != 0
    }

    mutating func string(_ s: String) {
        length(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }

    mutating func strings(_ a: [String]) {
        length(a.count)
        for s in a { string(s) }
    }

    mutating func nullableI64(_ v: Int64?) {
        if let v {
            u8(0)
            i64(v)
        } else {
            u8(1)
        }
    }

    mutating func nullableString(_ v: String?) {
        if let v {
            u8(0)
            string(v)
        } else {
            u8(1)
        }
    }
}
