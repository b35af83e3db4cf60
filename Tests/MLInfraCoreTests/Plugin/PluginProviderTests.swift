import Foundation
import MLInfraCore
import MLInfraTesting
import Testing

/// How the plugin client copes with plugins that misbehave: every call returns or
/// throws a clear `ProviderError`, none hangs.
@Suite struct PluginProviderTests {
    static let planA = PlanRequest(type: "fake_thing", address: "fake_thing.a", prior: nil, proposed: ["size": 1])
    static let applyA = ApplyRequest(
        type: "fake_thing", address: "fake_thing.a", action: .create, prior: nil, config: ["size": 1], planned: [:],
        context: PluginTestSupport.context)

    @Test func mismatchedSha256IsRefusedBeforeThePluginRuns() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appendingPathComponent("ran")
        let command = try PluginTestSupport.script("#!/bin/sh\ntouch '\(marker.path)'\n", in: directory)
        let actual = try PluginSpec.sha256(ofFileAt: command)
        let wrong = String(repeating: "0", count: 64)
        let plugin = PluginProvider(spec: PluginSpec(name: "acme", command: command, sha256: wrong))

        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.schema() })
        #expect(error.message.contains("does not match its sha256"))
        #expect(error.detail.contains("expected sha256: \(wrong)"))
        #expect(error.detail.contains("actual sha256:   \(actual)"))
        #expect(error.detail.contains("sha256: \"\(actual)\""))
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the plugin ran despite the wrong hash")

        let again = try #require(await PluginTestSupport.providerError { _ = try await plugin.plan(Self.planA) })
        #expect(again.message == error.message)
        #expect(!FileManager.default.fileExists(atPath: marker.path))
    }

    @Test func missingSha256IsRefusedAndShowsTheHashToPin() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appendingPathComponent("ran")
        let command = try PluginTestSupport.script("#!/bin/sh\ntouch '\(marker.path)'\n", in: directory)
        let plugin = PluginProvider(spec: PluginSpec(name: "acme", command: command, sha256: nil))
        let error = try #require(await PluginTestSupport.providerError { try await plugin.start() })
        #expect(error.message.contains("sha256 is missing"))
        #expect(error.detail.contains(try PluginSpec.sha256(ofFileAt: command)))
        #expect(!FileManager.default.fileExists(atPath: marker.path))
    }

    @Test func matchingSha256RunsThePluginAndAnEarlyExitIsReported() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let marker = directory.appendingPathComponent("ran")
        let command = try PluginTestSupport.script(
            "#!/bin/sh\ntouch '\(marker.path)'\necho 'acme: cannot find my config' >&2\nexit 3\n", in: directory)
        let plugin = PluginProvider(spec: try PluginTestSupport.spec(name: "acme", command: command))
        let error = try #require(await PluginTestSupport.providerError { try await plugin.start() })
        #expect(FileManager.default.fileExists(atPath: marker.path))
        #expect(error.message.contains("exited with status 3 during `initialize`"), "\(error)")
        #expect(error.detail.contains("acme: cannot find my config"), "\(error)")
    }

    @Test func missingExecutableIsAClearError() async throws {
        let plugin = PluginProvider(spec: PluginSpec(name: "acme", command: "/nonexistent/acme-plugin", sha256: "00"))
        let error = try #require(await PluginTestSupport.providerError { try await plugin.start() })
        #expect(error.description.contains("/nonexistent/acme-plugin does not exist"))
    }

    @Test func protocolVersionMismatchIsAClearError() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let command = try PluginTestSupport.script(
            """
            #!/usr/bin/env python3
            import json, sys
            for line in sys.stdin:
                request = json.loads(line)
                print(json.dumps({"jsonrpc": "2.0", "id": request["id"],
                                  "result": {"name": "future", "version": "9.0.0", "protocol_version": 99}}), flush=True)
            """, in: directory)
        let plugin = PluginProvider(spec: try PluginTestSupport.spec(name: "future", command: command))
        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.schema() })
        #expect(error.message.contains("speaks plugin protocol version 99, but this mlinfra speaks version \(JSONRPC.protocolVersion)"))
        #expect(error.detail.contains("Upgrade mlinfra"))
        await plugin.shutdown()
    }

    @Test func errorAnswersAndMalformedResultsBecomeProviderErrors() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let command = try PluginTestSupport.script(
            """
            #!/usr/bin/env python3
            import json, sys
            for line in sys.stdin:
                request = json.loads(line)
                answer = {"jsonrpc": "2.0", "id": request["id"]}
                method = request["method"]
                if method == "initialize":
                    answer["result"] = {"name": "odd", "version": "1.0.0", "protocol_version": 1}
                elif method == "schema":
                    answer["result"] = {"name": 7, "version": "1.0.0", "resource_types": {}}
                elif method == "plan":
                    answer["error"] = {"code": -32000, "message": "backend down", "data": {"detail": "try again later"}}
                elif method == "shutdown":
                    answer["result"] = None
                else:
                    answer["result"] = {"current": {"id": 5}}
                print(json.dumps(answer), flush=True)
                if method == "shutdown":
                    break
            """, in: directory)
        let plugin = PluginProvider(spec: try PluginTestSupport.spec(name: "odd", command: command))
        let schemaError = try #require(await PluginTestSupport.providerError { _ = try await plugin.schema() })
        #expect(schemaError.message.contains("answered `schema` with a malformed result"), "\(schemaError)")
        let planError = try #require(await PluginTestSupport.providerError { _ = try await plugin.plan(Self.planA) })
        #expect(planError.message.contains("failed `plan` of fake_thing.a: backend down (error -32000)"), "\(planError)")
        #expect(planError.detail == "try again later")
        let readError = try #require(
            await PluginTestSupport.providerError {
                _ = try await plugin.read(
                    ReadRequest(type: "fake_thing", address: "fake_thing.a", id: "a", prior: ResourceObject(id: "a", attributes: [:])))
            })
        #expect(readError.message.contains("`current.id` must be a string, got int"), "\(readError)")
        await plugin.shutdown()
    }

    @Test func crashMidCallNamesTheCallAndTheLastStderrLines() async throws {
        let plugin = try PluginTestSupport.fakePlugin(environment: ["MLINFRA_FAKE_FAULT": "crash@apply"])
        let planned = try await plugin.plan(Self.planA)
        #expect(planned.planned["id"] == "a")
        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.apply(Self.applyA) })
        #expect(error.message.contains("exited with status 1 during `apply` of fake_thing.a"), "\(error)")
        #expect(error.detail.contains("crashing during apply as asked"), "\(error)")

        let later = try #require(await PluginTestSupport.providerError { _ = try await plugin.plan(Self.planA) })
        #expect(later.message.contains("is not running"), "\(later)")
        await plugin.shutdown()
    }

    @Test func garbageOnStdoutIsAClearErrorShowingTheLine() async throws {
        let plugin = try PluginTestSupport.fakePlugin(environment: ["MLINFRA_FAKE_FAULT": "garbage@plan"])
        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.plan(Self.planA) })
        #expect(error.message.contains("not JSON-RPC"), "\(error)")
        #expect(error.detail.contains("this is not JSON-RPC, it is a stray debug print"), "\(error)")
        let later = try #require(await PluginTestSupport.providerError { _ = try await plugin.schema() })
        #expect(later.message.contains("not JSON-RPC"))
        await plugin.shutdown()
    }

    @Test func longGarbageIsCutToTwoHundredCharacters() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let command = try PluginTestSupport.script(
            "#!/bin/sh\nread line\nprintf '%0500d\\n' 7\nexec sleep 5\n", in: directory)
        let plugin = PluginProvider(spec: try PluginTestSupport.spec(name: "noisy", command: command))
        let error = try #require(await PluginTestSupport.providerError { try await plugin.start() })
        #expect(error.detail.contains(String(repeating: "0", count: 200) + "…"), "\(error)")
        #expect(!error.detail.contains(String(repeating: "0", count: 201)))
        await plugin.shutdown()
    }

    @Test func answerToAnIdNeverSentIsAClearError() async throws {
        let plugin = try PluginTestSupport.fakePlugin(environment: ["MLINFRA_FAKE_FAULT": "badid@read"])
        let prior = ResourceObject(id: "a", attributes: [:])
        let error = try #require(
            await PluginTestSupport.providerError {
                _ = try await plugin.read(ReadRequest(type: "fake_thing", address: "fake_thing.a", id: "a", prior: prior))
            })
        #expect(error.message.contains("never sent (987654)"), "\(error)")
        await plugin.shutdown()
    }

    @Test func callThatNeverAnswersTimesOutAndOthersCarryOn() async throws {
        let plugin = try PluginTestSupport.fakePlugin(
            environment: ["MLINFRA_FAKE_FAULT": "hang@apply"], callTimeout: .milliseconds(500))
        let started = ContinuousClock.now
        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.apply(Self.applyA) })
        let elapsed = ContinuousClock.now - started
        #expect(error.message.contains("did not answer `apply` of fake_thing.a within"), "\(error)")
        // Far above the 0.5 s timeout, for a loaded machine; the point is that it returns.
        #expect(elapsed < .seconds(60))
        let planned = try await plugin.plan(Self.planA)
        #expect(planned.planned["size"] == 1)
        // The plugin waits for its hung call after `shutdown`, so it is ended after the grace period.
        let stopping = ContinuousClock.now
        await plugin.shutdown(grace: .milliseconds(300))
        #expect(ContinuousClock.now - stopping < .seconds(30))
    }

    @Test func pluginThatNeverAnswersTheHandshakeTimesOut() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let command = try PluginTestSupport.script("#!/bin/sh\nexec sleep 30\n", in: directory)
        var spec = try PluginTestSupport.spec(name: "mute", command: command)
        spec.startTimeout = .milliseconds(300)
        let plugin = PluginProvider(spec: spec)
        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.schema() })
        #expect(error.message.contains("did not answer `initialize` within"), "\(error)")
        let stopping = ContinuousClock.now
        await plugin.shutdown(grace: .milliseconds(300))
        #expect(ContinuousClock.now - stopping < .seconds(30))
    }

    @Test func largeMessagesCrossIntact() async throws {
        let plugin = try PluginTestSupport.fakePlugin()
        let big = String(repeating: "0123456789abcdef", count: 131_072) + "\n\"é😀"
        let response = try await plugin.plan(
            PlanRequest(type: "fake_thing", address: "fake_thing.big", prior: nil, proposed: ["size": 1, "tags": ["blob": .string(big)]]))
        await plugin.shutdown()
        #expect(response.planned["tags"]?["blob"]?.stringValue == big)
    }

    @Test func concurrentCallsOverlapInOnePluginProcess() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let stats = directory.appendingPathComponent("stats.json")
        let plugin = try PluginTestSupport.fakePlugin(environment: ["MLINFRA_FAKE_LATENCY_MS": "500", "MLINFRA_FAKE_STATS": stats.path])
        try await plugin.start()
        let results = try await withThrowingTaskGroup(of: PlanResponse.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await plugin.plan(
                        PlanRequest(type: "fake_thing", address: "fake_thing.t\(index)", prior: nil, proposed: ["size": .int(index)]))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        await plugin.shutdown()
        #expect(results.count == 8)
        #expect(Set(results.compactMap { $0.planned["id"]?.stringValue }) == Set((0..<8).map { "t\($0)" }))
        let observed = try JSONDecoder().decode(Value.self, from: Data(contentsOf: stats))
        #expect(observed["calls"] == 8)
        #expect((observed["max_in_flight"]?.intValue ?? 0) > 1, "the plugin saw \(observed.rendered)")
    }

    @Test func shutdownStopsThePluginAndLaterCallsFail() async throws {
        let plugin = try PluginTestSupport.fakePlugin()
        _ = try await plugin.schema()
        await plugin.shutdown()
        let error = try #require(await PluginTestSupport.providerError { _ = try await plugin.schema() })
        #expect(error.message.contains("shut down"))
        await plugin.shutdown()
    }

    @Test func pluginSpecIsReadFromASpecEntry() throws {
        let (spec, config) = try PluginSpec.parse(
            name: "acme",
            entry: [
                "command": "./bin/acme", "args": ["--fast"], "env": ["REGION": "eu", "LEVEL": 3], "sha256": "abc",
                "timeout": "2m", "config": ["zone": "a"],
            ],
            specDirectory: "/srv/infra")
        #expect(spec.command == "./bin/acme")
        #expect(try spec.resolvedExecutable() == "/srv/infra/bin/acme")
        #expect(spec.arguments == ["--fast"])
        #expect(spec.environment == ["REGION": "eu", "LEVEL": "3"])
        #expect(spec.callTimeout == .seconds(120))
        #expect(config == ["zone": "a"])

        #expect(throws: ProviderError.self) { try PluginSpec.parse(name: "acme", entry: ["comand": "x"], specDirectory: "/") }
        #expect(throws: ProviderError.self) {
            try PluginSpec.parse(name: "acme", entry: ["command": "x", "timeout": "soon"], specDirectory: "/")
        }
    }
}
