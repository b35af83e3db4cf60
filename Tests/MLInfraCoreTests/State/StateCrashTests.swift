import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

/// `kill -9` of a process appending to the journal (and committing it every 20 entries)
/// loses at most the entry being written, and the next read recovers everything acknowledged.
///
/// The appending process is this test binary itself, re-run with a filter that selects
/// `childAppendsUntilKilled` and an environment variable naming the state file.
@Suite struct StateCrashTests {
    static let childVariable = "MLINFRA_STATE_CRASH_CHILD"

    /// The child half of the crash test: without the variable (a normal test run) it has nothing to do.
    @Test func childAppendsUntilKilled() async throws {
        guard let path = ProcessInfo.processInfo.environment[Self.childVariable] else { return }
        let store = LocalStateStore(path: path)
        var state = try await store.read() ?? StateFile.new()
        var next = state.count
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        while true {
            try await store.beginJournal(base: state)
            for _ in 0..<20 {
                let r = StateStoreConformance.sampleResource("endpoint.e\(next)")
                try await store.append(.upsert(r))
                state.upsert(r)
                FileHandle.standardOutput.write(Data("\(next)\n".utf8))
                next += 1
            }
            state.serial = try await store.commitJournal(state)
        }
    }

    @Test func killDashNineLosesAtMostTheEntryInFlight() async throws {
        let dir = StateTestDirectory()
        defer { dir.remove() }
        let path = dir.path + "/state.json"
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var acknowledged = -1
        for round in 0..<4 {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: binary)
            child.arguments = ["--testing-library", "swift-testing", "--filter", "StateCrashTests/childAppendsUntilKilled"]
            child.environment = ProcessInfo.processInfo.environment.merging([Self.childVariable: path]) { _, new in new }
            let out = Pipe()
            child.standardOutput = out
            child.standardError = FileHandle.nullDevice
            try child.run()
            let reader = out.fileHandleForReading
            var seen = await offThePool {
                var text = ""
                while !text.contains("ready") {
                    let data = reader.availableData
                    if data.isEmpty { break }
                    text += String(decoding: data, as: UTF8.self)
                }
                return text
            }
            #expect(seen.contains("ready"), "round \(round): the child did not start: \(seen)")
            try await Task.sleep(for: .milliseconds(150 + 110 * round))
            kill(child.processIdentifier, SIGKILL)
            seen += await offThePool {
                child.waitUntilExit()
                return String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
            }
            let acks = seen.split(separator: "\n").compactMap { Int($0) }
            acknowledged = acks.last ?? acknowledged

            // Killed before its first append (a slow start on a loaded machine): nothing was acknowledged, nothing is there.
            guard let recovered = try await LocalStateStore(path: path).read() else {
                #expect(acknowledged < 0, "round \(round): acknowledged entry \(acknowledged) was lost with the whole state")
                continue
            }
            let present = (0..<(acknowledged + 50)).filter { recovered.resource("endpoint.e\($0)") != nil }
            let highest = present.last ?? -1
            #expect(present == (highest >= 0 ? Array(0...highest) : []), "round \(round): entries are missing in the middle: \(present)")
            #expect(highest >= acknowledged, "round \(round): acknowledged entry \(acknowledged) was lost (highest kept \(highest))")
            #expect(highest <= acknowledged + 1, "round \(round): more than the one entry in flight appeared")
            #expect(recovered.count == present.count)
            #expect(!FileManager.default.fileExists(atPath: path + ".journal"), "round \(round): recovery left the journal")
            acknowledged = highest
        }
        #expect(acknowledged > 0, "the child never acknowledged an append")
    }
}
