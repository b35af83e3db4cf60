import Foundation
import MLInfraCore
import MLInfraCoreTesting
import MonitoringProvider
import Testing

/// `ProviderConformance` against the monitoring provider, on a real drift monitor in a temporary directory.
@Suite struct MonitoringProviderConformanceTests {
    @Test func monitorConforms() async throws {
        let directory = try ProviderConformance.temporaryDirectory("monitor")
        defer { try? FileManager.default.removeItem(at: directory) }
        let reference = directory.appendingPathComponent("reference.csv").path
        let current = directory.appendingPathComponent("current.csv").path
        try "amount,country\n10.5,de\n12.0,fr\n9.75,de\n11.0,it\n".write(toFile: reference, atomically: true, encoding: .utf8)
        try "amount,country\n30.5,de\n32.0,fr\n29.75,es\n31.0,es\n".write(toFile: current, atomically: true, encoding: .utf8)
        let checks: Value = [["feature": "amount", "method": "psi", "threshold": 0.2]]
        let fixture = ProviderConformance.Fixture(
            providerConfig: ["data_dir": ".mlinfra"], workingDirectory: directory.path, type: "monitor", address: "monitor.drift",
            create: ["dataset": .string(current), "reference": .string(reference), "schedule": "0 * * * *", "checks": checks],
            update: ["dataset": .string(current), "reference": .string(reference), "schedule": "30 * * * *", "checks": checks],
            replace: ["dataset": .string(current), "reference": .string(reference), "schedule": "0 * * * *", "checks": checks, "name": "renamed"],
            invalid: ["dataset": .string(current), "reference": .string(reference), "schedule": "every hour"],
            unknownAttribute: "dataset")
        let report = await ProviderConformance(provider: MonitoringProvider(), fixture: fixture).run()
        #expect(report.passed, "\(report)")
    }
}
