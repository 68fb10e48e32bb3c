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
        // The Swift runtime linked in (release): `hopper submit` starts in ~2.5 ms instead of
        // ~4, without loading and relocating the runtime's shared libraries on every call.
        // HOPPER_STATIC_EXECUTABLE=1 at build time links glibc in too: a call starts in about
        // half the time again (docs/performance.md), but the password and group look-ups of
        // the daemon (run_as, allowed_owners) then load the host's NSS modules (LDAP, SSSD,
        // systemd) into a static binary, which glibc supports only with the very glibc it was
        // built with. Opt-in for hosts where that holds (rebuilt with every glibc upgrade).
        .executableTarget(name: "hopper", dependencies: ["HopperCore"],
                          linkerSettings: [.unsafeFlags([Context.environment["HOPPER_STATIC_EXECUTABLE"] == "1" ? "-static-executable" : "-static-stdlib"],
                                                        .when(configuration: .release))]),
        // The benchmark (`swift run -c release hopper-bench`): figures beside same-run baselines.
        // Depends on both executables so that building it builds the binaries it runs.
        .executableTarget(name: "hopper-bench", dependencies: ["HopperCore", "hopper", "hopper-bench-probe"]),
        // The latency probe: prints its CLOCK_MONOTONIC start time (C, no shell, no runtime start-up).
        .executableTarget(name: "hopper-bench-probe"),
        // Integration tests run the real binary, which `swift test` builds with every other target
        // (`--build-tests` builds source targets too). Not a dependency: the executable's release
        // link flags would reach the test bundle's link.
        .testTarget(name: "HopperCoreTests", dependencies: ["HopperCore"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
