// swift-tools-version:6.1
import PackageDescription

/// The numbered migrations `schema/NNN_name.sql`, embedded into the binary.
/// Listed by name, not by reading the folder: SwiftPM caches the evaluated manifest by this file's text, so a
/// listing would go stale in a kept manifest cache (CI failed so once). Schema.swift names each file (a missing
/// one fails the build) and `everySchemaFileIsAMigration` checks the folder against it.
let migrationFiles = [
    "001_store.sql",
    "002_pull.sql",
    "003_rollup_parts.sql",
    "004_lifecycle.sql",
    "005_message_logged.sql",
    "006_changes.sql",
    "007_direction_and_labels.sql",
    "008_export_manifest.sql",
    "009_message_groups.sql",
    "010_edge_sums.sql",
    "011_coverage_hours.sql",
    "012_rollup_marks.sql",
]

/// The ClickHouse backend's numbered migrations `schema/clickhouse/NNN_name.sql` (issue 19), embedded too.
let clickhouseMigrationFiles = [
    "001_clickhouse_store.sql",
    "002_reads_and_checkpoints.sql",
    "003_rollups.sql",
    "004_sightings.sql",
    "005_client_rollups.sql",
    "006_day_sums.sql",
].map { "clickhouse/" + $0 }

/// The pages' templates and assets, embedded into the binary (`Sources/FlowWeb/Resources/*`).
let webResources = [
    "layout.mustache",
    "login.mustache",
    "page.mustache",
    "report.mustache",
    "table.mustache",
    "tailflow.css",
    "zoom.js",
].map { "Resources/" + $0 }

