/// A `--where` expression that cannot be read or answered: what is wrong, where
/// (a 1-based column and a width in the expression), and the closest valid word when
/// one is near.
///
/// Its ``description`` is what the CLI prints (exit 2) and the API sends (400):
/// ```
/// --where: unknown term 'prot' at column 1; expected a term (src, dst, …); did you mean 'proto'?
///   prot = tcp
///   ^^^^
/// ```
public struct FilterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming what was expected.
    public var reason: String
    /// 1-based column of the offending text (one past the end for "end of expression").
    public var column: Int
    public var width: Int
    /// The closest valid word, when one is near.
    public var suggestion: String?
    /// The whole expression.
    public var expression: String

    /// What would have been valid there ("expected …").
    public var expected: String?

    public init(_ reason: String, column: Int, width: Int = 1, expected: String? = nil, suggestion: String? = nil, expression: String) {
        self.reason = reason
        self.expected = expected
        self.column = column
        self.width = max(1, width)
        self.suggestion = suggestion
        self.expression = expression
    }

    public var description: String { "--where: " + explanation }

    /// The message after the parameter's name: reason, column, what was expected, the
    /// closest word, then the expression with a caret under the column.
    var explanation: String {
        var head = "\(reason) at column \(column)"
        if let expected { head += "; expected \(expected)" }
        if let suggestion { head += "; did you mean '\(suggestion)'?" }
        // The expression on one line (a newline would break the caret's alignment).
        let line = String(expression.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 })
        return head + "\n  " + line + "\n  " + String(repeating: " ", count: column - 1) + String(repeating: "^", count: width)
    }

    /// As the query layer reports usage errors (exit 2, HTTP 400).
    var queryError: QueryError { QueryError("\(parameter: "where"): \(explanation)") }
}

/// Closest-word suggestions for misspellings.
enum Suggest {
    /// The candidate nearest `word` (optimal string alignment distance, case-insensitive),
    /// when it is near enough to be a likely misspelling; a unique candidate that
    /// starts with `word` also counts.
    static func closest(_ word: String, among candidates: some Sequence<String>) -> String? {
        let w = Array(word.lowercased())
        guard !w.isEmpty else { return nil }
        var best: (String, Int)? = nil
        var prefixed: [String] = []
        for c in candidates {
            let lc = Array(c.lowercased())
            if lc == w { return c }
            if w.count >= 2, lc.starts(with: w) { prefixed.append(c) }
            let d = distance(w, lc)
            if d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        if let (c, d) = best, d <= max(1, min(2, w.count / 3 + 1)), d < w.count { return c }
        if prefixed.count == 1 { return prefixed[0] }
        return nil
    }

    /// Levenshtein distance with adjacent transpositions counting one (`tpc` → `tcp`).
    static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev2 = [Int](repeating: 0, count: b.count + 1)
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { cur[j] = min(cur[j], prev2[j - 2] + 1) }
            }
            (prev2, prev, cur) = (prev, cur, prev2)
        }
        return prev[b.count]
    }
}
