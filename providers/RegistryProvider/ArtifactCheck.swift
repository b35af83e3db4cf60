import Foundation
import MLInfraCore

/// What can be checked of a model version's artifact before anything is registered: that the
/// file is there, and that its content looks like the `format` the spec names. `validate` and
/// `plan` both ask, so a wrong path or format is reported before apply.
enum ArtifactCheck {
    /// How much of the file the format check reads: the formats show themselves in their first bytes.
    static let headLength = 1 << 20

    static func problems(_ config: [String: Value], workingDirectory: URL) -> [AttributeDiagnostic] {
        guard let path = config["artifact"]?.stringValue, !path.isEmpty else { return [] }
        let file = url(path, workingDirectory: workingDirectory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory) else {
            return [AttributeDiagnostic(attribute: "artifact", .error(
                "artifact file not found: \(path)",
                detail: "`artifact` is a file or directory path relative to the spec directory (\(workingDirectory.path)); "
                    + "check the path, or add the file to the spec repository."))]
        }
        // A directory (an MLflow model folder) is stored as its files; its formats are not sniffed.
        if isDirectory.boolValue { return [] }
        guard let format = config["format"]?.stringValue, let problem = mismatch(format: format, file: file) else { return [] }
        return [AttributeDiagnostic(attribute: "format", .error(
            "artifact \(path) is not \(format): \(problem)",
            detail: "Set `format` to what the file is (linear-json for {\"weights\": …}, xgboost-json for a Booster.save_model JSON, xgboost-ubj for its UBJSON, "
                + "onnx, or file for bytes that are only stored), or point `artifact` at the right file."))]
    }

    static func url(_ path: String, workingDirectory: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path).standardizedFileURL : workingDirectory.appendingPathComponent(path).standardizedFileURL
    }

    /// Why the file's first bytes are not of `format`, or nil when they are (or the format is one
    /// the registry only stores).
    static func mismatch(format: String, file: URL) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return "the file cannot be read" }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: headLength)) ?? Data()
        let firstByte = head.first { !" \t\r\n".utf8.contains($0) }
        func contains(_ text: String) -> Bool { head.range(of: Data(text.utf8)) != nil }
        switch format {
        case "linear-json":
            guard firstByte == UInt8(ascii: "{") else { return "it does not start with a JSON object" }
            if contains("\"learner\"") { return "it is an XGBoost JSON model (it has \"learner\"); use format: xgboost-json" }
            guard contains("\"weights\"") else { return "a linear-json model is a JSON object with \"weights\"" }
        case "xgboost-json":
            guard firstByte == UInt8(ascii: "{") else { return "it does not start with a JSON object" }
            if !contains("\"learner\"") {
                return contains("\"weights\"")
                    ? "it is a linear-json model (it has \"weights\"); use format: linear-json"
                    : "an XGBoost JSON model has a \"learner\" object (Booster.save_model(\"model.json\"))"
            }
        case "xgboost-ubj":
            // UBJSON: an object whose first key is length-prefixed (`{L…learner`), not quoted.
            guard head.count > 1, head.first == UInt8(ascii: "{"), "iUIlL".utf8.contains(head[head.startIndex + 1]), contains("learner") else {
                return firstByte == UInt8(ascii: "{") && contains("\"learner\"")
                    ? "it is an XGBoost JSON model; use format: xgboost-json"
                    : "an XGBoost UBJSON model is what Booster.save_model(\"model.ubj\") writes"
            }
        case "onnx":
            // An ONNX ModelProto starts with field 1 (ir_version, a varint): the byte 0x08.
            if firstByte == UInt8(ascii: "{") { return "it is JSON, not an ONNX protobuf" }
            guard head.first == 0x08 else { return "it does not start like an ONNX ModelProto" }
        default:
            return nil
        }
        return nil
    }
}
