import Foundation
import Testing

@testable import DriftMonitor

@Suite struct ReportTests {
    func report() throws -> DriftReport {
        let ref = (0..<500).map { Double($0 % 50) }, cur = (0..<400).map { Double($0 % 50) + 10 }
        let labels = (0..<500).map { ["a<b", "c&d"][$0 % 2] }
        let profile = try ReferenceProfile.build(
            from: DataTable(columns: ["<script>x</script>": .numerical(ref), "cat": .categorical(labels)], rowCount: 500), source: "ref.csv", sha256: "")
        return try DriftEvaluator.evaluate(
            monitor: "m\"1", profile: profile,
            current: DataTable(columns: ["<script>x</script>": .numerical(cur), "cat": .categorical(Array(labels.prefix(400)))], rowCount: 400),
            currentSource: "cur.csv", checks: [], time: Date(timeIntervalSince1970: 1_790_000_000))
    }

    @Test func htmlIsSelfContainedAndEscapesNames() throws {
        let html = ReportRenderer.html(try report())
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;x&lt;/script&gt;"))
        #expect(html.contains("a&lt;b") && html.contains("c&amp;d") && html.contains("m&quot;1"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="), "nothing is fetched")
        #expect(html.components(separatedBy: "<svg").count - 1 == 2, "one histogram per feature")
        #expect(html.contains("Drift detected"))
    }

    @Test func jsonCarriesEveryStatisticThresholdAndVerdict() throws {
        let json = try ReportRenderer.json(try report())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let features = try #require(object["features"] as? [[String: Any]])
        #expect(features.count == 2)
        for f in features {
            #expect(f["value"] is Double && f["threshold"] is Double && f["drifted"] is Bool && f["method"] is String)
        }
        #expect(object["dataset_drift"] as? Bool == true)
    }
}
