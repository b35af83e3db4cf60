import ArgumentParser
import Foundation
import MLInfraCore
import MLInfraPostgresState
import ServerCommands
import MLInfraJSON
import VectorIndex

/// `mlinfra vectors …`: the data plane of the vector engine.
public struct VectorsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "vectors",
        abstract: "Upsert, query, get, delete and count vectors; serve the HTTP API.",
        subcommands: [Upsert.self, Query.self, Get.self, Delete.self, Count.self, Serve.self])

    public init() {}
}

/// Options every `vectors` subcommand takes.
struct VectorOptions: ParsableArguments {
    @OptionGroup var location: EngineDirectoryOptions

    /// The data directory: --data-dir, else the spec's providers.local.data_dir, else .mlinfra.
    var dataDir: String { location.dataDir }

    @Option(help: "The vector store; needed only when several stores hold a collection of that name.")
    var store: String?

    @Option(
        name: .customLong("url-env"),
        help: "Use a pgvector store: the environment variable holding its database URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE); the store is a schema there.")
    var urlVariable: String?

    /// The pgvector database named by --url-env, or nil for local stores.
    func pgvectorURL() throws -> PostgresBackendURL? {
        guard let urlVariable else { return nil }
        guard let text = ProcessInfo.processInfo.environment[urlVariable], !text.isEmpty else {
            throw CommandFailure("--url-env \(urlVariable): the environment variable is not set; export it with the pgvector store's postgres:// URL")
        }
        do {
            return try PostgresBackendURL(parsing: text, field: "--url-env \(urlVariable)")
        } catch let error as StateError {
            throw CommandFailure("\(error.message); \(error.remedy)")
        }
    }

    /// The store directories under `<data_dir>/vectors/`.
    func storeNames() -> [String] {
        let root = (dataDir as NSString).appendingPathComponent("vectors")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: "\(root)/\($0)/vectors.sqlite") }.sorted()
    }

    /// The store named `name`: a schema of the --url-env database, or a directory under the data directory.
    func openStore(_ name: String) throws -> any CollectionStore {
        if let url = try pgvectorURL() { return try engine { try PgVectorStore(configuration: try url.configuration(), schema: name, location: url.description, scrub: url.scrub) } }
        let dir = VectorStore.directory(dataDir: dataDir, store: name)
        guard FileManager.default.fileExists(atPath: dir + "/vectors.sqlite") else {
            let known = storeNames()
            throw CommandFailure(
                "no vector store '\(name)' in \(dataDir)/vectors"
                    + (known.isEmpty ? "; apply a spec with a vector_store first" : "; stores: \(known.joined(separator: ", "))"))
        }
        return try VectorStore(directory: dir)
    }

    /// Finds `STORE/NAME` or `NAME` (searching every store when `--store` is not given): the store, its name, the collection.
    func resolve(_ collection: String) async throws -> (store: any CollectionStore, storeName: String, name: String) {
        let parts = collection.split(separator: "/", maxSplits: 1).map(String.init)
        if parts.count == 2 { return (try openStore(parts[0]), parts[0], parts[1]) }
        if let store { return (try openStore(store), store, collection) }
        let names: [String]
        if let url = try pgvectorURL() {
            let probe = try engine { try PgVectorStore(configuration: try url.configuration(), schema: "public", location: url.description, scrub: url.scrub) }
            names = try await engine { try await probe.schemas(holding: collection) }
            await probe.close()
            if names.count == 1 { return (try openStore(names[0]), names[0], collection) }
            if names.isEmpty { throw CommandFailure("no collection '\(collection)' in \(url): no schema has a vector table of that name") }
        } else {
            names = storeNames()
            var found: [String] = []
            for name in names where (try? await openStore(name).info(collection)) != nil { found.append(name) }
            if found.count == 1 { return (try openStore(found[0]), found[0], collection) }
            if found.isEmpty {
                throw CommandFailure(
                    "no collection '\(collection)' in \(dataDir)/vectors"
                        + (names.isEmpty ? " (no vector store exists yet; apply a spec with a vector_store first)" : " (stores: \(names.joined(separator: ", ")))"))
            }
        }
        throw CommandFailure("collection '\(collection)' exists in several stores; write STORE/\(collection) or pass --store")
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case human, json
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
}

/// Runs engine work, turning refusals into command failures: `Error: …`, exit 1.
func engine<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as VectorError {
        throw CommandFailure(error.description)
    }
}

func engine<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as VectorError {
        throw CommandFailure(error.description)
    }
}

