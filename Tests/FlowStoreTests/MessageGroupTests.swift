import Foundation
import FlowModel
@testable import FlowStore
import FlowSchema
import GRDB
import Testing
import TestSupport

/// Messages stored one row per reporter and minute (schema/009_message_groups.sql): the message
/// identity stays exact across batches, and a store written before is carried over unchanged.
@Suite(.ownThreads)
struct MessageGroupTests {
    static let second = Timestamp.nanosPerSecond

    /// A message of node `n` at `t0 + seconds` (ns offset `ns` within), as ingest would see it.
    static func message(_ n: Int, _ seconds: Int64, ns: Int64 = 0, bytes: Int64 = 100, logged: Bool = false) -> FlowMessage {
        var m = Make.message(node: n, at: seconds, rows: 2, bytes: bytes)
        m.start += ns
        m.end += ns
        if logged { m.logged = m.end + 1_234_000_000 }
        return m
    }

    /// The same message twice adds nothing, in one batch, in a later one, re-sent with late data
    /// around it and across minutes; a later copy fills in a missing `logged` and nothing else.
    @Test func theSameMessageTwiceAddsNothingWhateverTheBatch() throws {
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("ids.db"))
        // Two messages with the same start and different content in the same minute, one with the
        // same content at another start, and neighbours in the next minute.
        let first = [Self.message(1, 0), Self.message(1, 0, bytes: 101), Self.message(1, 5), Self.message(2, 3, ns: 7),
                     Self.message(1, 61), Self.message(2, 59, ns: 999_999_999)]
        var stats = try store.withWriter { w -> WriteStats in
            try w.begin()
            for m in first { try w.add(m) }
            try w.add(first[0])                                            // the same batch
            try w.commit()
            return w.stats
        }
        #expect(stats.messages == 6 && stats.duplicates == 1)
        // A re-sent batch with late data (before and between the stored ones) and a copy with `logged`.
        let late = [Self.message(1, 2), Self.message(2, 1), Self.message(1, 30, bytes: 5)]
        stats = try store.withWriter { w -> WriteStats in
            try w.begin()
            for m in first { try w.add(m) }
            for m in late { try w.add(m) }
            try w.add(Self.message(1, 5, logged: true))                    // a duplicate that carries `logged`
            try w.commit()
            try w.begin()
            for m in first + late { try w.add(m) }                         // and all of it once more
            try w.commit()
            return w.stats
        }
        #expect(stats.messages == 3 && stats.duplicates == 6 + 1 + 9)
        let all = (first + late).sorted { ($0.start, $0.digest) < ($1.start, $1.digest) }
        let stored = try store.pool.read { try FlowStore.storedMessages($0) }
        #expect(stored.count == 9)
        // Key order (start, reporter, digest), each as ingest would have stored it.
        #expect(stored.map { [$0.start, $0.reporter, $0.digest] }
                == stored.map { [$0.start, $0.reporter, $0.digest] }.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(Set(stored.map { [$0.start, $0.digest] }) == Set(all.map { [$0.start, $0.digest] }))
        for m in stored {
            #expect(m.duration == 5 * Self.second - 1 && m.rowCount == 2)
            let withLogged = m.start == Make.t0 + 5 * Self.second
            #expect((m.loggedMs != nil) == withLogged, "only the message a later copy carried `logged` for has it")
            if withLogged { #expect(m.loggedMs == 1234) }
        }
        // Nothing counted twice anywhere.
        try store.pool.read { (db: Database) throws in
            let raw = try store.rawTotals(in: db)
            for step in RollupStep.all { #expect(try store.rollupTotals(in: db, step: step) == raw, "step \(step)") }
            #expect(try Int.fetchOne(db, sql: "SELECT sum(messages) FROM message_groups") == 9)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM message_groups") == 3, "n1 in two minutes, n2 in one (its last message a nanosecond before the next)")
        }
        #expect(try store.check(full: true).mismatches.isEmpty)
    }

    /// A group encodes and decodes to the same messages in identity order, whatever the times,
    /// digests (wide or negative ones too) and `logged`; every truncation of it, and a byte too many, is refused.
    @Test func aGroupRoundTripsAndEveryTruncationIsRefused() throws {
        var rng = SplitMix(state: 20)
        for round in 0..<50 {
            let minute = Int64.random(in: -100...30_000_000, using: &rng)
            var g = MessageGroup()
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                let start = minute * MessageGroup.minuteNs + Int64.random(in: 0..<MessageGroup.minuteNs, using: &rng)
                let digest = [Int64.random(in: 0..<(1 << 48), using: &rng), -Int64.random(in: 1...Int64.max, using: &rng),
                              Int64.random(in: (1 << 48)...Int64.max, using: &rng)][Int.random(in: 0...2, using: &rng)]
                let rows = (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                g.append(start: start, duration: Int64.random(in: -1...(90 * Self.second), using: &rng), digest: digest,
                         rowCount: Int64.random(in: 0...1000, using: &rng), loggedMs: Bool.random(using: &rng) ? Int64.random(in: -5000...90_000, using: &rng) : nil,
                         packed: rows)
            }
            var blob: [UInt8] = []
            g.encode(minute: minute, into: &blob)
            let back = try blob.withUnsafeBytes { try MessageGroup.decode($0, minute: minute) }
            let want = g.messages.sorted { ($0.start, $0.digest) < ($1.start, $1.digest) }
            #expect(back.messages.count == want.count, "round \(round)")
            for (a, b) in zip(back.messages, want) {
                #expect([a.start, a.duration, a.digest, a.rowCount] == [b.start, b.duration, b.digest, b.rowCount] && a.loggedMs == b.loggedMs)
                #expect(Array(back.rows[a.offset..<(a.offset + a.length)]) == Array(g.rows[b.offset..<(b.offset + b.length)]))
            }
            #expect(throws: StoreError.self, "round \(round), a byte too many") {
                try (blob + [0]).withUnsafeBytes { _ = try MessageGroup.decode($0, minute: minute) }
            }
            for cut in 0..<blob.count {
                #expect(throws: StoreError.self, "round \(round), cut at \(cut)") {
                    try Array(blob[..<cut]).withUnsafeBytes { _ = try MessageGroup.decode($0, minute: minute) }
                }
            }
        }
    }

    /// A group from a file nobody vouches for (a case to import) is an error naming it, never a
    /// trap: a length, a duration or a logged time past what the arithmetic can hold.
    @Test func aCraftedGroupIsAnErrorNotATrap() throws {
        let minute = Int64(153_000_000)                     // near the last minute a timestamp can name
        func group(delta: Int64 = 0, duration: Int64 = 0, logged: Int64? = nil, length: UInt64 = 0) -> [UInt8] {
            var out: [UInt8] = [MessageGroup.version, 1]
            RowCodec.putVarint(UInt64(bitPattern: delta).zigzagged, &out)
            RowCodec.putVarint(UInt64(bitPattern: duration &- MessageGroup.period).zigzagged, &out)
            out.append(logged == nil ? 0 : 2)
            out += [1, 2, 3, 4, 5, 6]
            if let logged { RowCodec.putVarint(UInt64(bitPattern: logged).zigzagged, &out) }
            RowCodec.putVarint(length, &out)
            return out
        }
        let crafted: [(String, [UInt8])] = [
            ("a huge length", group(length: UInt64(Int64.max))),
            ("a length past the end", group(length: 3)),
            ("a huge duration", group(duration: Int64.max)),
            ("a huge logged time", group(logged: Int64.max / 2)),
            ("a start outside the minute", group(delta: MessageGroup.minuteNs)),
            ("a negative count", [MessageGroup.version] + { var o: [UInt8] = []; RowCodec.putVarint(UInt64.max, &o); return o }()),
        ]
        var headers: [MessageGroup.Message] = []
        for (what, blob) in crafted {
            #expect(throws: StoreError.self, "\(what)") {
                try blob.withUnsafeBytes { _ = try MessageGroup.decodeHeaders($0, minute: minute, reporter: 3, into: &headers) }
            }
        }
        // A minute no timestamp can name.
        #expect(throws: StoreError.self) { try group().withUnsafeBytes { _ = try MessageGroup.decodeHeaders($0, minute: Int64.max >> 24, into: &headers) } }
        // Through a store's readers: the error names the group.
        let dir = TempDir()
        let store = try FlowStore(path: dir.path("crafted.db"))
        try store.pool.write { db in
            try db.execute(sql: "INSERT INTO message_groups (id, messages, row_count, body) VALUES (?, 1, 0, ?)",
                           arguments: [MessageGroup.id(minute: minute, reporter: 3), Data(group(duration: Int64.max))])
        }
        do {
            try store.pool.read { db in
                try SQLiteSnapshot(db).messages(from: .min, to: .max, reporter: nil, descending: false) { _, _, _ in true }
            }
            Issue.record("a crafted group was read")
        } catch let error as StoreError {
            #expect("\(error)".contains("the message group of") && "\(error)".contains("(reporter #3) is corrupt"), "\(error)")
        }
    }

    /// A store written before schema 009 (one row per message) is carried over by the migration:
    /// every message as it was (identity, duration, row count, `logged`, packed rows byte for
    /// byte), and the old table is gone.
    @Test func aStoreWrittenBeforeIsMigratedUnchanged() throws {
        let dir = TempDir()
        let path = dir.path("old.db")
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for m in Schema.migrations where m.name != MessageGroup.migration {
            migrator.registerMigration(m.name) { try $0.execute(sql: m.sql) }
        }
        try migrator.migrate(queue)
        var rng = SplitMix(state: 9)
        var records: [StoredMessageRecord] = []
        try queue.write { db in
            for id in 1...3 { try db.execute(sql: "INSERT INTO nodes (id, stable_id, first_report_ns, last_report_ns) VALUES (?, ?, 0, 0)", arguments: [id, "n\(id)"]) }
            for i in 0..<300 {
                let start = Make.t0 + Int64(i / 3) * 7 * Self.second + Int64.random(in: 0..<Self.second, using: &rng)
                var rows: [UInt8] = []
                RowCodec.encode([StoredRow(kind: .virtual, proto: 6, src: 1, srcPort: 40000, dst: 2, dstPort: 443,
                                           txPackets: Int64(i), txBytes: Int64(i * 100), rxPackets: 1, rxBytes: 2)], into: &rows)
                let r = StoredMessageRecord(start: start, reporter: Int64(i % 3 + 1), digest: i == 7 ? -5 : Int64.random(in: 0..<(1 << 48), using: &rng),
                                            duration: 5 * Self.second - Int64(i), rowCount: 1, loggedMs: i % 4 == 0 ? nil : Int64(i * 10 - 500), rows: rows)
                try db.execute(sql: "INSERT INTO messages (start_ns, reporter, digest, duration_ns, row_count, rows, logged_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               arguments: [r.start, r.reporter, r.digest, r.duration, r.rowCount, Data(r.rows), r.loggedMs])
                records.append(r)
            }
        }
        try queue.close()
        let store = try FlowStore(path: path)
        #expect(try store.schemaVersion().contains(MessageGroup.migration))
        let (hasOld, stored) = try store.pool.read { db in (try db.tableExists("messages"), try FlowStore.storedMessages(db)) }
        #expect(!hasOld)
        #expect(stored == records.sorted { ($0.start, $0.reporter, $0.digest) < ($1.start, $1.reporter, $1.digest) })
    }
}

