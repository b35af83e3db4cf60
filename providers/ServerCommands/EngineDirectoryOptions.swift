import ArgumentParser
import Foundation
import MLInfraCore

/// `--data-dir` and `--spec`: how every engine command (`models`, `features`, `vectors`,
/// `monitors`, `endpoints`, `agent`, `tokens`) finds the engines' files, resolved in one place
/// (`EngineDataDirectory`), so they all agree with `plan` and `apply`.
public struct EngineDirectoryOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("data-dir"),
        help: "The local engines' data directory (default: the spec's providers.local.data_dir, else .mlinfra); relative to the spec directory when --spec is given.")
    public var dataDirOption: String?

    @Option(name: .long, help: "The spec file or directory (default: the current directory when it holds YAML files): where the data directory is found.")
    public var spec: String?

    public init() {}

    public func validate() throws {
        do { _ = try EngineDataDirectory.resolve(dataDir: dataDirOption, spec: spec) } catch { throw CommandFailure("\(error)") }
    }

    /// The data directory: --data-dir, else the spec's providers.local.data_dir, else .mlinfra beside the spec.
    public var directory: URL {
        (try? EngineDataDirectory.resolve(dataDir: dataDirOption, spec: spec)) ?? URL(fileURLWithPath: EngineDataDirectory.defaultName)
    }

    /// `directory` as a path.
    public var dataDir: String { directory.path }

    /// The spec the command reads: --spec, else the current directory when it holds YAML files.
    public var specPath: String? { EngineDataDirectory.specPath(spec) }
}
