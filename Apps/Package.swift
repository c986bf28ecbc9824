// swift-tools-version: 6.1
import PackageDescription

// The `medsam` command-line tool and `medsam serve` (the local web page on Hummingbird), as a package of their
// own beside the library, so that an app depending on the MedSAM library resolves no web framework and no
// argument parser. Depends on the library by path.
//
//   swift build -c release --package-path Apps --product medsam      # → Apps/.build/release/medsam

let root: [Target.Dependency] = [
    .product(name: "MedSAM", package: "MedSAM"), .product(name: "MedSAMTools", package: "MedSAM"),
    .product(name: "MedicalIO", package: "MedSAM"), .product(name: "Imaging", package: "MedSAM"),
    .product(name: "Tensor", package: "MedSAM"),
]
let testRoot: [Target.Dependency] = root + [
    .product(name: "TestSupport", package: "MedSAM"), .product(name: "MedSAMMetrics", package: "MedSAM"),
    .product(name: "Checkpoint", package: "MedSAM"), .product(name: "NN", package: "MedSAM"),
    .product(name: "ImageEncoder", package: "MedSAM"), .product(name: "PromptEncoder", package: "MedSAM"),
    .product(name: "Preprocess", package: "MedSAM"),
]

let package = Package(
    name: "MedSAMApps",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "medsam", targets: ["MedSAMCLI"]),
    ],
    dependencies: [
        .package(name: "MedSAM", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
    ],
    targets: [
        // `medsam serve`: the local web page (static files in Resources) and its JSON API, on Hummingbird.
        .target(
            name: "MedSAMServer",
            dependencies: root + [.product(name: "Hummingbird", package: "hummingbird")],
            resources: [.copy("Resources")]
        ),
        // Argument parsing only; the logic is the library's MedSAMTools.
        .executableTarget(
            name: "MedSAMCLI",
            dependencies: root + ["MedSAMServer", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Runs the built `medsam` executable (`swift build --build-tests` builds every product).
        .testTarget(name: "CLITests", dependencies: testRoot),
        .testTarget(name: "ServerTests", dependencies: testRoot + ["MedSAMServer"]),
        // A model variant defined outside the library, through its public API only.
        .testTarget(name: "OutsideVariantTests", dependencies: testRoot + ["MedSAMServer"]),
    ],
    swiftLanguageModes: [.v6]
)
