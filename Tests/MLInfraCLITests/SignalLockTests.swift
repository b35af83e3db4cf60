import Foundation
import Synchronization
import Testing

/// Output of a running process, read as it comes.
final class Transcript: Sendable {
    private let text = Mutex("")
    func append(_ data: Data) { text.withLock { $0 += String(decoding: data, as: UTF8.self) } }
    var value: String { text.withLock { $0 } }
}

/// `mlinfra-dev` run on a pseudo-terminal (util-linux `script`), as a user at a terminal runs it:
/// stdin is a terminal, and Ctrl-C typed into it reaches the command as the terminal's SIGINT.
final class TerminalRun: @unchecked Sendable {
    // `process`, `input` and `transcript` are set in init and only read after; Process is thread-safe for these calls.
    let process = Process()
    let input = Pipe()
    let transcript = Transcript()

    init(_ h: CLIHarness, _ args: [String]) throws {
        let command = ([CLIHarness.binary] + args).map { "'\($0)'" }.joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qfec", command, "/dev/null"]
        process.currentDirectoryURL = h.directory
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        environment["TERM"] = "dumb"
        process.environment = environment
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        // Typing into a terminal whose command has ended must not end the test process.
        signal(SIGPIPE, SIG_IGN)
        let transcript = self.transcript
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { transcript.append(data) }
        }
        try process.run()
    }

    /// Types into the terminal (`"\u{03}"` is Ctrl-C). A command that already ended reads nothing.
    func type(_ text: String) { try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }

    /// Waits for the command to end; its exit status.
    func wait() async -> Int32 {
        await CLIHarness.offThePool { [process] in process.waitUntilExit() }
        return process.terminationStatus
    }
}

@Suite(.serialized) struct SignalLockTests {
    func until(_ seconds: Double, _ check: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if check() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return check()
    }

    func lockPath(_ h: CLIHarness) -> String { h.directory.appendingPathComponent("state/e2e.mlstate.json.lock").path }

    /// The pid the lock file records.
    func lockHolder(_ h: CLIHarness) -> Int32? {
        guard let text = try? String(contentsOfFile: lockPath(h), encoding: .utf8),
            let range = text.range(of: #""pid"\s*:\s*(\d+)"#, options: .regularExpression)
        else { return nil }
        return Int32(text[range].split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
    }

    @Test func ctrlCAtTheApprovalPromptExits130AndReleasesTheLock() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        let run = try TerminalRun(h, ["apply"])
        #expect(await until(60) { run.transcript.value.contains("Enter a value:") }, "\(run.transcript.value)")
        #expect(FileManager.default.fileExists(atPath: lockPath(h)), "the prompt is asked holding the lock")
        run.type("\u{03}")
        #expect(await run.wait() == 130, "\(run.transcript.value)")
        #expect(!FileManager.default.fileExists(atPath: lockPath(h)), "no lock is left behind")
        #expect(h.objects().isEmpty)
        #expect(try await h.run("plan").status == 0, "the next command is not blocked")
    }

    @Test func sigtermAtTheApprovalPromptExits143AndReleasesTheLock() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        let run = try TerminalRun(h, ["apply"])
        #expect(await until(60) { run.transcript.value.contains("Enter a value:") }, "\(run.transcript.value)")
        let pid = try #require(lockHolder(h))
        kill(pid, SIGTERM)
        #expect(await run.wait() == 143, "\(run.transcript.value)")
        #expect(!FileManager.default.fileExists(atPath: lockPath(h)))
    }

    @Test func ctrlCDuringRefreshExits130AndReleasesTheLock() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        try h.write("main.yaml", diskSpec(count: 3, latency: "3s"))  // every read now takes 3 s
        let run = try TerminalRun(h, ["plan"])
        #expect(await until(60) { FileManager.default.fileExists(atPath: lockPath(h)) })
        try await Task.sleep(for: .milliseconds(300))
        run.type("\u{03}")
        #expect(await run.wait() == 130, "\(run.transcript.value)")
        #expect(!run.transcript.value.contains("Plan:"), "it was interrupted before its output")
        #expect(!FileManager.default.fileExists(atPath: lockPath(h)))
    }

    @Test func sigtermDuringRefreshExits143AndReleasesTheLock() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        try h.write("main.yaml", diskSpec(count: 3, latency: "3s"))
        let run = try TerminalRun(h, ["apply"])
        #expect(await until(60) { lockHolder(h) != nil })
        try await Task.sleep(for: .milliseconds(300))
        kill(try #require(lockHolder(h)), SIGTERM)
        #expect(await run.wait() == 143, "\(run.transcript.value)")
        #expect(!run.transcript.value.contains("Enter a value:"), "it was stopped while refreshing")
        #expect(!FileManager.default.fileExists(atPath: lockPath(h)))
    }

    @Test func sigintAtAnyMomentOfAPlanNeverLeavesTheLock() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 20))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        try h.write("main.yaml", diskSpec(count: 20, latency: "300ms"))  // refresh: two rounds of 300 ms
        var interrupted = 0
        for delay in [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.2] {
            let run = try TerminalRun(h, ["plan"])
            try await Task.sleep(for: .milliseconds(Int(delay * 1000) + 150))  // the binary's start-up, then the delay
            run.type("\u{03}")
            let status = await run.wait()
            #expect(status == 0 || status == 130, "delay \(delay): \(status) \(run.transcript.value)")
            if status == 130 { interrupted += 1 }
            #expect(!FileManager.default.fileExists(atPath: lockPath(h)), "delay \(delay) left the lock: \(run.transcript.value)")
        }
        #expect(interrupted > 0, "some runs were interrupted before they finished")
    }

    @Test func ctrlCWhileWaitingForTheLockExits130AndLeavesTheHoldersLockAlone() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3, latency: "1500ms"))
        let (holder, _, _) = h.process(["apply", "--auto-approve", "--parallelism", "1"])
        try holder.run()
        #expect(await until(60) { lockHolder(h) == holder.processIdentifier })
        let waiter = try TerminalRun(h, ["plan", "--lock-timeout", "60s"])
        try await Task.sleep(for: .milliseconds(700))
        waiter.type("\u{03}")
        #expect(await waiter.wait() == 130, "\(waiter.transcript.value)")
        #expect(lockHolder(h) == holder.processIdentifier, "the holder's lock is untouched")
        await CLIHarness.offThePool { holder.waitUntilExit() }
        #expect(holder.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: lockPath(h)))
    }
}
