import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand.State {
    /// `mlinfra state rekey`: writes the state again, sealed under the primary key.
    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the state again as a new serial, encrypted under the primary key.",
            discussion: """
                After a key rotation (MLINFRA_STATE_KEY is the new key, MLINFRA_STATE_KEY_FALLBACK the old one), this puts the \
                current state under the new key now rather than at the next apply. With --allow-unencrypted it reads a state \
                that is not encrypted although MLINFRA_STATE_ENCRYPTION=enforced: the one-off migration of a state written \
                before encryption was turned on. The backup (local) and kept versions (postgres) stay as they were written.
                """)
        @Flag(name: .long, help: "Read the state even if it is not encrypted while encryption is enforced (the migration step).")
        var allowUnencrypted = false
        @OptionGroup var spec: SpecOptions
        @OptionGroup var lock: LockOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            var workspace = try await Runner.workspace(spec, console: console)
            guard let key = workspace.encryption.primary, workspace.encryption.encrypts else {
                throw console.fail(
                    "state encryption is off for \(workspace.statePath), so there is nothing to encrypt; "
                        + "set \(StateEncryption.modeVariable)=on (or enforced) and a key first.")
            }
            if allowUnencrypted {
                workspace.encryption.acceptsUnencrypted = true
                do { workspace.store = try StateBackends.makeStore(workspace.backend, workspace.encryption) } catch {
                    throw console.fail("\(error)")
                }
            }
            let serial = try await Runner.withLock(workspace, operation: "state rekey", timeout: lock.seconds, console: console) {
                guard let state = try await workspaceState(workspace, console: console) else {
                    throw console.fail("there is no state yet in \(workspace.statePath).")
                }
                do { return try await workspace.store.write(state) } catch { throw console.fail("\(error)") }
            }
            console.out("Wrote serial \(serial), encrypted with \(key).\n")
        }
    }
}
