import Foundation
import Testing

@Suite(.serialized) struct InterruptionTests {
    /// Waits until `path` (relative to the harness) exists, up to `seconds`.
    func wait(for check: () -> Bool, seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if check() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return check()
    }

    @Test func secondWriterFailsAtOnceWithTheHoldersDetailsThenWaits() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 4, latency: "1500ms"))
        let (slow, _, _) = h.process(["apply", "--auto-approve", "--parallelism", "1"])
        try slow.run()
        #expect(await wait(for: { FileManager.default.fileExists(atPath: h.directory.appendingPathComponent("state/e2e.mlstate.json.lock").path) }, seconds: 60))
        let blocked = try await h.run("plan")
        #expect(blocked.status == 1)
        #expect(blocked.err.contains("apply"), "\(blocked.err)")
        #expect(blocked.err.contains("\(slow.processIdentifier)"), "\(blocked.err)")
        let waited = try await h.run("plan", "--lock-timeout", "30s", "--detailed-exitcode")
        #expect(waited.status == 0, "\(waited.err)")
        await CLIHarness.offThePool { slow.waitUntilExit() }
        #expect(slow.terminationStatus == 0)
    }

    @Test func sigintStopsNewOperationsSavesStateAndExitsNonZero() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 12, latency: "300ms"))
        let (p, _, errPipe) = h.process(["apply", "--auto-approve", "--parallelism", "2"])
        try p.run()
        #expect(await wait(for: { h.objects().count >= 2 }, seconds: 20))
        kill(p.processIdentifier, SIGINT)
        let err = await CLIHarness.offThePool {
            let text = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return text
        }
        #expect(p.terminationStatus == 130, "an interrupted apply exits 130: \(err)")
        #expect(err.contains("Interrupt received"))
        let saved = try await h.stateAddresses()
        let made = h.objects()
        #expect(!saved.isEmpty && saved.count < 12)
        #expect(Set(made) == Set(saved), "every finished operation is in state")
        let finish = try await h.run("apply", "--auto-approve")
        #expect(finish.status == 0, "\(finish.err)")
        #expect(h.objects().count == 12)
        #expect(try await h.run("plan", "--detailed-exitcode").status == 0)
    }

    @Test func killNineAtManyPointsLosesNothingAndConverges() async throws {
        let h = try CLIHarness()
        let count = 30
        try h.write("main.yaml", diskSpec(count: count, latency: "40ms"))
        // Kill the apply at spread-out moments; each run picks up where the last one died.
        for delay in [0.05, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0] {
            let (p, _, _) = h.process(["apply", "--auto-approve", "--parallelism", "3"])
            try p.run()
            try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
            kill(p.processIdentifier, SIGKILL)
            await CLIHarness.offThePool { p.waitUntilExit() }
            // A lock left by a killed process is provably dead: the next command takes it over, saying so.
            let plan = try await h.run("plan")
            #expect(plan.status == 0, "\(plan.err)")
            #expect(!plan.err.contains("force-unlock"), "\(plan.err)")
            // Whatever state holds exists; at most the operations in flight are unrecorded.
            let recorded = try await h.stateAddresses().filter { !$0.isEmpty }
            #expect(recorded.isSubset(of: h.objects()))
            #expect(h.objects().count - recorded.count <= 3)
        }
        let finish = try await h.run("apply", "--auto-approve")
        #expect(finish.status == 0, "\(finish.err)")
        #expect(h.objects().count == count)
        #expect(try await h.stateAddresses().count == count)
        #expect(try await h.run("plan", "--detailed-exitcode").status == 0)
    }
}
