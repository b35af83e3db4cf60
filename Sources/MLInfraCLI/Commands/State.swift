import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct State: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inspect and edit the recorded state.",
            subcommands: [List.self, ShowResource.self, Remove.self, Move.self, History.self, Rollback.self, Pull.self, Push.self, Migrate.self, Rekey.self])

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List the addresses in state.")
            @OptionGroup var spec: SpecOptions

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                let workspace = try await Runner.workspace(spec, console: console)
                let state = try await Runner.readState(workspace, console: console)
                console.out(state.resources.map { $0.address + ($0.status == .tainted ? " (tainted)" : "") + "\n" }.joined())
            }
        }

        struct ShowResource: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one resource instance in state.")
            @Argument(help: "The instance's address.") var address: String
            @OptionGroup var spec: SpecOptions

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                let workspace = try await Runner.workspace(spec, console: console)
                let state = try await Runner.readState(workspace, console: console)
                guard let r = state.resource(address) else {
                    throw console.fail("`\(address)` is not in state." + Suggestions.didYouMean(address, in: state.addresses))
                }
                let sensitive = r.sensitiveAttributes
                let id = Secrets.display(.string(r.id), at: "id", sensitive: sensitive)
                var out = console.style.bold("# \(r.address)") + "\n    id       = \(id)\n    status   = \(r.status.rawValue)\n    provider = \(r.provider)\n"
                for key in r.attributes.keys.sorted() where key != "id" {
                    out += "    \(key) = \(Secrets.display(r.attributes[key], at: key, sensitive: sensitive))\n"
                }
                if !r.dependencies.isEmpty { out += "    depends on: \(r.dependencies.joined(separator: ", "))\n" }
                console.out(out)
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "rm", abstract: "Forget instances without destroying them.")
            @Argument(help: "Addresses to forget.") var addresses: [String]
            @OptionGroup var spec: SpecOptions
            @OptionGroup var lock: LockOptions

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                let workspace = try await Runner.workspace(spec, console: console)
                try await Runner.withLock(workspace, operation: "state rm", timeout: lock.seconds, console: console) {
                    var state = try await Runner.readState(workspace, console: console)
                    for address in addresses {
                        guard state.resource(address) != nil else {
                            throw console.fail("`\(address)` is not in state; nothing was changed." + Suggestions.didYouMean(address, in: state.addresses))
                        }
                        state.remove(address)
                    }
                    do { _ = try await workspace.store.write(state) } catch { throw console.fail("\(error)") }
                    console.out("Removed \(addresses.count) instance(s) from state. The objects themselves still exist.\n")
                }
            }
        }

        struct Move: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "mv", abstract: "Rename an instance in state.")
            @Argument(help: "Current address.") var from: String
            @Argument(help: "New address.") var to: String
            @OptionGroup var spec: SpecOptions
            @OptionGroup var lock: LockOptions

            func validate() throws {
                guard let a = ResourceAddress(parsing: from), let b = ResourceAddress(parsing: to) else {
                    throw ValidationError("both arguments must be resource addresses (TYPE.NAME).")
                }
                guard a.type == b.type else { throw ValidationError("an instance can only move to an address of the same type (`\(a.type)`).") }
            }

            func run() async throws {
                let console = Console(noColor: spec.noColor)
                let workspace = try await Runner.workspace(spec, console: console)
                try await Runner.withLock(workspace, operation: "state mv", timeout: lock.seconds, console: console) {
                    var state = try await Runner.readState(workspace, console: console)
                    guard state.resource(from) != nil else {
                        throw console.fail("`\(from)` is not in state; nothing was changed." + Suggestions.didYouMean(from, in: state.addresses))
                    }
                    guard state.resource(to) == nil else { throw console.fail("`\(to)` is already in state; nothing was changed.") }
                    state.move(from, to: to)
                    do { _ = try await workspace.store.write(state) } catch { throw console.fail("\(error)") }
                    console.out("Moved \(from) to \(to).\n")
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bring an existing object under management: ADDR ID.")
        @Argument(help: "The address in the spec.") var address: String
        @Argument(help: "The provider's id of the object.") var id: String
        @OptionGroup var spec: SpecOptions
        @OptionGroup var lock: LockOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            guard let instance = workspace.configuration.instance(address) else {
                throw console.fail("`\(address)` is not in the spec; declare it first, then import." + Suggestions.didYouMean(address, in: workspace.configuration.byAddress.keys))
            }
            try await Runner.withLock(workspace, operation: "import", timeout: lock.seconds, console: console) {
                var state = try await Runner.readState(workspace, console: console)
                guard state.resource(address) == nil else { throw console.fail("`\(address)` is already in state.") }
                let provider = workspace.configuration.providers.providers[instance.providerName]!
                let response: ImportResponse
                do {
                    response = try await provider.call("import \(address)") { try await $0.importResource(ImportRequest(type: instance.address.type, address: address, id: id)) }
                } catch { throw console.fail("could not import `\(address)`: \(error)") }
                console.show(Diagnostics(response.diagnostics))
                guard let object = response.imported else { throw console.fail("no `\(instance.address.type)` with id `\(id)` exists.") }
                state.upsert(ResourceInstanceState.imported(object, as: instance, key: workspace.configuration.stateKey))
                do { _ = try await workspace.store.write(state) } catch { throw console.fail("\(error)") }
                console.out("Imported \(address) (id \(object.id)). Run `mlinfra plan` to see how it differs from the spec.\n")
            }
        }
    }

    struct Output: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print outputs recorded by the last apply.")
        @Argument(help: "One output's name.") var name: String?
        @Flag(name: .long, help: "Print JSON.") var json = false
        @Flag(name: .long, help: "Print one output's text as it is, without quotes or a newline (for shell scripts).") var raw = false
        @OptionGroup var spec: SpecOptions

        func validate() throws {
            if raw && name == nil { throw ValidationError("--raw prints one output: name it, e.g. `mlinfra output --raw endpoint_url`.") }
            if raw && json { throw ValidationError("--raw and --json cannot be used together.") }
        }

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let state = try await Runner.readState(workspace, console: console)
            if let name {
                guard let o = state.outputs[name] else {
                    throw console.fail("no output `\(name)`." + Suggestions.didYouMean(name, in: state.outputs.keys))
                }
                if o.sensitive { throw console.fail("output `\(name)` is sensitive; its value is not kept in plain state.") }
                if raw {
                    guard let text = o.value.interpolated else {
                        throw console.fail("output `\(name)` is \(o.value.kindName), not text; --raw prints text, numbers and booleans. Use --json.")
                    }
                    console.out(text)
                    return
                }
                console.out(json ? JSONText.encode(o.value, pretty: false) + "\n" : (o.value.stringValue ?? o.value.rendered) + "\n")
                return
            }
            if json {
                console.out(JSONText.encode(.map(state.outputs.mapValues { .map(["value": $0.sensitive ? .null : $0.value, "sensitive": .bool($0.sensitive)]) })) + "\n")
            } else {
                for key in state.outputs.keys.sorted() {
                    let o = state.outputs[key]!
                    console.out("\(key) = \(o.sensitive ? "(sensitive)" : o.value.rendered)\n")
                }
            }
        }
    }

    struct ForceUnlock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "force-unlock", abstract: "Remove a state lock left behind.")
        @Argument(help: "The lock id shown in the lock error.") var lockID: String
        @OptionGroup var spec: SpecOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            do { try await workspace.store.forceUnlock(id: lockID) } catch { throw console.fail("\(error)") }
            console.out("The state lock \(lockID) has been removed.\n")
        }
    }
}
