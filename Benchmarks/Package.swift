// swift-tools-version: 6.1
import PackageDescription

// Benchmarks for MedSAM-Swift. A separate package so the library never depends on the harness.
//
//   swift package --package-path Benchmarks benchmark          # package-benchmark suite
//   Benchmarks/compare [--threads N] [--swift-only]            # Swift vs PyTorch vs ONNX Runtime table

let package = Package(
    name: "MedSAMBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "MedSAM", path: ".."),
        // RuntimeInterposer (the ARC hooks for Swift 6.3 on Linux) is left out: its package is not
        // available offline here, and retain/release counts are not needed for these benchmarks.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/ordo-one/package-benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MedSAMBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "MedSAM", package: "MedSAM"), .product(name: "Tensor", package: "MedSAM"),
                .product(name: "Checkpoint", package: "MedSAM"), .product(name: "PromptEncoder", package: "MedSAM"),
                "BenchSupport",
            ],
            path: "Benchmarks/MedSAMBenchmarks",
            swiftSettings: [.unsafeFlags(["-Ounchecked"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // Shared inputs (real image, box, volume) for both the suite and the comparison runner.
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "MedSAM", package: "MedSAM"), .product(name: "Tensor", package: "MedSAM"),
                .product(name: "Checkpoint", package: "MedSAM"), .product(name: "PromptEncoder", package: "MedSAM"), .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Sources/BenchSupport"
        ),
        // The Swift side of Benchmarks/compare: times one model in its own process, prints JSON.
        .executableTarget(
            name: "medsam-bench",
            dependencies: [.product(name: "MedSAM", package: "MedSAM"), .product(name: "Tensor", package: "MedSAM"),
                .product(name: "Checkpoint", package: "MedSAM"), .product(name: "PromptEncoder", package: "MedSAM"), "BenchSupport"],
            path: "Sources/medsam-bench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
