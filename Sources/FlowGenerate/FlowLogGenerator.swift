import CZlib

/// The container a generated stream of messages is wrapped in.
///
/// Every container matches one of the inputs tailflow auto-detects (SPEC §1);
/// messages are compact JSON in all of them.
public enum GeneratedContainer: String, CaseIterable, Sendable {
    /// JSON Lines: one message per line.
    case jsonl
    /// One JSON array of messages: `[m1,m2,…]`.
    case array
    /// Messages back to back with no separator.
    case concatenated
    /// The Tailscale API response: `{"logs":[m1,m2,…]}`.
    case api
    /// Log-service records: JSON Lines whose records carry an extra `"logtail":{…}` key.
    case logtail
    /// Concatenated Splunk HEC events: `{"time":…,"host":…,"sourcetype":"tailscale:network","event":m}`.
    case splunk
    /// An Elasticsearch `_bulk` body: a `{"create":{…}}` action line before every message line.
    case elastic
}

/// What to generate: the tailnet's size, the time span and the traffic intensity.
///
/// The same configuration always produces byte-identical output.
public struct GeneratorConfig: Sendable {
    /// The number of devices in the tailnet (at least 8).
    public var nodes: Int = 50
    /// The start of the first window, in nanoseconds since the Unix epoch (UTC).
    public var start: Int64
    /// The time span covered, in nanoseconds; no message starts at or after `start + duration`.
    public var duration: Int64
    /// The length of one message window, in nanoseconds (Tailscale uses 5 s).
    public var interval: Int64 = 5_000_000_000
    /// A multiplier on how many conversations start: 2 means about twice the rows.
    public var rate: Double = 1.0
    /// The seed of every random choice.
    public var seed: UInt64 = 1
    /// Reporting faults to inject (for testing `tailflow coverage`); none by default.
    public var faults: [GeneratorFault] = []
    /// Leave `logged` out of every message, as log streaming and older files do.
    public var omitLogged = false
    /// The zlib compression level when writing gzip.
    ///
    /// 1 (the default) is fastest, about 190 MB/s of JSON; 6 compresses about
    /// 40% smaller at about a third of the speed.
    public var gzipLevel: Int = 1
    /// Also write configuration audit log records (SPEC §13) between the messages: policy edits,
    /// node approvals and removals, tag and key-expiry changes, DNS edits. The messages stay
    /// byte for byte those written without them.
    public var changes = false
    /// The mean time between configuration operations, in nanoseconds (default 20 minutes).
    public var changeInterval: Int64 = 20 * 60 * 1_000_000_000

    /// Creates a configuration covering `duration` nanoseconds from `start`.
    public init(start: Int64, duration: Int64) {
        self.start = start
        self.duration = duration
    }
}

/// A reporting fault of one node, named by its stable ID. The node's traffic is simulated
/// as usual (its peers report it); only what the node itself sends changes.
public enum GeneratorFault: Sendable, Equatable {
    /// The node sends no message whose window starts in `[from, to)` (ns since the epoch).
    case silent(node: String, from: Int64, to: Int64)
    /// The node's clock runs `offset` ns ahead: its window times are shifted, `logged` is not.
    case clockSkew(node: String, offset: Int64)
    /// The node loses this share of its messages, each independently.
    case dropReports(node: String, share: Double)
    /// The node never sends a message.
    case neverReports(node: String)
}

/// What one call to ``FlowLogGenerator/write(container:gzip:to:)`` produced.
public struct GeneratorStats: Sendable {
    /// Messages written.
    public var messages: Int
    /// Connection rows (Conn objects) over all messages and traffic kinds.
    public var rows: Int
    /// Configuration audit log records written (with ``GeneratorConfig/changes``).
    public var changes: Int = 0
    /// Bytes handed to the sink (compressed bytes when writing gzip).
    public var bytes: Int
    /// Bytes of JSON before compression (equal to `bytes` without gzip).
    public var jsonBytes: Int

    /// Creates statistics with the given counts.
    public init(messages: Int = 0, rows: Int = 0, bytes: Int = 0, jsonBytes: Int = 0) {
        self.messages = messages
        self.rows = rows
        self.bytes = bytes
        self.jsonBytes = jsonBytes
    }
}

/// Errors raised while writing generated output.
public enum GeneratorError: Error, Sendable {
    /// zlib refused to initialise or compress; the associated value is zlib's return code.
    case zlib(Int32)
}

/// Deterministic synthetic Tailscale network flow logs.
///
/// A generator models one tailnet: servers that attract most traffic, user and
/// tagged clients, a subnet router, an exit node, old clients that omit node
/// information and nodes that never report. ``write(container:gzip:to:)`` streams
/// one message per reporting node and window in time order; memory does not
/// grow with the duration.
public struct FlowLogGenerator: Sendable {
    /// The configuration this generator was built from.
    public let config: GeneratorConfig
    let net: Tailnet

    /// Creates a generator, building its tailnet from the configuration's size and seed.
    public init(_ config: GeneratorConfig) {
        var c = config
        c.nodes = max(8, c.nodes)
        c.interval = max(1_000, c.interval)
        c.duration = max(0, c.duration)
        self.config = c
        net = Tailnet(nodes: c.nodes, seed: c.seed)
    }

    /// The stable IDs of every device, reporters and silent nodes alike, in device-list order.
    public var nodeIDs: [String] { net.devices.map(\.nodeID) }

