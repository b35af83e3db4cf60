import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand.State {
    /// `mlinfra state history [SERIAL]`: the versions a versioned backend keeps.
    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the kept versions of the state (newest first), the addresses one version records, or how two differ.")
        @Argument(help: "A serial: list what that version records.") var serial: Int?
        @Option(name: .long, help: "Another serial: show what changed from SERIAL to it (+ added, - removed, ~ changed attributes).")
        var diff: Int?
        @Option(name: .long, help: "How many versions to list.") var limit: Int = 20
        @OptionGroup var spec: SpecOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let store = try Versioned.store(workspace, console: console)
            do {
                if let serial, let other = diff {
                    guard let from = try await store.state(atSerial: serial), let to = try await store.state(atSerial: other) else {
                        throw console.fail("serial \(serial) or \(other) is not a kept version; `mlinfra state history` lists them.")
                    }
                    console.out("# serial \(serial) → \(other)\n")
                    console.out(StateVersionDiff.lines(from: from, to: to).map { $0 + "\n" }.joined())
                    return
                }
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

/// What changed between two versions of a state, by address: added, removed, and the attributes,
/// inputs or status that differ (names only: values may be secrets' HMACs).
enum StateVersionDiff {
    static func lines(from: StateFile, to: StateFile) -> [String] {
        let before = Dictionary(from.resources.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(to.resources.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var lines: [String] = []
        for address in Set(before.keys).union(after.keys).sorted() {
            switch (before[address], after[address]) {
            case (nil, _?): lines.append("+ \(address)")
            case (_?, nil): lines.append("- \(address)")
            case let (old?, new?):
                var changed = Set<String>()
                for key in Set(old.attributes.keys).union(new.attributes.keys) where old.attributes[key] != new.attributes[key] { changed.insert(key) }
                for key in Set(old.inputs.keys).union(new.inputs.keys) where old.inputs[key] != new.inputs[key] { changed.insert(key) }
                if old.id != new.id { changed.insert("id") }
                if old.status != new.status { changed.insert("status") }
                if !changed.isEmpty { lines.append("~ \(address): " + changed.sorted().joined(separator: ", ")) }
            default: break
            }
        }
        return lines.isEmpty ? ["(no differences)"] : lines
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
