import MLInfraCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libFuzzer entry point over the spec loader.
///
/// Besides "no crash, no hang, no sanitizer report", it checks the loader's
/// promises: every diagnostic has a one-line summary, a fix and a 1-based
/// location; a document is never deeper than the limit; a nil root with
/// diagnostics always carries an error.
@_cdecl("LLVMFuzzerTestOneInput")
public func specLoaderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = YAMLLimits(maxBytes: 1 << 20, maxDepth: 32, maxFlowDepth: 12, maxNodes: 20_000, maxAliasExpansions: 5_000, maxErrors: 20)
    let (root, diagnostics) = YAMLLoader.load(bytes, file: "fuzz.yaml", limits: limits)
    for diagnostic in diagnostics {
        precondition(!diagnostic.summary.isEmpty && !diagnostic.summary.contains("\n"), "bad summary: \(diagnostic)")
        precondition(!diagnostic.detail.isEmpty, "diagnostic without a fix: \(diagnostic)")
        guard let location = diagnostic.location else { preconditionFailure("diagnostic without location: \(diagnostic)") }
        precondition(location.line >= 1 && location.column >= 1, "bad location: \(diagnostic)")
    }
    if root == nil && !diagnostics.isEmpty { precondition(diagnostics.hasErrors, "no root but no error") }
    if let root {
        var pending: [(YAMLNode, Int)] = [(root, 0)]
        var visited = 0
        while let (node, depth) = pending.popLast() {
            visited += 1
            precondition(visited <= limits.maxNodes + 1, "more nodes than the limit")
            precondition(node.location.line >= 1 && node.location.column >= 1, "bad node location")
            switch node.content {
            case .scalar:
                precondition(node.scalarValue != nil, "scalar without a value")
                if case .number(let d)? = node.scalarValue { precondition(d.isFinite, "non-finite number") }
            case .sequence(let items):
                precondition(depth < limits.maxDepth, "deeper than the limit")
                pending.append(contentsOf: items.map { ($0, depth + 1) })
            case .mapping(let pairs):
                precondition(depth < limits.maxDepth, "deeper than the limit")
                precondition(Set(pairs.map(\.keyText)).count == pairs.count, "duplicate keys kept")
                for pair in pairs {
                    precondition(pair.key.scalarText != nil, "non-scalar key kept")
                    pending.append((pair.value, depth + 1))
                }
            }
        }
        _ = root.value
    }
    return 0
}

#if !FUZZING
/// Without `-D FUZZING` this target replays inputs (files named on the command line) through the same checks.
@main
struct SpecLoaderReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                print("cannot open \(path)")
                exit(1)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&chunk, 1, chunk.count, file)
                if n <= 0 { break }
                bytes.append(contentsOf: chunk[0..<n])
            }
            fclose(file)
            let padded = bytes + [0]
            _ = padded.withUnsafeBufferPointer { specLoaderFuzz($0.baseAddress!, bytes.count) }
            let (root, diagnostics) = YAMLLoader.load(bytes, file: path)
            print("\(path): \(root == nil ? "no root" : "root"), \(diagnostics.count) diagnostic(s)")
            for diagnostic in diagnostics { print(diagnostic) }
        }
    }
}
#endif
