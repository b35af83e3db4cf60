import Foundation

/// What a write records beside the state in a store that keeps versions: who wrote it, in which
/// command, and the saved plan it carried out.
public struct StateWriteContext: Sendable, Hashable {
    public var actor: String
    public var operation: String
    /// The saved plan being applied; recorded with the version its apply commits, so it is applied once.
    public var planID: String?

    public init(actor: String, operation: String, planID: String? = nil) {
        self.actor = actor
        self.operation = operation
        self.planID = planID
    }
}

/// One kept version of a state.
public struct StateVersionInfo: Sendable, Hashable {
    public var serial: Int
    public var lineage: String
    public var writtenBy: String
    public var writtenAt: Date
    public var operation: String
    public var planID: String?
    public var mlinfraVersion: String

    public init(
        serial: Int, lineage: String, writtenBy: String, writtenAt: Date, operation: String, planID: String?, mlinfraVersion: String
    ) {
        self.serial = serial
        self.lineage = lineage
        self.writtenBy = writtenBy
        self.writtenAt = writtenAt
        self.operation = operation
        self.planID = planID
        self.mlinfraVersion = mlinfraVersion
    }
}

/// A store that keeps every state it writes (PostgreSQL's `state_versions`), for history,
/// rollback, and refusing a saved plan that was already applied.
public protocol VersionedStateStore: StateStore {
    /// Sets what the following writes record.
    func setWriteContext(_ context: StateWriteContext)

    /// The kept versions, newest first.
    func versions(limit: Int) async throws -> [StateVersionInfo]

    /// The state as it was written at `serial` (the newest such version), or nil when none is kept.
    func state(atSerial serial: Int) async throws -> StateFile?

    /// The version that applying the saved plan `planID` produced, or nil when it was never applied.
    func version(appliedPlan planID: String) async throws -> StateVersionInfo?
}