func parseWhere(_ text: String?) throws -> WhereFilter? {
    guard let text else { return nil }
    return try engine { try WhereFilter.parse(json: text, field: "--where") }
}

extension VectorsCommand {
    struct Upsert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Insert or replace records from a JSON Lines file: one {\"id\", \"vector\", \"metadata\", \"document\"} a line.")

        @OptionGroup var options: VectorOptions
        @Argument(help: "The collection: NAME or STORE/NAME.") var collection: String
        @Option(help: "The JSON Lines file ('-' for standard input).") var file: String
        @Option(help: "Records per transaction.") var batchSize: Int = 5_000

        func validate() throws {
            guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        }

        func run() async throws {
            let (store, storeName, name) = try await options.resolve(collection)
            _ = try await engine { try await store.info(name) }
            let text: String
            if file == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            } else {
                guard let data = FileManager.default.contents(atPath: file) else { throw CommandFailure("cannot read --file \(file)") }
                text = String(decoding: data, as: UTF8.self)
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let decoder = JSONDecoder()
            var records: [VectorRecord] = []
            for (i, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let field = "\(file):\(i + 1)"
                let value: JSONValue
                do {
                    value = try decoder.decode(JSONValue.self, from: Data(line.utf8))
                } catch {
                    throw CommandFailure("\(field): not valid JSON")
                }
                records.append(try engine { try RequestDecoding.record(value, field: field) })
            }
            let bar = TerminalProgress()
            let count = records.count
            var done = 0
            var start = 0
            while start < records.count {
                let batch = Array(records[start..<min(start + batchSize, records.count)])
                let before = done
                do {
                    try await store.upsert(name, batch) { inserted, _ in bar.update("upserting", done: before + inserted, of: count) }
                } catch let error as VectorError {
                    bar.finish()
                    let detail = error.field.flatMap { f -> String? in
                        guard f.hasPrefix("records["), let close = f.firstIndex(of: "]"),
                            let idx = Int(f[f.index(f.startIndex, offsetBy: 8)..<close])
                        else { return nil }
                        return "record '\(batch[idx].id)'" + f[f.index(after: close)...]
                    }
                    throw CommandFailure(
                        "\(detail.map { "\($0): " } ?? "")\(error.message)"
                            + (done > 0 ? " (the \(done) records before this batch were upserted)" : " (nothing was upserted)"))
                }
                done += batch.count
                start += batchSize
            }
            bar.finish()
            try await engine { try await store.flush() }
            for note in (store as? VectorStore)?.notes ?? [] { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let total = try await engine { try await store.count(name, where: nil) }
            print("Upserted \(records.count) records into \(storeName)/\(name) (\(total) in all).")
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find the k nearest records to a vector.")

        @OptionGroup var options: VectorOptions
        @Argument(help: "The collection: NAME or STORE/NAME.") var collection: String
        @Option(help: "The query vector as JSON, e.g. '[0.1, 0.2]'.") var vector: String
        @Option(help: "How many results.") var k: Int = 10
        @Option(help: "Search breadth (HNSW ef); defaults to the collection's ef_search.") var ef: Int?
        @Option(name: .customLong("where"), help: "A Chroma-style metadata filter as JSON.") var whereFilter: String?
        @Option(help: "human or json.") var format: OutputFormat = .human

        func run() async throws {
            let (store, _, name) = try await options.resolve(collection)
            let filter = try parseWhere(whereFilter)
            let vectorValue = try engine { try RequestDecoding.vector(try JSONValue.parse(vector, field: "--vector"), field: "--vector") }
            let result = try await engine { try await store.query(name, vectorValue, k: k, ef: ef, where: filter) }
            if format == .json { return try printJSON(result) }
            if result.matches.isEmpty {
                print("No records\(filter == nil ? "" : " match the filter").")
                return
            }
            let idWidth = max(2, result.matches.map(\.id.count).max() ?? 2)
            print("rank  " + "id".padding(toLength: idWidth, withPad: " ", startingAt: 0) + "  distance    metadata")
            for (i, match) in result.matches.enumerated() {
                let metadata = match.metadata.keys.sorted().map { "\($0)=\(match.metadata[$0]!)" }.joined(separator: " ")
                let rank = String(i + 1).padding(toLength: 4, withPad: " ", startingAt: 0)
                print("\(rank)  \(match.id.padding(toLength: idWidth, withPad: " ", startingAt: 0))  \(String(format: "%-10.6f", match.distance))  \(metadata)")
            }
            print("(\(result.strategy.rawValue) search over \(result.candidates) candidate records)")
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show records by id, or those matching a filter.")

        @OptionGroup var options: VectorOptions
        @Argument(help: "The collection: NAME or STORE/NAME.") var collection: String
        @Option(help: "Record ids, comma-separated.") var ids: String?
        @Option(name: .customLong("where"), help: "A metadata filter as JSON.") var whereFilter: String?
        @Option(help: "At most this many records.") var limit: Int = 100
        @Option(help: "human or json.") var format: OutputFormat = .human

        func run() async throws {
            let (store, _, name) = try await options.resolve(collection)
            let records: [VectorRecord]
            if let ids {
                let list = ids.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                records = try await engine { try await store.get(name, ids: list) }
            } else {
                let filter = try parseWhere(whereFilter)
                records = try await engine { try await store.get(name, where: filter, limit: limit, offset: 0) }
            }
            if format == .json { return try printJSON(records) }
            for r in records {
                let metadata = r.metadata.keys.sorted().map { "\($0)=\(r.metadata[$0]!)" }.joined(separator: " ")
                let preview = r.vector.prefix(4).map { String(format: "%.4f", $0) }.joined(separator: ", ")
                print("\(r.id)  [\(preview)\(r.vector.count > 4 ? ", …" : "")]  \(metadata)\(r.document.map { "  \"\($0.prefix(60))\"" } ?? "")")
            }
            if records.isEmpty { print("No records found.") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete records by id.")

        @OptionGroup var options: VectorOptions
        @Argument(help: "The collection: NAME or STORE/NAME.") var collection: String
        @Option(help: "Record ids, comma-separated.") var ids: String

        func run() async throws {
            let (store, _, name) = try await options.resolve(collection)
            let list = ids.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            let n = try await engine { try await store.delete(name, ids: list) }
            try await engine { try await store.flush() }
            let left = try await engine { try await store.count(name, where: nil) }
            print("Deleted \(n) record\(n == 1 ? "" : "s") (\(left) left).")
        }
    }

    struct Count: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count records, optionally those matching a filter.")

        @OptionGroup var options: VectorOptions
        @Argument(help: "The collection: NAME or STORE/NAME.") var collection: String
        @Option(name: .customLong("where"), help: "A metadata filter as JSON.") var whereFilter: String?

        func run() async throws {
            let (store, _, name) = try await options.resolve(collection)
            let filter = try parseWhere(whereFilter)
            print(try await engine { try await store.count(name, where: filter) })
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve a vector store's HTTP API (127.0.0.1 unless --host says otherwise).")

        @OptionGroup var options: VectorOptions
        @OptionGroup var server: ServerOptions
        @Option(help: "Port to listen on (0 picks a free one).") var port: Int = 8300
        @Option(help: "Address to bind.") var host: String = "127.0.0.1"
        @Option(help: "Seconds between index saves while serving.") var saveInterval: Int = 10

        func run() async throws {
            let names = options.urlVariable == nil ? options.storeNames() : []
            let storeName: String
            if let chosen = options.store {
                storeName = chosen
            } else if options.urlVariable != nil {
                throw CommandFailure("--url-env serves one schema of that database; choose it with --store")
            } else if names.count == 1 {
                storeName = names[0]
            } else {
                throw CommandFailure(
                    names.isEmpty ? "no vector store in \(options.dataDir)/vectors; apply a spec with a vector_store first"
                        : "several vector stores (\(names.joined(separator: ", "))); choose one with --store")
            }
            let store = try options.openStore(storeName)
            let scheme = server.scheme
            let policy = try server.policy(server: "vectors", dataDirectory: URL(fileURLWithPath: options.dataDir))
            try policy.check(bindHost: host)
            var api = VectorHTTPAPI(store: store, policy: policy)
            // Chroma's clients create collections before their first add; those wait here.
            let catalogDirectory = (store as? VectorStore)?.directory ?? options.dataDir + "/vectors/" + storeName
            try FileManager.default.createDirectory(atPath: catalogDirectory, withIntermediateDirectories: true)
            try engine { try api.serveChroma(catalogPath: catalogDirectory + "/chroma.json") }
            let interval = saveInterval
            let saver = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(interval))
                    try? await store.flush()
                }
            }
            let app = api.application(host: host, port: port) { bound in
                FileHandle.standardError.write(Data("vector store '\(storeName)' listening on \(scheme)://\(host):\(bound)\n".utf8))
            }
            try await app.runService()
            saver.cancel()
            try await engine { try await store.flush() }
        }
    }
}
