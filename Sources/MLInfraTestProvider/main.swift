// mlinfra-test-provider: the FakeProvider served over the plugin protocol, for tests only.
//
// Environment:
//   MLINFRA_FAKE_LATENCY_MS=N      every call takes N ms (to observe concurrency)
//   MLINFRA_FAKE_STATS=PATH        after each call, write {"calls": N, "max_in_flight": M} there
//   MLINFRA_FAKE_FAULT=KIND@METHOD misbehave when METHOD (apply, plan, read, …) is called:
//     crash    print a line to stderr and exit with status 1
//     garbage  write a line that is not JSON-RPC to stdout
//     badid    answer with an id that was never sent
//     hang     never answer
import Foundation
import MLInfraCore
import MLInfraCoreTesting

/// Wraps the fake provider with the fault asked for in the environment.
struct FaultyProvider: Provider {
    let base: FakeProvider
    let fault: (kind: String, method: String)?
    let statsFile: String?

    /// Trips the fault, if it is set for `method`, runs the call, and records the statistics.
    func run<Response>(_ method: String, _ body: () async throws -> Response) async throws -> Response {
        try await trip(method)
        let response = try await body()
        if let statsFile {
            let stats: Value = ["calls": .int(await base.calls.count), "max_in_flight": .int(await base.maxInFlight)]
            try JSONEncoder().encode(stats).write(to: URL(fileURLWithPath: statsFile), options: .atomic)
        }
        return response
    }

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
        try await run("schema") { try await base.schema() }
    }
    func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        try await run("configure") { try await base.configure(request) }
    }
    func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        try await run("validate") { try await base.validate(request) }
    }
    func plan(_ request: PlanRequest) async throws -> PlanResponse {
        try await run("plan") { try await base.plan(request) }
    }
    func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        try await run("apply") { try await base.apply(request) }
    }
    func read(_ request: ReadRequest) async throws -> ReadResponse {
        try await run("read") { try await base.read(request) }
    }
    func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        try await run("import") { try await base.importResource(request) }
    }
    func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse {
        try await run("plan_delete") { try await base.planDelete(request) }
    }
}

let environment = ProcessInfo.processInfo.environment
let latency = Int(environment["MLINFRA_FAKE_LATENCY_MS"] ?? "").map { Duration.milliseconds($0) } ?? .zero
let fault = environment["MLINFRA_FAKE_FAULT"].flatMap { text -> (kind: String, method: String)? in
    let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
    return parts.count == 2 ? (parts[0], parts[1]) : nil
}
let provider = FaultyProvider(base: FakeProvider(latency: latency), fault: fault, statsFile: environment["MLINFRA_FAKE_STATS"])
try await PluginServer(provider: provider, name: "fake", version: MLInfraVersion.current).run()
