// mlinfra-test-provider: the FakeProvider served over the plugin protocol, for tests only.
//
// Environment:
//   MLINFRA_FAKE_LATENCY_MS=N      every call takes N ms (to observe concurrency)
//   MLINFRA_FAKE_FAULT=KIND@METHOD misbehave when METHOD (apply, plan, read, …) is called:
//     crash    print a line to stderr and exit with status 1
//     garbage  write a line that is not JSON-RPC to stdout
//     badid    answer with an id that was never sent
//     hang     never answer
import Foundation
import MLInfraCore
import MLInfraTesting

/// Wraps the fake provider with the fault asked for in the environment.
struct FaultyProvider: Provider {
    let base: FakeProvider
    let fault: (kind: String, method: String)?

    func trip(_ method: String) async throws {
        guard let fault, fault.method == method else { return }
        switch fault.kind {
        case "crash":
            FileHandle.standardError.write(Data("mlinfra-test-provider: crashing during \(method) as asked\n".utf8))
            exit(1)
        case "garbage":
            FileHandle.standardOutput.write(Data("this is not JSON-RPC, it is a stray debug print\n".utf8))
        case "badid":
            FileHandle.standardOutput.write(Data(#"{"jsonrpc":"2.0","id":987654,"result":{}}"#.utf8 + [0x0A]))
        case "hang":
            try await Task.sleep(for: .seconds(3600))
        default:
            break
        }
    }

    func schema() async throws -> ProviderSchema {
        try await trip("schema")
        return try await base.schema()
    }
    func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        try await trip("configure")
        return try await base.configure(request)
    }
    func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        try await trip("validate")
        return try await base.validate(request)
    }
    func plan(_ request: PlanRequest) async throws -> PlanResponse {
        try await trip("plan")
        return try await base.plan(request)
    }
    func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        try await trip("apply")
        return try await base.apply(request)
    }
    func read(_ request: ReadRequest) async throws -> ReadResponse {
        try await trip("read")
        return try await base.read(request)
    }
    func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        try await trip("import")
        return try await base.importResource(request)
    }
}

let environment = ProcessInfo.processInfo.environment
let latency = Int(environment["MLINFRA_FAKE_LATENCY_MS"] ?? "").map { Duration.milliseconds($0) } ?? .zero
let fault = environment["MLINFRA_FAKE_FAULT"].flatMap { text -> (kind: String, method: String)? in
    let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
    return parts.count == 2 ? (parts[0], parts[1]) : nil
}
let provider = FaultyProvider(base: FakeProvider(latency: latency), fault: fault)
await PluginServer(provider: provider, name: "fake", version: MLInfraVersion.current).run()
