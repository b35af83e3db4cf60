import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads newline-separated lines from a file descriptor on a thread of its own,
/// so a blocking `read` never occupies a thread of Swift's cooperative pool.
enum LineReader {
    /// Lines longer than this are cut off and handed on as they are (the receiver then
    /// sees a line that is not JSON), so a runaway plugin cannot exhaust memory.
    static let maximumLineLength = 64 << 20

    /// Starts reading `fd` until end of file; `onLine` gets each line without its
    /// newline, `onEnd` is called once at the end. The caller keeps `fd` open.
    static func start(
        fd: Int32, name: String, onLine: @escaping @Sendable (Data) -> Void, onEnd: @escaping @Sendable () -> Void
    ) {
        let thread = Thread {
            let capacity = 65536
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 1)
            defer { buffer.deallocate() }
            var pending = Data()
            while true {
                let count = read(fd, buffer, capacity)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                // Only the bytes just read are searched for newlines, so a long line costs linear time.
                var offset = 0
                while offset < count, let found = memchr(buffer + offset, 0x0A, count - offset) {
                    let end = buffer.distance(to: found)
                    pending.append(buffer.assumingMemoryBound(to: UInt8.self) + offset, count: end - offset)
                    onLine(pending)
                    pending = Data()
                    offset = end + 1
                }
                if offset < count {
                    pending.append(buffer.assumingMemoryBound(to: UInt8.self) + offset, count: count - offset)
                }
                if pending.count > maximumLineLength {
                    onLine(pending)
                    pending = Data()
                }
            }
            if !pending.isEmpty { onLine(pending) }
            onEnd()
        }
        thread.name = name
        thread.start()
    }
}

/// Writes whole lines to a file descriptor in order, off the caller's thread,
/// so a peer that stops reading blocks only this writer, never an actor.
final class LineWriter: @unchecked Sendable {
    // `handle` is only used on `queue`, which serializes every write and the close.
    private let handle: FileHandle
    private let fd: Int32
    private let queue: DispatchQueue

    init(handle: FileHandle, label: String) {
        self.handle = handle
        self.fd = handle.fileDescriptor
        self.queue = DispatchQueue(label: label)
        LineWriter.ignoreSIGPIPE()
    }

    /// Queues `data` plus a newline; `completion` gets the error, if writing failed.
    func send(_ data: Data, completion: @escaping @Sendable ((any Error)?) -> Void = { _ in }) {
        queue.async { [fd] in
            var line = data
            line.append(0x0A)
            completion(LineWriter.writeAll(fd: fd, line))
        }
    }

    /// Waits until every queued line has been written, without holding a thread.
    func drain() async {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume() }
        }
    }

    /// Closes the descriptor once the queued lines are written (the peer then sees end of file).
    /// Returns at once: a peer that stops reading must not block the caller.
    func close() {
        queue.async { [handle] in try? handle.close() }
    }

    private static func writeAll(fd: Int32, _ data: Data) -> (any Error)? {
        data.withUnsafeBytes { raw -> (any Error)? in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
                }
                offset += written
            }
            return nil
        }
    }

    /// A write to a pipe whose reader has exited must fail with EPIPE, not kill mlinfra.
    private static let ignoringSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    static func ignoreSIGPIPE() { _ = ignoringSIGPIPE }
}

/// The last lines a plugin wrote to stderr, kept for error messages.
final class StderrTail: @unchecked Sendable {
    // `lines` and `finished` are guarded by `condition`; the reader thread appends, callers read.
    // A condition, not a Mutex: callers wait on it for the reader to finish.
    private let condition = NSCondition()
    private var lines: [String] = []
    private var finished = false
    private let limit: Int

    init(limit: Int = 20) { self.limit = limit }

    func append(_ line: String) {
        condition.lock()
        lines.append(line)
        if lines.count > limit { lines.removeFirst(lines.count - limit) }
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    func snapshot() -> [String] {
        condition.lock()
        defer { condition.unlock() }
        return lines
    }

    /// Blocks until stderr closes or `timeout` seconds pass, so the lines a crashing
    /// plugin printed last are not missed. Call it on a thread of your own, never from a task.
    func waitUntilFinished(timeout: TimeInterval) {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !finished {
            if !condition.wait(until: deadline) { break }
        }
    }
}
