import ArgumentParser
import Foundation
import MLInfraCore
import MLInfraPostgresState

extension MLInfraCommand {
    /// `mlinfra workspace list|new|select|delete|show`: one state per environment, on any backend.
    struct WorkspaceCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "workspace", abstract: "Manage workspaces: one state per environment (staging, prod …).",
            subcommands: [List.self, Show.self, New.self, Select.self, Delete.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print the current workspace's name.")
            @OptionGroup var spec: SpecOptions

            func run() async throws {
                Console(noColor: spec.noColor).out(WorkspaceSelection.name(flag: spec.workspace, specPath: spec.spec) + "\n")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the workspaces that hold a state; * marks the current one.")
            @OptionGroup var spec: SpecOptions

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                let current = WorkspaceSelection.name(flag: spec.workspace, specPath: spec.spec)
                let names = try await Workspaces.names(spec, console: console)
                for name in Set(names + [StateBackend.defaultWorkspace, current]).sorted() {
                    console.out((name == current ? "* " : "  ") + name + "\n")
                }
            }
        }

        struct New: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a workspace with an empty state, and select it.")
            @Argument(help: "The new workspace's name.") var name: String
            @OptionGroup var spec: SpecOptions
            @OptionGroup var lock: LockOptions

            func validate() throws {
                guard StateBackend.isWorkspaceName(name) else {
                    throw ValidationError("`\(name)` is not a workspace name: use letters, digits, `-` and `_`.")
                }
            }

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                if try await Workspaces.names(spec, console: console).contains(name) || name == StateBackend.defaultWorkspace {
                    throw console.fail("workspace `\(name)` already exists; select it with `mlinfra workspace select \(name)`.")
                }
                var options = spec
                options.workspace = name
                let workspace = try await Runner.workspace(options, console: console)
                try await Runner.withLock(workspace, operation: "workspace new", timeout: lock.seconds, console: console) {
                    do { _ = try await workspace.store.write(StateFile.new()) } catch { throw console.fail("\(error)") }
                }
                try Workspaces.select(name, spec: spec, console: console)
                console.out("Created and selected workspace \"\(name)\".\n")
            }
        }

        struct Select: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Make a workspace the current one (in .mlinfra/workspace beside the spec).")
            @Argument(help: "The workspace's name.") var name: String
            @OptionGroup var spec: SpecOptions

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                let names = try await Workspaces.names(spec, console: console)
                guard name == StateBackend.defaultWorkspace || names.contains(name) else {
                    throw console.fail(
                        "there is no workspace `\(name)`." + Suggestions.didYouMean(name, in: names)
                            + " Create it with `mlinfra workspace new \(name)`.")
                }
                try Workspaces.select(name, spec: spec, console: console)
                console.out("Switched to workspace \"\(name)\".\n")
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a workspace's state (refused while it records resources, unless --force).")
            @Argument(help: "The workspace's name.") var name: String
            @Flag(name: .long, help: "Delete even though the state records resources (they are not destroyed, only forgotten).")
            var force = false
            @OptionGroup var spec: SpecOptions
            @OptionGroup var lock: LockOptions

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                guard name != StateBackend.defaultWorkspace else { throw console.fail("the default workspace cannot be deleted.") }
                let current = WorkspaceSelection.name(flag: nil, specPath: spec.spec)
                guard name != current else {
                    throw console.fail("workspace `\(name)` is the current one; select another first (`mlinfra workspace select default`).")
                }
                guard try await Workspaces.names(spec, console: console).contains(name) else {
                    throw console.fail("there is no workspace `\(name)`.")
                }
                var options = spec
                options.workspace = name
                let workspace = try await Runner.workspace(options, console: console)
                try await Runner.withLock(workspace, operation: "workspace delete", timeout: lock.seconds, console: console) {
                    let state = try await Runner.readState(workspace, console: console)
                    if !state.resources.isEmpty && !force {
                        throw console.fail(
                            "workspace `\(name)` records \(state.resources.count) resource(s); run `mlinfra destroy --workspace \(name)` "
                                + "first, or pass --force to forget them.")
                    }
                    do {
                        switch workspace.backend {
                        case .local(let path):
                            try FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
                        case .postgres:
                            try await (workspace.store as! PostgresStateStore).deleteState()
                        }
                    } catch { throw console.fail("\(error)") }
                }
                console.out("Deleted workspace \"\(name)\".\n")
            }
        }
    }
}

/// What the workspace commands share: the names that hold a state, and the selection file.
enum Workspaces {
    static func names(_ spec: SpecOptions, console: Console) async throws -> [String] {
        var options = spec
        options.workspace = StateBackend.defaultWorkspace
        let workspace = try await Runner.workspace(options, console: console)
        switch workspace.backend {
        case .local(let path):
            let dir = path + ".d"
            let name = (path as NSString).lastPathComponent
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return entries.filter { FileManager.default.fileExists(atPath: "\(dir)/\($0)/\(name)") }.sorted()
        case .postgres:
            do { return try await (workspace.store as! PostgresStateStore).workspaces() } catch { throw console.fail("\(error)") }
        }
    }

    static func select(_ name: String, spec: SpecOptions, console: Console) throws {
        let file = WorkspaceSelection.selectionFile(specPath: spec.spec)
        do {
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (name + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw console.fail("could not write \(file): \(error)")
        }
    }
}
