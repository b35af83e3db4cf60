import Foundation
import Logging
import ServiceLifecycle

/// Runs monitors on their cron schedules, as a service inside `mlinfra agent`.
///
/// Missed-run policy: when the agent starts (or a monitor is first seen) and at least one
/// scheduled time passed since the monitor's last scheduled run (or since it was created),
/// the monitor runs **once**, at once, recorded as `catch-up` — never one run per missed
/// slot. After that it runs at each scheduled time. The store is re-read every
/// `refreshInterval`, so monitors applied while the agent runs are picked up.
///
/// Every agent sharing a store (PostgreSQL, several serving hosts) runs a scheduler over the same
/// monitors; each run is of a slot (a due time, or the first slot a catch-up makes up for) that
/// the engine runs only while holding it and only if no run of it is recorded, so a due time
/// runs once whichever agents are alive.
public struct MonitorScheduler: Service {
    public let engine: DriftMonitorEngine
    /// What the scheduler sleeps on: `ContinuousClock`, or a test's manual clock.
    public let clock: any Clock<Duration>
    /// The wall time schedules are due by (cron times are wall times): `Date()`, or a test's manual clock.
    public let now: @Sendable () -> Date
    public var refreshInterval: TimeInterval
    let logger: Logger

    public init(engine: DriftMonitorEngine, clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() },
                refreshInterval: TimeInterval = 30, logger: Logger = Logger(label: "mlinfra.monitoring.scheduler")) {
        self.engine = engine
        self.clock = clock
        self.now = now
        self.refreshInterval = refreshInterval
        self.logger = logger
    }

    /// A scheduler over the monitors stored under `directory` (the provider's data_dir).
    public init(directory: String) throws {
        self.init(engine: try DriftMonitorEngine(dataDirectory: directory))
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await loop()
        }
    }

    /// When a monitor runs next, and which slot that run stands for.
    struct Due {
        var time: Date
        var trigger: MonitorRun.Trigger
        var schedule: String
        var slot: Date
    }

    /// The next run of each monitor, keyed by name.
    struct Plan { var due: [String: Due] = [:] }

    func loop() async throws {
        var plan = Plan()
        while !Task.isCancelled {
            let now = self.now()
            refresh(&plan, now: now)
            // Run what is due, one monitor at a time (a run reads a whole window of data).
            for (name, entry) in plan.due.sorted(by: { $0.key < $1.key }) where entry.time <= now {
                // A slot passed while the process was busy or asleep more than a minute ago:
                // one catch-up run now stands for all the slots missed.
                let late = now.timeIntervalSince(entry.time) > 60
                do {
                    let run = try await engine.runScheduled(name, slot: entry.slot, at: late ? now : entry.time, trigger: late ? .catchUp : entry.trigger)
                    if run == nil { logger.debug("monitor \(name): the run due \(entry.slot) is another agent's") }
                } catch {
                    logger.error("monitor \(name): scheduled run failed: \(error)")
                }
                if let cron = try? CronExpression(entry.schedule), let next = cron.next(after: max(now, entry.time)) {
                    plan.due[name] = Due(time: next, trigger: .schedule, schedule: entry.schedule, slot: next)
                } else {
                    plan.due[name] = nil
                }
            }
            let nextDue = plan.due.values.map(\.time).min() ?? .distantFuture
            // Sleep on the clock until the wall time reaches `wake` (or at once when it has passed).
            let wake = min(nextDue, self.now().addingTimeInterval(refreshInterval))
            let seconds = wake.timeIntervalSince(self.now())
            if seconds > 0 { try await clock.sleep(for: .seconds(seconds)) }
            try Task.checkCancellation()
        }
    }

    /// Adds monitors that appeared, drops removed ones, and re-plans those whose schedule changed.
    func refresh(_ plan: inout Plan, now: Date) {
        let monitors: [MonitorDefinition]
        do { monitors = try engine.store.monitors() } catch {
            logger.error("cannot read monitors: \(error)")
            return
        }
        let names = Set(monitors.map(\.name))
        for name in plan.due.keys where !names.contains(name) { plan.due[name] = nil }
        for m in monitors {
            guard let schedule = m.schedule, let cron = try? CronExpression(schedule) else {
                plan.due[m.name] = nil
                continue
            }
            if let existing = plan.due[m.name], existing.schedule == schedule { continue }
            // New to this scheduler (start-up, or just applied), or its schedule changed.
            let since = (try? engine.store.lastScheduledRunTime(m.name)) ?? nil
            let base = since ?? ((try? engine.store.created(m.name)) ?? nil) ?? now
            if let missed = cron.next(after: base), missed <= now, plan.due[m.name] == nil {
                // Agents that start together find the same first missed slot: one of them makes it up.
                plan.due[m.name] = Due(time: now, trigger: .catchUp, schedule: schedule, slot: missed)
            } else if let next = cron.next(after: now) {
                plan.due[m.name] = Due(time: next, trigger: .schedule, schedule: schedule, slot: next)
            }
        }
    }
}
