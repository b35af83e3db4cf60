import ArgumentParser
import Foundation
import MLInfraCore
import ModelRegistry
import ModelRegistryHTTP
import ServerCommands

/// `mlinfra models …`: the training side's imperative commands on the model registry.
public struct ModelsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Register, inspect and download model versions; move aliases; serve the registry's HTTP API.",
        subcommands: [
            Register.self, List.self, Show.self, Download.self, History.self, SetAlias.self, DeleteAlias.self, Serve.self,
        ])

    public init() {}
}

/// Options every `models` subcommand takes.
public struct RegistryOptions: ParsableArguments {
    @OptionGroup var location: EngineDirectoryOptions

    public init() {}

    /// `<data_dir>/registry`.
    var registryDirectory: URL { location.directory.appendingPathComponent("registry") }

    /// The registry where the spec's `registry` resource keeps it (its `storage` and `artifacts`,
    /// with variables from `MLINFRA_VAR_*`), else SQLite under the data directory.
    func open() throws -> ModelRegistry {
        let location = try RegistryStorageChoice.location(
            specPath: location.specPath, directory: registryDirectory, environment: ProcessInfo.processInfo.environment)
        return try ModelRegistry(location: location)
    }
}

public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case human
    case json
}

extension ModelsCommand {
    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a new version of a model from an artifact file.")

        @OptionGroup var options: RegistryOptions
        @Argument(help: "The model's name (created when new).") var name: String
        @Option(help: "The artifact file, or a directory (an MLflow model folder); it is hashed and copied into the registry.") var artifact: String
        @Option(name: .customLong("tag"), help: "A tag KEY=VALUE (repeatable).") var tags: [String] = []
        @Option(help: "The artifact's format: linear-json, xgboost-json, onnx, file …") var format: String = "file"
        @Option(help: "A description of the version.") var description: String = ""
        @Option(help: "Lineage: the training run id.") var runID: String?
        @Option(help: "Lineage: the training dataset.") var dataset: String?
        @Option(help: "Lineage: the code commit.") var commit: String?
        @Option(help: "Why, for the audit log.") var reason: String?
        @Flag(help: "Print the new version as JSON.") var json = false

        func validate() throws {
            for tag in tags where !tag.contains("=") || tag.hasPrefix("=") {
                throw ValidationError("--tag '\(tag)' must be KEY=VALUE, e.g. --tag dataset=fraud_2024_q1")
            }
        }

