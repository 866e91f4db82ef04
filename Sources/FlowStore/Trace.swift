import Foundation

/// Timings for finding where a server's acknowledgement latency goes: when `TAILFLOW_TRACE` names
/// a file, the writer and the receivers append one JSON line per commit and per request to it
/// (times in ns of the monotonic clock, the one Python's `time.perf_counter` reads on Linux).
package enum Trace {
    package static let fd: Int32 = {
        guard let path = ProcessInfo.processInfo.environment["TAILFLOW_TRACE"], !path.isEmpty else { return -1 }
        return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    }()

    package static var isOn: Bool { fd >= 0 }

    /// Now, in ns of CLOCK_MONOTONIC.
    @inline(__always)
    package static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// This thread's CPU time, in ns.
    package static func cpu() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    package static func record(_ line: String) {
        guard fd >= 0 else { return }
        var text = line
        text.append("\n")
        text.withUTF8 { b in _ = write(fd, b.baseAddress, b.count) }
    }
}
