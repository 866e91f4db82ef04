import CZlib
import Foundation
import Testing
@testable import FlowGenerate
import TestSupport

/// 2026-11-03 (a Tuesday) 10:00:00 UTC, in nanoseconds.
private let tuesdayMorning: Int64 = 1_793_700_000 * 1_000_000_000 + 10 * 3_600_000_000_000 - 1_793_700_000 % 86400 * 1_000_000_000

private func config(seed: UInt64 = 1, nodes: Int = 20, minutes: Int64 = 2) -> GeneratorConfig {
    var c = GeneratorConfig(start: tuesdayMorning, duration: minutes * 60_000_000_000)
    c.nodes = nodes
    c.seed = seed
    return c
}

private func generate(_ c: GeneratorConfig, _ container: GeneratedContainer = .jsonl, gzip: Bool = false)
    throws -> ([UInt8], GeneratorStats, [Int])
{
    var out: [UInt8] = []
    var chunks: [Int] = []
    let stats = try FlowLogGenerator(c).write(container: container, gzip: gzip) { buf in
        out.append(contentsOf: buf)
        chunks.append(buf.count)
    }
    return (out, stats, chunks)
}

private func json(_ bytes: some Collection<UInt8>) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(bytes), options: [])
}

/// Splits back-to-back JSON objects by brace depth, outside strings.
private func splitConcatenated(_ b: [UInt8]) -> [ArraySlice<UInt8>] {
    var parts: [ArraySlice<UInt8>] = []
    var depth = 0, inString = false, escaped = false, start = 0
    for (i, c) in b.enumerated() {
        if inString {
            if escaped { escaped = false } else if c == 92 { escaped = true } else if c == 34 { inString = false }
            continue
        }
        switch c {
        case 34: inString = true
        case 123: if depth == 0 { start = i }; depth += 1
        case 125:
            depth -= 1
            if depth == 0 { parts.append(b[start...i]) }
        default: break
        }
    }
    return parts
}

private func lines(_ b: [UInt8]) -> [ArraySlice<UInt8>] {
    b.split(separator: 10, omittingEmptySubsequences: true)
}

