/// The state file format: canonical JSON in, `StateFile` out, and back.
///
/// A new format version is an added reader, an added upgrade step and fixture
/// pairs, never an edit of an old reader (see State/README.md):
/// - the reader of the current version (`StateFileV1`) reads the bytes directly,
///   the fast path for every file this mlinfra writes;
/// - a file that declares another version is parsed into a JSON document, a newer
///   version is refused, and an older one is upgraded one version at a time by
///   `upgrades` before the current reader reads it.
///
/// A file of a newer version than `StateFile.currentVersion` is refused, as is
/// anything unreadable; nothing here writes to disk, and the stores never
/// overwrite a file this refuses.
public enum StateCodec {
    /// Upgrade steps on raw documents: the function at index `k` turns a version-`k+1`
    /// document into a version-`k+2` one. Empty while version 1 is the only version.
    static let upgrades: [@Sendable ([String: Value], String) throws -> [String: Value]] = []

    /// The canonical bytes of a state: sorted keys, two-space indent, resources by address, trailing newline.
    public static func encode(_ s: StateFile) -> [UInt8] {
        var w = CanonicalJSONWriter(pretty: true, capacity: 1024 * s.count + 512)
        StateFileV1.write(s, to: &w)
        var bytes = w.bytes
        bytes.append(0x0A)
        return bytes
    }

    /// Reads a state file of any version up to the current one; `path` names the file in errors.
    ///
    /// The reader of the current version runs first, straight over the bytes
    /// (the fast path for the files this mlinfra writes). When the file
    /// declares another version, or fails to read and declares another version,
    /// it goes through the version dispatch instead.
    public static func decode(_ bytes: [UInt8], path: String) throws -> StateFile {
        if bytes.isEmpty { throw StateError.unreadable("the file is empty", path: path) }
        do {
            return try readCurrent(bytes)
        } catch let other as StateFileV1.OtherVersion {
            return try decodeOtherVersion(bytes, declared: other.version, path: path)
        } catch let failure as JSONCursor.Failure {
            if let declared = declaredVersion(bytes), declared != StateFile.currentVersion {
                return try decodeOtherVersion(bytes, declared: declared, path: path)
            }
            throw StateError.unreadable(failure.message, path: path, offset: failure.offset, in: bytes)
        }
    }

    private static func readCurrent(_ bytes: [UInt8]) throws -> StateFile {
        try JSONCursor.with(bytes) { c in
            let state = try StateFileV1.readState(&c)
            try c.expectEnd()
            return state
        }
    }

    /// Refuses a newer version; upgrades an older one step by step, then reads it as the current version.
    private static func decodeOtherVersion(_ bytes: [UInt8], declared: Int, path: String) throws -> StateFile {
        var document = try parseDocument(bytes, path: path)
        var version = try documentVersion(document, path: path)
        while version < StateFile.currentVersion {
            document = try upgrades[version - 1](document, path)
            version += 1
        }
        var w = CanonicalJSONWriter(pretty: false)
        w.map(document)
        do {
            return try readCurrent(w.bytes)
        } catch let failure as JSONCursor.Failure {
            throw StateError.unreadable(
                "after upgrading from version \(declared): \(failure.message)", path: path)
        }
    }

    /// The version a file declares at its top level, if it is a state document at all.
    private static func declaredVersion(_ bytes: [UInt8]) -> Int? {
        guard case .map(let document)? = try? JSONCursor.parse(bytes),
            document["format"] == .string(StateFile.formatName), case .int(let version)? = document["version"]
        else { return nil }
        return version
    }

    /// Parses bytes into the top-level object of a state document, with errors that say where.
    static func parseDocument(_ bytes: [UInt8], path: String) throws -> [String: Value] {
        let root: Value
        do {
            root = try JSONCursor.parse(bytes)
        } catch let error as JSONCursor.Failure {
            throw StateError.unreadable("invalid JSON: \(error.message)", path: path, offset: error.offset, in: bytes)
        }
        guard case .map(let document) = root else {
            throw StateError.unreadable("the top level is a \(root.kindName), not an object", path: path)
        }
        guard document["format"] == .string(StateFile.formatName) else {
            let found = document["format"].map { "\"format\" is \($0.rendered)" } ?? "there is no \"format\" field"
            throw StateError.unreadable(
                "this is not an mlinfra state file (\(found), expected \"\(StateFile.formatName)\")", path: path)
        }
        return document
    }

    /// The `version` of a document, refusing versions this mlinfra cannot read.
    static func documentVersion(_ document: [String: Value], path: String) throws -> Int {
        guard case .int(let version) = document["version"] else {
            throw StateError.unreadable("\"version\" is missing or not a whole number", path: path)
        }
        if version > StateFile.currentVersion {
            throw StateError(
                .newerVersion,
                "the state file has format version \(version), but mlinfra \(MLInfraVersion.current) reads versions "
                    + "up to \(StateFile.currentVersion). It was written by a newer mlinfra and was left unchanged.",
                path: path,
                remedy: "use the mlinfra version that wrote it (see its \"mlinfra_version\" field) or a newer one; "
                    + "do not edit the file to lower its version")
        }
        if version < 1 {
            throw StateError.unreadable("\"version\" \(version) is not a state format version", path: path)
        }
        return version
    }
}
