import FlowModel
import NIOCore

/// The flow rows' insert as one block of ClickHouse's Native format: column after column, each
/// column's values one after another (fixed-width integers as they are, strings as a LEB128 length
/// and their bytes, Nullable as its null map then its values), every column after its name and type.
///
/// The server then reads each column whole where RowBinary had it parse 17 values a row: a
/// 500,000-row insert of the 1-day file cost the server 0.26-0.37 s of CPU against 0.46-0.54 s
/// as RowBinary (the same rows sent with curl, alternately, load 2.8; and a tenth of its
/// insert's CPU was page faults of columns grown row by row). The writer waits for that insert:
/// its time is the ingest's critical path.
extension ClickHouseWriter {
    /// `flows`' columns as the insert names them, with their types (a Native block carries both,
    /// in the insert's column order).
    static let flowColumns: [(name: String, type: String)] = [
        ("start_ns", "Int64"), ("end_ns", "Int64"), ("reporter", "String"), ("digest", "Int64"), ("row", "UInt32"),
        ("kind", "UInt8"), ("proto", "UInt8"), ("src", "String"), ("src_port", "UInt16"), ("dst", "String"),
        ("dst_port", "UInt16"), ("tx_packets", "UInt64"), ("tx_bytes", "UInt64"), ("rx_packets", "UInt64"),
        ("rx_bytes", "UInt64"), ("logged_ms", "Nullable(Int64)"), ("summed", "UInt8"),
    ]

    /// The bytes of a LEB128 length.
    @inline(__always)
    static func lengthBytes(_ n: Int) -> Int {
        var n = UInt64(n), count = 1
        while n >= 0x80 { n >>= 7; count += 1 }
        return count
    }

