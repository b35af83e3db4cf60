// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "mlinfra",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mlinfra", targets: ["mlinfra"]),
        .library(name: "MLInfraCore", targets: ["MLInfraCore"]),
        .library(name: "MLInfraTesting", targets: ["MLInfraTesting"]),
        .library(name: "MLInfraCoreTesting", targets: ["MLInfraCoreTesting"]),
        .executable(name: "mlinfra-dev", targets: ["MLInfraDev"]),
        .executable(name: "mlinfra-test-provider", targets: ["MLInfraTestProvider"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // The executable: one Entrypoint.swift, nothing else.
        .executableTarget(name: "mlinfra", dependencies: ["MLInfraCLI"]),
        // Commands (argument parsing) and views (human / JSON / Markdown renderers); composes the built-in providers.
        .target(
            name: "MLInfraCLI",
            dependencies: [
                "MLInfraCore", "MLInfraPostgresState", "RegistryProvider", "FeatureStoreProvider", "VectorProvider", "ServingProvider",
                "MonitoringProvider", "ServerCommands",
                .argumentParser, .serviceLifecycle, .logging,
            ]
        ),
        // Spec, graph, state, plan, apply and the provider protocol; imports no engine or provider.
        .target(
            name: "MLInfraCore",
            dependencies: [
                "CYAML",
                .crypto,
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .logging,
            ],
            exclude: ["State/README.md"]
        ),
        // libyaml, wrapped the GRDB way.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // hiredis (the Redis client library), wrapped the same way, for the feature store's Redis online store.
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // For every test, engines' included: private PostgreSQL/pgvector, Redis and nginx servers, SplitMix64,
        // the manual clock. Imports no core, so engine tests do not link it.
        .target(
            name: "MLInfraTesting",
            dependencies: [
                .postgresNIO, .logging, .nioPosix,
            ],
            exclude: ["README.md"]
        ),
        // For tests of the core and what is built on it: fake providers, the in-memory state store, the conformance suites.
        .target(name: "MLInfraCoreTesting", dependencies: ["MLInfraCore"], exclude: ["README.md"]),
        // The PostgreSQL state backend (team mode): StateStore on PostgresNIO, kept out of the core.
        .target(
            name: "MLInfraPostgresState",
            dependencies: [
                "MLInfraCore", "EnginePostgres",
                .postgresNIO, .crypto, .logging, .nioCore, .nioPosix, .nioSSL,
            ],
            exclude: ["README.md"]
        ),
        // Test only: the FakeProvider served over the plugin protocol (mlinfra-test-provider); never shipped.
        .executableTarget(name: "MLInfraTestProvider", dependencies: ["MLInfraCore", "MLInfraCoreTesting"], exclude: ["README.md"]),
        // Test and benchmark only: mlinfra with the `disk` test provider built in (mlinfra-dev); never shipped.
        .executableTarget(name: "MLInfraDev", dependencies: ["MLInfraCLI", "MLInfraCoreTesting"]),

        // Engines: plain libraries, usable without the IaC layer; they never import MLInfraCore.
        // Model registry: versions, aliases, stages, audit log, content-addressed artifacts.
        .target(
            name: "ModelRegistry",
            dependencies: [
                "EngineStorage",
                "EnginePostgres",
                "MLInfraJSON",
                .postgresNIO, .nioCore, .grdb, .crypto,
            ],
            exclude: ["README.md"]
        ),
        // The registry's HTTP API, native and the MLflow model-registry REST subset.
        .target(
            name: "ModelRegistryHTTP",
            dependencies: ["ModelRegistry", "MLInfraJSON", "MLInfraHTTP", .hummingbird],
            exclude: ["README.md"]
        ),
        // Feature store: definitions, point-in-time joins, materialization, online store, Feast-compatible server.
        .target(
            name: "FeatureStore",
            dependencies: [
                "EngineStorage", "EnginePostgres", "EngineCSV", "CHiredis",
                "MLInfraJSON", "MLInfraHTTP",
                .postgresNIO, .grdb,
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .nioCore,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .nioPosix, .nioSSL, .hummingbird,
            ],
            exclude: ["README.md"]
        ),
        // Vector index: collections, HNSW and exact search, where-filters, persistence, HTTP API;
        // the same collections on PostgreSQL with pgvector (PgVectorStore).
        .target(
            name: "VectorIndex",
            dependencies: [
                "EngineStorage",
                "CVectorKernels", "MLInfraJSON", "MLInfraHTTP",
                .grdb, .hummingbird, .postgresNIO, .logging, .nioPosix,
            ],
            exclude: ["README.md"]
        ),
        // What every server enforces before a route: Host names, body media types and size, bearer
        // tokens, header and body timeouts, a connection limit. Shared by the engines' servers.
        .target(
            name: "MLInfraHTTP",
            dependencies: [
                .crypto, .nioCore,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .hummingbird,
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .nioSSL,
            ]
        ),
        // What the engines' SQLite stores share: schema migrations that several processes may start at once.
        .target(name: "EngineStorage", dependencies: [.grdb]),
        // What the engines' PostgreSQL stores share: the URL that never shows its password, blocking
        // calls for synchronous engine APIs, numbered schema migrations.
        .target(
            name: "EnginePostgres",
            dependencies: [
                .postgresNIO, .crypto, .logging, .nioCore, .nioPosix, .nioSSL,
            ],
            exclude: ["README.md"]
        ),
        // Captured traffic: the store protocol the serving engine writes and the drift monitor reads (SQLite, PostgreSQL).
        .target(
            name: "CaptureStorage",
            dependencies: [
                "EngineStorage", "EnginePostgres",
                .grdb, .postgresNIO,
            ],
            exclude: ["README.md"]
        ),
        // The JSON value the engines' HTTP APIs and filters share.
        .target(name: "MLInfraJSON"),
        // The CSV scanner the engines share: records split into fields over bytes, numbers parsed without allocating.
        .target(name: "EngineCSV", exclude: ["README.md"]),
        // AVX2 + FMA distance kernels for VectorIndex, chosen at run time (no machine-specific flags).
        .target(name: "CVectorKernels"),
        // Model serving: runtimes, replica workers, router, autoscaler, rollouts, data capture, the agent.
        .target(
            name: "ModelServing",
            dependencies: [
                "EngineStorage", "EnginePostgres", "CaptureStorage", "MLInfraJSON", "MLInfraHTTP",
                .postgresNIO, .crypto, .logging, .nioCore,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .nioPosix, .grdb, .hummingbird, .serviceLifecycle, .prometheus,
            ],
            exclude: ["README.md"]
        ),
        // Drift monitor: statistics, reference profiles, cron schedules, alerts, reports.
        .target(
            name: "DriftMonitor",
            dependencies: [
                "EngineStorage", "EngineCSV", "CaptureStorage", "EnginePostgres",
                .grdb, .postgresNIO, .crypto, .logging, .serviceLifecycle, .prometheus,
            ],
            exclude: ["README.md"]
        ),

        // Providers: each wraps one engine behind the Provider protocol, with its engine commands.
        // The flags every `serve` command shares and `mlinfra tokens`.
        .target(
            name: "ServerCommands",
            dependencies: ["MLInfraHTTP", "MLInfraCore", .argumentParser],
            path: "providers/ServerCommands"
        ),
        .target(
            name: "RegistryProvider",
            dependencies: [
                "ModelRegistry", "ModelRegistryHTTP", "MLInfraCore", "ServerCommands", "EnginePostgres",
                .argumentParser,
            ],
            path: "providers/RegistryProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "FeatureStoreProvider",
            dependencies: ["FeatureStore", "EnginePostgres", "MLInfraCore", "ServerCommands", .argumentParser],
            path: "providers/FeatureStoreProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "VectorProvider",
            dependencies: [
                "VectorIndex", "MLInfraJSON", "MLInfraCore", "MLInfraPostgresState", "ServerCommands",
                .argumentParser,
            ],
            path: "providers/VectorProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "ServingProvider",
            dependencies: [
                "ModelServing", "ModelRegistry", "FeatureStore", "CaptureStorage", "MLInfraCore", "EnginePostgres", "ServerCommands",
                .argumentParser, .hummingbird, .logging, .serviceLifecycle,
            ],
            path: "providers/ServingProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "MonitoringProvider",
            dependencies: [
                "DriftMonitor", "CaptureStorage", "EnginePostgres", "MLInfraCore", "ServerCommands", .argumentParser,
                .serviceLifecycle,
            ],
            path: "providers/MonitoringProvider"
        ),

        // Benchmarks (outside the test run).
        .executableTarget(name: "drift-bench", dependencies: ["DriftMonitor"], path: "bench/drift/DriftBench"),
        .executableTarget(name: "metrics-bench", dependencies: ["DriftMonitor"], path: "bench/performance/MetricsBench"),
        .executableTarget(
            name: "VectorBench",
            dependencies: [
                "VectorIndex", "MLInfraJSON", "MLInfraTesting", .postgresNIO,
                .nioPosix, .logging,
            ],
            path: "bench/vectors",
            exclude: ["run.sh", "pgvector.sh", "peer_cpu.py", "psycopg_query.py"]),
        .executableTarget(name: "fsbench", dependencies: ["FeatureStore"], path: "bench/features/Sources/fsbench"),
        .executableTarget(name: "StateBench", dependencies: ["MLInfraCore"], path: "bench/state", exclude: ["run.sh"]),
        .executableTarget(name: "YAMLLoaderBench", dependencies: ["MLInfraCore"], path: "bench/yaml", exclude: ["libyaml_events.c", "pyyaml_peer.py"]),
        .executableTarget(name: "registry-bench", dependencies: ["ModelRegistry", "EnginePostgres"], path: "bench/registry", exclude: ["run.sh", "run-postgres.sh"]),

        .testTarget(
            name: "MLInfraHTTPTests",
            dependencies: ["MLInfraHTTP", "HTTPTesting", .hummingbird]
        ),
        // Test only: a client that writes HTTP byte for byte (any Host, any Content-Type, a dripped head).
        .target(name: "HTTPTesting", dependencies: ["MLInfraTesting"], path: "Tests/HTTPTesting"),
        .testTarget(name: "MLInfraCoreTests", dependencies: ["MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting"], exclude: ["State/testdata"]),
        .testTarget(
            name: "MLInfraCLITests", dependencies: ["MLInfraCLI", "MLInfraTesting", .crypto], exclude: ["golden"]),
        .testTarget(
            name: "MLInfraPostgresStateTests",
            dependencies: [
                "MLInfraPostgresState", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting", "HTTPTesting",
                .postgresNIO,
            ]
        ),
        // Test only: a second process registering versions concurrently.
        // A registry in a temporary directory, shared by the registry's test suites.
        .target(
            name: "ModelRegistryTesting",
            dependencies: [
                "ModelRegistry", "EnginePostgres", "MLInfraTesting", .postgresNIO,
                .grdb,
            ],
            path: "Tests/ModelRegistryTesting"),
        .executableTarget(name: "ModelRegistryWorker", dependencies: ["ModelRegistry", "EnginePostgres"], path: "Tests/ModelRegistryWorker"),
        .testTarget(
            name: "ModelRegistryTests",
            dependencies: [
                "ModelRegistry", "ModelRegistryTesting", "ModelRegistryWorker", "EnginePostgres", "MLInfraTesting",
                .grdb, .postgresNIO,
            ]
        ),
        .testTarget(
            name: "ModelRegistryHTTPTests",
            dependencies: [
                "ModelRegistry", "ModelRegistryHTTP", "ModelRegistryTesting", "MLInfraHTTP", "HTTPTesting",
                .hummingbird, .hummingbirdTesting,
            ]
        ),
        .testTarget(name: "RegistryProviderTests", dependencies: ["RegistryProvider", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting"]),
        .testTarget(
            name: "FeatureStoreTests",
            dependencies: ["FeatureStore", "EngineCSV", "MLInfraJSON", "MLInfraTesting", "MLInfraHTTP", "HTTPTesting", .hummingbirdTesting],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "FeatureStoreProviderTests", dependencies: ["FeatureStoreProvider", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting", "HTTPTesting"]),
        .testTarget(
            name: "VectorIndexTests",
            dependencies: [
                "VectorIndex", "MLInfraJSON", "MLInfraTesting", "MLInfraHTTP", "HTTPTesting",
                .hummingbirdTesting, .postgresNIO,
                .logging,
            ]),
        .testTarget(
            name: "VectorProviderTests",
            dependencies: [
                "VectorProvider", "VectorIndex", "MLInfraJSON", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting",
                .postgresNIO, .logging,
            ]),
        .testTarget(
            name: "ModelServingTests",
            dependencies: [
                "ModelServing", "CaptureStorage", "DriftMonitor", "ModelRegistry", "FeatureStore", "MLInfraHTTP", "HTTPTesting", "MLInfraTesting",
                "EnginePostgres", "ServingProvider",
                .nioCore, .logging,
                .crypto,
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ServingProviderTests",
            dependencies: [
                "ServingProvider", "ModelServing", "CaptureStorage", "ModelRegistry", "EnginePostgres", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting",
                "HTTPTesting",
                .nioCore, .logging, .serviceLifecycle,
            ]
        ),
        .testTarget(
            name: "DriftMonitorTests",
            dependencies: [
                "DriftMonitor", "CaptureStorage", "EnginePostgres",
                "MLInfraTesting", "HTTPTesting",
                .grdb, .crypto, .logging,
            ],
            exclude: ["Fixtures/make_fixtures.py"],
            resources: [.copy("Fixtures/drift_fixtures.json")]
        ),
        // The capture contract: written by the serving engine, read by the drift monitor, on every store.
        .testTarget(
            name: "CaptureStorageTests",
            dependencies: ["CaptureStorage", "ModelServing", "DriftMonitor", "MLInfraTesting", .logging]
        ),
        .testTarget(name: "MonitoringProviderTests", dependencies: ["MonitoringProvider", "DriftMonitor", "EnginePostgres", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting"]),
    ]
)

/// The products of other packages that several targets use, each named once.
extension Target.Dependency {
    static var logging: Self { .product(name: "Logging", package: "swift-log") }
    static var postgresNIO: Self { .product(name: "PostgresNIO", package: "postgres-nio") }
    static var grdb: Self { .product(name: "GRDB", package: "GRDB.swift") }
    static var crypto: Self { .product(name: "Crypto", package: "swift-crypto") }
    static var nioCore: Self { .product(name: "NIOCore", package: "swift-nio") }
    static var hummingbird: Self { .product(name: "Hummingbird", package: "hummingbird") }
    static var nioPosix: Self { .product(name: "NIOPosix", package: "swift-nio") }
    static var argumentParser: Self { .product(name: "ArgumentParser", package: "swift-argument-parser") }
    static var serviceLifecycle: Self { .product(name: "ServiceLifecycle", package: "swift-service-lifecycle") }
    static var nioSSL: Self { .product(name: "NIOSSL", package: "swift-nio-ssl") }
    static var hummingbirdTesting: Self { .product(name: "HummingbirdTesting", package: "hummingbird") }
    static var prometheus: Self { .product(name: "Prometheus", package: "swift-prometheus") }
}
