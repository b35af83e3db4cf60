import Foundation
import MLInfraCore
import Synchronization

/// What SIGINT and SIGTERM do while a command waits for, holds, or works under the state lock.
///
/// Outside an apply's walk (waiting for the lock, refreshing, planning, at the approval prompt)
/// nothing is half-done: the command releases the lock it holds and exits at once, 130 for
/// SIGINT and 143 for SIGTERM. During the walk the first signal lets running operations finish
/// and state be saved (the applier checks `isRaised`); a second SIGINT releases the lock and exits.
final class SignalGuard: Sendable {
    static let shared = SignalGuard()

    struct Held: Sendable {
        var store: any StateStore
        var id: String
    }

    struct State: Sendable {
        var installed = false
        var held: Held?
        /// Between asking for the lock and knowing whether it was taken.
        var acquiring = false
        /// True while an apply walks its operations: the first signal only asks it to stop.
        var graceful = false
        var raised = false
        var exiting = false
    }

    private let state = Mutex(State())
    /// A resumed signal source, kept alive for the life of the process. `@unchecked Sendable`:
    /// after `resume()` nothing touches it again; the box only holds the reference.
    private struct Retained: @unchecked Sendable { let source: DispatchSourceSignal }
    private let sources = Mutex<[Retained]>([])

    /// Starts handling SIGINT and SIGTERM (once per process).
    func install(console: Console) {
        let first = state.withLock { s -> Bool in
            defer { s.installed = true }
            return !s.installed
        }
        guard first else { return }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in handle(sig, console: console) }
            source.resume()
            let retained = Retained(source: source)
            sources.withLock { $0.append(retained) }
        }
    }

    /// The exit status of a command that `sig` ended.
    static func status(_ sig: Int32) -> Int32 { 128 + sig }

    private func handle(_ sig: Int32, console: Console) {
        enum Decision { case stopGracefully, exit(Held?) }
        let decision = state.withLock { s -> Decision in
            if s.graceful && !s.raised {
                s.raised = true
                return .stopGracefully
            }
            if s.graceful && sig == SIGTERM { return .stopGracefully }
            s.exiting = true
            return .exit(s.held)
        }
        switch decision {
        case .stopGracefully:
            console.err("\nInterrupt received: no new operations will start; waiting for running ones to finish, then saving state…\n")
        case .exit(var held):
            // A lock being taken right now is released by `holding`, or was not taken: wait to know which.
            let deadline = ContinuousClock.now + .seconds(3)
            while state.withLock({ $0.acquiring }) && ContinuousClock.now < deadline { usleep(10_000) }
            held = state.withLock { $0.held } ?? held
            let graceful = state.withLock { $0.graceful }
            console.err(graceful
                ? "\nSecond interrupt: exiting now. Finished operations are in the state journal.\n"
                : "\nInterrupted: nothing was changed.\n")
            if let held { Self.release(held) }
            exit(Self.status(sig))
        }
    }

    /// Releases a lock from the signal queue: the command's own tasks may be blocked (in `readLine`).
    private static func release(_ held: Held) {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            try? await held.store.unlock(id: held.id)
            done.signal()
        }
        _ = done.wait(timeout: .now() + 5)
    }

    /// The command is about to ask for the lock.
    func acquiring() { state.withLock { $0.acquiring = true } }

    /// The lock was not taken.
    func notAcquired() { state.withLock { $0.acquiring = false } }

    /// Records the lock the command now holds. When a signal came while it was being taken, the
    /// handler is exiting and waits: release the lock here, then let the exit happen.
    func holding(_ store: any StateStore, id: String) async {
        let exiting = state.withLock { s -> Bool in
            guard !s.exiting else { return true }
            s.held = Held(store: store, id: id)
            s.acquiring = false
            return false
        }
        guard exiting else { return }
        try? await store.unlock(id: id)
        state.withLock { $0.acquiring = false }
        while true { try? await Task.sleep(for: .seconds(1)) }
    }

    /// The command released its lock.
    func released() { state.withLock { $0.held = nil } }

    /// From here on the first signal only stops new operations; `isRaised` tells the applier.
    func beginGracefulStop() { state.withLock { $0.graceful = true } }

    var isRaised: Bool { state.withLock { $0.raised } }
}
