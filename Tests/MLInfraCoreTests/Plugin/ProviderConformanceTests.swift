import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

/// The one conformance suite, against the same fake in process and out of process,
/// and against the Python example provider.
@Suite struct ProviderConformanceTests {
    @Test func fakeProviderInProcessConforms() async throws {
        let report = await ProviderConformance(provider: FakeProvider(), fixture: ProviderConformance.fakeFixture()).run()
        #expect(report.passed, "\(report)")
        #expect(report.checks.count >= 14)
    }

    @Test func fakeLinkTypeConformsAndPlansItsIdFromTheTarget() async throws {
        let fixture = ProviderConformance.Fixture(
            providerConfig: [:], workingDirectory: NSTemporaryDirectory(), type: "fake_link", address: "fake_link.l",
            create: ["target": "alpha", "label": "first"], update: ["target": "alpha", "label": "second"],
            replace: ["target": "beta", "label": "first"], invalid: ["target": "alpha", "label": 5], unknownAttribute: "label")
        let fake = FakeProvider()
        let report = await ProviderConformance(provider: fake, fixture: fixture).run()
        #expect(report.passed, "\(report)")

        let known = try await fake.plan(PlanRequest(type: "fake_link", address: "fake_link.l", prior: nil, proposed: ["target": "alpha"]))
        #expect(known.planned["id"] == "alpha/l")
        let unknown = try await fake.plan(PlanRequest(type: "fake_link", address: "fake_link.l", prior: nil, proposed: ["target": .unknown]))
        #expect(unknown.planned["id"] == .unknown)
    }

    @Test func fakeProviderOverThePluginProtocolConforms() async throws {
        let plugin = try PluginTestSupport.fakePlugin()
        let report = await ProviderConformance(provider: plugin, fixture: ProviderConformance.fakeFixture()).run()
        await plugin.shutdown()
        #expect(report.passed, "\(report)")
        #expect(await plugin.pluginName == "fake")
        #expect(await plugin.pluginVersion == MLInfraVersion.current)
    }

    @Test func pythonExampleProviderConforms() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plugin = try PluginTestSupport.filesPlugin()
        let report = await ProviderConformance(provider: plugin, fixture: Self.filesFixture(directory)).run()
        await plugin.shutdown()
        #expect(report.passed, "\(report)")
        #expect(await plugin.pluginName == "files")
    }

    static func filesFixture(_ directory: URL) -> ProviderConformance.Fixture {
        ProviderConformance.Fixture(
            providerConfig: ["root": "files"],
            workingDirectory: directory.path,
            type: "text_file",
            address: "text_file.notes",
            create: ["path": "notes/a.txt", "content": "hello\n", "mode": "0640"],
            update: ["path": "notes/a.txt", "content": "goodbye\n", "mode": "0640"],
            replace: ["path": "notes/b.txt", "content": "hello\n", "mode": "0640"],
            invalid: ["path": "../escape.txt", "content": "x"],
            unknownAttribute: "content")
    }

    @Test func pythonProviderSeesOutOfBandEditsAndRemovalAsDrift() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plugin = try PluginTestSupport.filesPlugin()
        defer { Task { await plugin.shutdown() } }
        _ = try await plugin.configure(ConfigureRequest(config: ["root": "files"], workingDirectory: directory.path))
        let config: [String: Value] = ["path": "readme.txt", "content": "v1\n"]
        let created = try #require(
            try await plugin.apply(
                ApplyRequest(
                    type: "text_file", address: "text_file.readme", action: .create, prior: nil, config: config, planned: [:],
                    context: PluginTestSupport.context)
            ).new)
        #expect(created.id == "readme.txt")
        #expect(created.attributes["size"] == 3)
        #expect(created.attributes["mode"] == "0644")

        let file = directory.appendingPathComponent("files/readme.txt")
        try Data("edited by hand\n".utf8).write(to: file)
        let drifted = try await plugin.read(ReadRequest(type: "text_file", address: "text_file.readme", id: created.id, prior: created))
        #expect(drifted.current?.attributes["content"] == "edited by hand\n")
        #expect(drifted.current?.attributes["sha256"] != created.attributes["sha256"])

        let plan = try await plugin.plan(
            PlanRequest(type: "text_file", address: "text_file.readme", prior: drifted.current, proposed: config))
        #expect(plan.planned["content"] == "v1\n")
        #expect(plan.planned["sha256"] == created.attributes["sha256"])

        try FileManager.default.removeItem(at: file)
        let gone = try await plugin.read(ReadRequest(type: "text_file", address: "text_file.readme", id: created.id, prior: created))
        #expect(gone.current == nil)
    }

    @Test func fakeProviderRecordsHalfwayCreatesAndInjectedFailures() async throws {
        let fake = FakeProvider()
        await fake.inject(.halfway("disk full half-way"), for: "fake_thing.a")
        await fake.inject(.diagnostic("quota exceeded"), for: "fake_thing.b")
        await fake.inject(.thrown("connection reset"), on: "read", for: "fake_thing.c")
        func create(_ name: String) async throws -> ApplyResponse {
            try await fake.apply(
                ApplyRequest(
                    type: "fake_thing", address: "fake_thing.\(name)", action: .create, prior: nil, config: ["size": 1], planned: [:],
                    context: PluginTestSupport.context))
        }
        let halfway = try await create("a")
        #expect(halfway.new?.id == "a")
        #expect(halfway.diagnostics.map(\.summary) == ["disk full half-way"])
        let refused = try await create("b")
        #expect(refused.new == nil)
        #expect(refused.diagnostics.map(\.summary) == ["quota exceeded"])
        #expect(await fake.snapshot().keys.sorted() == ["a"])
        let error = await PluginTestSupport.providerError {
            _ = try await fake.read(
                ReadRequest(type: "fake_thing", address: "fake_thing.c", id: "c", prior: ResourceObject(id: "c", attributes: [:])))
        }
        #expect(error?.message == "connection reset")
    }

    @Test func fakeProviderDriftAndPersistence() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = FakeProvider()
        _ = try await fake.configure(ConfigureRequest(config: ["state_file": "fake.json"], workingDirectory: directory.path))
        let new = try #require(
            try await fake.apply(
                ApplyRequest(
                    type: "fake_thing", address: "fake_thing.x", action: .create, prior: nil, config: ["size": 3], planned: [:],
                    context: PluginTestSupport.context)
            ).new)
        #expect(await fake.mutate(id: new.id, attribute: "size", to: 4))
        let read = try await fake.read(ReadRequest(type: "fake_thing", address: "fake_thing.x", id: new.id, prior: new))
        #expect(read.current?.attributes["size"] == 4)

        let reloaded = FakeProvider()
        _ = try await reloaded.configure(ConfigureRequest(config: ["state_file": "fake.json"], workingDirectory: directory.path))
        #expect(await reloaded.snapshot()["x"]?["size"] == 4)
    }
}
