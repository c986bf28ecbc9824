// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for every MedSAM-Swift parser. A separate package (depends on the root by path) so
// neither CI nor library users ever build it. Build and run with `Fuzz/run.sh [seconds]`, or one target:
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld --product FuzzNPY
//   .build/release/FuzzNPY corpus/ seeds/ -max_total_time=60
let parsers = ["FuzzPickle", "FuzzTorchZip", "FuzzSafetensors", "FuzzNPY", "FuzzNPZ", "FuzzNIfTI", "FuzzDICOM", "FuzzPNG", "FuzzJPEG",
               "FuzzRLE", "FuzzJPEGLossless", "FuzzJPEGLS", "FuzzJPEG2000"]

let package = Package(
    name: "MedSAMFuzz",
    products: parsers.map { .executable(name: $0, targets: [$0]) },
    dependencies: [.package(name: "MedSAM", path: "..")],
    targets: [
        .target(name: "CLibFuzzer"),
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CLibFuzzer",
                .product(name: "Checkpoint", package: "MedSAM"), .product(name: "MedicalIO", package: "MedSAM"),
                .product(name: "Imaging", package: "MedSAM"),
            ]
        ),
    ] + parsers.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "Checkpoint", package: "MedSAM"), .product(name: "MedicalIO", package: "MedSAM"),
                           .product(name: "Imaging", package: "MedSAM")]
        )
    },
    swiftLanguageModes: [.v6]
)