        func run() async throws {
            let registry = try options.open()
            var tagMap: [String: String] = [:]
            for tag in tags {
                let parts = tag.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                tagMap[String(parts[0])] = String(parts[1])
            }
            let file = URL(fileURLWithPath: artifact, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)).standardizedFileURL
            let version = try registry.register(
                RegistrationRequest(
                    model: name, artifact: file, format: format, description: description, tags: tagMap,
                    lineage: Lineage(runID: runID, dataset: dataset, commit: commit)),
                context: .command(reason: reason))
            if json {
                print(try RegistryViews.json(version))
            } else {
                print("Registered \(version.model) version \(version.version) (sha256 \(version.sha256), \(version.size) bytes)")
                print("  models:/\(version.model)/\(version.version)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered models with their versions and aliases.")

        @OptionGroup var options: RegistryOptions
        @Option(help: "human or json") var format: OutputFormat = .human

        func run() async throws {
            let models = try options.open().models()
            switch format {
            case .json: print(try RegistryViews.json(models))
            case .human: print(RegistryViews.modelTable(models), terminator: "")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a model (NAME), or one version (NAME/3, NAME@alias, NAME/Production).")

        @OptionGroup var options: RegistryOptions
        @Argument(help: "NAME, NAME/VERSION, NAME@ALIAS or NAME/STAGE (models:/ prefix optional).") var reference: String
        @Option(help: "human or json") var format: OutputFormat = .human

        func run() async throws {
            let registry = try options.open()
            let text = reference.hasPrefix("models:/") ? String(reference.dropFirst("models:/".count)) : reference
            if !text.contains("/") && !text.contains("@") {
                let model = try registry.requireModel(text)
                let versions = try registry.versions(of: text)
                switch format {
                case .json: print(try RegistryViews.json(ModelWithVersions(model: model, versions: versions)))
                case .human: print(RegistryViews.model(model, versions: versions), terminator: "")
                }
                return
            }
            let resolved = try registry.resolve(text)
            let version = try registry.version(resolved.name, resolved.version)!
            switch format {
            case .json: print(try RegistryViews.json(version))
            case .human: print(RegistryViews.version(version, path: resolved.artifactPath), terminator: "")
            }
        }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a version's artifact to a file (or a directory version to a new directory), after checking its sha256.")

        @OptionGroup var options: RegistryOptions
        @Argument(help: "NAME/VERSION, NAME@ALIAS or NAME/STAGE.") var reference: String
        @Option(name: [.customShort("o"), .customLong("out")], help: "Where to write it (default: NAME-vVERSION in the current directory; - for stdout).")
        var out: String?

        func run() async throws {
            let registry = try options.open()
            // `resolve` checks the sha256; both paths below stream in bounded memory.
            let resolved = try registry.resolve(reference)
            if out == "-" {
                guard resolved.kind == .file else {
                    throw CommandFailure("\(resolved.name) version \(resolved.version) is a directory; write it with --out DIR")
                }
                let input = try FileHandle(forReadingFrom: resolved.artifactPath)
                defer { try? input.close() }
                while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { FileHandle.standardOutput.write(chunk) }
                return
            }
            let path = out ?? "\(resolved.name)-v\(resolved.version)"
            let size = try registry.exportArtifact(resolved, to: URL(fileURLWithPath: path))
            FileHandle.standardError.write(Data("Wrote \(resolved.name) version \(resolved.version) to \(path) (\(size) bytes, sha256 verified)\n".utf8))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a model's audit log: who changed what, when, why, and from which plan.")

        @OptionGroup var options: RegistryOptions
        @Argument(help: "The model's name.") var name: String
        @Option(help: "human or json") var format: OutputFormat = .human

        func run() async throws {
            let registry = try options.open()
            _ = try registry.requireModel(name)
            let entries = try registry.history(of: name)
            switch format {
            case .json: print(try RegistryViews.json(entries))
            case .human: print(RegistryViews.history(entries), terminator: "")
            }
        }
    }

    struct SetAlias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-alias",
            abstract: "Point an alias at a version (protected aliases move only through `mlinfra apply`).")

        @OptionGroup var options: RegistryOptions
        @Argument(help: "The model's name.") var name: String
        @Argument(help: "The alias, e.g. staging.") var alias: String
        @Argument(help: "The version number.") var version: Int
        @Option(help: "Why, for the audit log.") var reason: String?

        func run() async throws {
            let registry = try options.open()
            let previous = try registry.setAlias(name, alias, version: version, context: .command(reason: reason))
            if let previous, previous != version {
                print("\(name)@\(alias): \(previous) → \(version)")
            } else if previous == version {
                print("\(name)@\(alias) already points to version \(version)")
            } else {
                print("\(name)@\(alias) → \(version)")
            }
        }
    }

    struct DeleteAlias: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete-alias",
            abstract: "Remove an alias (protected aliases change only through `mlinfra apply`).")

        @OptionGroup var options: RegistryOptions
        @Argument(help: "The model's name.") var name: String
        @Argument(help: "The alias, e.g. staging.") var alias: String
        @Option(help: "Why, for the audit log.") var reason: String?

        func run() async throws {
            try options.open().deleteAlias(name, alias, context: .command(reason: reason))
            print("\(name)@\(alias) removed")
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the registry's HTTP API (native, and MLflow's tracking, registry and artifact proxy) on the loopback interface.")

        @OptionGroup var options: RegistryOptions
        @OptionGroup var server: ServerOptions
        @Option(help: "The address to bind.") var host: String = "127.0.0.1"
        @Option(help: "The port (0 picks a free one).") var port: Int = 5050
        @Option(name: .customLong("source-root"), help: "A directory whose files MLflow clients may register by path (repeatable); without one, only uploaded bytes are registered.")
        var sourceRoots: [String] = []
        @Option(help: "The largest artifact upload accepted, in bytes.") var maxUploadBytes: Int = 1 << 30

        func run() async throws {
            let registry = try options.open()
            let dataDirectory = options.registryDirectory.deletingLastPathComponent()
            let server = RegistryHTTPServer(
                registry: registry, maxUploadBytes: maxUploadBytes, sourceRoots: sourceRoots.map { URL(fileURLWithPath: $0) },
                policy: try self.server.policy(server: "registry", dataDirectory: dataDirectory, maxBodyBytes: maxUploadBytes))
            let host = self.host, scheme = self.server.scheme
            try await server.run(host: host, port: port) { bound in
                let line = "Serving the model registry at \(scheme)://\(host):\(bound) (use it as MLflow's tracking URI)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        }
    }
}

struct ModelWithVersions: Encodable {
    var model: RegisteredModel
    var versions: [ModelVersion]
}
