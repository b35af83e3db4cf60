import Foundation

/// Makes journal lines durable in groups: one thread runs fdatasync over and over
/// while appends wait for the round that covers their line.
///
/// Every line written while one fdatasync runs is covered by the next one, so N
/// operations in flight cost about one sync per round instead of N, and the
/// blocking call stays off the cooperative thread pool (on a 2-core machine it
/// has two threads, and a task blocked in fdatasync would stall the apply).
final class JournalSyncer: @unchecked Sendable {
    // Every field below is guarded by `condition`; the thread and the appending tasks share them.
    // A condition, not a Mutex: the sync thread sleeps on it until an append signals.
    private let condition = NSCondition()
    private let fd: Int32
    private let path: String
    /// The highest seq whose line has been written to the file.
    private var written = 0
    /// The highest seq known durable.
    private var synced = 0
    private var waiters: [(seq: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    private var failure: StateError?
    private var stopping = false
    private var running = true

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        let thread = Thread { [self] in run() }
        thread.name = "mlinfra journal sync"
        thread.start()
    }

    /// Records that the line `seq` was written (call in seq order, before `durable`).
    func wrote(_ seq: Int) {
        condition.withLock { written = max(written, seq) }
    }

    /// Returns once the line `seq` is on disk; throws when a sync failed.
    func durable(_ seq: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            if synced >= seq {
                condition.unlock()
                continuation.resume()
            } else if let failure {
                condition.unlock()
                continuation.resume(throwing: failure)
            } else {
                waiters.append((seq, continuation))
                condition.signal()
                condition.unlock()
            }
        }
    }

    /// Ends the thread once no append waits; the file descriptor stays open (the store closes it).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            while waiters.isEmpty && !stopping { condition.wait() }
            if waiters.isEmpty && stopping { break }
            // Appends resumed by the last round are writing their next lines: wait while more
            // arrive (a fraction of a millisecond each time) so this round covers them too.
            for _ in 0..<8 {
                let before = waiters.count
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.0002))
                if waiters.count == before || stopping { break }
            }
            let target = written
            condition.unlock()
            let error = PosixFiles.syncError(fd, path: path)
            condition.lock()
            var ready: [CheckedContinuation<Void, any Error>] = []
            if let error {
                failure = error
                ready = waiters.map(\.continuation)
                waiters = []
            } else {
                synced = max(synced, target)
                ready = waiters.filter { $0.seq <= target }.map(\.continuation)
                waiters.removeAll { $0.seq <= target }
            }
            condition.unlock()
            for c in ready {
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
            condition.lock()
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
