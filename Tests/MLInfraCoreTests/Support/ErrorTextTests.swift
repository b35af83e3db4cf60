import Foundation
@testable import MLInfraCore
import Testing

/// Library errors reach the user in words, not as Swift values.
@Suite struct ErrorTextTests {
    struct Port: Decodable { var port: Int }

    @Test func aDecodingErrorNamesThePathAndWhatWasExpected() throws {
        let error = try #require(throws: DecodingError.self) { try JSONDecoder().decode(Port.self, from: Data(#"{"port": "x"}"#.utf8)) }
        let text = ErrorText.describe(error)
        #expect(text == "the data is not in the expected form: at `port`, expected whole number", "\(text)")
        #expect(!text.contains("typeMismatch") && !text.contains("CodingKeys"))
        let missing = try #require(throws: DecodingError.self) { try JSONDecoder().decode(Port.self, from: Data("{}".utf8)) }
        #expect(ErrorText.describe(missing).contains("`port` is missing"))
    }

    @Test func aFileErrorSaysWhatAndWhere() {
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/mlinfra-error-text"))
            Issue.record("read a file that does not exist")
        } catch {
            let text = ErrorText.describe(error)
            #expect(text.contains("/nonexistent/mlinfra-error-text") || text.lowercased().contains("no such file"), "\(text)")
            #expect(!text.contains("Error Domain") && !text.contains("Code="), "\(text)")
        }
    }

    @Test func aSystemCallErrorLosesItsSignature() {
        #expect(ErrorText.systemCall("bind(descriptor:ptr:bytes:): Address already in use (errno: 98)") == "Address already in use")
        #expect(ErrorText.describe(POSIXError(.EADDRINUSE)) == "Address already in use")
    }

    @Test func ourOwnErrorsAreUnchanged() {
        let failure = CommandFailure("endpoint fraud is not ready")
        #expect(ErrorText.describe(failure) == "endpoint fraud is not ready")
        #expect(!ErrorText.isForeign(failure))
    }
}
