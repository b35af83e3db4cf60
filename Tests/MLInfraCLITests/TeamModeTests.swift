import Foundation
import MLInfraTesting
import Testing

/// Team mode through the real binaries: runners that share nothing but a copy of the spec and
/// one PostgreSQL server (plus, until the engines live on shared services, their data directory).
@Suite(.serialized) struct TeamModeTests {
    static var mlinfra: String { CLIHarness.productsDirectory.appendingPathComponent("mlinfra").path }

    /// The quickstart spec with its state on the postgres backend and the engines' files in `${var.data_dir}`.
    static func teamQuickstart(into h: CLIHarness) throws {
        let source = QuickstartTests.quickstart
        var spec = try String(contentsOf: source.appendingPathComponent("main.yaml"), encoding: .utf8)
        let providers = "providers:\n  local: { data_dir: .mlinfra }\n"
        #expect(spec.contains(providers))
        spec = spec.replacingOccurrences(
            of: providers,
            with: """
                variables:
                  pg_url: { type: string, sensitive: true }
                  data_dir: { type: string }
                backend:
                  postgres: { url: "${var.pg_url}", schema: mlinfra }
                providers:
                  local: { data_dir: "${var.data_dir}" }

                """)
        try h.write("main.yaml", spec)
        for name in try FileManager.default.contentsOfDirectory(atPath: source.appendingPathComponent("models").path) {
            try h.write("models/\(name)", String(contentsOf: source.appendingPathComponent("models/\(name)"), encoding: .utf8))
        }
    }

    @Test func prPlanOnOneRunnerIsAppliedOnAnotherAndAThirdSeesNoChanges() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("team")
        let shared = try CLIHarness()  // the engines' data directory, as a network mount would be
        let env = ["MLINFRA_VAR_pg_url": server.url(database: database), "MLINFRA_VAR_data_dir": shared.directory.path]
        let runners = try (0..<3).map { _ in try CLIHarness(binary: Self.mlinfra) }
        for r in runners { try Self.teamQuickstart(into: r) }
        var outputs: [String] = []

        // Runner 1: the pull request's plan, posted as Markdown and saved.
        let pr = try await runners[0].run(["plan", "--format", "markdown", "--detailed-exitcode", "--out", "plan.mlplan"], env: env)
        outputs.append(pr.out + pr.err)
        #expect(pr.status == 2, "\(pr.out)\(pr.err)")
        #expect(pr.out.contains("5 to add"), "\(pr.out)")
        let planFile = try #require(runners[0].read("plan.mlplan"))
        #expect(!planFile.contains(server.password))

        // Runner 2, after merge: applies the saved plan (handed over as a CI artifact).
        try runners[1].write("plan.mlplan", planFile)
        let apply = try await runners[1].run(["apply", "plan.mlplan"], env: env)
        outputs.append(apply.out + apply.err)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        #expect(apply.out.contains("Apply complete!"), "\(apply.out)")

        // Runner 3: a later plan sees the applied state in PostgreSQL.
        let after = try await runners[2].run(["plan", "--detailed-exitcode"], env: env)
        outputs.append(after.out + after.err)
        #expect(after.status == 0, "\(after.out)\(after.err)")
        #expect(after.out.contains("No changes."), "\(after.out)")

        // The same plan file applied again, from another runner: refused, naming the version it produced.
        try runners[2].write("plan.mlplan", planFile)
        let again = try await runners[2].run(["apply", "plan.mlplan"], env: env)
        outputs.append(again.out + again.err)
        #expect(again.status == 1)
        #expect(again.err.contains("was already applied: it produced state serial 1"), "\(again.err)")

