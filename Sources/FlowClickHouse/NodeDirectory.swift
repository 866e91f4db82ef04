public import FlowModel
public import FlowStore
import FlowSchema
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The nodes as a ClickHouse store knows them now: the latest facts of each, the reporters,
/// first and last seen, and which node owns each address (latest claim wins).
///
/// Small (one row per node and address): questions read it whole to name endpoints and to
/// resolve endpoint arguments; the answers themselves resolve addresses on the server.
public struct NodeDirectory: Sendable {
    public struct Node: Sendable, Equatable {
        public var stableID: String
        public var name: String?
        public var os: String?
        public var user: String?
        public var tags: [String] = []
        public var addresses: [String] = []
        public var routes: [String] = []
        public var isReporter = false
        public var firstSeen: Nanoseconds?
        public var lastSeen: Nanoseconds?
    }

    public var nodes: [String: Node] = [:]
    /// Owner node stable ID by address text.
    public var owners: [String: String] = [:]
    /// The store's id of each node (`node_ids`: 1, 2, 3… in the order the writer first met them).
    var ids: [String: Int64] = [:]
    /// The DERP relay regions (`tailflow derp import`), by id.
    var derp: [DERPRegion] = []

    /// The separator of array elements in the text answers (ClickHouse prints arrays quoted otherwise).
    static let separator = "\u{1}"

    /// Reads the node tables in one request.
    init(_ client: ClickHouseClient) throws {
        var selects = TaggedSelects()
        Self.add(to: &selects)
        self.init(try selects.run(client))
    }

    /// The node tables' parts of a combined request (``TaggedSelects``), tagged `n` (facts),
    /// `s` (seen), `r` (reporters), `a` (address owners), `i` (node ids), `d` (DERP regions).
    static func add(to selects: inout TaggedSelects) {
        let v = "(info_ns, seq)"
        selects.add("n", ["stable_id", "argMax(name, \(v))", "argMax(os, \(v))", "argMax(user, \(v))",
                          "arrayStringConcat(argMax(tags, \(v)), '\\x01')", "arrayStringConcat(argMax(addresses, \(v)), '\\x01')",
                          "arrayStringConcat(argMaxIf(routes, \(v), has_routes = 1), '\\x01')"],
                    "FROM nodes GROUP BY stable_id")
        selects.add("s", ["stable_id", "toString(min(first_ns))", "toString(max(last_ns))"], "FROM node_seen GROUP BY stable_id")
        selects.add("r", ["stable_id"], "FROM reporters GROUP BY stable_id")
        selects.add("a", ["ip", "argMax(node, \(v))"], "FROM node_addresses GROUP BY ip")
        selects.add("i", ["stable_id", "toString(min(id))"], "FROM node_ids GROUP BY stable_id")
        selects.add("d", ["toString(region_id)", "argMax(ifNull(code, '\\x01'), imported_ns)", "argMax(ifNull(name, '\\x01'), imported_ns)"],
                    "FROM derp_regions GROUP BY region_id")
    }

    /// The directory from a combined request's tables (``add(to:)``).
    init(_ tables: [String: [[String]]]) {
        func node(_ id: String) -> Node { nodes[id] ?? Node(stableID: id) }
        for f in tables["n"] ?? [] {
            var n = node(f[0])
            n.name = f[1].isEmpty ? nil : f[1]
            n.os = f[2].isEmpty ? nil : f[2]
            n.user = f[3].isEmpty ? nil : f[3]
            n.tags = Self.split(f[4])
            n.addresses = Self.split(f[5])
            n.routes = Self.split(f[6])
            nodes[n.stableID] = n
        }
        for f in tables["s"] ?? [] {
            var n = node(f[0])
            n.firstSeen = Int64(f[1])
            n.lastSeen = Int64(f[2])
            nodes[n.stableID] = n
        }
        for f in tables["r"] ?? [] {
            var n = node(f[0])
            n.isReporter = true
            nodes[n.stableID] = n
        }
        for f in tables["a"] ?? [] {
            owners[f[0]] = f[1]
        }
        for f in tables["i"] ?? [] {
            if let id = Int64(f[1]) { ids[f[0]] = id }
        }
        derp = (tables["d"] ?? []).compactMap { f in
            guard let id = Int(f[0]) else { return nil }
            return DERPRegion(id: id, code: f[1] == "\u{1}" ? nil : f[1], name: f[2] == "\u{1}" ? nil : f[2])
        }.sorted { $0.id < $1.id }
    }

    static func split(_ text: String) -> [String] {
        text.isEmpty ? [] : text.components(separatedBy: separator)
    }

