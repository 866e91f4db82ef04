import Foundation

/// The query of a page's URL: the HTTP API's parameter names (`from`, `to`, `kind`, `proto`,
/// `endpoint`, `tag`, `user`, `metric`, `step`, `by`, `limit`, `match`, …), in the order given.
/// Links to other windows, pages and downloads are built from it by changing a few values.
package struct PageQuery: Sendable, Equatable {
    package private(set) var items: [(name: String, value: String)]

    package init(_ items: [(String, String)] = []) {
        self.items = []
        for (name, value) in items { self[name] = value }
    }

    package static func == (a: PageQuery, b: PageQuery) -> Bool {
        a.items.map(\.name) == b.items.map(\.name) && a.items.map(\.value) == b.items.map(\.value)
    }

    /// The value of a parameter; setting nil or "" removes it.
    package subscript(_ name: String) -> String? {
        get { items.first { $0.name == name }?.value }
        set {
            if let newValue, !newValue.isEmpty {
                if let i = items.firstIndex(where: { $0.name == name }) {
                    items[i].value = newValue
                } else {
                    items.append((name, newValue))
                }
            } else {
                items.removeAll { $0.name == name }
            }
        }
    }

    /// A copy with some values changed (nil removes).
    package func with(_ changes: [String: String?]) -> PageQuery {
        var copy = self
        for (name, value) in changes.sorted(by: { $0.key < $1.key }) { copy[name] = value }
        return copy
    }

    /// A copy holding only the named parameters.
    package func only(_ names: Set<String>) -> PageQuery {
        PageQuery(items.filter { names.contains($0.name) }.map { ($0.name, $0.value) })
    }

    /// The parameters as a dictionary (for ``Question``).
    package var dictionary: [String: String] {
        Dictionary(items.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    /// `a=1&b=2`, percent-encoded.
    package var encoded: String {
        items.map { Self.encode($0.name) + "=" + Self.encode($0.value) }.joined(separator: "&")
    }

    /// `path` with this query, if any.
    package func url(_ path: String) -> String {
        items.isEmpty ? path : path + "?" + encoded
    }

    static let allowed: CharacterSet = {
        var set = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        set.insert(charactersIn: ":@,")
        return set
    }()

    static let segmentAllowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:@")

    package static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// One path segment (an endpoint in `/endpoint/{E}`), percent-encoded.
    package static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: segmentAllowed) ?? ""
    }
}
