import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand.State {
    /// `mlinfra state pull FILE`: the stored state, as the local backend's file would hold it.
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the stored state to FILE (mode 0600: the state may hold sensitive values).")
        @Argument(help: "Where to write the state.") var file: String
        @OptionGroup var spec: SpecOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            guard let state = try await workspaceState(workspace, console: console) else {
                throw console.fail("there is no state yet in \(workspace.statePath).")
            }
            guard FileManager.default.createFile(atPath: file, contents: Data(StateCodec.encode(state)), attributes: [.posixPermissions: 0o600])
            else { throw console.fail("could not write \(file).") }
            console.out("Wrote serial \(state.serial) (lineage \(state.lineage)) to \(file).\n")
        }
    }

    /// `mlinfra state push FILE`: stores a state file as the newest serial, lineage and serial checked.
    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a state file as the newest state: refused when its lineage differs or its serial is behind, unless --force.")
        @Argument(help: "The state file to store.") var file: String
        @Flag(name: .long, help: "Store it even though its lineage differs or its serial is behind (the stored state is kept as a version or backup).")
        var force = false
        @OptionGroup var spec: SpecOptions
        @OptionGroup var lock: LockOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            guard let bytes = FileManager.default.contents(atPath: file) else { throw console.fail("cannot read \(file).") }
            let workspace = try await Runner.workspace(spec, console: console)
            // A file given by hand is read encrypted (under this workspace's keys) or not, whatever the mode.
            var encryption = workspace.encryption
            encryption.acceptsUnencrypted = true
            var pushed: StateFile
            do { pushed = try StateCodec.decode(encryption.open(Array(bytes), kind: .state, scope: "", location: file), path: file) } catch {
                throw console.fail("\(error)")
            }
            let serial = try await Runner.withLock(workspace, operation: "state push", timeout: lock.seconds, console: console) {
                let current = try await workspaceState(workspace, console: console)
                if let current {
                    var problems: [String] = []
                    if current.lineage != pushed.lineage {
                        problems.append("its lineage \(pushed.lineage) differs from the stored state's \(current.lineage)")
                    }
                    if pushed.serial < current.serial {
                        problems.append("its serial \(pushed.serial) is behind the stored serial \(current.serial)")
                    }
                    if !problems.isEmpty && !force {
                        throw console.fail("refusing to push \(file): \(problems.joined(separator: ", and ")). Pass --force to store it anyway.")
                    }
                    if !problems.isEmpty {
                        console.err("Warning: pushing \(file) although \(problems.joined(separator: ", and ")); the stored state is kept as its backup.\n")
                    }
                    pushed.lineage = current.lineage
                    pushed.serial = current.serial
                }
                do { return try await workspace.store.write(pushed) } catch { throw console.fail("\(error)") }
            }
            console.out("Stored \(file) as serial \(serial).\n")
        }
    }

    /// `mlinfra state migrate --to-backend …`: copies the state to another backend.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the state to another backend (then point the spec's `backend:` at it).",
            discussion: """
                --to-backend local:PATH copies to a local file; --to-backend postgres[:SCHEMA] copies to PostgreSQL at \
                MLINFRA_PG_URL (schema default mlinfra). Refused when the target holds a state of another lineage, or a newer serial.
                """)
        @Option(name: .customLong("to-backend"), help: "local:PATH or postgres[:SCHEMA].") var target: String
        @OptionGroup var spec: SpecOptions
        @OptionGroup var lock: LockOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let backend: StateBackend
            if target.hasPrefix("local:"), target.count > 6 {
                let path = String(target.dropFirst(6))
                backend = .local(path: URL(fileURLWithPath: path).standardizedFileURL.path)
            } else if target == "postgres" || target.hasPrefix("postgres:") {
                guard let url = ProcessInfo.processInfo.environment["MLINFRA_PG_URL"], !url.isEmpty else {
                    throw console.fail("--to-backend postgres takes the server from MLINFRA_PG_URL, which is not set.")
                }
                let schema = target.hasPrefix("postgres:") ? String(target.dropFirst(9)) : "mlinfra"
                backend = .postgres(PostgresBackendSettings(url: url, schema: schema, project: workspace.spec.project, workspace: workspace.name))
            } else {
                throw console.fail("--to-backend must be local:PATH or postgres[:SCHEMA], not `\(target)`.")
            }
            let destination: any StateStore
            do {
                destination = try StateBackends.makeStore(backend, StateEncryption.load(for: backend, environment: ProcessInfo.processInfo.environment))
            } catch { throw console.fail("\(error)") }
            let serial = try await Runner.withLock(workspace, operation: "state migrate", timeout: lock.seconds, console: console) {
                guard let state = try await workspaceState(workspace, console: console) else {
                    throw console.fail("there is no state to migrate in \(workspace.statePath).")
                }
                let info = LockInfo.make(operation: "state migrate")
                do { try await destination.lock(info, timeout: lock.seconds) } catch { throw console.fail("\(error)") }
                let outcome: Result<Int, any Error>
                do {
                    var copy = state
                    if let existing = try await destination.read() {
                        guard existing.lineage == state.lineage else {
                            throw console.fail(
                                "the target already holds a different state (lineage \(existing.lineage), this one is \(state.lineage)); nothing was copied.")
                        }
                        guard existing.serial <= state.serial else {
                            throw console.fail("the target holds a newer serial (\(existing.serial) > \(state.serial)) of this state; nothing was copied.")
                        }
                        copy.serial = existing.serial
                    } else {
                        copy.serial -= 1
                    }
                    outcome = .success(try await destination.write(copy))
                } catch let exit as ExitCode {
                    outcome = .failure(exit)
                } catch {
                    outcome = .failure(console.fail("\(error)"))
                }
                try? await destination.unlock(id: info.id)
                return try outcome.get()
            }
            console.out("Copied the state to \(destination.location) (serial \(serial)). Point the spec's `backend:` at it to use it.\n")
        }
    }
}

/// Reads the workspace's state (recovering a journal), nil when none is stored.
func workspaceState(_ workspace: Workspace, console: Console) async throws -> StateFile? {
    do { return try await workspace.store.read() } catch { throw console.fail("\(error)") }
}
