import Foundation

/// A registry failure: what went wrong, about which object, and how to fix it.
public struct RegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case invalidArgument
        case invalidURI
        case modelNotFound
        case modelExists
        case versionNotFound
        case aliasNotFound
        case noVersionInStage
        case protectedAlias
        case versionHasAliases
        case artifactUnreadable
        case artifactMissing
        case artifactCorrupted
        /// The storage (a PostgreSQL server) could not be reached or refused the change.
        case storageUnavailable
        /// No such experiment, run, logged model or tracked artifact.
        case trackingNotFound
        /// An experiment of that name exists.
        case trackingExists
    }

    public var code: Code
    public var message: String
    /// How to fix it.
    public var remedy: String
    /// The argument the error concerns, when it is about one (HTTP answers name it).
    public var field: String?

    public init(_ code: Code, _ message: String, remedy: String = "", field: String? = nil) {
        self.code = code
        self.message = message
        self.remedy = remedy
        self.field = field
    }

    public var description: String { remedy.isEmpty ? message : "\(message)\n  \(remedy)" }

    public static func modelNotFound(_ name: String) -> RegistryError {
        RegistryError(
            .modelNotFound, "model '\(name)' is not registered",
            remedy: "List models with `mlinfra models list`, or register one with `mlinfra models register \(name) --artifact PATH`.",
            field: "name")
    }

    public static func versionNotFound(_ name: String, _ version: Int) -> RegistryError {
        RegistryError(
            .versionNotFound, "model '\(name)' has no version \(version)",
            remedy: "See its versions with `mlinfra models show \(name)`.", field: "version")
    }

    public static func aliasNotFound(_ name: String, _ alias: String) -> RegistryError {
        RegistryError(
            .aliasNotFound, "model '\(name)' has no alias '\(alias)'",
            remedy: "See its aliases with `mlinfra models show \(name)`.", field: "alias")
    }

    public static func protectedAlias(_ name: String, _ alias: String) -> RegistryError {
        RegistryError(
            .protectedAlias, "alias '\(alias)' of model '\(name)' is protected: only `mlinfra apply` may move it",
            remedy: "Change the `version` of the model_alias resource for \(name)@\(alias) in the spec, "
                + "get the pull request reviewed, and run `mlinfra apply`.",
            field: "alias")
    }

    /// A directory version asked for as one file (to load, serve or stream).
    public static func directoryVersion(_ what: String) -> RegistryError {
        RegistryError.invalid(
            "artifact", "\(what) is a directory, not one file",
            remedy: "Export it with `mlinfra models download URI --out DIR`, or use a version registered from one file.")
    }

    public static func invalid(_ field: String, _ message: String, remedy: String = "") -> RegistryError {
        RegistryError(.invalidArgument, message, remedy: remedy, field: field)
    }
}

/// Names the registry accepts: they must fit in `models:/NAME@alias` and `models:/NAME/3`.
public enum Naming {
    public static func checkModelName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 256,
            name.unicodeScalars.allSatisfy({ isNameScalar($0) }),
            let first = name.unicodeScalars.first, first != ".", first != "-"
        else {
            throw RegistryError.invalid(
                "name", "invalid model name '\(name)'",
                remedy: "Use letters, digits, '_', '-' and '.', starting with a letter or digit (no '/' or '@').")
        }
    }

    public static func checkAlias(_ alias: String) throws {
        let valid =
            !alias.isEmpty && alias.count <= 128
            && alias.unicodeScalars.allSatisfy { isNameScalar($0) && $0 != "." }
            && alias.unicodeScalars.first.map { CharacterSet.letters.contains($0) || $0 == "_" } == true
        guard valid else {
            throw RegistryError.invalid(
                "alias", "invalid alias '\(alias)'",
                remedy: "Use letters, digits, '_' and '-', starting with a letter or '_'.")
        }
        let lower = alias.lowercased()
        let looksLikeVersion = lower.hasPrefix("v") && lower.dropFirst().allSatisfy(\.isNumber) && lower.count > 1
        if lower == "latest" || looksLikeVersion {
            throw RegistryError.invalid(
                "alias", "alias '\(alias)' is reserved",
                remedy: "'latest' and 'v<number>' already mean something in models:/ URIs; pick another name.")
        }
    }

    public static func checkTagKey(_ key: String) throws {
        guard !key.isEmpty, key.count <= 250 else {
            throw RegistryError.invalid("key", "a tag key must be 1 to 250 characters")
        }
    }

    private static func isNameScalar(_ s: Unicode.Scalar) -> Bool {
        s.isASCII && (CharacterSet.alphanumerics.contains(s) || s == "_" || s == "-" || s == ".")
    }
}
