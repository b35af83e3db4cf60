import Foundation
import MLInfraTesting
import Testing

/// `mlinfra workspace …` and `--workspace` / MLINFRA_WORKSPACE: one state per environment, on both backends.
@Suite(.serialized) struct WorkspaceCommandTests {
    /// Runs the same workspace story on a spec; `env` carries the backend's settings.
    func story(_ h: CLIHarness, env: [String: String]) async throws {
        let new = try await h.run(["workspace", "new", "staging"], env: env)
        #expect(new.status == 0, "\(new.out)\(new.err)")
        #expect(try await h.run(["workspace", "show"], env: env).out == "staging\n")
        let apply = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        #expect(try await h.run(["plan", "--detailed-exitcode"], env: env).status == 0)

        #expect(try await h.run(["workspace", "select", "default"], env: env).status == 0)
        let list = try await h.run(["workspace", "list"], env: env)
        #expect(list.out == "* default\n  staging\n", "\(list.out)\(list.err)")
        // The default workspace has its own, empty state.
        #expect(try await h.run(["state", "list"], env: env).out.isEmpty)
        var staging = env
        staging["MLINFRA_WORKSPACE"] = "staging"
        #expect(try await h.run(["plan", "--detailed-exitcode"], env: staging).status == 0)
        let flagged = try await h.run(["state", "list", "--workspace", "staging"], env: env)
        #expect(flagged.out.contains("item.i0"), "\(flagged.out)\(flagged.err)")

        let refused = try await h.run(["workspace", "delete", "staging"], env: env)
        #expect(refused.status == 1)
        #expect(refused.err.contains("records 2 resource(s)"), "\(refused.err)")
        #expect(try await h.run(["workspace", "select", "nope"], env: env).status == 1)
        let deleted = try await h.run(["workspace", "delete", "staging", "--force"], env: env)
        #expect(deleted.status == 0, "\(deleted.out)\(deleted.err)")
        #expect(try await h.run(["workspace", "list"], env: env).out == "* default\n")
    }

    @Test func workspacesKeepSeparateLocalStates() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        try await story(h, env: [:])
        #expect(!FileManager.default.fileExists(atPath: h.directory.appendingPathComponent("state/e2e.mlstate.json.d/staging").path))
    }

    @Test func workspacesKeepSeparatePostgresStates() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("ws")
        let h = try CLIHarness()
        try h.write(
            "main.yaml", diskSpec(count: 2).replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: {}\n"))
        try await story(h, env: ["MLINFRA_PG_URL": server.url(database: database)])
    }
}

/// `mlinfra state history` and `state rollback` on the postgres backend.
@Suite(.serialized) struct StateHistoryTests {
    @Test func rollbackWritesAnOldVersionBackAsANewSerial() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("hist")
        let env = ["MLINFRA_PG_URL": server.url(database: database)]
        let h = try CLIHarness()
        let backend = "project: e2e\nbackend:\n  postgres: { schema: hist }\n"
        try h.write("main.yaml", diskSpec(count: 2).replacingOccurrences(of: "project: e2e\n", with: backend))
        #expect(try await h.run(["apply", "--auto-approve"], env: env).status == 0)
        #expect(try await h.run(["state", "rm", "item.i1"], env: env).status == 0)

        let history = try await h.run(["state", "history"], env: env)
        #expect(history.status == 0, "\(history.err)")
        let lines = history.out.split(separator: "\n")
        #expect(lines.count == 2, "\(history.out)")
        #expect(lines.first?.hasPrefix("2\t") == true && lines.first?.contains("state rm") == true, "\(history.out)")
        #expect(lines.last?.hasPrefix("1\t") == true && lines.last?.contains("apply") == true, "\(history.out)")
        #expect(try await h.run(["state", "history", "1"], env: env).out.contains("item.i1"))
        let diff = try await h.run(["state", "history", "1", "--diff", "2"], env: env)
        #expect(diff.status == 0, "\(diff.err)")
        #expect(diff.out == "# serial 1 → 2\n- item.i1\n", "\(diff.out)")
        let back = try await h.run(["state", "history", "2", "--diff", "1"], env: env)
        #expect(back.out.contains("+ item.i1") && !back.out.contains("item.i0"), "\(back.out)")

        let rollback = try await h.run(["state", "rollback", "1"], env: env)
        #expect(rollback.status == 0, "\(rollback.err)")
        #expect(rollback.out.contains("as serial 3"), "\(rollback.out)")
        #expect(try await h.run(["state", "list"], env: env).out.contains("item.i1"))
        #expect(try await h.run(["plan", "--detailed-exitcode"], env: env).status == 0)
    }

    @Test func historyOnTheLocalBackendSaysWhereToFindOne() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try await h.run("state", "history")
        #expect(r.status == 1)
        #expect(r.err.contains("the postgres backend keeps every version"), "\(r.err)")
    }
}

/// `state migrate`, `state pull` and `state push`: moving a state between backends, lineage and serial checked.
@Suite(.serialized) struct StateTransferTests {
    @Test func localStateMigratesToPostgresAndPushChecksLineageAndSerial() async throws {
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("mig")
        let env = ["MLINFRA_PG_URL": server.url(database: database)]
        let h = try CLIHarness()
        let local = diskSpec(count: 2)
        try h.write("main.yaml", local)
        #expect(try await h.run(["apply", "--auto-approve"], env: env).status == 0)
        let migrate = try await h.run(["state", "migrate", "--to-backend", "postgres:moved"], env: env)
        #expect(migrate.status == 0, "\(migrate.out)\(migrate.err)")
        #expect(!(migrate.out + migrate.err).contains(server.password))

        // The spec now points at PostgreSQL: nothing to change.
        try h.write("main.yaml", local.replacingOccurrences(of: "project: e2e\n", with: "project: e2e\nbackend:\n  postgres: { schema: moved }\n"))
        let plan = try await h.run(["plan", "--detailed-exitcode"], env: env)
        #expect(plan.status == 0, "\(plan.out)\(plan.err)")
        // A pulled copy, then one more write, so the copy falls behind.
        #expect(try await h.run(["state", "rm", "item.i1"], env: env).status == 0)
        let pull = try await h.run(["state", "pull", "pulled.json"], env: env)
        #expect(pull.status == 0, "\(pull.err)")
        #expect(try await h.run(["state", "list"], env: env).out == "item.i0\n")

        // A state of another lineage, from another project directory.
        let other = try CLIHarness()
        try other.write("main.yaml", diskSpec(count: 1))
        #expect(try await other.run(["apply", "--auto-approve"]).status == 0)
        let foreign = try #require(other.read("state/e2e.mlstate.json"))
        try h.write("foreign.json", foreign)
        let refused = try await h.run(["state", "push", "foreign.json"], env: env)
        #expect(refused.status == 1)
        #expect(refused.err.contains("lineage"), "\(refused.err)")
        let forced = try await h.run(["state", "push", "foreign.json", "--force"], env: env)
        #expect(forced.status == 0, "\(forced.err)")
        #expect(forced.err.contains("Warning: pushing"), "\(forced.err)")
        #expect(try await h.run(["state", "list"], env: env).out == "item.i0\n")
        // The pulled file is behind now (serial), so pushing it back needs --force too.
        let behind = try await h.run(["state", "push", "pulled.json"], env: env)
        #expect(behind.status == 1)
        #expect(behind.err.contains("is behind the stored serial"), "\(behind.err)")
    }
}
