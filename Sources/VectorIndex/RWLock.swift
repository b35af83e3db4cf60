import Foundation

/// A readers-writer lock over `pthread_rwlock_t`: queries share it, writes hold it alone.
///
/// Kept rather than a `Mutex<State>`: a collection's queries are its hot path and run in
/// parallel under the shared lock; a mutex would make them take turns.
final class RWLock: @unchecked Sendable {
    // The pthread lock is itself the synchronisation; its storage never moves.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func read<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func write<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
