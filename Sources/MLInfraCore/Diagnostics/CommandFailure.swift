/// A command that could not do its work: a missing endpoint or store, an unreadable file, an
/// engine refusal. ArgumentParser prints it as `Error: <message>` and exits 1.
///
/// `ValidationError` is for a malformed command line only (exit 64, with the usage text); a
/// failure found while running is not the user's typing, and the usage text would hide it.
public struct CommandFailure: Error, CustomStringConvertible, Sendable, Hashable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
