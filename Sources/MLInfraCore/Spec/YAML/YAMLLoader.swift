#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one YAML file into a `YAMLNode` tree, with a diagnostic for every problem.
///
/// The loader drives libyaml's event parser and builds the tree itself, on an
/// explicit stack rather than by recursion, so that it can enforce `YAMLLimits`
/// as events arrive, detect duplicate keys, expand aliases and merge keys, and
/// refuse a hostile document early.
public enum YAMLLoader {
    /// Parses one file's bytes. Never crashes and never hangs.
    ///
    /// - Returns: the document's root, or nil when the file holds no document
    ///   (empty, or only comments: no diagnostic) or could not be read to the end
    ///   (syntax error, limit reached, several documents: error diagnostics).
    ///   Recoverable problems such as duplicate keys or mistyped tags come back as
    ///   error diagnostics beside a non-nil root, so that callers can report more
    ///   problems in one pass; callers must check `diagnostics.hasErrors`.
    public static func load(
        _ bytes: [UInt8], file: String, limits: YAMLLimits = .default
    ) -> (root: YAMLNode?, diagnostics: Diagnostics) {
        if bytes.count > limits.maxBytes {
            return (nil, Diagnostics([tooLarge(file: file, size: bytes.count, limits: limits)]))
        }
        let source = YAMLSourceText(bytes: bytes)
        if let problem = source.firstProblem() {
            return (nil, Diagnostics([YAMLSyntaxMessages.diagnostic(for: problem, in: source, file: file)]))
        }
        var builder = YAMLTreeBuilder(file: file, limits: limits)
        let reader = LibYAMLEventReader(bytes: bytes)
        do {
            while true {
                let (event, mark) = try reader.next()
                if builder.consume(event, at: mark) == .finished { break }
            }
        } catch {
            builder.fail(YAMLSyntaxMessages.diagnostic(for: error, in: source, file: file))
        }
        return builder.result()
    }

    /// Reads and parses a file; a missing, unreadable or oversized file is an error diagnostic.
    public static func load(path: String, limits: YAMLLimits = .default) -> (root: YAMLNode?, diagnostics: Diagnostics) {
        switch readFile(path, limit: limits.maxBytes) {
        case .bytes(let bytes): return load(bytes, file: path, limits: limits)
        case .failed(let diagnostic): return (nil, Diagnostics([diagnostic]))
        }
    }

    static func tooLarge(file: String, size: Int, limits: YAMLLimits) -> Diagnostic {
        .error(
            "the file is too large (\(size) bytes; the limit is \(limits.maxBytes) bytes)",
            detail: "Split the spec into several files in one directory, each under the limit.",
            at: SourceLocation(file: file, line: 1, column: 1))
    }

    enum FileRead {
        case bytes([UInt8])
        case failed(Diagnostic)
    }

    /// Reads a whole file with POSIX calls, refusing before reading when it is larger than `limit`.
    static func readFile(_ path: String, limit: Int) -> FileRead {
        let origin = SourceLocation(file: path, line: 1, column: 1)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            return .failed(.error(
                "cannot open \(path): \(reason)",
                detail: "Check that the path exists and is readable.", at: origin))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            return .failed(.error("cannot read \(path): \(String(cString: strerror(errno)))", at: origin))
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            return .failed(.error(
                "\(path) is a directory, not a YAML file",
                detail: "Pass the directory as the spec (its *.yaml and *.yml files are read), or name one file.",
                at: origin))
        }
        let size = Int(info.st_size)
        if size > limit {
            return .failed(tooLarge(file: path, size: size, limits: YAMLLimits(maxBytes: limit)))
        }
        var bytes = [UInt8](repeating: 0, count: max(size, 0))
        var filled = 0
        while true {
            if filled == bytes.count {
                if bytes.count > limit { break }
                bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count / 2)))
            }
            let n = bytes.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + filled, raw.count - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return .failed(.error("cannot read \(path): \(String(cString: strerror(errno)))", at: origin))
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        if bytes.count > limit {
            return .failed(tooLarge(file: path, size: bytes.count, limits: YAMLLimits(maxBytes: limit)))
        }
        return .bytes(bytes)
    }
}
