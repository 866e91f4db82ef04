import Foundation
import FlowModel
@testable import FlowStore
import GRDB
import TestSupport

enum Make {
    static let t0: Int64 = 1_793_527_200_000_000_000  // 2026-11-01T10:00:00Z

    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    /// A message from node `n` at `t0 + seconds`, with `rows` virtual rows to a few peers.
    static func message(node n: Int, at seconds: Int64, rows: Int = 3, bytes: Int64 = 1000) -> FlowMessage {
        var m = FlowMessage(nodeID: "n\(n)", start: t0 + seconds * 1_000_000_000, end: t0 + (seconds + 5) * 1_000_000_000 - 1)
        m.srcNode = NodeInfo(nodeID: "n\(n)", name: "host\(n).example.ts.net", os: "linux", tags: ["tag:t\(n % 3)"],
                             addresses: [ip("100.64.0.\(n)")])
        for r in 0..<rows {
            m.rows.append(FlowRow(kind: r % 4 == 3 ? .physical : .virtual, proto: 6, src: ip("100.64.0.\(n)"), srcPort: UInt16(40000 + r),
                                  dst: ip("100.64.1.\(r % 5)"), dstPort: 443,
                                  txPackets: Int64(r + 1), txBytes: bytes * Int64(r + 1), rxPackets: 2, rxBytes: 77))
        }
        return m
    }
}

extension FlowStore {
    /// Sums over every stored flow row, straight from the packed blobs.
    func rawTotals(in db: Database) throws -> Counters {
        var total = Counters()
        for m in try FlowStore.storedMessages(db) {
            for r in try RowCodec.decode(m.rows) {
                total.add(Counters(txPackets: r.txPackets, txBytes: r.txBytes, rxPackets: r.rxPackets, rxBytes: r.rxBytes))
            }
        }
        return total
    }

    /// Sums over one rollup step.
    func rollupTotals(in db: Database, step: Int64) throws -> Counters {
        var total = Counters()
        for row in try Row.fetchAll(db, sql: "SELECT sums FROM rollups WHERE step = ?", arguments: [step]) {
            for e in try RollupCodec.decode(Array(row[0] as Data)) { total.add(e.counters) }
        }
        return total
    }
}
