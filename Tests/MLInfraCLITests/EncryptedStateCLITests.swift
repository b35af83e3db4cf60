import Foundation
import Testing

/// State encryption through the real binary: apply, plan files, tampering, rotation and migration.
@Suite struct EncryptedStateCLITests {
    static let keyA = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    static let keyB = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    static let statePath = "state/e2e.mlstate.json"

    static func enforced(_ key: String = keyA, fallback: String? = nil) -> [String: String] {
        var env = ["MLINFRA_STATE_ENCRYPTION": "enforced", "MLINFRA_STATE_KEY": key]
        if let fallback { env["MLINFRA_STATE_KEY_FALLBACK"] = fallback }
        return env
    }

    func bytes(_ h: CLIHarness, _ name: String) -> [UInt8] {
        (FileManager.default.contents(atPath: h.directory.appendingPathComponent(name).path)).map { [UInt8]($0) } ?? []
    }

    func flipMiddleByte(_ h: CLIHarness, _ name: String) throws {
        var b = bytes(h, name)
        let k = b.count / 2
        b[k] = b[k] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try Data(b).write(to: h.directory.appendingPathComponent(name))
    }

    @Test func applyAndASavedPlanAreEncryptedAndATamperedFileIsRefused() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3, label: "label-marker-91"))
        let env = Self.enforced()
        let apply = try await h.run("apply", "--auto-approve", env: env)
        #expect(apply.status == 0, "\(apply.err)")
        let state = String(decoding: bytes(h, Self.statePath), as: UTF8.self)
        #expect(state.hasPrefix("mlinfra-encrypted 1 state "))
        #expect(!state.contains("label-marker-91") && !state.contains("item.i0"))

        try h.write("main.yaml", diskSpec(count: 3, label: "label-marker-92"))
        let plan = try await h.run("plan", "--out", "change.plan", env: env)
        #expect(plan.status == 0, "\(plan.err)")
        let planText = String(decoding: bytes(h, "change.plan"), as: UTF8.self)
        #expect(planText.hasPrefix("mlinfra-encrypted 1 plan "))
        #expect(!planText.contains("label-marker-9"))
        let show = try await h.run("show", "change.plan", env: env)
        #expect(show.status == 0 && show.out.contains("item.i0"), "\(show.err)")

        let untouched = bytes(h, "change.plan")
        try flipMiddleByte(h, "change.plan")
        let tamperedPlan = try await h.run("apply", "change.plan", env: env)
        #expect(tamperedPlan.status == 1)
        #expect(tamperedPlan.err.contains("change.plan") && tamperedPlan.err.contains("failed authentication"), "\(tamperedPlan.err)")
        try Data(untouched).write(to: h.directory.appendingPathComponent("change.plan"))
        let applied = try await h.run("apply", "change.plan", env: env)
        #expect(applied.status == 0, "\(applied.err)")
        #expect(String(decoding: bytes(h, Self.statePath + ".backup"), as: UTF8.self).hasPrefix("mlinfra-encrypted 1 state "))

        try flipMiddleByte(h, Self.statePath)
        let tampered = try await h.run("plan", env: env)
        #expect(tampered.status == 1)
        for part in [Self.statePath, "failed authentication", "tampered", ".backup"] {
            #expect(tampered.err.contains(part), "\(part) missing: \(tampered.err)")
        }
        #expect(!tampered.err.contains(Self.keyA) && !tampered.out.contains(Self.keyA))
    }

    @Test func rotatingTheKeyNeedsTheOldOneAsFallbackUntilRekeyed() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        #expect(try await h.run("apply", "--auto-approve", env: Self.enforced(Self.keyA)).status == 0)
        let withoutFallback = try await h.run("plan", env: Self.enforced(Self.keyB))
        #expect(withoutFallback.status == 1)
        #expect(withoutFallback.err.contains("MLINFRA_STATE_KEY_FALLBACK"), "\(withoutFallback.err)")
        #expect(!withoutFallback.err.contains(Self.keyA) && !withoutFallback.err.contains(Self.keyB))
        let withFallback = try await h.run("plan", "--detailed-exitcode", env: Self.enforced(Self.keyB, fallback: Self.keyA))
        #expect(withFallback.status == 0, "\(withFallback.err)")
        let rekey = try await h.run("state", "rekey", env: Self.enforced(Self.keyB, fallback: Self.keyA))
        #expect(rekey.status == 0 && rekey.out.contains("Wrote serial"), "\(rekey.err)")
        let after = try await h.run("plan", "--detailed-exitcode", env: Self.enforced(Self.keyB))
        #expect(after.status == 0, "\(after.err)")
    }

    @Test func enforcedRefusesAnUnencryptedStateUntilRekeyAllowsItOnce() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2, label: "label-marker-93"))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        #expect(String(decoding: bytes(h, Self.statePath), as: UTF8.self).contains("label-marker-93"))
        let refused = try await h.run("plan", env: Self.enforced())
        #expect(refused.status == 1)
        #expect(refused.err.contains("not encrypted") && refused.err.contains("state rekey --allow-unencrypted"), "\(refused.err)")
        let migrate = try await h.run("state", "rekey", "--allow-unencrypted", env: Self.enforced())
        #expect(migrate.status == 0, "\(migrate.err)")
        #expect(!String(decoding: bytes(h, Self.statePath), as: UTF8.self).contains("label-marker-93"))
        let plan = try await h.run("plan", "--detailed-exitcode", env: Self.enforced())
        #expect(plan.status == 0, "\(plan.err)")
    }

    @Test func aLocalKeyFileEncryptsWhenAskedAndItsPlanFilesApply() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2, label: "label-marker-94"))
        let env = ["MLINFRA_STATE_ENCRYPTION": "on"]
        let plan = try await h.run("plan", "--out", "p.plan", env: env)
        #expect(plan.status == 0, "\(plan.err)")
        #expect(!String(decoding: bytes(h, "p.plan"), as: UTF8.self).contains("label-marker-94"))
        let apply = try await h.run("apply", "p.plan", env: env)
        #expect(apply.status == 0, "\(apply.err)")
        #expect(String(decoding: bytes(h, Self.statePath), as: UTF8.self).hasPrefix("mlinfra-encrypted 1 state "))
        #expect(FileManager.default.fileExists(atPath: h.directory.appendingPathComponent("state/.mlinfra-keys/e2e.mlstate.json.key").path))
    }
}
