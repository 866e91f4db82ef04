import FlowModel
import FlowQuery
import Foundation

/// `top` by endpoint and by pair over whole days from `day_sums` (schema 006, ``ClickHouseDaySums``):
/// the window's days that the planner reads from the day table come from their fills, already
/// resolved and counted; the rest of the window (hours, minutes, raw rows at its edges) is
/// resolved at query time as before. The same sums, so the same answers, byte for byte.
extension ClickHouseQueries {
    /// The days a `top` by endpoint or pair reads from `day_sums`; nil when it reads none (no
    /// whole day in the window, `--proto`, which the sums do not keep, a cluster, or
    /// `TAILFLOW_CLICKHOUSE_DAY_SUMS=off`).
    func summedDays(_ c: Context) -> [Int64]? {
        guard ClickHouseDaySums.enabled, client.url.cluster == nil, c.options.proto == nil else { return nil }
        let days = ClickHouseRollups.dayBuckets(c.options.window)
        return days.isEmpty ? nil : days
    }

    /// Runs an answer whose SQL (`sql(fills)`) reads the current fills of `days`: fills them where
    /// missing, under the node tables the rest of the answer resolves with.
    ///
    /// Resolved by kept node tables, the answer is asked again with the prelude's own when the
    /// server's differ in what they resolve (as ``Context/select(_:)`` does), with the fills of
    /// their fingerprint. Old fills are cleaned up only under node tables the prelude confirmed.
    /// - parameter rest: whether the SQL also reads rows resolved at query time (then it is sent
    ///   the kept owners, as ``Context/select(_:)`` sends them).
    /// - returns: nil when the day sums cannot answer (``ClickHouseDaySums/Unusable``: the server
    ///   refused a fill, as it does a read-only user's, or a fill was not all there when read back):
    ///   the caller then asks its answer without them, resolving the days at query time.
    func daySummed(_ c: Context, days: [Int64], rest: Bool, _ sql: ([UInt64]) -> String) throws -> Answer? {
        do {
            return try daySummedOrThrow(c, days: days, rest: rest, sql)
        } catch let error as ClickHouseDaySums.Unusable {
            if ClickHouseClient.trace { FileHandle.standardError.write(Data("tailflow: day sums not used: \(error.why)\n".utf8)) }
            return nil
        }
    }

    private func daySummedOrThrow(_ c: Context, days: [Int64], rest: Bool, _ sql: ([UInt64]) -> String) throws -> Answer {
        let sums = ClickHouseDaySums(client: client)
        let kept = store.keptFills
        // The answer with the fills an earlier question found current, asked at once, while the
        // current ones are looked up (the lookup reads every rollup row of the days: 10-14 ms of
        // server CPU for a week); kept only when they are the current ones.
        // The fills of the answer returned: the clean-up keeps them.
        var current: [UInt64] = []
        func ask(_ directory: NodeDirectory, external: [ClickHouseClient.ExternalTable]) throws -> (Answer, Bool) {
            let fp = ClickHouseDaySums.fingerprint(directory), sent = rest ? external : []
            let queries = self
            let early = kept?.fills(fp, days).map { guess in
                let text = sql(guess)
                return (guess, Background<Handed> { Handed(answer: try queries.select(text, external: sent)) })
            }
            let (fills, filled) = try sums.fills(days: days, directory: directory)
            kept?.keep(fp, days, fills)
            current = fills
            if let (guess, answer) = early, guess == fills, let handed = try? answer.value() { return (handed.answer, filled) }
            return (try select(sql(fills), external: sent), filled)
        }
        let directory: NodeDirectory
        var (answer, filled): (Answer, Bool)
        switch c.resolution {
        case .kept(let version, let kept):
            do {
                (answer, filled) = try ask(kept, external: c.externalTables)
            } catch {
                _ = try c.prelude.value()
                throw error
            }
            let read = try c.prelude.value()
            directory = read.directory
            if read.version != version, !Context.resolvesAlike(kept, read.directory) {
                let again = try ask(read.directory, external: [Context.ownersTable(read.directory)])
                answer = again.0
                filled = filled || again.1
            }
        case .tables, .constants:
            // The prelude is read (a question with node filters), or is waited for: the fills'
            // fingerprint needs the node tables.
            directory = try c.prelude.value().directory
            (answer, filled) = try ask(directory, external: [])
        }
        if filled { sums.cleanUp(keeping: ClickHouseDaySums.fingerprint(directory), current: current) }
        return answer
    }

    /// An answer handed from the thread that asked it (read by one thread, after the other is done).
    struct Handed: @unchecked Sendable {
        let answer: Answer
    }

    /// `FROM day_sums WHERE …`: the rows of `level` (0 pairs, 1 endpoints) of `fills` under the
    /// question's `--kind`, and on pair rows its `--endpoint`, `--tag` and `--user` (either end).
    static func daySumsRows(_ c: Context, _ fills: [UInt64], level: Int) -> String {
        let ids = fills.filter { $0 != 0 }
        let kinds = c.options.candidateKinds.map { String($0.rawValue) }.sorted().joined(separator: ", ")
        var conditions = ["fill IN (\(ids.isEmpty ? "0" : ids.map(String.init).joined(separator: ", ")))", "level = \(level)",
                          "kind IN (\(kinds.isEmpty ? "254" : kinds))"]
        if let e = c.endpoint {
            let q = ClickHouseClient.quote(e)
            conditions.append("(a = \(q) OR b = \(q))")
        }
        if let t = c.tagged {
            let set = t.isEmpty ? ClickHouseClient.quote(unseen) : t.map(ClickHouseClient.quote).joined(separator: ", ")
            conditions.append("(a IN (\(set)) OR b IN (\(set)))")
        }
        return "FROM day_sums WHERE " + conditions.joined(separator: " AND ")
    }

    /// The day sums as `top`'s observations of endpoints, `s` = (endpoint, sent bytes, received
    /// bytes, sent packets, received packets, traffic between `*` and `*`, between `*` and another):
    /// the endpoint rows without node filters, each pair row twice with them.
    static func daySumsEndpoints(_ c: Context, _ fills: [UInt64]) -> String {
        if c.endpoint == nil && c.tagged == nil {
            return """
                SELECT (a, ab_bytes, ba_bytes, ab_packets, ba_packets, toUInt8(bitAnd(star, 1)), toUInt8(bitAnd(star, 2) != 0)) AS s
                \(daySumsRows(c, fills, level: 1))
                """
        }
        return """
            SELECT (ab_bytes != 0 OR ab_packets != 0 OR ba_bytes != 0 OR ba_packets != 0) AS traffic,
                   toUInt8(traffic AND a = '*' AND b = '*') AS ss, toUInt8(traffic AND ((a = '*') != (b = '*'))) AS so,
                   arrayJoin([(a, ab_bytes, ba_bytes, ab_packets, ba_packets, ss, so), (b, ba_bytes, ab_bytes, ba_packets, ab_packets, ss, so)]) AS s
            \(daySumsRows(c, fills, level: 0))
            """
    }

    /// The day sums as `top --by pair`'s rows: `a, b, abB, baB, abP, baP`.
    static func daySumsPairs(_ c: Context, _ fills: [UInt64]) -> String {
        """
        SELECT a, b, ab_bytes AS abB, ba_bytes AS baB, ab_packets AS abP, ba_packets AS baP
        \(daySumsRows(c, fills, level: 0))
        """
    }
}
