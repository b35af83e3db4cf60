// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "mlinfra",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mlinfra", targets: ["mlinfra"]),
        .library(name: "MLInfraCore", targets: ["MLInfraCore"]),
        .library(name: "MLInfraTesting", targets: ["MLInfraTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The executable: one Entrypoint.swift, nothing else.
        .executableTarget(name: "mlinfra", dependencies: ["MLInfraCLI"]),
        // Commands (argument parsing) and views (human / JSON / Markdown renderers).
        .target(
            name: "MLInfraCLI",
            dependencies: [
                "MLInfraCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Spec, graph, state, plan, apply and the provider protocol; imports no engine or provider.
        .target(
            name: "MLInfraCore",
            dependencies: [
                "CYAML",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libyaml, wrapped the GRDB way.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // Fakes, the in-memory state store, a manual clock and the conformance suites, for tests.
        .target(name: "MLInfraTesting", dependencies: ["MLInfraCore"]),

        .testTarget(name: "MLInfraCoreTests", dependencies: ["MLInfraCore", "MLInfraTesting"]),
        .testTarget(name: "MLInfraCLITests", dependencies: ["MLInfraCLI", "MLInfraTesting"]),
    ]
)
