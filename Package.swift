// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Hopper",
    products: [
        .executable(name: "hopper", targets: ["hopper"]),
        .executable(name: "hopper-bench", targets: ["hopper-bench"]),
        .library(name: "HopperCore", targets: ["HopperCore"]),
    ],
    targets: [
        // glibc's posix_spawn _np helpers, which the Glibc module does not expose.
        .target(name: "CHopperShim", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "HopperCore", dependencies: ["CHopperShim"]),
        .executableTarget(name: "hopper", dependencies: ["HopperCore"]),
        // The benchmark (`swift run -c release hopper-bench`): figures beside same-run baselines.
        .executableTarget(name: "hopper-bench", dependencies: ["HopperCore"]),
        // Depends on the executable so `swift test` builds it: integration tests run the real binary.
        .testTarget(name: "HopperCoreTests", dependencies: ["HopperCore", "hopper"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
