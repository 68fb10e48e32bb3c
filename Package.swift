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
        // Depends on both executables so that building it builds the binaries it runs.
        .executableTarget(name: "hopper-bench", dependencies: ["HopperCore", "hopper", "hopper-bench-probe"]),
        // The latency probe: prints its CLOCK_MONOTONIC start time (C, no shell, no runtime start-up).
        .executableTarget(name: "hopper-bench-probe"),
        // Depends on the executable so `swift test` builds it: integration tests run the real binary.
        .testTarget(name: "HopperCoreTests", dependencies: ["HopperCore", "hopper"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
