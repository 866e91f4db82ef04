import FlowGenerate
import FlowIngest
import FlowModel
import FlowQuery
import FlowStore
import Foundation

/// A small generated tailnet (12 nodes, 3 hours) whose first node is named like an attack and
/// whose second carries tags with quotes: stored once for the whole test target.
final class WebFixture: @unchecked Sendable {
    static let hostileName = "<script>alert(1)</script>"
    static let hostileTag = "tag:\"quoted\"'single'&<b>"
    static let shared: WebFixture? = {
        do { return try WebFixture() } catch {
            print("WebFixture: \(error)")
            return nil
        }
    }()

    let dir: URL
    let store: FlowStore
    let engine: QueryEngine
    let start = Timestamp.parseRFC3339("2026-11-01T22:00:00Z")!
    let hour: Int64 = 3_600_000_000_000

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tailflow-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = try FlowStore(path: dir.appendingPathComponent("web.db").path)
        var config = GeneratorConfig(start: start, duration: 3 * hour)
        config.nodes = 12
        config.rate = 0.5
        config.seed = 11
        let generator = FlowLogGenerator(config)
        var bytes: [UInt8] = []
        _ = try generator.write(container: .jsonl, gzip: false) { bytes.append(contentsOf: $0) }
        let summary = try Ingester(store: store).ingest(bytes: bytes, source: "generated")
        precondition(summary.rejected == 0 && summary.storedRows > 100)
        // Later than every message, so these names win.
        var devices = try DeviceList.parse(generator.deviceList(), source: "devices")
        devices[0].name = Self.hostileName
        devices[1].tags = [Self.hostileTag]
        devices[1].user = nil
        try store.importNodes(devices, at: start + 24 * hour)
        engine = QueryEngine(store: store)
    }

    var window: TimeWindow { TimeWindow(from: start, to: start + 3 * hour) }

    deinit { try? FileManager.default.removeItem(at: dir) }
}