    /// The flow rows of `messages[order]` as one Native block (rows as ``encode(_:_:_:into:)``
    /// writes them in RowBinary: the same values), written into `out` (cleared first: its storage
    /// serves one insert after another).
    ///
    /// Two passes: the first finds each row's addresses' texts (each address formatted once per
    /// insert) and so the string columns' sizes; the second writes every column at once, each
    /// from its own offset in one buffer of the block's exact size.
    ///
    /// - parameter addresses: scratch space (each row's two address spans), kept by the caller.
    static func encodeNative<C: Collection<Int>>(_ messages: [FlowMessage], _ digests: [Int64], _ order: C,
                                                into out: inout ByteBuffer, addresses: inout [Int]) {
        out.clear()
        // Each address's text (length byte and text), one after another, by its offset << 8 | its
        // size; the first is "" (no address).
        var texts: [UInt8] = [0]
        var spans: [IPAddress: Int] = [:]
        let none = 1
        func span(_ a: IPAddress) -> Int {
            if let s = spans[a] { return s }
            let t = a.description.utf8
            precondition(t.count < 128, "an address's text longer than a one-byte length")
            let s = texts.count << 8 | (t.count + 1)
            texts.append(UInt8(t.count))
            texts.append(contentsOf: t)
            spans[a] = s
            return s
        }
        // Each row's source and destination span, the rows, and the string columns' sizes.
        addresses.removeAll(keepingCapacity: true)
        var rows = 0, reporterBytes = 0, srcBytes = 0, dstBytes = 0
        var lastSrc: (IPAddress, Int)?, lastDst: (IPAddress, Int)?
        for i in order {
            let count = messages[i].rows.count
            let n = max(1, count)
            rows += n
            let id = messages[i].nodeID.utf8.count
            reporterBytes += n * (lengthBytes(id) + id)
            if count == 0 {
                addresses.append(none)
                addresses.append(none)
                srcBytes += 1
                dstBytes += 1
                continue
            }
            for r in messages[i].rows {
                var s = none, d = none
                if let a = r.src {
                    if let l = lastSrc, l.0 == a { s = l.1 } else { s = span(a); lastSrc = (a, s) }
                }
                if let a = r.dst {
                    if let l = lastDst, l.0 == a { d = l.1 } else { d = span(a); lastDst = (a, d) }
                }
                addresses.append(s)
                addresses.append(d)
                srcBytes += s & 0xff
                dstBytes += d & 0xff
            }
        }
        // The block: the column and row counts, then each column's name and type and its values.
        var heads: [[UInt8]] = []
        var header = RowBinary()
        header.length(flowColumns.count)
        header.length(rows)
        let counts = header.bytes
        // Each column's values' size (the strings' as found above), where they start and end.
        let sizes = [8 * rows, 8 * rows, reporterBytes, 8 * rows, 4 * rows, rows, rows, srcBytes, 2 * rows, dstBytes,
                     2 * rows, 8 * rows, 8 * rows, 8 * rows, 8 * rows, 9 * rows, rows]
        var at: [Int] = [], total = counts.count
        for (c, (name, type)) in flowColumns.enumerated() {
            var head = RowBinary()
            head.string(name)
            head.string(type)
            heads.append(head.bytes)
            total += head.bytes.count
            at.append(total)
            total += sizes[c]
        }
        out.reserveCapacity(total)
        _ = texts.withUnsafeBytes { texts in
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { buffer in
                let p = buffer.baseAddress!
                counts.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                for (c, head) in heads.enumerated() {
                    head.withUnsafeBytes { (p + at[c] - head.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                }
                // The fixed-width columns' starts, and the string columns' cursors.
                let startNs = p + at[0], endNs = p + at[1], digest = p + at[3], rowNumber = p + at[4], kind = p + at[5]
                let proto = p + at[6], srcPort = p + at[8], dstPort = p + at[10], txPackets = p + at[11], txBytes = p + at[12]
                let rxPackets = p + at[13], rxBytes = p + at[14], nulls = p + at[15], logged = p + at[15] + rows, summed = p + at[16]
                var reporter = at[2], src = at[7], dst = at[9]
                @inline(__always) func address(_ s: Int, _ o: inout Int) {
                    let n = s & 0xff
                    (p + o).copyMemory(from: texts.baseAddress! + (s >> 8), byteCount: n)
                    o += n
                }
                var k = 0
                for i in order {
                    let start = messages[i].start, end = messages[i].end, id = digests[i]
                    let loggedMs = messages[i].logged.map { Timestamp.floorDivMod($0 &- end, 1_000_000).0 }
                    let rs = messages[i].rows
                    let n = max(1, rs.count)
                    var nodeID = messages[i].nodeID
                    nodeID.withUTF8 { text in
                        for _ in 0..<n {
                            var v = UInt64(text.count)
                            while v >= 0x80 {
                                (p + reporter).storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, as: UInt8.self)
                                reporter += 1
                                v >>= 7
                            }
                            (p + reporter).storeBytes(of: UInt8(v), as: UInt8.self)
                            reporter += 1
                            if let base = text.baseAddress { (p + reporter).copyMemory(from: base, byteCount: text.count) }
                            reporter += text.count
                        }
                    }
                    for j in 0..<n {
                        let row = k + j
                        startNs.storeBytes(of: start.littleEndian, toByteOffset: row * 8, as: Int64.self)
                        endNs.storeBytes(of: end.littleEndian, toByteOffset: row * 8, as: Int64.self)
                        digest.storeBytes(of: id.littleEndian, toByteOffset: row * 8, as: Int64.self)
                        nulls.storeBytes(of: loggedMs == nil ? 1 : 0, toByteOffset: row, as: UInt8.self)
                        logged.storeBytes(of: (loggedMs ?? 0).littleEndian, toByteOffset: row * 8, as: Int64.self)
                        summed.storeBytes(of: 1, toByteOffset: row, as: UInt8.self)  // by this writer, not by schema 005's views
                        address(addresses[2 * row], &src)
                        address(addresses[2 * row + 1], &dst)
                    }
                    if rs.isEmpty {
                        rowNumber.storeBytes(of: UInt32(0), toByteOffset: k * 4, as: UInt32.self)
                        kind.storeBytes(of: 255, toByteOffset: k, as: UInt8.self)
                        proto.storeBytes(of: 0, toByteOffset: k, as: UInt8.self)
                        srcPort.storeBytes(of: UInt16(0), toByteOffset: k * 2, as: UInt16.self)
                        dstPort.storeBytes(of: UInt16(0), toByteOffset: k * 2, as: UInt16.self)
                        for column in [txPackets, txBytes, rxPackets, rxBytes] {
                            column.storeBytes(of: UInt64(0), toByteOffset: k * 8, as: UInt64.self)
                        }
                        k += 1
                        continue
                    }
                    for (j, r) in rs.enumerated() {
                        rowNumber.storeBytes(of: UInt32(j).littleEndian, toByteOffset: k * 4, as: UInt32.self)
                        kind.storeBytes(of: r.kind.rawValue, toByteOffset: k, as: UInt8.self)
                        proto.storeBytes(of: r.proto, toByteOffset: k, as: UInt8.self)
                        srcPort.storeBytes(of: r.srcPort.littleEndian, toByteOffset: k * 2, as: UInt16.self)
                        dstPort.storeBytes(of: r.dstPort.littleEndian, toByteOffset: k * 2, as: UInt16.self)
                        txPackets.storeBytes(of: UInt64(r.txPackets).littleEndian, toByteOffset: k * 8, as: UInt64.self)
                        txBytes.storeBytes(of: UInt64(r.txBytes).littleEndian, toByteOffset: k * 8, as: UInt64.self)
                        rxPackets.storeBytes(of: UInt64(r.rxPackets).littleEndian, toByteOffset: k * 8, as: UInt64.self)
                        rxBytes.storeBytes(of: UInt64(r.rxBytes).littleEndian, toByteOffset: k * 8, as: UInt64.self)
                        k += 1
                    }
                }
                precondition(k == rows && reporter == at[2] + sizes[2] && src == at[7] + sizes[7] && dst == at[9] + sizes[9],
                             "a Native block's string columns are not the size worked out")
                return total
            }
        }
    }
}
