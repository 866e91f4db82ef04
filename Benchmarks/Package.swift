// swift-tools-version:6.1
import PackageDescription

// tailflow's benchmarks, a package of their own (as SwiftNIO keeps them), so
// the main package does not depend on the benchmark harness.
// Run: swift package benchmark            (from this folder)
//      swift package benchmark baseline check --check-absolute-path Thresholds
let package = Package(
    name: "tailflow-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "tailflow", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FlowIngest", package: "tailflow"),
                .product(name: "FlowStore", package: "tailflow"),
                .product(name: "FlowGenerate", package: "tailflow"),
            ],
            path: "Benchmarks/IngestBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "QueryBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FlowIngest", package: "tailflow"),
                .product(name: "FlowQuery", package: "tailflow"),
                .product(name: "FlowStore", package: "tailflow"),
                .product(name: "FlowGenerate", package: "tailflow"),
            ],
            path: "Benchmarks/QueryBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
