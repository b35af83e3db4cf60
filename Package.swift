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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Spec, graph, state, plan, apply and the provider protocol; imports no engine or provider.
        .target(
            name: "MLInfraCore",
            dependencies: [
                "CYAML",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
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
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
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
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
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
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["README.md"]
        ),
        // The registry's HTTP API, native and the MLflow model-registry REST subset.
        .target(
            name: "ModelRegistryHTTP",
            dependencies: ["ModelRegistry", "MLInfraJSON", "MLInfraHTTP", .product(name: "Hummingbird", package: "hummingbird")],
            exclude: ["README.md"]
        ),
        // Feature store: definitions, point-in-time joins, materialization, online store, Feast-compatible server.
        .target(
            name: "FeatureStore",
            dependencies: [
                "EngineStorage", "EnginePostgres", "EngineCSV", "CHiredis",
                "MLInfraJSON", "MLInfraHTTP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
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
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),
        // What every server enforces before a route: Host names, body media types and size, bearer
        // tokens, header and body timeouts, a connection limit. Shared by the engines' servers.
        .target(
            name: "MLInfraHTTP",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // What the engines' SQLite stores share: schema migrations that several processes may start at once.
        .target(name: "EngineStorage", dependencies: [.product(name: "GRDB", package: "GRDB.swift")]),
        // What the engines' PostgreSQL stores share: the URL that never shows its password, blocking
        // calls for synchronous engine APIs, numbered schema migrations.
        .target(
            name: "EnginePostgres",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"]
        ),
        // Captured traffic: the store protocol the serving engine writes and the drift monitor reads (SQLite, PostgreSQL).
        .target(
            name: "CaptureStorage",
            dependencies: [
                "EngineStorage", "EnginePostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
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
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["README.md"]
        ),
        // Drift monitor: statistics, reference profiles, cron schedules, alerts, reports.
        .target(
            name: "DriftMonitor",
            dependencies: [
                "EngineStorage", "EngineCSV", "CaptureStorage", "EnginePostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["README.md"]
        ),

        // Providers: each wraps one engine behind the Provider protocol, with its engine commands.
        // The flags every `serve` command shares and `mlinfra tokens`.
        .target(
            name: "ServerCommands",
            dependencies: ["MLInfraHTTP", "MLInfraCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "providers/ServerCommands"
        ),
        .target(
            name: "RegistryProvider",
            dependencies: [
                "ModelRegistry", "ModelRegistryHTTP", "MLInfraCore", "ServerCommands", "EnginePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "providers/RegistryProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "FeatureStoreProvider",
            dependencies: ["FeatureStore", "EnginePostgres", "MLInfraCore", "ServerCommands", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "providers/FeatureStoreProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "VectorProvider",
            dependencies: [
                "VectorIndex", "MLInfraJSON", "MLInfraCore", "MLInfraPostgresState", "ServerCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "providers/VectorProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "ServingProvider",
            dependencies: [
                "ModelServing", "ModelRegistry", "FeatureStore", "CaptureStorage", "MLInfraCore", "EnginePostgres", "ServerCommands",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "providers/ServingProvider",
            exclude: ["README.md"]
        ),
        .target(
            name: "MonitoringProvider",
            dependencies: [
                "DriftMonitor", "CaptureStorage", "EnginePostgres", "MLInfraCore", "ServerCommands", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "providers/MonitoringProvider"
        ),

        // Benchmarks (outside the test run).
        .executableTarget(name: "drift-bench", dependencies: ["DriftMonitor"], path: "bench/drift/DriftBench"),
        .executableTarget(name: "metrics-bench", dependencies: ["DriftMonitor"], path: "bench/performance/MetricsBench"),
        .executableTarget(
            name: "VectorBench",
            dependencies: [
                "VectorIndex", "MLInfraJSON", "MLInfraTesting", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/vectors",
            exclude: ["run.sh", "pgvector.sh", "peer_cpu.py", "psycopg_query.py"]),
        .executableTarget(name: "fsbench", dependencies: ["FeatureStore"], path: "bench/features/Sources/fsbench"),
        .executableTarget(name: "StateBench", dependencies: ["MLInfraCore"], path: "bench/state", exclude: ["run.sh"]),
        .executableTarget(name: "YAMLLoaderBench", dependencies: ["MLInfraCore"], path: "bench/yaml", exclude: ["libyaml_events.c", "pyyaml_peer.py"]),
        .executableTarget(name: "registry-bench", dependencies: ["ModelRegistry", "EnginePostgres"], path: "bench/registry", exclude: ["run.sh", "run-postgres.sh"]),

        .testTarget(
            name: "MLInfraHTTPTests",
            dependencies: ["MLInfraHTTP", "HTTPTesting", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        // Test only: a client that writes HTTP byte for byte (any Host, any Content-Type, a dripped head).
        .target(name: "HTTPTesting", dependencies: ["MLInfraTesting"], path: "Tests/HTTPTesting"),
        .testTarget(name: "MLInfraCoreTests", dependencies: ["MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting"], exclude: ["State/testdata"]),
        .testTarget(
            name: "MLInfraCLITests", dependencies: ["MLInfraCLI", "MLInfraTesting", .product(name: "Crypto", package: "swift-crypto")], exclude: ["golden"]),
        .testTarget(
            name: "MLInfraPostgresStateTests",
            dependencies: [
                "MLInfraPostgresState", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting", "HTTPTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // Test only: a second process registering versions concurrently.
        // A registry in a temporary directory, shared by the registry's test suites.
        .target(
            name: "ModelRegistryTesting",
            dependencies: [
                "ModelRegistry", "EnginePostgres", "MLInfraTesting", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/ModelRegistryTesting"),
        .executableTarget(name: "ModelRegistryWorker", dependencies: ["ModelRegistry", "EnginePostgres"], path: "Tests/ModelRegistryWorker"),
        .testTarget(
            name: "ModelRegistryTests",
            dependencies: [
                "ModelRegistry", "ModelRegistryTesting", "ModelRegistryWorker", "EnginePostgres", "MLInfraTesting",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "ModelRegistryHTTPTests",
            dependencies: [
                "ModelRegistry", "ModelRegistryHTTP", "ModelRegistryTesting", "MLInfraHTTP", "HTTPTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(name: "RegistryProviderTests", dependencies: ["RegistryProvider", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting"]),
        .testTarget(
            name: "FeatureStoreTests",
            dependencies: ["FeatureStore", "EngineCSV", "MLInfraJSON", "MLInfraTesting", "MLInfraHTTP", "HTTPTesting", .product(name: "HummingbirdTesting", package: "hummingbird")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "FeatureStoreProviderTests", dependencies: ["FeatureStoreProvider", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting", "HTTPTesting"]),
        .testTarget(
            name: "VectorIndexTests",
            dependencies: [
                "VectorIndex", "MLInfraJSON", "MLInfraTesting", "MLInfraHTTP", "HTTPTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "VectorProviderTests",
            dependencies: [
                "VectorProvider", "VectorIndex", "MLInfraJSON", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ModelServingTests",
            dependencies: [
                "ModelServing", "CaptureStorage", "DriftMonitor", "ModelRegistry", "FeatureStore", "MLInfraHTTP", "HTTPTesting", "MLInfraTesting",
                "EnginePostgres", "ServingProvider",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ServingProviderTests",
            dependencies: [
                "ServingProvider", "ModelServing", "CaptureStorage", "ModelRegistry", "EnginePostgres", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting",
                "HTTPTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "DriftMonitorTests",
            dependencies: [
                "DriftMonitor", "CaptureStorage", "EnginePostgres",
                "MLInfraTesting", "HTTPTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures/make_fixtures.py"],
            resources: [.copy("Fixtures/drift_fixtures.json")]
        ),
        // The capture contract: written by the serving engine, read by the drift monitor, on every store.
        .testTarget(
            name: "CaptureStorageTests",
            dependencies: ["CaptureStorage", "ModelServing", "DriftMonitor", "MLInfraTesting", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "MonitoringProviderTests", dependencies: ["MonitoringProvider", "DriftMonitor", "EnginePostgres", "MLInfraCore", "MLInfraTesting", "MLInfraCoreTesting"]),
    ]
)
