import Testing
@testable import MLInfraCore

@Suite struct ResourceAddressTests {
    @Test func parsesPlainAndKeyedAddresses() {
        #expect(ResourceAddress(parsing: "model.fraud")?.description == "model.fraud")
        let keyed = ResourceAddress(parsing: "model.m[\"a b\"]")
        #expect(keyed?.key == "a b")
        #expect(keyed?.objectName == "m_a_b")
        #expect(ResourceAddress(parsing: "model") == nil)
        #expect(ResourceAddress(parsing: "a.b.c") == nil)
        #expect(ResourceAddress(parsing: "1a.b") == nil)
    }

    @Test(arguments: [("500ms", 0.5), ("30s", 30), ("5m", 300), ("90d", 7_776_000), ("1h30m", 5400)])
    func durationsParse(text: String, seconds: Double) {
        #expect(DurationText.seconds(text) == seconds)
    }

    @Test(arguments: ["", "5", "m", "5x", "-5s", "5 s"])
    func badDurationsAreRefused(text: String) {
        #expect(DurationText.seconds(text) == nil)
    }
}
