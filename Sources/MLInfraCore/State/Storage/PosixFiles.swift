import Foundation

/// The few POSIX file operations the local store needs, with errors that name the file.
///
/// Foundation's FileManager offers neither fsync of a directory nor
/// O_EXCL creation with a mode, which durability and locking need.
enum PosixFiles {
    /// A file's identity and version: a rename over it changes the inode, a rewrite the size or time.
    struct Fingerprint: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedNanoseconds: Int64
    }

    static func fingerprint(_ path: String) throws -> Fingerprint? {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StateError.io("stat", path: path, errno: errno)
        }
        return fingerprint(st)
    }

    static func fingerprint(_ st: stat) -> Fingerprint {
        #if canImport(Darwin)
        let ns = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
        #else
        let ns = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        #endif
        return Fingerprint(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size), modifiedNanoseconds: ns)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The whole file with its fingerprint, or nil when it does not exist.
    static func read(_ path: String) throws -> (bytes: [UInt8], fingerprint: Fingerprint)? {
        // O_NONBLOCK: a FIFO or device at the path must not hang the command; it is refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StateError.io("open for reading", path: path, errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StateError.io("stat", path: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw StateError(
                .unreadable, "\(path) is not a regular file (a directory, FIFO, socket or device)", path: path,
                remedy: "point the command at a state file, or move what is at that path out of the way")
        }
        var bytes: [UInt8] = []
        var chunk = max(Int(st.st_size), 0) + 1
        while true {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: chunk))
            let n = bytes.withUnsafeMutableBufferPointer { buf in Foundation.read(fd, buf.baseAddress! + start, chunk) }
            if n < 0 && errno != EINTR { throw StateError.io("read", path: path, errno: errno) }
            bytes.removeLast(chunk - max(n, 0))
            if n == 0 { break }
            chunk = 65536
        }
        return (bytes, fingerprint(st))
    }

    /// Writes all of `bytes` to `fd`, retrying short writes.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        try bytes.withUnsafeBufferPointer { buf in
            while done < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StateError.io("write", path: path, errno: errno)
                }
                done += n
            }
        }
    }

    /// Flushes a file's data to the disk (fdatasync where there is one: the size is data, the times are not needed).
    static func sync(_ fd: Int32, path: String) throws {
        if let error = syncError(fd, path: path) { throw error }
    }

    static func syncError(_ fd: Int32, path: String) -> StateError? {
        #if canImport(Darwin)
        let r = fsync(fd)
        #else
        let r = fdatasync(fd)
        #endif
        return r == 0 ? nil : StateError.io("fsync", path: path, errno: errno)
    }

    /// Makes renames, creations and removals in a directory durable.
    static func syncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StateError.io("open directory", path: dir, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StateError.io("fsync directory", path: dir, errno: errno) }
    }

    static func makeDirectories(_ dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw StateError(
                .io, "cannot create the directory: \(error.localizedDescription)", path: dir,
                remedy: "create it yourself or fix its permissions")
        }
    }

    /// Makes `dir` (and its parents) with the private directory itself mode 0700, and tightens
    /// an existing one to 0700: for directories that hold secrets (state keys).
    static func makePrivateDirectory(_ dir: String) throws {
        try makeDirectories((dir as NSString).deletingLastPathComponent)
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw StateError.io("create the directory", path: dir, errno: errno) }
        if chmod(dir, 0o700) != 0 { throw StateError.io("chmod 0700", path: dir, errno: errno) }
    }

    /// Replaces `path` with `bytes` atomically and durably; the previous file (if any) becomes `backup`.
    /// Returns the new file's fingerprint.
    static func replace(_ path: String, with bytes: [UInt8], backup: String) throws -> Fingerprint {
        let dir = directory(of: path)
        let name = (path as NSString).lastPathComponent
        try makeDirectories(dir)
        let temp = "\(dir)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateError.io("create temporary file", path: temp, errno: errno) }
        var st = stat()
        do {
            try writeAll(fd, bytes, path: temp)
            guard fsync(fd) == 0 else { throw StateError.io("fsync", path: temp, errno: errno) }
            guard fstat(fd, &st) == 0 else { throw StateError.io("stat", path: temp, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        do {
            if exists(path) { try keepBackup(of: path, as: backup, dir: dir) }
            guard rename(temp, path) == 0 else { throw StateError.io("rename over the state file", path: path, errno: errno) }
        } catch {
            unlink(temp)
            throw error
        }
        try syncDirectory(dir)
        return fingerprint(st)
    }

    /// Points `backup` at the current file: a hard link (no copy, the file is never missing),
    /// or a durable copy where links are not supported.
    private static func keepBackup(of path: String, as backup: String, dir: String) throws {
        let temp = "\(backup).tmp-\(getpid())"
        unlink(temp)
        if link(path, temp) != 0 {
            guard let (bytes, _) = try read(path) else { return }
            let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StateError.io("create backup", path: temp, errno: errno) }
            defer { close(fd) }
            try writeAll(fd, bytes, path: temp)
            guard fsync(fd) == 0 else { throw StateError.io("fsync", path: temp, errno: errno) }
        }
        guard rename(temp, backup) == 0 else { throw StateError.io("rename backup", path: backup, errno: errno) }
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw StateError.io("remove", path: path, errno: errno) }
    }

    static func directory(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }
}
