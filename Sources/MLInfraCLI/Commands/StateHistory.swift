import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand.State {
    /// `mlinfra state history [SERIAL]`: the versions a versioned backend keeps.
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the kept versions of the state (newest first), or the addresses one version records.")
        @Argument(help: "A serial: list what that version records.") var serial: Int?
        @Option(name: .long, help: "How many versions to list.") var limit: Int = 20
        @OptionGroup var spec: SpecOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let store = try Versioned.store(workspace, console: console)
            do {
                if let serial {
                    guard let state = try await store.state(atSerial: serial) else {
                        throw console.fail("no kept version has serial \(serial); `mlinfra state history` lists them.")
                    }
                    console.out("# serial \(state.serial), lineage \(state.lineage)\n")
                    console.out(state.resources.map { $0.address + ($0.status == .tainted ? " (tainted)" : "") + "\n" }.joined())
                    return
                }
                for v in try await store.versions(limit: limit) {
                    var line = "\(v.serial)\t\(LockInfo.timestamp(v.writtenAt))\t\(v.writtenBy)\t\(v.operation)"
                    if let plan = v.planID { line += "\tplan \(plan)" }
                    console.out(line + "\n")
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                throw console.fail("\(error)")
            }
        }
    }

    /// `mlinfra state rollback SERIAL`: writes an old version again, as a new serial.
    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a kept version of the state back as the newest one (a new serial; nothing is erased).")
        @Argument(help: "The serial to go back to (see `mlinfra state history`).") var serial: Int
        @OptionGroup var spec: SpecOptions
        @OptionGroup var lock: LockOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let store = try Versioned.store(workspace, console: console)
            let written = try await Runner.withLock(workspace, operation: "state rollback", timeout: lock.seconds, console: console) {
                let current = try await Runner.readState(workspace, console: console)
                let old: StateFile?
                do { old = try await store.state(atSerial: serial) } catch { throw console.fail("\(error)") }
                guard var old else { throw console.fail("no kept version has serial \(serial); `mlinfra state history` lists them.") }
                guard old.lineage == current.lineage else {
                    throw console.fail("version \(serial) has lineage \(old.lineage), but the state has lineage \(current.lineage); it was not written.")
                }
                old.serial = current.serial
                do { return try await workspace.store.write(old) } catch { throw console.fail("\(error)") }
            }
            console.out("Wrote version \(serial) back as serial \(written). Run `mlinfra plan` to see what differs from the infrastructure.\n")
        }
    }
}

enum Versioned {
    static func store(_ workspace: Workspace, console: Console) throws -> any VersionedStateStore {
        guard let store = workspace.store as? any VersionedStateStore else {
            throw console.fail(
                "the local backend keeps only the previous state (\(workspace.statePath).backup), not a history; "
                    + "the postgres backend keeps every version.")
        }
        return store
    }
}
