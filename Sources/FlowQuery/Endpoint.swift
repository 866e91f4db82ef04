/// One end of an edge: a node, a bare IP address, or `*` (an address removed by anonymisation).
///
/// Compact on purpose (it is a dictionary key on every query's hot path):
/// a node is its negated `nodes.id`, an address its `addresses.id`, and `*` is 0.
package struct Endpoint: Hashable, Sendable {
    package let raw: Int64

    package static let star = Endpoint(raw: 0)

    /// A well-formed address that no flow or node has: it matches nothing.
    package static let unseen = Endpoint(raw: .max)

    package static func node(_ id: Int64) -> Endpoint { Endpoint(raw: -id) }

    package static func address(_ id: Int64) -> Endpoint { Endpoint(raw: id) }

    package var nodeID: Int64? { raw < 0 ? -raw : nil }

    package var addressID: Int64? { raw > 0 ? raw : nil }
}
