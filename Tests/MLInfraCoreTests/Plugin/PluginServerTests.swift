import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

/// The server side of the plugin protocol: JSON-RPC error answers, and requests served concurrently.
@Suite struct PluginServerTests {
    static func answer(_ server: PluginServer, _ line: String) async throws -> Value {
        let data = try #require(await server.handle(line: Data(line.utf8)))
        return try JSONDecoder().decode(Value.self, from: data)
    }

    static func errorCode(_ answer: Value) -> Int? { answer["error"]?["code"]?.intValue }

    let server = PluginServer(provider: FakeProvider(), name: "fake", version: "1.2.3")

    @Test func initializeAnswersNameVersionAndProtocol() async throws {
        let answer = try await Self.answer(
            server, #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol_version":1,"mlinfra_version":"0.1.0"}}"#)
        #expect(answer["id"] == 1)
        #expect(answer["result"] == ["name": "fake", "version": "1.2.3", "protocol_version": 1])
        let future = try await Self.answer(
            server, #"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocol_version":7}}"#)
        #expect(Self.errorCode(future) == JSONRPC.ErrorCode.unsupportedProtocol)
    }

    @Test(arguments: [
        (#"{"jsonrpc":"2.0","id":1,"method":"#, JSONRPC.ErrorCode.parseError),
        ("\u{FF}\u{FE}binary", JSONRPC.ErrorCode.parseError),
        (#"[1,2,3]"#, JSONRPC.ErrorCode.invalidRequest),
        (#"{"id":1,"method":"schema"}"#, JSONRPC.ErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1,"method":42}"#, JSONRPC.ErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":{"x":1},"method":"schema"}"#, JSONRPC.ErrorCode.invalidRequest),
        (#"{"jsonrpc":"2.0","id":1,"method":"destroy_everything"}"#, JSONRPC.ErrorCode.methodNotFound),
        (#"{"jsonrpc":"2.0","id":1,"method":"plan","params":{"type":"fake_thing"}}"#, JSONRPC.ErrorCode.invalidParams),
        (#"{"jsonrpc":"2.0","id":1,"method":"plan","params":[1]}"#, JSONRPC.ErrorCode.invalidParams),
        (
            #"{"jsonrpc":"2.0","id":1,"method":"apply","params":{"type":"fake_thing","address":"fake_thing.a","action":"explode","config":{}}}"#,
            JSONRPC.ErrorCode.invalidParams
        ),
    ])
    func badRequestsGetTheirJSONRPCErrorCode(line: String, code: Int) async throws {
        let answer = try await Self.answer(server, line)
        #expect(Self.errorCode(answer) == code, "\(answer.rendered)")
        #expect(answer["jsonrpc"] == "2.0")
        #expect(answer["error"]?["message"]?.stringValue?.isEmpty == false)
    }

    @Test func invalidParamsNameTheField() async throws {
        let answer = try await Self.answer(
            server,
            #"{"jsonrpc":"2.0","id":"x","method":"read","params":{"type":"fake_thing","address":"fake_thing.a","id":"a","prior":{"id":5}}}"#)
        #expect(answer["id"] == "x")
        #expect(answer["error"]?["message"] == "invalid params: `prior.id` must be a string, got int")
    }

    @Test func providerFailuresBecomeErrorAnswers() async throws {
        let fake = FakeProvider()
        await fake.inject(.thrown("backend unreachable"), for: "fake_thing.a")
        let server = PluginServer(provider: fake, name: "fake", version: "1")
        let answer = try await Self.answer(
            server,
            #"{"jsonrpc":"2.0","id":9,"method":"apply","params":{"type":"fake_thing","address":"fake_thing.a","action":"create","prior":null,"config":{"size":1},"planned":{},"context":{"actor":"t"}}}"#
        )
        #expect(Self.errorCode(answer) == JSONRPC.ErrorCode.providerError)
        #expect(answer["error"]?["message"] == "backend unreachable")
    }

    @Test func notificationsGetNoAnswer() async throws {
        #expect(await server.handle(line: Data(#"{"jsonrpc":"2.0","method":"schema"}"#.utf8)) == nil)
        #expect(await server.handle(line: Data(#"{"jsonrpc":"2.0","method":"$/whatever"}"#.utf8)) == nil)
    }

    @Test func unknownValuesKeepTheirMarkerBothWays() async throws {
        let answer = try await Self.answer(
            server,
            #"{"jsonrpc":"2.0","id":3,"method":"plan","params":{"type":"fake_thing","address":"fake_thing.a","prior":null,"proposed":{"size":{"$mlinfra_unknown":true}}}}"#
        )
        #expect(answer["result"]?["planned"]?["size"] == .unknown)
        #expect(answer["result"]?["planned"]?["created_at"] == .unknown)
        let line = try #require(await server.handle(line: Data(#"{"jsonrpc":"2.0","id":3,"method":"plan","params":{"type":"fake_thing","address":"fake_thing.a","proposed":{"size":{"$mlinfra_unknown":true}}}}"#.utf8)))
        #expect(String(decoding: line, as: UTF8.self).contains(#""size":{"$mlinfra_unknown":true}"#))
    }

    /// Runs the server over pipes, writes `lines`, and returns the answers once it stops.
    static func serve(
        _ provider: any Provider, lines: [String], closeInput: Bool = false, drainTimeout: Duration = .seconds(30)
    ) async throws -> [Value] {
        let toServer = Pipe()
        let fromServer = Pipe()
        let server = PluginServer(
            provider: provider, name: "fake", version: "1", input: toServer.fileHandleForReading,
            output: fromServer.fileHandleForWriting, drainTimeout: drainTimeout)
        let running = Task { try await server.run() }
        try toServer.fileHandleForWriting.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
        if closeInput { try toServer.fileHandleForWriting.close() }
        try await running.value
        try fromServer.fileHandleForWriting.close()
        let output = try fromServer.fileHandleForReading.readToEnd() ?? Data()
        if !closeInput { try toServer.fileHandleForWriting.close() }
        return try output.split(separator: 0x0A).map { try JSONDecoder().decode(Value.self, from: Data($0)) }
    }

    @Test func serverSurvivesBadLinesAndStopsOnShutdown() async throws {
        let answers = try await Self.serve(
            FakeProvider(),
            lines: [
                "not json at all",
                #"{"jsonrpc":"2.0","id":1,"method":"nope"}"#,
                #"{"jsonrpc":"2.0","id":2,"method":"schema"}"#,
                #"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#,
            ])
        let byID = Dictionary(answers.map { ($0["id"] ?? .null, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(Self.errorCode(byID[.null] ?? .null) == JSONRPC.ErrorCode.parseError)
        #expect(Self.errorCode(byID[1] ?? .null) == JSONRPC.ErrorCode.methodNotFound)
        #expect(byID[2]?["result"]?["name"] == "fake")
        #expect(byID[3]?["result"] == .null)
        #expect(byID[3]?["error"] == nil)
    }

    @Test func serverStopsAtEndOfInputWithoutWaitingForeverOnAHungCall() async throws {
        let hung = FakeProvider(latency: .seconds(3600))
        let started = ContinuousClock.now
        let answers = try await Self.serve(
            hung,
            lines: [
                #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol_version":1}}"#,
                #"{"jsonrpc":"2.0","id":2,"method":"schema"}"#,
            ], closeInput: true, drainTimeout: .milliseconds(300))
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(answers.map { $0["id"] } == [1])
    }

    @Test func serverHandlesRequestsConcurrently() async throws {
        let fake = FakeProvider(latency: .milliseconds(500))
        var lines = (1...6).map { index in
            #"{"jsonrpc":"2.0","id":\#(index),"method":"plan","params":{"type":"fake_thing","address":"fake_thing.t\#(index)","proposed":{"size":1}}}"#
        }
        lines.append(#"{"jsonrpc":"2.0","id":99,"method":"shutdown"}"#)
        let answers = try await Self.serve(fake, lines: lines)
        #expect(answers.count == 7)
        #expect(answers.filter { $0["result"]?["planned"] != nil }.count == 6)
        #expect(await fake.maxInFlight > 1)
        #expect(await fake.callCount("plan") == 6)
    }
}