        for text in outputs { #expect(!text.contains(server.password), "the database password was printed: \(text)") }
        for r in runners { #expect(!FileManager.default.fileExists(atPath: r.directory.appendingPathComponent("state").path)) }
    }

    @Test func twoAppliesStartedTogetherOneProceedsTheOtherNamesTheHolder() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("race")
        let env = ["MLINFRA_PG_URL": server.url(database: database)]
        let runners = try (0..<2).map { _ in try CLIHarness() }
        var spec = diskSpec(count: 2, latency: "1s")
        spec = spec.replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: { schema: race }\n")
        for r in runners { try r.write("main.yaml", spec) }
        let trials = 20
        for trial in 0..<trials {
            let args = ["apply", "--auto-approve", "--workspace", "trial-\(trial)"]
            let processes = runners.map { $0.process(args, env: env) }
            for (p, _, _) in processes { try p.run() }
            let results = await CLIHarness.offThePool {
                processes.map { p, out, err -> (pid: Int32, status: Int32, out: String, err: String) in
                    let o = out.fileHandleForReading.readDataToEndOfFile()
                    let e = err.fileHandleForReading.readDataToEndOfFile()
                    p.waitUntilExit()
                    return (p.processIdentifier, p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
                }
            }
            let winners = results.filter { $0.status == 0 }
            let losers = results.filter { $0.status != 0 }
            #expect(winners.count == 1 && losers.count == 1, "trial \(trial): \(results.map { "\($0.status): \($0.err)" })")
            if let winner = winners.first, let loser = losers.first {
                #expect(loser.err.contains("the state is locked by"), "trial \(trial): \(loser.err)")
                #expect(loser.err.contains("(pid \(winner.pid))"), "trial \(trial): the loser did not name the winner: \(loser.err)")
                #expect(loser.err.contains("operation \"apply\""), "trial \(trial): \(loser.err)")
            }
            for r in results { #expect(!(r.out + r.err).contains(server.password)) }
        }
    }

    @Test func killNineAtTwentyPointsOfAnApplyLosesNothingAndConverges() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("crash")
        let env = ["MLINFRA_PG_URL": server.url(database: database)]
        let h = try CLIHarness()
        let count = 60
        try h.write(
            "main.yaml",
            diskSpec(count: count, latency: "40ms").replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: {}\n"))
        // Kill the apply at spread-out moments; each run picks up where the last one died.
        var unrecorded: Set<String> = []
        for k in 0..<20 {
            let (p, _, _) = h.process(["apply", "--auto-approve", "--parallelism", "3"], env: env)
            try p.run()
            try await Task.sleep(for: .milliseconds(60 + 45 * k))
            kill(p.processIdentifier, SIGKILL)
            await CLIHarness.offThePool { p.waitUntilExit() }
            // The killed holder's session ended with it: the next command takes the lock and recovers the journal.
            let list = try await h.run(["state", "list"], env: env)
            #expect(list.status == 0, "kill \(k): \(list.err)")
            let recorded = Set(list.out.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") })
            #expect(recorded.isSubset(of: h.objects()), "kill \(k): recorded but not created: \(recorded.subtracting(h.objects()))")
            // At most the operations in flight (parallelism 3) are new among the created-but-unrecorded objects; those an
            // earlier kill left are created again (the same object) by a later apply, which may itself die before it gets to them.
            let now = h.objects().subtracting(recorded)
            #expect(now.subtracting(unrecorded).count <= 3, "kill \(k): \(now.subtracting(unrecorded).sorted()) newly unrecorded")
            unrecorded = now
        }
        let finish = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(finish.status == 0, "\(finish.err)")
        #expect(h.objects().count == count)
        let list = try await h.run(["state", "list"], env: env)
        #expect(list.out.split(separator: "\n").count == count)
        #expect(try await h.run(["plan", "--detailed-exitcode"], env: env).status == 0)
    }

    @Test func serverRestartedDuringAnApplyFailsItCleanlyAndTheNextOneConverges() async throws {
        let server = try await PostgresTestServer.start()
        defer { server.stop() }
        let env = ["MLINFRA_PG_URL": server.url()]
        let h = try CLIHarness()
        let count = 20
        try h.write(
            "main.yaml",
            diskSpec(count: count, latency: "100ms").replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: {}\n"))
        let (p, out, err) = h.process(["apply", "--auto-approve", "--parallelism", "2"], env: env)
        try p.run()
        try await Task.sleep(for: .milliseconds(500))
        try await server.restart()
        let (status, text) = await CLIHarness.offThePool { () -> (Int32, String) in
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o + e, as: UTF8.self))
        }
        #expect(status == 1, "\(text)")
        #expect(!text.contains(server.password))
        let again = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(again.status == 0, "\(again.out)\(again.err)")
        #expect(h.objects().count == count)
        #expect(try await h.run(["plan", "--detailed-exitcode"], env: env).status == 0)
    }

    @Test func theBackendURLAndItsPasswordAreNeverPrintedNotEvenInErrors() async throws {
        let server = try await PostgresTestServer.shared()
        let secret = "Pw-\(UUID().uuidString.prefix(10))"
        let h = try CLIHarness()
        let spec = diskSpec(count: 1).replacingOccurrences(
            of: "project: e2e\n",
            with: "project: e2e\nvariables:\n  pg_url: { type: string, sensitive: true }\nbackend:\n  postgres: { url: \"${var.pg_url}\" }\n")
        try h.write("main.yaml", spec)
        let cases = [
            "postgres://\(server.username):\(secret)@127.0.0.1:\(server.port)/postgres",  // wrong password
            "postgres://\(server.username):\(secret)@127.0.0.1:1/postgres",  // nothing listens there
            "postgres://\(server.username):\(secret)@127.0.0.1:\(server.port)/postgres?sslmode=bogus",  // unreadable URL
        ]
        for url in cases {
            for args in [["plan"], ["apply", "--auto-approve"], ["state", "list"], ["force-unlock", "x"]] {
                let r = try await h.run(args, env: ["MLINFRA_VAR_pg_url": url])
                #expect(r.status == 1, "\(args): \(r.out)\(r.err)")
                #expect(!(r.out + r.err).contains(secret), "\(args) printed the password: \(r.out)\(r.err)")
                #expect(!(r.out + r.err).contains(url))
            }
        }
        // The real password is not printed either, on success.
        let ok = try await h.run(["apply", "--auto-approve"], env: ["MLINFRA_VAR_pg_url": server.url()])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(!(ok.out + ok.err).contains(server.password))
    }

    @Test func aPasswordInAURLThatIsNotSensitiveIsWarnedAbout() async throws {
        let server = try await PostgresTestServer.shared()
        let h = try CLIHarness()
        let spec = diskSpec(count: 1).replacingOccurrences(
            of: "project: e2e\n",
            with: "project: e2e\nvariables:\n  pg_url: { type: string }\nbackend:\n  postgres: { url: \"${var.pg_url}\", schema: warned }\n")
        try h.write("main.yaml", spec)
        let r = try await h.run(["plan"], env: ["MLINFRA_VAR_pg_url": server.url()])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("holds a password but does not come from a sensitive variable"), "\(r.err)")
        #expect(!r.err.contains(server.password))
    }

    @Test func aPostgresBackendWithoutAURLSaysWhereToGiveOne() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1).replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: { schema: x, port: 5 }\n"))
        let r = try await h.run(["plan"], env: ["MLINFRA_PG_URL": ""])
        #expect(r.status == 1)
        #expect(r.err.contains("unknown setting `port` for the postgres backend"), "\(r.err)")
        try h.write("main.yaml", diskSpec(count: 1).replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: { schema: x }\n"))
        let missing = try await h.run(["plan"], env: ["MLINFRA_PG_URL": ""])
        #expect(missing.status == 1)
        #expect(missing.err.contains("the postgres backend has no URL") && missing.err.contains("MLINFRA_PG_URL"), "\(missing.err)")
    }
}