    /// The stable IDs of the nodes that report: servers first, the most popular first, then clients, the busiest first.
    public var reportingNodeIDs: [String] {
        let servers = net.servers.filter { net.reports[Int($0)] }
        let clients = net.clients.filter { net.reports[Int($0)] }.sorted { net.devices[Int($0)].weight > net.devices[Int($1)].weight }
        return (servers + clients).map { net.devices[Int($0)].nodeID }
    }

    /// The stable ID of the node that `name` names: its stable ID, its DNS name
    /// (`db-1.tail7f3e.ts.net`) or its host name (`db-1`); nil when none does.
    public func nodeID(named name: String) -> String? {
        net.devices.first { $0.nodeID == name || $0.name == name || $0.host == name }?.nodeID
    }

    /// Whether the node with this stable ID sends flow logs in the simulated tailnet.
    public func reports(_ nodeID: String) -> Bool {
        net.devices.firstIndex { $0.nodeID == nodeID }.map { net.reports[$0] } ?? false
    }

    /// The tailnet's DNS suffix, such as `tail7f3e.ts.net`.
    public var tailnetDomain: String { net.domain }

    /// The matching Tailscale device list.
    ///
    /// The shape of `GET /api/v2/tailnet/{tailnet}/devices`:
    /// `{"devices":[{"nodeId","name","addresses":[…],"os","user" | "tags":[…]}, …]}`,
    /// pretty-printed with two-space indentation, including nodes that never report.
    public func deviceList() -> [UInt8] {
        var s = "{\n  \"devices\": [\n"
        s += net.devices.map { Tailnet.nodeObject($0, indent: 4) }.joined(separator: ",\n")
        s += "\n  ]\n}\n"
        return Array(s.utf8)
    }

    /// Streams messages in time order as the container's bytes.
    ///
    /// `sink` is called with chunks of about 64 KiB; the buffer is only valid
    /// during the call. With `gzip`, the bytes are one gzip member (zlib deflate,
    /// level ``GeneratorConfig/gzipLevel``). Errors thrown by `sink` end the
    /// stream and are rethrown.
    public func write(container: GeneratedContainer, gzip: Bool,
                      to sink: (UnsafeRawBufferPointer) throws -> Void) throws -> GeneratorStats {
        var out = try Output(gzip: gzip, level: config.gzipLevel)
        defer { out.close() }
        var stats = GeneratorStats()
        try net.blob.withUnsafeBufferPointer { blob in
            try net.addr.withUnsafeBufferPointer { addr in
                var em = Emitter(net: net, config: config, container: container,
                                 blob: blob.baseAddress!, addr: addr.baseAddress!)
                try em.run(&out, sink: sink)
                stats.messages = em.messages
                stats.rows = em.rows
                stats.changes = em.changes
            }
        }
        try out.finish(sink: sink)
        stats.bytes = out.bytesOut
        stats.jsonBytes = out.jsonBytes
        return stats
    }
}

/// Buffers JSON, optionally deflates it, and hands ~64 KiB chunks to the sink.
struct Output: ~Copyable {
    static let chunk = 64 * 1024
    var w = ByteWriter(capacity: 2 * Output.chunk + 512 * 1024)
    var z: UnsafeMutablePointer<z_stream>?
    var zbuf: UnsafeMutablePointer<UInt8>?
    var zcount = 0
    var bytesOut = 0
    var jsonBytes = 0

    init(gzip: Bool, level: Int) throws {
        guard gzip else { return }
        let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        s.initialize(to: z_stream())
        let rc = deflateInit2_(s, Int32(max(0, min(9, level))), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            s.deallocate()
            throw GeneratorError.zlib(rc)
        }
        z = s
        zbuf = .allocate(capacity: Output.chunk)
    }

    /// Passes the buffer on once it holds a chunk.
    @inline(__always)
    mutating func maybeFlush(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if w.count >= Output.chunk { try flush(final: false, sink: sink) }
    }

    mutating func flush(final: Bool, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        jsonBytes += w.count
        guard let s = z, let zb = zbuf else {
            if w.count > 0 {
                try sink(UnsafeRawBufferPointer(start: w.base, count: w.count))
                bytesOut += w.count
            }
            w.count = 0
            return
        }
        s.pointee.next_in = w.base
        s.pointee.avail_in = UInt32(w.count)
        while true {
            s.pointee.next_out = zb + zcount
            s.pointee.avail_out = UInt32(Output.chunk - zcount)
            let rc = deflate(s, final ? Z_FINISH : Z_NO_FLUSH)
            if rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR { throw GeneratorError.zlib(rc) }
            zcount = Output.chunk - Int(s.pointee.avail_out)
            if zcount == Output.chunk || (final && rc == Z_STREAM_END && zcount > 0) {
                try sink(UnsafeRawBufferPointer(start: zb, count: zcount))
                bytesOut += zcount
                zcount = 0
            }
            if final ? rc == Z_STREAM_END : (s.pointee.avail_in == 0 && s.pointee.avail_out > 0) { break }
        }
        w.count = 0
    }

    mutating func finish(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try flush(final: true, sink: sink)
    }

    mutating func close() {
        if let s = z {
            deflateEnd(s)
            s.deinitialize(count: 1)
            s.deallocate()
            z = nil
        }
        zbuf?.deallocate()
        zbuf = nil
    }
}
