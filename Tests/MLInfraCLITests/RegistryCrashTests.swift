import Foundation
import Testing

/// `kill -9` of an apply that registers 200 real model versions, at moments spread over the
/// apply, each followed by an apply that finishes it: no version registered twice, none
/// orphaned, no temporary file left, and no `force-unlock` needed.
@Suite(.serialized) struct RegistryCrashTests {
    static let versions = 200
    /// Kill points: `MLINFRA_CRASH_POINTS` (the figure is 100; the default keeps the suite short).
    static let points = Int(ProcessInfo.processInfo.environment["MLINFRA_CRASH_POINTS"] ?? "") ?? 12

    static var spec: String {
        let names = (0..<versions).map { "m\($0).bin" }.joined(separator: ", ")
        return """
            mlinfra: 1
            project: crash
            providers:
              local: { data_dir: .mlinfra }
            variables:
              files: { type: list, default: [\(names)] }
            resources:
              registry.main: {}
              model.scorer: { registry: "${registry.main}" }
              model_version.v:
                for_each: ${var.files}
                model: ${model.scorer}
                artifact: models/${each.key}
                format: file
            """
    }

    struct Listing: Decodable {
        struct Version: Decodable {
            var version: Int
            var sha256: String
        }
        var versions: [Version]
    }

    @Test func killNineDuringRegistrationLeavesNoDuplicateOrphanOrTemporaryFile() async throws {
        var killedMidway = 0
        for point in 0..<Self.points {
            let h = try CLIHarness()
            try h.write("main.yaml", Self.spec)
            let models = h.directory.appendingPathComponent("models")
            try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
            for i in 0..<Self.versions { try Data("model \(i) \(UUID().uuidString)".utf8).write(to: models.appendingPathComponent("m\(i).bin")) }

            // Kill at a moment spread over the apply (it starts creating after about 0.3 s here).
            let (p, _, _) = h.process(["apply", "--auto-approve"])
            try p.run()
            try await Task.sleep(for: .milliseconds(250 + (point * 1_500) / max(1, Self.points)))
            kill(p.processIdentifier, SIGKILL)
            await CLIHarness.offThePool { p.waitUntilExit() }
            let recordedBefore = try await h.stateAddresses().filter { $0.hasPrefix("model_version.") }.count
            if recordedBefore < Self.versions { killedMidway += 1 }

            let finish = try await h.run("apply", "--auto-approve")
            #expect(finish.status == 0, "point \(point): \(finish.out)\(finish.err)")
            #expect(!finish.err.contains("force-unlock"), "\(finish.err)")
            let show = try await h.run("models", "show", "scorer", "--format", "json")
            let listing = try JSONDecoder().decode(Listing.self, from: Data(show.out.utf8))
            #expect(listing.versions.count == Self.versions, "point \(point): \(listing.versions.count) versions registered")
            #expect(Set(listing.versions.map(\.sha256)).count == Self.versions, "point \(point): a version was registered twice")
            #expect(try await h.stateAddresses().filter { $0.hasPrefix("model_version.") }.count == Self.versions)
            let temporary = (try? FileManager.default.contentsOfDirectory(atPath: h.directory.appendingPathComponent(".mlinfra/registry/artifacts/tmp").path)) ?? []
            #expect(temporary.isEmpty, "point \(point): temporary files left: \(temporary.prefix(3))")
            #expect(try await h.run("plan", "--detailed-exitcode").status == 0)
        }
        // Most kills must land mid-apply, or the test shows nothing.
        #expect(killedMidway * 2 >= Self.points, "only \(killedMidway) of \(Self.points) kills landed during the apply")
    }
}
