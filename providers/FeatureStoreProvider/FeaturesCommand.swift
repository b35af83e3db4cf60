import ArgumentParser
import FeatureStore
import Foundation
import MLInfraCore
import ServerCommands

/// `mlinfra features …`: the feature store's data plane from the command line.
public struct FeaturesCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Training data, materialization, online lookups and the HTTP feature server.",
        subcommands: [Historical.self, Materialize.self, MaterializeIncremental.self, Get.self, Serve.self]
    )

    public init() {}

    /// Options every `features` subcommand takes.
    public struct StoreOptions: ParsableArguments {
        @OptionGroup public var location: EngineDirectoryOptions

        /// The data directory: --data-dir, else the spec's providers.local.data_dir, else .mlinfra.
        public var dataDir: String { location.dataDir }

        @Option(name: .long, help: "The feature store's name (default: the only store in DATA_DIR/features, or main).")
        public var store: String?

        public init() {}

        /// The storage and online settings of the spec's `feature_store` (variables from
        /// `MLINFRA_VAR_*`), so a machine that did not apply reaches a shared store; nil when the
        /// spec has none, and then the store's directory says.
        func settings(store name: String?) throws -> (name: String, storage: CatalogSetting, online: OnlineStoreSetting)? {
            guard let found = EngineDataDirectory.settings(
                ofResource: "feature_store", named: name, keys: ["storage", "online"], specPath: location.specPath)
            else { return nil }
            guard !found.incomplete else {
                throw Failure(
                    description: "cannot tell where \(found.address) keeps its definitions and values: its storage or online uses a variable "
                        + "that is not set; set it (MLINFRA_VAR_NAME=…), or fix the spec")
            }
            do {
                return (found.name, try Convert.storage(found.config["storage"]), try Convert.online(found.config["online"], store: found.name))
            } catch let problem as Convert.Problem {
                throw Failure(description: "\(found.address): \(problem)")
            }
        }

        /// Opens the chosen store: one `apply` created here, or one whose definitions the spec keeps in PostgreSQL.
        func open() throws -> LocalFeatureStore {
            let base = URL(fileURLWithPath: dataDir).appendingPathComponent("features").path
            let local = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).filter {
                FileManager.default.fileExists(atPath: base + "/" + $0 + "/store.sqlite")
            }.sorted()
            if store == nil, local.count > 1 {
                throw Failure(description: "several feature stores in \(base) (\(local.joined(separator: ", "))); choose one with --store")
            }
            if let name = store ?? local.first, FileManager.default.fileExists(atPath: base + "/" + name + "/store.sqlite") {
                // Opened here before: the directory keeps where its definitions and values are.
                return try run { try LocalFeatureStore(directory: base + "/" + name) }
            }
            // Not here: a store whose spec keeps its definitions in PostgreSQL needs no apply on this machine.
            let fromSpec = try settings(store: store)
            let name = store ?? fromSpec?.name ?? "main"
            guard let fromSpec, case .postgres = fromSpec.storage else {
                throw Failure(
                    description: "no feature store '\(name)' in \(base); run `mlinfra apply` first, or pass --data-dir / --store "
                        + "(a store whose spec keeps its definitions in PostgreSQL, storage: { postgres: … }, needs no apply here)")
            }
            return try run { try LocalFeatureStore(directory: base + "/" + name, online: fromSpec.online, storage: fromSpec.storage) }
        }
    }

    /// Parses START/END arguments: ISO-8601, epoch seconds, or `now`.
    static func time(_ text: String, _ name: String) throws -> Int64 {
        if text == "now" { return Timestamp.now() }
        guard let t = Timestamp.parse(text) else {
            throw CommandFailure("\(name) '\(text)' is not a time; write ISO-8601 (2024-01-31T00:00:00Z), a date, epoch seconds or now")
        }
        return t
    }

    static func references(_ list: String?) throws -> [FeatureReference]? {
        guard let list else { return nil }
        do {
            return try FeatureReference.parseList(list.split(separator: ",").map(String.init))
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// A failure of the command's work (not of its arguments): printed as one line, without usage.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs a long store operation the way `run` does, with a progress bar on the terminal that is
    /// cleared once the operation has succeeded.
    static func runWithProgress<T>(_ body: ((@Sendable (_ phase: String, _ fraction: Double) -> Void)?) throws -> T) throws -> T {
        let progress = TerminalProgress()
        let result = try run { try body(progress.handler) }
        progress.finish()
        return result
    }

    /// A comma-separated option's items (`--views a,b`); nil when it was not given.
    static func list(_ text: String?) -> [String]? {
        text.map { $0.split(separator: ",").map(String.init) }
    }

    /// Runs engine work, turning engine errors into one clear line.
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as FeatureStoreError {
            throw Failure(description: error.description)
        }
    }

    public struct Historical: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Join features onto an entity file, point-in-time correct, and write CSV or JSON lines.")

        @OptionGroup public var options: StoreOptions
        @Option(help: "CSV file of entity rows: join keys and an event-time column.") public var entities: String
        @Option(help: "Features as VIEW:FEATURE,VIEW:FEATURE.") public var features: String?
        @Option(help: "A feature service instead of --features.") public var service: String?
        @Option(help: "Output file.") public var out: String
        @Option(help: "csv or jsonl.") public var format: String = "csv"
        @Option(help: "The entity file's event-time column.") public var timestampColumn: String = "event_timestamp"
        @Flag(help: "Name columns VIEW__FEATURE.") public var fullFeatureNames = false

        public init() {}

        public func validate() throws {
            guard (features == nil) != (service == nil) else { throw ValidationError("give either --features or --service") }
            guard HistoricalFormat(rawValue: format) != nil else { throw ValidationError("--format must be csv or jsonl") }
        }

        public func run() throws {
            let store = try options.open()
            let started = Date()
            let summary = try FeaturesCommand.runWithProgress { progress in
                let refs = try store.definitions().resolve(features: try FeaturesCommand.references(features), service: service)
                return try store.historical(
                    HistoricalRequest(
                        entitiesPath: entities, features: refs, fullFeatureNames: fullFeatureNames,
                        timestampColumn: timestampColumn, outputPath: out, format: HistoricalFormat(rawValue: format)!),
                    progress: progress)
            }
            let matched = summary.matched.keys.sorted().map { "\($0): \(summary.matched[$0]!) matched" }.joined(separator: ", ")
            print(
                "Wrote \(summary.entityRows) rows × \(summary.columns.count) columns to \(out) "
                    + "(\(summary.featureRows) feature rows read; \(matched)) in \(String(format: "%.2f", Date().timeIntervalSince(started)))s")
        }
    }

    public struct Materialize: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Load the latest row per entity with START ≤ event time ≤ END into the online store.")

        @OptionGroup public var options: StoreOptions
        @Argument(help: "Window start (ISO-8601, epoch seconds or now).") public var start: String
        @Argument(help: "Window end.") public var end: String
        @Option(help: "Only these views (comma separated).") public var views: String?

        public init() {}

        public func run() throws {
            let store = try options.open()
            let s = try FeaturesCommand.time(start, "START")
            let e = try FeaturesCommand.time(end, "END")
            let summary = try FeaturesCommand.runWithProgress { progress in
                try store.materialize(start: s, end: e, views: FeaturesCommand.list(views), progress: progress)
            }
            FeaturesCommand.report(summary)
        }
    }

    public struct MaterializeIncremental: ParsableCommand {
        public static let configuration = CommandConfiguration(
            commandName: "materialize-incremental",
            abstract: "Materialize from where the last run ended (or now − ttl) up to END.")

        @OptionGroup public var options: StoreOptions
        @Argument(help: "Window end (ISO-8601, epoch seconds or now).") public var end: String
        @Option(help: "Only these views (comma separated).") public var views: String?

        public init() {}

        public func run() throws {
            let store = try options.open()
            let e = try FeaturesCommand.time(end, "END")
            let summary = try FeaturesCommand.runWithProgress { progress in
                try store.materializeIncremental(end: e, views: FeaturesCommand.list(views), progress: progress)
            }
            FeaturesCommand.report(summary)
        }
    }

    static func report(_ summary: LocalFeatureStore.MaterializeSummary) {
        if summary.views.isEmpty { print("No online feature views to materialize.") }
        for v in summary.views {
            let from = v.start <= Int64.min / 4 ? "the beginning" : Timestamp.format(v.start)
            print("\(v.view): \(from) → \(Timestamp.format(v.end)): \(v.entities) entities, \(v.written) online rows written")
        }
    }

    public struct Get: ParsableCommand {
        public static let configuration = CommandConfiguration(abstract: "Read online features for one or more entities.")

        @OptionGroup public var options: StoreOptions
        @Option(help: "KEY=VALUE; repeat for several keys, or comma-separate values for several entities.")
        public var entity: [String] = []
        @Option(help: "Features as VIEW:FEATURE,VIEW:FEATURE.") public var features: String?
        @Option(help: "A feature service instead of --features.") public var service: String?
        @Option(help: "human or json (Feast's response shape).") public var format: String = "human"
        @Flag(help: "Name features VIEW__FEATURE.") public var fullFeatureNames = false

        public init() {}

        public func validate() throws {
            guard (features == nil) != (service == nil) else { throw ValidationError("give either --features or --service") }
            guard !entity.isEmpty else { throw ValidationError("give at least one --entity KEY=VALUE") }
            guard ["human", "json"].contains(format) else { throw ValidationError("--format must be human or json") }
        }

        public func run() throws {
            var names: [String] = []
            var columns: [String: [FeatureValue]] = [:]
            for item in entity {
                guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                    throw CommandFailure("--entity '\(item)' must be KEY=VALUE")
                }
                let key = String(item[..<eq])
                let values = item[item.index(after: eq)...].split(separator: ",").map { text -> FeatureValue in
                    Int64(text).map { .int($0) } ?? .string(String(text))
                }
                if columns[key] == nil { names.append(key) }
                columns[key, default: []] += values
            }
            let store = try options.open()
            let response = try FeaturesCommand.run {
                try store.onlineFeatures(
                    features: try FeaturesCommand.references(features), service: service,
                    entities: EntityKeys(names: names, columns: columns), fullFeatureNames: fullFeatureNames)
            }
            if format == "json" {
                print(OnlineJSON.encode(response))
                return
            }
            let rows = response.columns.first?.values.count ?? 0
            for r in 0..<rows {
                if r > 0 { print("") }
                let width = response.featureNames.map(\.count).max() ?? 0
                for (name, col) in zip(response.featureNames, response.columns) {
                    let pad = name.padding(toLength: width, withPad: " ", startingAt: 0)
                    let ts = col.eventTimestamps[r] == 0 ? "" : "  (\(Timestamp.format(col.eventTimestamps[r])))"
                    let status = col.statuses[r] == .present ? "" : "  \(col.statuses[r].rawValue)"
                    print("\(pad)  \(col.values[r].jsonText)\(status)\(ts)")
                }
            }
        }
    }

    public struct Serve: AsyncParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Serve POST /get-online-features (Feast's JSON) on 127.0.0.1.")

        @OptionGroup public var options: StoreOptions
        @OptionGroup var server: ServerOptions
        @Option(help: "Port to listen on (0 picks a free one).") public var port: Int = 6566
        @Option(help: "Address to bind.") public var host: String = "127.0.0.1"
        @Option(help: "Threads answering requests (event loops); default one per core.") public var eventLoops: Int?

        public init() {}

        public func validate() throws {
            if let eventLoops, eventLoops < 1 {
                throw ValidationError("--event-loops must be at least 1 (got \(eventLoops)); leave it out for one per core.")
            }
        }

        public func run() async throws {
            let store = try options.open()
            // Definitions applied elsewhere reach this server within a second.
            store.followSharedDefinitions()
            var server = FeatureServer(
                store: store, policy: try self.server.policy(server: "features", dataDirectory: URL(fileURLWithPath: options.dataDir)))
            server.eventLoops = eventLoops
            let host = self.host, scheme = self.server.scheme
            try await server.run(host: host, port: port) { bound in
                print("Feature server listening on \(scheme)://\(host):\(bound)/get-online-features")
                fflush(nil)
            }
        }
    }
}
