// swift-tools-version: 6.1
import PackageDescription

// MedSAM-Swift: MedSAM and LiteMedSAM on the CPU, OpenBLAS for the heavy math.
// Library targets take no unsafe compiler flags, so the package can be used as a dependency.

#if canImport(Darwin)
let blasDependency: [Target.Dependency] = []
let blasTargets: [Target] = []
#else
let blasDependency: [Target.Dependency] = ["CBLAS"]
let blasTargets: [Target] = [
    .systemLibrary(
        name: "CBLAS",
        path: "Sources/CBLAS",
        pkgConfig: "openblas",
        providers: [.apt(["libopenblas-dev"])]
    )
]
#endif

let package = Package(
    name: "MedSAM",
    platforms: [.macOS(.v15), .iOS(.v18)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "ImageEncoder", targets: ["ImageEncoder"]),
        .library(name: "PromptEncoder", targets: ["PromptEncoder"]),
        .library(name: "MaskDecoder", targets: ["MaskDecoder"]),
        .library(name: "Preprocess", targets: ["Preprocess"]),
        .library(name: "MedSAMMetrics", targets: ["MedSAMMetrics"]),
        .library(name: "MedSAM", targets: ["MedSAM"]),
        .library(name: "MedicalIO", targets: ["MedicalIO"]),
        .executable(name: "medsam", targets: ["MedSAMCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Only the `medsam` executable's server (MedSAMServer) uses Hummingbird; no library product depends on it.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: blasTargets + [
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "Tensor", dependencies: blasDependency + ["CKernels"]),
        .target(
            name: "NN",
            dependencies: ["Tensor", "CKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(name: "ImageEncoder", dependencies: ["Tensor", "NN", "CKernels"]),
        .target(name: "PromptEncoder", dependencies: ["Tensor", "NN"]),
        .target(name: "MaskDecoder", dependencies: ["Tensor", "NN"]),
        .target(name: "Preprocess", dependencies: ["Tensor"]),
        .target(name: "MedSAMMetrics"),
        .target(
            name: "MedSAM",
            dependencies: ["Tensor", "NN", "ImageEncoder", "PromptEncoder", "MaskDecoder", "Preprocess", "MedSAMMetrics"]
        ),
        .systemLibrary(name: "CZlibIO", path: "Sources/CZlibIO", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev"])]
        ),
        .systemLibrary(name: "CCharLS", path: "Sources/CCharLS", pkgConfig: "charls", providers: [.apt(["libcharls-dev"])]),
        .systemLibrary(
            name: "COpenJPEG", path: "Sources/COpenJPEG", pkgConfig: "libopenjp2", providers: [.apt(["libopenjp2-7-dev"])]
        ),
        .target(
            name: "MedicalIO",
            dependencies: [
                "Preprocess", "CZlibIO", "CPNG", "CTurboJPEG", "CCharLS", "COpenJPEG",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // The `medsam` command-line tool: logic (testable) in MedSAMTools, argument parsing in MedSAMCLI.
        .target(name: "MedSAMTools", dependencies: ["MedSAM", "MedicalIO", "MedSAMMetrics"]),
        // `medsam serve`: the local web page (static files in Resources) and its JSON API, on Hummingbird.
        .target(
            name: "MedSAMServer",
            dependencies: ["MedSAMTools", "MedSAM", "MedicalIO", .product(name: "Hummingbird", package: "hummingbird")],
            resources: [.copy("Resources")]
        ),
        .executableTarget(
            name: "MedSAMCLI",
            dependencies: [
                "MedSAMTools", "MedSAMServer", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["Tensor", "NN"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"]),
        .testTarget(
            name: "ModelTests",
            dependencies: ["ImageEncoder", "PromptEncoder", "MaskDecoder", "TestSupport"]
        ),
        .testTarget(name: "PreprocessTests", dependencies: ["Preprocess", "TestSupport"]),
        .testTarget(name: "MedSAMMetricsTests", dependencies: ["MedSAMMetrics", "TestSupport"]),
        .testTarget(name: "MedicalIOTests", dependencies: ["MedicalIO", "TestSupport"]),
        .testTarget(name: "MedSAMTests", dependencies: ["MedSAM", "MedicalIO", "MedSAMMetrics", "TestSupport"]),
        // Runs the built `medsam` executable (`swift build --build-tests` and `swift test` build every product).
        .testTarget(name: "CLITests", dependencies: ["MedSAMTools", "MedSAM", "MedicalIO", "MedSAMMetrics", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["MedSAMServer", "MedSAMTools", "MedicalIO", "TestSupport"]),
        .testTarget(name: "ReliabilityTests", dependencies: ["MedSAM", "MedicalIO", "NN", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
