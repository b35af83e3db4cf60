// A second process for the registry's concurrency test: registers N versions of a model
// and prints the version numbers it got, one per line.
//
// usage: ModelRegistryWorker REGISTRY_DIR MODEL COUNT TAG
// With MLINFRA_TEST_REGISTRY_PG_URL (and MLINFRA_TEST_REGISTRY_PG_SCHEMA) set, the records and
// artifacts are in that PostgreSQL schema; REGISTRY_DIR is then only the local cache.
import EnginePostgres
import Foundation
import ModelRegistry

let args = CommandLine.arguments
guard args.count == 5, let count = Int(args[3]) else {
    FileHandle.standardError.write(Data("usage: ModelRegistryWorker REGISTRY_DIR MODEL COUNT TAG\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: args[1])
let model = args[2]
let tag = args[4]
do {
    let environment = ProcessInfo.processInfo.environment
    var location = RegistryLocation(directory: directory)
    if let url = environment["MLINFRA_TEST_REGISTRY_PG_URL"] {
        location.records = .postgres(
            try PostgresURL(parsing: url), schema: environment["MLINFRA_TEST_REGISTRY_PG_SCHEMA"] ?? RegistryLocation.defaultSchema)
    }
    let registry = try ModelRegistry(location: location)
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(tag)-\(getpid())")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    var out = ""
    for i in 0..<count {
        let file = scratch.appendingPathComponent("model-\(i).json")
        try Data("{\"worker\": \"\(tag)\", \"i\": \(i)}".utf8).write(to: file)
        let version = try registry.register(
            RegistrationRequest(model: model, artifact: file, format: "linear-json", tags: ["worker": tag]),
            context: ChangeContext(actor: "worker-\(tag)", origin: .command))
        out += "\(version.version)\n"
    }
    FileHandle.standardOutput.write(Data(out.utf8))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
