import Foundation

/// Keys given as files: `MLINFRA_STATE_KEY_FILE`, `MLINFRA_STATE_KEY_FALLBACK_FILE` and
/// `MLINFRA_STATE_PASSPHRASE_FILE` name a file holding the value of the variable without the
/// suffix (as CI systems and container secrets mount them), read once, trailing newline dropped.
///
/// Setting a variable and its `_FILE` twin at once is refused rather than one silently winning.
enum KeyFiles {
    static let suffix = "_FILE"
    static let variables = [StateKey.environmentVariable, StateEncryption.fallbackKeyVariable, StateEncryption.passphraseVariable]

    /// `environment` with each `_FILE` variable replaced by the value its file holds.
    static func resolve(_ environment: [String: String]) throws -> [String: String] {
        var resolved = environment
        for name in variables {
            guard let path = environment[name + suffix], !path.isEmpty else { continue }
            if let direct = environment[name], !direct.isEmpty {
                throw StateError(
                    .encryption, "both \(name) and \(name + suffix) are set", path: name + suffix,
                    remedy: "set one of them: the key itself, or the path of a file that holds it")
            }
            guard let file = try? PosixFiles.read(path) else {
                throw StateError(
                    .encryption, "\(name + suffix) names a file that cannot be read", path: path,
                    remedy: "point \(name + suffix) at a readable file that holds the key, or unset it")
            }
            let text = String(decoding: file.bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
            guard !text.isEmpty else {
                throw StateError(
                    .encryption, "the key file named by \(name + suffix) is empty", path: path,
                    remedy: "write the key into it (`openssl rand -hex 32 > FILE` makes one)")
            }
            resolved[name] = text
            resolved[name + suffix] = nil
        }
        return resolved
    }
}