/// One set of settings for every target, as Hummingbird does.
let settings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "tailflow",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tailflow", targets: ["tailflow"]),
        .library(name: "FlowModel", targets: ["FlowModel"]),
        .library(name: "FlowIngest", targets: ["FlowIngest"]),
        .library(name: "FlowStore", targets: ["FlowStore"]),
        .library(name: "FlowFormat", targets: ["FlowFormat"]),
        .library(name: "FlowQuery", targets: ["FlowQuery"]),
        .library(name: "FlowGenerate", targets: ["FlowGenerate"]),
        .library(name: "FlowServer", targets: ["FlowServer"]),
        .library(name: "FlowPull", targets: ["FlowPull"]),
        .library(name: "FlowClickHouse", targets: ["FlowClickHouse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // HTTP parts as swift-http-types (what Hummingbird's channel handlers see), for the connection policy.
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // SHA-256 of an incident export's content (its manifest); already in the graph through swift-certificates.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // The schema: numbered `schema/NNN_name.sql` migrations, embedded into the binary.
        .target(
            name: "FlowSchema",
            path: "schema",
            exclude: ["README.md"],
            sources: ["Schema.swift"],
            resources: (migrationFiles + clickhouseMigrationFiles).map { .embedInCode($0) },
            swiftSettings: settings
        ),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "FlowModel", swiftSettings: settings),
        .target(
            name: "FlowStore",
            dependencies: [
                "FlowModel", "FlowSchema",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: settings
        ),
        .target(
            name: "FlowIngest",
            dependencies: ["FlowModel", "FlowStore", "CZlib", .product(name: "Logging", package: "swift-log")],
            swiftSettings: settings
        ),
        // Questions: the edge model, the planner, top/series/rollup/scope/flows.
        .target(
            name: "FlowQuery",
            dependencies: ["FlowModel", "FlowStore", "FlowFormat", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: settings
        ),
        // Reports: aligned tables, JSON, CSV and NDJSON, shared by the CLI and the server.
        .target(name: "FlowFormat", dependencies: ["FlowModel"], swiftSettings: settings),
        // Deterministic synthetic Tailscale flow logs (`tailflow generate`, benchmarks).
        .target(name: "FlowGenerate", dependencies: ["CZlib"], swiftSettings: settings),
        // `tailflow serve`: the Splunk HEC, Elasticsearch bulk and plain receivers, the query API, metrics.
        .target(
            name: "FlowServer",
            dependencies: [
                "FlowModel", "FlowIngest", "FlowStore", "FlowQuery", "FlowFormat",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // Charts as SVG: scales, ticks, units, layouts (numbers, testable) and escaped markup.
        .target(name: "FlowCharts", dependencies: ["FlowModel", "FlowFormat"], swiftSettings: settings),
        // What people look at: answers as charts and tables, the HTML report, the pages' templates
        // (embedded in the binary, so `tailflow report` works wherever the binary is copied).
        .target(
            name: "FlowWeb",
            dependencies: [
                "FlowModel", "FlowStore", "FlowQuery", "FlowFormat", "FlowCharts", "FlowServer",
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            resources: webResources.map { .embedInCode($0) },
            swiftSettings: settings
        ),
        // `tailflow pull`, `follow`, `nodes sync`: the Tailscale API client.
        .target(
            name: "FlowPull",
            dependencies: [
                "FlowModel", "FlowIngest", "FlowStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                // HTTPHeaders and status reason phrases of AsyncHTTPClient's answers.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // `--store clickhouse://…` (SPEC §12, issue 19): the store over ClickHouse's HTTP interface,
        // its schema (schema/clickhouse/), and questions answered by ClickHouse SQL.
        .target(
            name: "FlowClickHouse",
            dependencies: [
                "FlowModel", "FlowStore", "FlowSchema", "FlowQuery", "FlowFormat", "CZlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: settings
        ),
        .executableTarget(
            name: "tailflow",
            dependencies: [
                "FlowModel", "FlowIngest", "FlowStore", "FlowGenerate", "FlowFormat", "FlowQuery", "FlowServer", "FlowPull", "FlowWeb",
                "FlowClickHouse",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `serve` runs the application FlowServer builds.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings
        ),
        // Test support: a text dump of a store's content, for the test targets that compare stores.
        .target(
            name: "StoreDump",
            dependencies: ["FlowStore", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/StoreDump",
            swiftSettings: settings
        ),
        // Test support: the binary, the shared fixtures, temporary directories, processes run to
        // their end, gzip(1), synthetic input: one copy for the test targets that had each written them.
        .target(name: "TestSupport", dependencies: ["FlowModel", "FlowStore", "StoreDump"], path: "Tests/TestSupport", swiftSettings: settings),
        // A private clickhouse-server per test (own config, data dir and ports), and the answers
        // of both backends compared byte for byte through the real binary (issue 19).
        .testTarget(
            name: "FlowClickHouseTests",
            dependencies: ["TestSupport", "tailflow", "FlowClickHouse", "FlowStore", "FlowModel"],
            swiftSettings: settings
        ),
        // Test support: a second, in-memory implementation of the store protocol (FlowStorage).
        .target(
            name: "MemoryStore",
            dependencies: ["FlowStore", "FlowModel"],
            path: "Tests/MemoryStore",
            swiftSettings: settings
        ),
        .testTarget(name: "FlowModelTests", dependencies: ["FlowModel", "TestSupport"], swiftSettings: settings),
        // CZlib: the decoding-time tests gzip large inputs.
        .testTarget(name: "FlowIngestTests", dependencies: ["TestSupport", "FlowIngest", "FlowModel", "FlowStore", "CZlib"], swiftSettings: settings),
        .testTarget(
            name: "FlowStoreTests",
            dependencies: ["TestSupport", "FlowStore", "FlowIngest", "FlowModel", "FlowSchema", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: settings
        ),
        // Questions on both stores (SQLite and the in-memory one), on hand-written and generated data.
        .testTarget(
            name: "FlowQueryTests",
            dependencies: ["FlowQuery", "FlowStore", "FlowIngest", "FlowModel", "FlowGenerate", "FlowFormat", "MemoryStore", "TestSupport"],
            swiftSettings: settings
        ),
        .testTarget(
            name: "FlowPullTests",
            dependencies: [
                // CZlib: the stand-in API gzips its answers as the real one may.
                "TestSupport", "tailflow", "FlowPull", "FlowIngest", "FlowStore", "FlowModel", "FlowGenerate", "CZlib", "StoreDump",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),  // to quiet the stand-in's server log
                .product(name: "NIOCore", package: "swift-nio"),
                // AnswerStreamTests hand AnswerStream an answer body they control (HTTPClientResponse.Body).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings
        ),
        // The server in process (`app.test(.router)`, and a real loopback socket for connection limits);
        // depends on `tailflow` to compare with what the CLI stores and answers.
        .testTarget(
            name: "FlowServerTests",
            dependencies: [
                "TestSupport", "tailflow", "FlowServer", "FlowStore", "FlowModel", "StoreDump",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings
        ),
        .testTarget(name: "FlowFormatTests", dependencies: ["FlowFormat"], swiftSettings: settings),
        .testTarget(name: "FlowGenerateTests", dependencies: ["FlowGenerate", "TestSupport"], swiftSettings: settings),
        .testTarget(name: "FlowChartsTests", dependencies: ["FlowCharts", "FlowModel"], swiftSettings: settings),
        .testTarget(
            name: "FlowWebTests",
            dependencies: ["FlowWeb", "FlowCharts", "FlowQuery", "FlowStore", "FlowIngest", "FlowModel", "FlowFormat", "FlowGenerate", "TestSupport"],
            swiftSettings: settings
        ),
        // Runs the real `tailflow` binary (the CLI, and `serve` with real HTTP clients);
        // depending on it makes `swift test` build it first.
        .testTarget(
            name: "TailflowCLITests",
            dependencies: [
                "TestSupport", "tailflow", "FlowStore", "FlowModel", "StoreDump",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // The browser driver (Browser/cdp.py) runs from the source tree.
            exclude: ["Browser"],
            swiftSettings: settings
        ),
    ]
)