/// Parses any container back into message dictionaries.
private func messages(_ b: [UInt8], _ container: GeneratedContainer) throws -> [[String: Any]] {
    switch container {
    case .jsonl:
        return try lines(b).map { try #require(try json($0) as? [String: Any]) }
    case .array:
        return try #require(try json(b) as? [[String: Any]])
    case .concatenated:
        return try splitConcatenated(b).map { try #require(try json($0) as? [String: Any]) }
    case .api:
        let top = try #require(try json(b) as? [String: Any])
        return try #require(top["logs"] as? [[String: Any]])
    case .logtail:
        return try lines(b).map { line in
            var rec = try #require(try json(line) as? [String: Any])
            let lt = try #require(rec["logtail"] as? [String: Any])
            #expect(lt["server_time"] as? String == rec["logged"] as? String)
            #expect(lt["client_time"] as? String == rec["end"] as? String)
            #expect(lt["proc_seq"] is NSNumber)
            rec["logtail"] = nil
            return rec
        }
    case .splunk:
        return try splitConcatenated(b).map { part in
            let ev = try #require(try json(part) as? [String: Any])
            #expect(ev["sourcetype"] as? String == "tailscale:network")
            #expect(ev["time"] is NSNumber)
            return try #require(ev["event"] as? [String: Any])
        }
    case .elastic:
        let ls = lines(b)
        #expect(ls.count % 2 == 0)
        var out: [[String: Any]] = []
        for i in stride(from: 0, to: ls.count, by: 2) {
            let action = try #require(try json(ls[i]) as? [String: Any])
            let create = try #require(action["create"] as? [String: Any])
            #expect(create["_index"] as? String == "logs-tailscale-network")
            out.append(try #require(try json(ls[i + 1]) as? [String: Any]))
        }
        return out
    }
}

private func gunzip(_ input: [UInt8]) throws -> [UInt8] {
    let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    s.initialize(to: z_stream())
    defer { inflateEnd(s); s.deallocate() }
    #expect(inflateInit2_(s, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    var rc: Int32 = Z_OK
    var input = input
    input.withUnsafeMutableBufferPointer { inp in
        s.pointee.next_in = inp.baseAddress
        s.pointee.avail_in = UInt32(inp.count)
        repeat {
            buf.withUnsafeMutableBufferPointer { o in
                s.pointee.next_out = o.baseAddress
                s.pointee.avail_out = UInt32(o.count)
                rc = inflate(s, Z_NO_FLUSH)
                out.append(contentsOf: o[0..<(o.count - Int(s.pointee.avail_out))])
            }
        } while rc == Z_OK
    }
    #expect(rc == Z_STREAM_END)
    #expect(s.pointee.avail_in == 0)
    return out
}

/// `YYYY-MM-DDTHH:MM:SS.fffffffffZ` to nanoseconds since the epoch.
private func nanos(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    guard b.count == 30, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58, b[19] == 46, b[29] == 90 else { return nil }
    func num(_ r: Range<Int>) -> Int64? {
        var v: Int64 = 0
        for i in r { guard b[i] >= 48 && b[i] <= 57 else { return nil }; v = v * 10 + Int64(b[i] - 48) }
        return v
    }
    guard var y = num(0..<4), let m = num(5..<7), let d = num(8..<10), let hh = num(11..<13),
          let mm = num(14..<16), let ss = num(17..<19), let f = num(20..<29) else { return nil }
    y -= m <= 2 ? 1 : 0
    let era = y / 400, yoe = y - era * 400
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146_097 + doe - 719_468
    return ((days * 86400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + f
}

private let trafficKeys = ["virtualTraffic", "subnetTraffic", "exitTraffic", "physicalTraffic"]
private let connKeys: Set<String> = ["proto", "src", "dst", "txPkts", "txBytes", "rxPkts", "rxBytes"]

private func conns(_ m: [String: Any], _ key: String) -> [[String: Any]] {
    (m[key] as? [[String: Any]]) ?? []
}

/// The port of an `ip:port` / `[ip]:port` endpoint.
private func port(_ endpoint: String) -> Int? {
    guard let i = endpoint.lastIndex(of: ":") else { return nil }
    return Int(endpoint[endpoint.index(after: i)...])
}

private func host(_ endpoint: String) -> String {
    var h = String(endpoint[..<endpoint.lastIndex(of: ":")!])
    if h.hasPrefix("[") { h = String(h.dropFirst().dropLast()) }
    return h
}

/// Every message has the SPEC §1 fields with the right types; returns the number of Conn rows.
private func validate(_ msgs: [[String: Any]], _ c: GeneratorConfig) -> Int {
    var rows = 0
    var lastStart = Int64.min
    for m in msgs {
        let id = m["nodeId"] as? String
        #expect(id?.hasPrefix("n") == true && id?.hasSuffix("CNTRL") == true)
        let start = (m["start"] as? String).flatMap(nanos), end = (m["end"] as? String).flatMap(nanos)
        let logged = (m["logged"] as? String).flatMap(nanos)
        #expect(start != nil && end != nil && logged != nil)
        guard let s = start, let e = end, let l = logged else { continue }
        #expect(s >= c.start && s < c.start + c.duration)
        #expect(e > s && e <= s + c.interval)
        #expect(l > e)
        #expect(s >= lastStart, "messages are in time order")
        lastStart = s
        if let src = m["srcNode"] as? [String: Any] {
            #expect(src["nodeId"] as? String == id)
        }
        var n = 0
        for k in trafficKeys {
            if let arr = m[k] {
                let list = arr as? [[String: Any]]
                #expect(list?.isEmpty == false, "empty arrays are omitted")
            }
            for conn in conns(m, k) {
                n += 1
                #expect(Set(conn.keys).isSubset(of: connKeys))
                for key in ["txPkts", "txBytes", "rxPkts", "rxBytes"] {
                    if let v = conn[key] {
                        let num = v as? NSNumber
                        #expect(num != nil)
                        let integral = String(describing: v).allSatisfy { $0.isNumber }
                        #expect(integral, "integer counters")
                        #expect((num?.int64Value ?? 0) > 0, "zero counters are omitted")
                        #expect((num?.uint64Value ?? UInt64.max) <= UInt64(Int64.max))
                    }
                }
                if let p = conn["proto"] as? Int { #expect([1, 6, 17, 58].contains(p)) }
                if k == "physicalTraffic" {
                    #expect(conn["proto"] == nil)
                    #expect((conn["src"] as? String).flatMap(port) == 0)
                    #expect(conn["dst"] is String)
                }
            }
        }
        #expect(n > 0, "idle nodes emit nothing")
        rows += n
    }
    return rows
}

@Suite(.ownThreads)
struct FlowLogGeneratorTests {
    @Test func sameSeedSameBytesDifferentSeedDifferentBytes() throws {
        let a = try generate(config(seed: 7)).0
        let b = try generate(config(seed: 7)).0
        let c = try generate(config(seed: 8)).0
        #expect(!a.isEmpty)
        #expect(a == b)
        #expect(a != c)
        #expect(FlowLogGenerator(config(seed: 7)).deviceList() == FlowLogGenerator(config(seed: 7)).deviceList())
        #expect(FlowLogGenerator(config(seed: 7)).deviceList() != FlowLogGenerator(config(seed: 8)).deviceList())
    }

    @Test func everyContainerParsesIntoTheSameMessages() throws {
        let c = config(minutes: 1)
        let (jsonlBytes, jsonlStats, _) = try generate(c, .jsonl)
        let reference = try messages(jsonlBytes, .jsonl)
        #expect(reference.count == jsonlStats.messages)
        #expect(validate(reference, c) == jsonlStats.rows)
        #expect(jsonlStats.bytes == jsonlBytes.count && jsonlStats.jsonBytes == jsonlBytes.count)
        let referenceIDs = reference.map { $0["nodeId"] as? String ?? "" }
        let referenceStarts = reference.map { $0["start"] as? String ?? "" }
        for container in GeneratedContainer.allCases {
            let (bytes, stats, chunks) = try generate(c, container)
            let msgs = try messages(bytes, container)
            #expect(msgs.count == stats.messages, "\(container)")
            #expect(stats.messages == jsonlStats.messages && stats.rows == jsonlStats.rows, "\(container)")
            #expect(msgs.map { $0["nodeId"] as? String ?? "" } == referenceIDs, "\(container)")
            #expect(msgs.map { $0["start"] as? String ?? "" } == referenceStarts, "\(container)")
            #expect(validate(msgs, c) == stats.rows, "\(container)")
            #expect(stats.bytes == bytes.count)
            #expect(chunks.allSatisfy { $0 <= 64 * 1024 + 256 * 1024 })
        }
    }

    @Test func compactOneMessagePerLine() throws {
        let (bytes, stats, _) = try generate(config(minutes: 1), .jsonl)
        let ls = lines(bytes)
        #expect(ls.count == stats.messages)
        #expect(!bytes.contains(32), "compact JSON has no spaces")
        #expect(bytes.last == 10)
    }

    @Test func gzipRoundTrips() throws {
        let c = config(minutes: 1)
        let plain = try generate(c, .api).0
        let (packed, stats, _) = try generate(c, .api, gzip: true)
        #expect(Array(packed.prefix(2)) == [0x1F, 0x8B])
        #expect(stats.bytes == packed.count)
        #expect(stats.jsonBytes == plain.count)
        #expect(packed.count < plain.count / 3)
        #expect(try gunzip(packed) == plain)
    }

    @Test func emptySpanStillFormsValidContainers() throws {
        let c = config(minutes: 0)
        for container in GeneratedContainer.allCases {
            let (bytes, stats, _) = try generate(c, container, gzip: container == .api)
            #expect(stats.messages == 0)
            let plain = container == .api ? try gunzip(bytes) : bytes
            #expect(try messages(plain, container).isEmpty)
        }
    }

    @Test func bothEndsOfAConversationReportIt() throws {
        let c = config(minutes: 2)
        let msgs = try messages(try generate(c).0, .jsonl)
        // Index virtual rows by (window, src, dst, proto).
        var index: [String: [String: Any]] = [:]
        for m in msgs {
            let w = (nanos(m["start"] as! String)! - c.start) / c.interval
            for r in conns(m, "virtualTraffic") {
                guard let s = r["src"] as? String, let d = r["dst"] as? String else { continue }
                index["\(w) \(s) \(d) \(r["proto"] as? Int ?? 0)"] = r
            }
        }
        var pairs = 0
        for (key, r) in index {
            let parts = key.split(separator: " ")
            guard let other = index["\(parts[0]) \(parts[2]) \(parts[1]) \(parts[3])"] else { continue }
            pairs += 1
            // What one side sent, the other received, less 0–2% loss.
            let sent = (r["txBytes"] as? NSNumber)?.doubleValue ?? 0
            let got = (other["rxBytes"] as? NSNumber)?.doubleValue ?? 0
            #expect(got <= sent && got >= sent * 0.97, "\(key)")
            let sentP = (r["txPkts"] as? NSNumber)?.doubleValue ?? 0
            let gotP = (other["rxPkts"] as? NSNumber)?.doubleValue ?? 0
            #expect(gotP <= sentP && gotP >= sentP * 0.97 - 1)
        }
        #expect(pairs > 50)
    }

    @Test func exitAndSubnetTrafficFollowTheSpec() throws {
        let c = config(nodes: 40, minutes: 3)
        let g = FlowLogGenerator(c)
        let msgs = try messages(try generate(c).0, .jsonl)
        let devices = try #require(try json(g.deviceList()) as? [String: Any])["devices"] as! [[String: Any]]
        let exitID = devices.first { ($0["tags"] as? [String])?.contains("tag:exit") == true }?["nodeId"] as? String
        let routerID = devices.first { ($0["tags"] as? [String])?.contains("tag:router") == true }?["nodeId"] as? String
        #expect(exitID != nil && routerID != nil)
        var anonymisedAtExit = 0, anonymisedAtClient = 0, plainAtClient = 0, routerRows = 0
        for m in msgs {
            let id = m["nodeId"] as? String
            for r in conns(m, "exitTraffic") {
                if r["src"] == nil {
                    // Anonymised: the non-tailnet address removed, ports scrubbed.
                    #expect(id == exitID)
                    #expect((r["dst"] as? String).flatMap(port) == 0)
                    anonymisedAtExit += 1
                } else if r["dst"] == nil {
                    #expect(id != exitID)
                    #expect((r["src"] as? String).flatMap(port) == 0)
                    anonymisedAtClient += 1
                } else {
                    plainAtClient += 1
                }
            }
            for r in conns(m, "subnetTraffic") {
                let src = host(r["src"] as! String), dst = host(r["dst"] as! String)
                if id == routerID {
                    // The router reports the far host as src and the tailnet client as dst.
                    #expect(src.hasPrefix("192.168."))
                    #expect(dst.hasPrefix("100.") || dst.hasPrefix("fd7a:115c:a1e0:"))
                    routerRows += 1
                } else {
                    #expect(dst.hasPrefix("192.168."))
                }
            }
        }
        #expect(anonymisedAtExit > 0)
        #expect(anonymisedAtClient + plainAtClient > 0)
        #expect(routerRows > 0)
        #expect(msgs.contains { $0["srcNode"] == nil }, "old clients omit node info")
    }

    @Test func deviceListMatchesTheNodesInTheLogs() throws {
        let c = config(nodes: 30, minutes: 2)
        let g = FlowLogGenerator(c)
        let msgs = try messages(try generate(c).0, .jsonl)
        let top = try #require(try json(g.deviceList()) as? [String: Any])
        let devices = try #require(top["devices"] as? [[String: Any]])
        #expect(devices.count == 30)
        var byID: [String: [String: Any]] = [:]
        for d in devices {
            let id = try #require(d["nodeId"] as? String)
            #expect(id.count == 16 && id.hasPrefix("n") && id.hasSuffix("CNTRL"))
            #expect((d["name"] as? String)?.hasSuffix(".ts.net") == true)
            let addrs = try #require(d["addresses"] as? [String])
            #expect(addrs.count == 2)
            let v4 = addrs[0].split(separator: ".").compactMap { Int($0) }
            #expect(v4.count == 4 && v4[0] == 100 && (64..<128).contains(v4[1]))
            #expect(addrs[1].hasPrefix("fd7a:115c:a1e0:"))
            #expect(["linux", "macOS", "windows", "iOS", "android"].contains(d["os"] as? String ?? ""))
            #expect((d["user"] != nil) != (d["tags"] != nil), "either user or tags")
            byID[id] = d
        }
        #expect(byID.count == 30)
        #expect(g.nodeIDs == devices.map { $0["nodeId"] as! String })
        var reporters = Set<String>()
        for m in msgs {
            let id = m["nodeId"] as! String
            reporters.insert(id)
            #expect(byID[id] != nil)
            if let src = m["srcNode"] as? [String: Any] {
                #expect(NSDictionary(dictionary: src).isEqual(to: byID[id]!))
            }
            for p in (m["dstNodes"] as? [[String: Any]]) ?? [] {
                let pid = p["nodeId"] as! String
                #expect(byID[pid] != nil)
                #expect(NSDictionary(dictionary: p).isEqual(to: byID[pid] ?? [:]))
            }
        }
        #expect(reporters.count < 30, "some nodes never report")
        #expect(reporters.count > 15)
    }

    @Test func countersAreRealistic() throws {
        let c = config(nodes: 25, minutes: 2)
        let (bytes, stats, _) = try generate(c)
        let msgs = try messages(bytes, .jsonl)
        var pkts = 0.0, octets = 0.0, biggest = 0.0
        for m in msgs {
            for r in conns(m, "virtualTraffic") + conns(m, "subnetTraffic") {
                for (p, b) in [("txPkts", "txBytes"), ("rxPkts", "rxBytes")] {
                    let np = (r[p] as? NSNumber)?.doubleValue ?? 0, nb = (r[b] as? NSNumber)?.doubleValue ?? 0
                    #expect((np == 0) == (nb == 0))
                    if np > 0 { #expect(nb / np >= 28 && nb / np <= 1500) }
                    pkts += np; octets += nb; biggest = max(biggest, nb)
                }
            }
        }
        #expect(octets / pkts > 300 && octets / pkts < 1400)
        #expect(biggest > 1_000_000, "busy pairs move megabytes per window")
        let perMessage = Double(stats.rows) / Double(stats.messages)
        #expect(perMessage > 3 && perMessage < 15)
    }
}
