// Decode throughput of one file with and without telling configuration audit records apart
// (`ContainerDecoder.detectsChanges`), alternating in one process so both see the same load.
// Built and run by run.sh.
import FlowIngest
import FlowModel
import Foundation

let path = CommandLine.arguments[1]
let rounds = Int(CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "7")!
let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
func decode(_ detect: Bool) throws -> (Double, Int) {
    let decoder = ContainerDecoder(source: "bench", input: MemoryInput(bytes))
    decoder.detectsChanges = detect
    var rows = 0
    let clock = ContinuousClock()
    let start = clock.now
    while let e = try decoder.next() { if case .message(let m) = e { rows += m.rows.count } }
    let d = clock.now - start
    return (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, rows)
}
var with: [Double] = [], without: [Double] = []
var rowsSeen = 0
_ = try decode(true)
for i in 0..<rounds {
    // Alternate which goes first.
    if i % 2 == 0 {
        let a = try decode(true); with.append(a.0); rowsSeen = a.1
        without.append(try decode(false).0)
    } else {
        without.append(try decode(false).0)
        with.append(try decode(true).0)
    }
}
let mw = with.sorted()[rounds / 2], mo = without.sorted()[rounds / 2]
let mb = Double(bytes.count) / 1e6
print(String(format: "file %.1f MB, %d rows, %d rounds", mb, rowsSeen, rounds))
print(String(format: "with detection:    median %.3f s  (%.1f MB/s, %.0f krows/s)  min %.3f", mw, mb / mw, Double(rowsSeen) / mw / 1e3, with.min()!))
print(String(format: "without detection: median %.3f s  (%.1f MB/s, %.0f krows/s)  min %.3f", mo, mb / mo, Double(rowsSeen) / mo / 1e3, without.min()!))
print(String(format: "ratio with/without: median %.3f, min %.3f", mw / mo, with.min()! / without.min()!))
