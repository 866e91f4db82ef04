/// Several small tables fetched in one request: each `SELECT`'s rows tagged with its name and
/// padded to the same columns (all `String`), joined by `UNION ALL` and read as TabSeparated.
///
/// ClickHouse 18.16 runs one statement per HTTP request; a question's node tables, the schema
/// check and the "any data in the window?" check are each a few rows, and asking them one by one
/// cost a round trip each (1-10 ms apiece on a loaded machine). Same-shaped rows carry them at once.
///
/// For example:
/// ```swift
/// var selects = TaggedSelects()
/// selects.add("r", ["stable_id"], "FROM reporters GROUP BY stable_id")
/// let tables = try selects.run(client)   // tables["r"]: [[stable_id], …]
/// ```
struct TaggedSelects {
    /// The data columns of every part (after the tag).
    static let width = 7

    private(set) var parts: [String] = []

    /// Adds `SELECT 'tag', columns… rest`; each column must be a `String` expression (at most ``width``).
    mutating func add(_ tag: String, _ columns: [String], _ rest: String) {
        precondition(columns.count <= Self.width, "a tagged select has at most \(Self.width) columns")
        // Constants materialized: a constant column read through a Distributed table under UNION
        // ALL is refused by ClickHouse 18.16 (code 171, "non constant in source stream").
        let padded = columns + Array(repeating: "materialize('')", count: Self.width - columns.count)
        parts.append("SELECT materialize(\(ClickHouseClient.quote(tag))) AS t, \(padded.enumerated().map { "\($1) AS c\($0)" }.joined(separator: ", "))\n\(rest)")
    }

    var sql: String { parts.joined(separator: "\nUNION ALL\n") }

    /// Runs the parts as one request: each tag's rows (without the tag, ``width`` fields each).
    func run(_ client: ClickHouseClient) throws -> [String: [[String]]] {
        guard !parts.isEmpty else { return [:] }
        var out: [String: [[String]]] = [:]
        for f in try client.rows(sql) where f.count == Self.width + 1 {
            out[f[0], default: []].append(Array(f.dropFirst()))
        }
        return out
    }
}
