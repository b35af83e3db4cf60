import ArgumentParser
import CaptureStorage
import DriftMonitor
import EnginePostgres
import Foundation
import MLInfraCore
import ServerCommands

/// `mlinfra monitors …`: run checks by hand, read their history, render reports.
public struct MonitorsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "monitors",
        abstract: "Drift monitors: run a check now, show history, write reports.",
        subcommands: [Run.self, History.self, Report.self, List.self])

    public init() {}
}

/// Options every monitors subcommand takes.
struct MonitorOptions: ParsableArguments {
    @OptionGroup var location: EngineDirectoryOptions
    @Option(name: .long, help: "The serving hosts' PostgreSQL control store (postgres://…), for monitors applied with control: { postgres: … }; default MLINFRA_CONTROL_URL, else the data directory.")
    var control: String?
    @Option(name: .long, help: "The control store's schema.")
    var controlSchema = MonitoringProvider.Control.defaultSchema

    /// The data directory: --data-dir, else the spec's providers.local.data_dir, else .mlinfra.
    var dataDir: String { location.dataDir }

    func engine(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DriftMonitorEngine {
        if let text = control ?? environment["MLINFRA_CONTROL_URL"] {
            let url: PostgresURL
            do { url = try PostgresURL(parsing: text) } catch {
                throw MonitorCommandError("--control: the URL \(error.what) (it is not shown, as it may hold a password); give postgres://USER:PASSWORD@HOST:PORT/DATABASE")
            }
            do {
                return DriftMonitorEngine(store: try PostgresMonitorStore(url: url, schema: controlSchema), dataDirectory: dataDir,
                                          capture: .postgres(url: text, schema: CaptureStoreLocation.defaultSchema), writesMetricsFile: false)
            } catch let e as DriftError {
                throw MonitorCommandError(e)
            }
        }
        let path = MonitoringProvider.resolve(dataDir, in: FileManager.default.currentDirectoryPath)
        guard FileManager.default.fileExists(atPath: path) else {
            throw MonitorCommandError("no data directory at \(path): apply a spec with a monitor first, or pass --data-dir (or --control URL for monitors in a PostgreSQL control store)")
        }
        return try DriftMonitorEngine(dataDirectory: path)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case human
    case json
}

/// Colour only on a terminal, never with NO_COLOR.
enum Terminal {
    static var colour: Bool { isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil }
    static func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
}

/// A failure that is not about the command line: ArgumentParser prints it without the usage text and exits 1.
struct MonitorCommandError: Error, CustomStringConvertible {
    var description: String
    init(_ error: DriftError) { description = error.description }
    init(_ message: String) { description = message }
}

extension MonitorsCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a monitor's checks now and print every statistic, threshold and verdict.")

        @OptionGroup var options: MonitorOptions
        @Argument(help: "Monitor name.") var name: String
        @Flag(help: "Run immediately (scheduled runs happen in `mlinfra agent`).") var now = false
        @Option(help: "human or json.") var format: OutputFormat = .human

        func validate() throws {
            guard now else { throw ValidationError("add --now to run the check immediately; scheduled runs happen in `mlinfra agent`") }
        }

        func run() async throws {
            let engine = try options.engine()
            let run: MonitorRun
            do {
                run = try await engine.run(name, at: Date(), trigger: .manual)
            } catch let e as DriftError {
                throw MonitorCommandError(e)
            }
            print(format == .json ? try MonitorViews.json(run) : MonitorViews.human(run))
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a monitor's runs, newest first.")

        @OptionGroup var options: MonitorOptions
        @Argument(help: "Monitor name.") var name: String
        @Option(help: "At most this many runs.") var limit = 20
        @Option(help: "human or json.") var format: OutputFormat = .human

        func run() async throws {
            let engine = try options.engine()
            do { _ = try engine.monitor(name) } catch let e as DriftError { throw MonitorCommandError(e) }
            let runs = try engine.store.runs(name, limit: limit)
            print(format == .json ? try MonitorViews.json(runs.map(MonitorViews.summary)) : MonitorViews.history(name, runs))
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the last run's report: self-contained HTML with histograms, or JSON.")

        @OptionGroup var options: MonitorOptions
        @Argument(help: "Monitor name.") var name: String
        @Option(help: "Output file (default: stdout).") var out: String?
        @Option(help: "html or json.") var format: ReportFormat = .html

        enum ReportFormat: String, ExpressibleByArgument { case html, json }

        func run() async throws {
            let engine = try options.engine()
            do { _ = try engine.monitor(name) } catch let e as DriftError { throw MonitorCommandError(e) }
            let runs = try engine.store.runs(name, limit: 50)
            guard let last = runs.first(where: { $0.report != nil }), let report = last.report else {
                throw MonitorCommandError("monitor \(name) has no successful run yet: run `mlinfra monitors run \(name) --now` first")
            }
            let text = format == .html ? ReportRenderer.html(report, history: runs) : try ReportRenderer.json(report)
            if let out {
                try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
                FileHandle.standardError.write(Data("wrote \(out) (run of \(ISO8601DateFormatter().string(from: last.time)))\n".utf8))
            } else {
                print(text)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List monitors with their schedule and last verdict.")

        @OptionGroup var options: MonitorOptions
        @Option(help: "human or json.") var format: OutputFormat = .human

        func run() async throws {
            let engine = try options.engine()
            let monitors = try engine.store.monitors()
            let rows = try monitors.map { ($0, try engine.store.lastRun($0.name)) }
            print(format == .json ? try MonitorViews.json(rows.map { MonitorViews.listing($0.0, $0.1) }) : MonitorViews.list(rows))
        }
    }
}
