#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the files of a spec: one file, or a directory of `*.yaml` / `*.yml` files.
public enum SpecFiles {
    /// The spec's files in the order they are read.
    ///
    /// A file path is taken as it is (whatever its extension). A directory gives
    /// its `*.yaml` and `*.yml` files, sorted by name (byte order), not recursing
    /// into subdirectories and skipping hidden files (names starting with `.`).
    /// A missing path, a directory without spec files, or a spec file that cannot be read
    /// (a dangling link, a FIFO, no permission) is an error diagnostic.
    public static func list(_ path: String) -> ([String], Diagnostics) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            return ([], Diagnostics([.error(
                "cannot read the spec \(path): \(reason)",
                detail: "Pass a YAML file or a directory of *.yaml files (the default is the current directory).")]))
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return ([path], Diagnostics()) }

        guard let dir = opendir(path) else {
            let reason = String(cString: strerror(errno))
            return ([], Diagnostics([.error(
                "cannot list the spec directory \(path): \(reason)",
                detail: "Check that the directory is readable.")]))
        }
        defer { closedir(dir) }
        var names: [String] = []
        var problems = Diagnostics()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
            let full = join(path, name)
            // A spec file that cannot be read is an error, never skipped: skipping it would plan
            // to destroy every resource it declares.
            var fileInfo = stat()
            guard stat(full, &fileInfo) == 0 else {
                let reason = String(cString: strerror(errno))
                problems.append(.error(
                    "cannot read the spec file \(full): \(reason)",
                    detail: "Fix the file (a dangling symbolic link?), or rename it so it does not end in .yaml or .yml."))
                continue
            }
            // A directory is not read (no recursion); anything else that is not a file is refused.
            if (fileInfo.st_mode & S_IFMT) == S_IFDIR { continue }
            guard (fileInfo.st_mode & S_IFMT) == S_IFREG else {
                problems.append(.error(
                    "the spec file \(full) is not a regular file",
                    detail: "Rename it so it does not end in .yaml or .yml, or replace it with the spec file itself."))
                continue
            }
            guard access(full, R_OK) == 0 else {
                problems.append(.error(
                    "cannot read the spec file \(full): \(String(cString: strerror(errno)))", detail: "Check its permissions."))
                continue
            }
            names.append(name)
        }
        guard !problems.hasErrors else { return ([], problems) }
        names.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        guard !names.isEmpty else {
            return ([], Diagnostics([.error(
                "the spec directory \(path) has no *.yaml or *.yml files",
                detail: "Add a spec file such as main.yaml, or pass the path of the spec file itself.")]))
        }
        return (names.map { join(path, $0) }, Diagnostics())
    }

    /// Lists the spec's files and loads each one; files that hold no document are left out.
    public static func load(
        _ path: String, limits: YAMLLimits = .default
    ) -> (documents: [(file: String, root: YAMLNode)], diagnostics: Diagnostics) {
        let (files, listed) = list(path)
        var diagnostics = listed
        var documents: [(file: String, root: YAMLNode)] = []
        for file in files {
            let (root, found) = YAMLLoader.load(path: file, limits: limits)
            diagnostics.append(contentsOf: found)
            if let root { documents.append((file, root)) }
        }
        return (documents, diagnostics)
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
