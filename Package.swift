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
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Checkpoint", targets: ["Checkpoint"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "ImageEncoder", targets: ["ImageEncoder"]),
        .library(name: "PromptEncoder", targets: ["PromptEncoder"]),
        .library(name: "MaskDecoder", targets: ["MaskDecoder"]),
        .library(name: "Preprocess", targets: ["Preprocess"]),
        .library(name: "MedSAMMetrics", targets: ["MedSAMMetrics"]),
        .library(name: "MedSAM", targets: ["MedSAM"]),
        .library(name: "MedicalIO", targets: ["MedicalIO"]),
        // The logic of the `medsam` command line (the executable and `medsam serve` live in Apps/).
        .library(name: "MedSAMTools", targets: ["MedSAMTools"]),
        // Test helpers (fixtures, goldens, the cached checkpoint) for this package's and Apps/' tests.
        .library(name: "TestSupport", targets: ["TestSupport"]),
    ],
    dependencies: [
        // The library's only dependency is ZIPFoundation (plus the DocC command plugin). The `medsam` executable and
        // its web server (Hummingbird, ArgumentParser) are the separate package Apps/, which depends on this one by path.
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // DocC (`swift package generate-documentation --target MedSAM`); a command plugin, never built into the library.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: blasTargets + [
        // The package's own C kernels (one file per family); only Tensor imports them (Sources/Tensor/Kernels.swift).
        .target(name: "CKernels", path: "Sources/CKernels"),
        // Image, Box, Point and intensity windows: value types shared by the models and MedicalIO (no BLAS).
        .target(name: "Imaging"),
        .target(name: "Tensor", dependencies: blasDependency + ["CKernels"]),
        // Checkpoint files: torch.save zip + restricted unpickler, safetensors, StateDict, WeightSource.
        .target(name: "Checkpoint", dependencies: ["Tensor", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        // Layers and weight lookup by PyTorch key (WeightLoader/WeightScope).
        .target(name: "NN", dependencies: ["Tensor", "Checkpoint"]),
        .target(name: "ImageEncoder", dependencies: ["Tensor", "NN"]),
        .target(name: "PromptEncoder", dependencies: ["Tensor", "NN"]),
        .target(name: "MaskDecoder", dependencies: ["Tensor", "Checkpoint", "NN"]),
        .target(name: "Preprocess", dependencies: ["Imaging", "Tensor"]),
        .target(name: "MedSAMMetrics"),
        .target(
            name: "MedSAM",
            dependencies: ["Imaging", "Tensor", "Checkpoint", "NN", "ImageEncoder", "PromptEncoder", "MaskDecoder", "Preprocess", "MedSAMMetrics"]
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
                "Imaging", "CZlibIO", "CPNG", "CTurboJPEG", "CCharLS", "COpenJPEG",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // The `medsam` command-line tool's logic (testable); argument parsing and the server are in Apps/.
        .target(name: "MedSAMTools", dependencies: ["MedSAM", "MedicalIO", "MedSAMMetrics", "Imaging", "Checkpoint", "NN", "Tensor"]),
        .target(name: "TestSupport", dependencies: ["Tensor", "Checkpoint", "NN"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Checkpoint", "TestSupport"]),
        .testTarget(
            name: "ModelTests",
            dependencies: ["ImageEncoder", "PromptEncoder", "MaskDecoder", "Checkpoint", "NN", "Tensor", "TestSupport"]
        ),
        .testTarget(name: "PreprocessTests", dependencies: ["Preprocess", "Imaging", "TestSupport"]),
        .testTarget(name: "MedSAMMetricsTests", dependencies: ["MedSAMMetrics", "TestSupport"]),
        .testTarget(name: "MedicalIOTests", dependencies: ["MedicalIO", "Imaging", "TestSupport"]),
        .testTarget(name: "MedSAMTests", dependencies: ["MedSAM", "MedicalIO", "MedSAMMetrics", "TestSupport", "Imaging", "ImageEncoder", "NN", "Preprocess", "PromptEncoder", "Tensor", "Checkpoint"]),
        .testTarget(name: "ReliabilityTests", dependencies: ["MedSAM", "MedicalIO", "NN", "TestSupport", "Imaging", "ImageEncoder", "Preprocess", "PromptEncoder", "Tensor", "Checkpoint"]),
    ],
    swiftLanguageModes: [.v6]
)
