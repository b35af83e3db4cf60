import Foundation
import Testing

/// The dependency direction of DESIGN.md, read from the sources: the core imports no engine and
/// no provider; engines never import the core, a provider or the CLI, nor another engine; the
/// CLI reaches engines only through their providers. A new import against the direction fails here.
@Suite struct ImportDirectionTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    enum Layer: String { case core, engine, engineSupport, provider, stateBackend, cli, tooling }

    /// Every module of the package, by layer. A target missing here fails `everyTargetHasALayer`.
    static let layers: [String: Layer] = [
        "MLInfraCore": .core, "CYAML": .core,
        "DriftMonitor": .engine, "FeatureStore": .engine, "ModelRegistry": .engine, "ModelRegistryHTTP": .engine,
        "ModelServing": .engine, "VectorIndex": .engine,
        "EngineStorage": .engineSupport, "EnginePostgres": .engineSupport, "CaptureStorage": .engineSupport, "MLInfraJSON": .engineSupport, "EngineCSV": .engineSupport, "MLInfraHTTP": .engineSupport, "CVectorKernels": .engineSupport,
        "FeatureStoreProvider": .provider, "MonitoringProvider": .provider, "RegistryProvider": .provider,
        "ServingProvider": .provider, "VectorProvider": .provider, "ServerCommands": .provider,
        "MLInfraPostgresState": .stateBackend,
        "MLInfraCLI": .cli, "mlinfra": .cli,
        "MLInfraTesting": .tooling, "MLInfraCoreTesting": .tooling, "MLInfraTestProvider": .tooling, "MLInfraDev": .tooling,
    ]

    /// An engine's own HTTP layer is part of that engine.
    static let engineFamilies: [String: String] = ["ModelRegistryHTTP": "ModelRegistry"]

    /// Imports against the direction that are known and scheduled to go, each with why it is still here.
    static let knownExceptions: [String: String] = [:]

    /// Whether `from` may import `to`; nil when it may, else why not.
    static func violation(_ from: String, _ to: String) -> String? {
        guard let a = layers[from], let b = layers[to] else { return nil }  // system and package modules
        if from == to { return nil }
        switch (a, b) {
        case (.core, .engine), (.core, .engineSupport), (.core, .provider), (.core, .cli), (.core, .stateBackend):
            return "the core imports no engine, provider or CLI"
        case (.engine, .core), (.engine, .provider), (.engine, .cli), (.engine, .stateBackend), (.engineSupport, .core),
            (.engineSupport, .provider), (.engineSupport, .cli), (.engineSupport, .engine):
            return "engines are plain libraries: they import neither the core nor what is built on it"
        case (.engine, .engine):
            return engineFamilies[from] == to ? nil : "an engine does not import another engine; its provider joins them"
        case (.provider, .cli), (.stateBackend, .cli), (.stateBackend, .engine), (.stateBackend, .provider):
            return "a provider or state backend does not import what composes it"
        case (.cli, .engine), (.cli, .engineSupport):
            return "the CLI reaches engines through their providers"
        default:
            return nil
        }
    }

    /// The test targets of engines (and of what engines share): they test plain libraries, so they
    /// import neither the core nor its test support.
    static let engineTests = [
        "CaptureStorageTests", "DriftMonitorTests", "FeatureStoreTests", "MLInfraHTTPTests", "ModelRegistryHTTPTests",
        "ModelRegistryTesting", "ModelRegistryTests", "ModelRegistryWorker", "ModelServingTests", "VectorIndexTests",
    ]

    /// Each target's imports, from its Swift files: `import X`, `@testable import X`, `@_exported import X`.
    static func imports(roots: [String] = ["Sources", "providers"]) throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        let fm = FileManager.default
        for root in roots {
            let base = repository.appendingPathComponent(root)
            for target in try fm.contentsOfDirectory(atPath: base.path).sorted() {
                let dir = base.appendingPathComponent(target)
                guard let walker = fm.enumerator(atPath: dir.path) else { continue }
                var found: Set<String> = []
                for case let file as String in walker where file.hasSuffix(".swift") {
                    let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                    for line in text.split(separator: "\n") {
                        let words = line.split(separator: " ").map(String.init)
                        guard let i = words.firstIndex(of: "import"), i + 1 < words.count,
                            words[..<i].allSatisfy({ $0.hasPrefix("@") })
                        else { continue }
                        found.insert(words[i + 1])
                    }
                }
                if !found.isEmpty || layers[target] != nil { out[target] = found }
            }
        }
        return out
    }

    @Test func everyTargetHasALayer() throws {
        let targets = try Self.imports().keys.filter { $0 != "examples" }
        for target in targets { #expect(Self.layers[target] != nil, "\(target) has no layer in ImportDirectionTests.layers") }
    }

    @Test func noImportPointsAgainstTheDirection() throws {
        var problems: [String] = []
        for (target, modules) in try Self.imports() {
            for module in modules.sorted() {
                guard let why = Self.violation(target, module), Self.knownExceptions["\(target) → \(module)"] == nil else { continue }
                problems.append("\(target) imports \(module): \(why)")
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test func engineTestsAndTheirHelpersImportNoCore() throws {
        let tests = try Self.imports(roots: ["Tests"])
        for target in Self.engineTests {
            let modules = try #require(tests[target], "no test target \(target)")
            for core in ["MLInfraCore", "MLInfraCoreTesting"] { #expect(!modules.contains(core), "\(target) imports \(core)") }
        }
        #expect(try Self.imports()["MLInfraTesting"]?.contains("MLInfraCore") == false, "MLInfraTesting imports MLInfraCore")
    }

    @Test func theCheckCatchesAWrongImport() {
        #expect(Self.violation("MLInfraCore", "FeatureStore") != nil)
        #expect(Self.violation("FeatureStore", "MLInfraCore") != nil)
        #expect(Self.violation("VectorIndex", "FeatureStore") != nil)
        #expect(Self.violation("MLInfraCLI", "DriftMonitor") != nil)
        #expect(Self.violation("FeatureStore", "VectorProvider") != nil)
        #expect(Self.violation("RegistryProvider", "ModelRegistry") == nil)
        #expect(Self.violation("ModelRegistryHTTP", "ModelRegistry") == nil)
        #expect(Self.violation("MLInfraCLI", "MonitoringProvider") == nil)
    }

    @Test func noModuleReExportsAnother() throws {
        for root in ["Sources", "providers"] {
            let base = Self.repository.appendingPathComponent(root)
            guard let walker = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let file as String in walker where file.hasSuffix(".swift") {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                #expect(!text.contains("@_exported import"), "\(root)/\(file) re-exports a module")
            }
        }
    }
}
