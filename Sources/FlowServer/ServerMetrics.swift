import FlowStore
import Foundation
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`).
///
/// Request latency histograms per endpoint and status class, ingest counters per
/// receiver, and — read when scraped — the writer's counters and the database size.
final class ServerMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let writer: WritePipeline
    let databasePath: String
    /// The writer's totals at the last scrape; counters advance by the difference.
    private var seen = WritePipeline.Stats()
    private let lock = NSLock()

    static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    init(writer: WritePipeline, databasePath: String) {
        self.writer = writer
        self.databasePath = databasePath
    }

    func requestDuration(route: String, status: Int) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "tailflow", metricName: "http_request_duration", unitName: "seconds",
                                             helpText: "Time from the start of a request to its answer, by route and status."),
            labels: [("route", route), ("status", String(status))],
            buckets: Self.latencyBuckets)
    }

    /// Counts what a receiver decoded: messages, rows, rejects, skipped values.
    func received(_ receiver: String, messages: Int, rows: Int, rejected: Int, skipped: Int) {
        func counter(_ name: String, _ help: String) -> Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "tailflow", metricName: name, unitName: "total", helpText: help),
                                 labels: [("receiver", receiver)])
        }
        counter("received_messages", "Flow-log messages received and decoded, by receiver.").increment(by: Int64(messages))
        counter("received_rows", "Flow rows of the messages received, by receiver.").increment(by: Int64(rows))
        counter("rejected_items", "Events or documents rejected as malformed, by receiver.").increment(by: Int64(rejected))
        counter("skipped_items", "Well-formed events or documents that are not flow-log messages, by receiver.").increment(by: Int64(skipped))
    }

    /// The exposition text, with the writer's counters and the database size read now.
    func render() -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        let s = writer.stats
        func counter(_ name: String, _ help: String, _ now: Int, _ before: Int) {
            registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "tailflow", metricName: name, unitName: "total", helpText: help))
                .increment(by: Int64(now - before))
        }
        func gauge(_ name: String, _ unit: String, _ help: String, _ value: Double) {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "tailflow", metricName: name, unitName: unit, helpText: help))
                .set(value)
        }
        counter("stored_messages", "Messages stored for the first time.", s.messages, seen.messages)
        counter("stored_rows", "Flow rows stored for the first time (rows ingested).", s.rows, seen.rows)
        counter("duplicate_messages", "Messages received again and not stored twice.", s.duplicates, seen.duplicates)
        counter("recorded_rejects", "Rejects recorded in the store.", s.rejects, seen.rejects)
        counter("commits", "Transactions committed by the writer.", s.commits, seen.commits)
        counter("writer_refused_submissions", "Submissions refused with 503 because the writer was behind.", s.refused, seen.refused)
        counter("wal_bound_failures", "Truncations of the write-ahead log past twice its bound that failed (readers held it).",
                s.walBoundFailures, seen.walBoundFailures)
        counter("fold_failures", "Folds of finished hours into the longer rollup levels that failed (retried).", s.foldFailures, seen.foldFailures)
        registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "tailflow", metricName: "commit_duration_seconds", unitName: "total",
                                                              helpText: "Time spent writing and committing."))
            .increment(by: s.commitSeconds - seen.commitSeconds)
        seen = s
        gauge("writer_pending", "rows", "Flow rows waiting for the writer.", Double(s.pendingRows))
        var size = 0.0
        for suffix in ["", "-wal"] {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: databasePath + suffix),
               let n = attributes[.size] as? NSNumber {
                size += n.doubleValue
            }
        }
        gauge("database_size", "bytes", "Size of the database file and its write-ahead log.", size)
        gauge("wal_size", "bytes", "Size of the write-ahead log (truncated by checkpoints past its bound).",
              Double(WriteAheadLog.size(ofDatabaseAt: databasePath)))
        return registry.emitToBuffer()
    }
}
