import Foundation
import GRDB

/// Copies committed pages from the write-ahead log into the database file, twice a
/// second, from its own connection and thread, so that the writer's commits do not pay for it.
final class Checkpointer: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) {
        let thread = Thread { [self] in
            defer { finished.signal() }
            var config = Configuration()
            config.busyMode = .timeout(1)
            guard let queue = try? DatabaseQueue(path: path, configuration: config) else { return }
            while true {
                condition.lock()
                if !stopped { _ = condition.wait(until: Date().addingTimeInterval(0.5)) }
                let stop = stopped
                condition.unlock()
                if stop { return }
                let t0 = Trace.isOn ? Trace.now() : 0
                try? queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)") }
                if Trace.isOn { Trace.record("{\"k\":\"ck\",\"s\":\(t0),\"e\":\(Trace.now())}") }
            }
        }
        thread.name = "tailflow-checkpointer"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
        finished.wait()
    }
}
