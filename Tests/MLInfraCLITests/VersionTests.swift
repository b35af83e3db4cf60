import Testing
@testable import MLInfraCLI

@Suite struct VersionTests {
    @Test func commandNameIsMLInfra() {
        #expect(MLInfraCommand.configuration.commandName == "mlinfra")
    }
}