    /// The nodes as `tailflow nodes` lists them: by name (unnamed last), then stable ID, in byte order.
    public var records: [NodeRecord] {
        nodes.values.sorted { a, b in
            switch (a.name, b.name) {
            case (nil, nil): return a.stableID.utf8.lexicographicallyPrecedes(b.stableID.utf8)
            case (nil, _): return false
            case (_, nil): return true
            case (let x?, let y?):
                return x != y ? x.utf8.lexicographicallyPrecedes(y.utf8) : a.stableID.utf8.lexicographicallyPrecedes(b.stableID.utf8)
            }
        }.map { n in
            NodeRecord(nodeID: n.stableID, name: n.name, os: n.os, user: n.user, tags: n.tags, addresses: n.addresses,
                       isReporter: n.isReporter, firstSeen: n.firstSeen, lastSeen: n.lastSeen, routes: n.routes)
        }
    }

    /// The node's name, nil for an address or `*`.
    public func name(_ endpoint: String) -> String? {
        nodes[endpoint]?.name
    }
}

/// The node tables a question read (``NodeDirectory``'s parts and the schema check's), kept for
/// the next question on the same store while the server says those tables have not changed: in
/// memory (a long-running `serve` asks many) and in a file (each CLI command is a new process).
///
/// A question's prelude then asks only the tables' *version* (``addVersion(to:database:)``: per
/// table, its active parts, rows, bytes, highest block number and latest change, from
/// `system.parts`, which every insert, merge, mutation or truncation changes), with whether the
/// window holds data; the 95 KB of node tables (11-20 ms on the server on a 300-node, 7-day store,
/// sharing the 2 cores with the answer) are read again only when the version differs, and are then
/// kept under the version read *before* them (a change between the two reads makes the next
/// question read them again, never keeps a stale copy).
///
/// The file ends in a seal (a checksum of the rest) and is taken only when the seal holds and it
/// is a regular file of this user's that no one else may write (``ownContents(_:)``): its tables
/// decide how addresses resolve and what nodes are called.
///
/// One server only: a cluster's `system.parts` would be the entry server's alone.
/// `TAILFLOW_CLICKHOUSE_CACHE` names the directory of the files (default
/// `$XDG_CACHE_HOME/tailflow`, else `~/.cache/tailflow`), or `off` (memory only, per process).
package final class NodeTablesCache: @unchecked Sendable {
    /// What a cache holds: the version and the tables (tags `m`, `l`, `n`, `s`, `r`, `a`, `i`, `d`).
    struct Entry {
        let version: String
        let tables: [String: [[String]]]
    }

    /// The tables whose parts make the version: the node tables and the schema's migrations.
    static let versioned = ["nodes", "node_addresses", "node_seen", "reporters", "node_ids", "derp_regions", "schema_migrations"]

    private let lock = NSLock()
    private var memory: Entry?
    private var loaded = false
    /// The file, nil when there is none to keep (`off`, no home, a cluster).
    let file: URL?
    /// Which store, which binary (its migrations): a file written for another is not taken.
    let key: [String]

    init(_ client: ClickHouseClient) {
        let url = client.url
        key = ["tailflow node tables 2", "\(url.user)@\(url.server)/\(url.database)",
               Schema.clickhouseMigrations.map(\.name).joined(separator: ",")]
        file = Self.directory().map { dir in
            let name = "\(url.user)@\(url.server)-\(url.database)".map { c -> Character in
                c.isASCII && (c.isLetter || c.isNumber || "@.-_".contains(c)) ? c : "_"
            }
            return dir.appendingPathComponent("clickhouse-" + String(name) + ".nodes")
        }
    }

    /// `TAILFLOW_CLICKHOUSE_CACHE`, else the user's cache directory; nil for `off`.
    static func directory() -> URL? {
        let env = ProcessInfo.processInfo.environment
        if let set = env["TAILFLOW_CLICKHOUSE_CACHE"], !set.isEmpty {
            return ["off", "0", "no"].contains(set.lowercased()) ? nil : URL(fileURLWithPath: set)
        }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("tailflow") }
        if let home = env["HOME"], !home.isEmpty { return URL(fileURLWithPath: home).appendingPathComponent(".cache/tailflow") }
        return nil
    }

    /// The version part of a prelude request (tag `v`).
    static func addVersion(to selects: inout TaggedSelects, database: String) {
        selects.add("v", ["table", "toString(count())", "toString(sum(rows))", "toString(sum(bytes))",
                          "toString(max(max_block_number))", "toString(max(modification_time))"],
                    "FROM system.parts WHERE database = \(ClickHouseClient.quote(database)) AND active AND table IN ("
                        + versioned.map(ClickHouseClient.quote).joined(separator: ", ") + ") GROUP BY table")
    }

    /// The version in a prelude's answer (nil without any part: no store there, nothing to key on).
    static func version(_ tables: [String: [[String]]]) -> String? {
        let rows = (tables["v"] ?? []).map { $0.prefix(6).joined(separator: " ") }.sorted()
        return rows.isEmpty ? nil : rows.joined(separator: ";")
    }

    /// What the cache holds (memory, else the file once), if anything.
    func entry() -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        if !loaded {
            loaded = true
            if memory == nil, let file { memory = Self.read(file, key: key) }
        }
        return memory
    }

    /// Keeps `tables` as the node tables at `version` (in memory, and in the file when there is one).
    func keep(_ version: String, _ tables: [String: [[String]]]) {
        let kept = tables.filter { ["m", "l", "n", "s", "r", "a", "i", "d"].contains($0.key) }
        lock.withLock {
            memory = Entry(version: version, tables: kept)
            loaded = true
        }
        guard let file else { return }
        // A file that cannot be written is no error (the next question reads the tables again).
        var text = key.map(TabSeparated.escape).joined(separator: "\t") + "\n" + TabSeparated.escape(version) + "\n"
        for (tag, rows) in kept.sorted(by: { $0.key < $1.key }) {
            for row in rows { text += ([tag] + row).map(TabSeparated.escape).joined(separator: "\t") + "\n" }
        }
        Self.writeSealed(text, to: file)
    }

    /// Writes `text`, sealed (``sealed(_:)``), as `file`: aside (a directory of this user's only, a
    /// file only it may read), then renamed, so a reader never sees half a file. A file that
    /// cannot be written is no error: it is a cache.
    static func writeSealed(_ text: String, to file: URL) {
        let dir = file.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temp = dir.appendingPathComponent(".\(file.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temp.path, contents: Data(sealed(text).utf8), attributes: [.posixPermissions: 0o600]) else { return }
        if rename(temp.path, file.path) != 0 { try? FileManager.default.removeItem(at: temp) }
    }

    /// What ``writeSealed(_:to:)`` wrote in `file`, when the file is this user's own
    /// (``ownContents(_:)``) and its seal holds (``unsealed(_:)``).
    static func readSealed(_ file: URL) -> ArraySlice<UInt8>? {
        ownContents(file).flatMap(unsealed)
    }

    /// `text` with a last line `end` and the FNV-1a 64 of the bytes before it: a file cut short,
    /// or changed since, is not taken (``unsealed(_:)``).
    package static func sealed(_ text: String) -> String {
        text + "end\t" + checksum(Array(text.utf8)[...]) + "\n"
    }

    /// What ``sealed(_:)`` sealed, nil when the last line is not its seal.
    static func unsealed(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        guard bytes.last == 0x0a else { return nil }
        let last = bytes.dropLast().lastIndex(of: 0x0a).map { $0 + 1 } ?? 0
        let body = bytes[..<last]
        guard Array(bytes[last..<(bytes.count - 1)]) == Array(("end\t" + checksum(body)).utf8) else { return nil }
        return body
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> String {
        let hex = String(fnv1a(bytes), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The file's bytes when it is a regular file of this user's that no one else may write: not
    /// a symbolic link (which another user could point at a file of theirs), not a file another
    /// user owns or could have changed. Its tables decide how addresses resolve and what nodes are
    /// called, so a file anyone else could have written is not taken.
    static func ownContents(_ file: URL) -> [UInt8]? {
        // Not blocking: a FIFO put there would hold the open until a writer came.
        let fd = open(file.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(),
              info.st_mode & (S_IWGRP | S_IWOTH) == 0 else { return nil }
        return (try? handle.readToEnd()).map { Array($0) }
    }

    /// FNV-1a 64 of `bytes`, going on from `hash` (its offset basis by default).
    static func fnv1a(_ bytes: some Sequence<UInt8>, from hash: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = hash
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return hash
    }

    static func read(_ file: URL, key: [String]) -> Entry? {
        guard let body = readSealed(file) else { return nil }
        let rows = TabSeparated.parse(Array(body))
        guard rows.count >= 2, rows[0] == key, rows[1].count == 1, !rows[1][0].isEmpty else { return nil }
        var tables: [String: [[String]]] = [:]
        for row in rows.dropFirst(2) where row.count == TaggedSelects.width + 1 {
            tables[row[0], default: []].append(Array(row.dropFirst()))
        }
        return Entry(version: rows[1][0], tables: tables)
    }
}
