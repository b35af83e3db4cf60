import Foundation
import MLInfraCore

/// Keys, and a state whose values a test can look for in stored bytes: the samples of every
/// encryption-at-rest test, whichever store holds the bytes.
public enum EncryptionSamples {
    public static let keyA = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    public static let keyB = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

    public static func encryption(_ key: String = keyA, mode: StateEncryption.Mode = .on, fallback: String? = nil) -> StateEncryption {
        StateEncryption(
            mode: mode, primary: EncryptionKey(key: Array(key.utf8), source: "MLINFRA_STATE_KEY"),
            fallbacks: fallback.map { [EncryptionKey(key: Array($0.utf8), source: "MLINFRA_STATE_KEY_FALLBACK")] } ?? [])
    }

    /// What `state()` and `marked()` put in plain sight: an attribute, an address and a secret of the sample.
    public static let markers = ["attr-marker-7f3a", "127.0.0.1:7000", "s3cr3t"]

    public static func marked(_ address: String = "endpoint.marked") -> ResourceInstanceState {
        var r = StateStoreConformance.sampleResource(address)
        r.attributes["token_hint"] = "attr-marker-7f3a"
        return r
    }

    public static func state() -> StateFile {
        var s = StateStoreConformance.sampleState()
        s.upsert(marked())
        return s
    }

    /// The markers (and any `more`) that `bytes` hold in plain text.
    public static func plaintextFound(_ bytes: [UInt8]?, more: [String] = []) -> [String] {
        let text = String(decoding: bytes ?? [], as: UTF8.self)
        return (markers + more).filter { text.contains($0) }
    }
}
