import Foundation
@testable import FlowIngest
import FlowModel
import TestSupport

/// Hands out its bytes a few at a time, to exercise every buffer boundary.
struct TrickleInput: ByteInput {
    var inner: MemoryInput
    var step: Int

    init(_ bytes: [UInt8], step: Int) {
        inner = MemoryInput(bytes)
        self.step = step
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(step, buffer.count)]))
    }
}

/// What a decoder produced, in order.
struct Decoded {
    var messages: [FlowMessage] = []
    var changes: [ConfigChange] = []
    var rejects: [Reject] = []
    var skipped = 0

    init(_ decoder: ContainerDecoder) throws {
        var events = 0
        while let event = try decoder.next() {
            events += 1
            precondition(events < 1_000_000, "decoder does not terminate")
            switch event {
            case .message(let m): messages.append(m)
            case .change(let c): changes.append(c)
            case .reject(let r): rejects.append(r)
            case .skipped: skipped += 1
            }
        }
    }

    init(bytes: [UInt8], source: String = "test", trickle: Int? = nil, maxValueBytes: Int = 16 << 20) throws {
        let input: any ByteInput = trickle.map { TrickleInput(bytes, step: $0) } ?? MemoryInput(bytes)
        try self.init(ContainerDecoder(source: source, input: input, maxValueBytes: maxValueBytes))
    }

    var digests: [Int64] { messages.map(\.digest) }
}


/// Builds JSON Lines of simple messages for volume tests.
enum Synthetic {
    static func message(_ i: Int, rows: Int = 3) -> String {
        let start = 1_793_527_200 + i * 5
        var conns: [String] = []
        for r in 0..<rows {
            conns.append(#"{"proto":6,"src":"100.64.0.\#(i % 200 + 1):\#(40000 + r)","dst":"100.64.1.\#(r % 50 + 1):443","txPkts":\#(r + 1),"txBytes":\#(1000 * (r + 1)),"rxPkts":\#(i % 7 + 1),"rxBytes":\#(i * 13 % 100000)}"#)
        }
        return #"{"nodeId":"n\#(i % 200)CNTRL","start":"\#(Timestamp.formatRFC3339(Int64(start) * 1_000_000_000))","end":"\#(Timestamp.formatRFC3339(Int64(start + 5) * 1_000_000_000 - 1))","virtualTraffic":[\#(conns.joined(separator: ","))]}"#
    }

    static func jsonl(count: Int, rows: Int = 3) -> [UInt8] {
        Array((0..<count).map { message($0, rows: rows) + "\n" }.joined().utf8)
    }
}
