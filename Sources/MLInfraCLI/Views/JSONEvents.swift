import Foundation
import MLInfraCore
import Synchronization

/// `apply --json` / `destroy --json` / `plan --json-stream`: one JSON object per line on stdout,
/// as `terraform apply -json` and `terraform plan -json` write them, for CI systems that draw
/// their own view. Every line has `@level`, `@message`, `@module` (`mlinfra`), `@timestamp` and
/// `type`: `version`, `refresh_start`, `refresh_complete`, `resource_drift`, `planned_change`,
/// `change_summary`, `apply_start`, `apply_complete`, `apply_errored`, `diagnostic`, `outputs`.
/// No line carries an attribute value (drift and changes name attributes only), and sensitive
/// outputs are sent without theirs.
final class JSONEvents: ApplyObserver, PlanObserver, Sendable {
    private let console: Console
    private let written = Mutex(0)

    init(console: Console) { self.console = console }

    func emit(_ type: String, _ message: String, level: String = "info", _ fields: [String: Value] = [:]) {
        var line = fields
        line["@level"] = .string(level)
        line["@message"] = .string(message)
        line["@module"] = "mlinfra"
        line["@timestamp"] = .string(Self.timestamp())
        line["type"] = .string(type)
        let text = JSONText.encode(.map(line), pretty: false) + "\n"
        written.withLock { _ in console.out(text) }
    }

    static func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }

    static func resource(_ address: String) -> Value {
        guard let parsed = ResourceAddress(parsing: address) else { return .map(["addr": .string(address)]) }
        var m: [String: Value] = ["addr": .string(address), "resource_type": .string(parsed.type), "resource_name": .string(parsed.name)]
        if let key = parsed.key { m["resource_key"] = .string(key) }
        return .map(m)
    }

    func version() {
        emit("version", "mlinfra \(MLInfraVersion.current)", ["mlinfra": .string(MLInfraVersion.current), "ui": "1.0"])
    }

    func refreshStarted(_ address: String) {
        emit("refresh_start", "\(address): Refreshing state...", ["hook": .map(["resource": Self.resource(address)])])
    }

    func refreshFinished(_ address: String, seconds: Double, failed: Bool) {
        emit(
            "refresh_complete", "\(address): Refresh \(failed ? "errored" : "complete")", level: failed ? "error" : "info",
            ["hook": .map(["resource": Self.resource(address), "elapsed_seconds": .number((seconds * 1000).rounded() / 1000)])])
    }

    func planned(_ plan: Plan) {
        for d in plan.drift {
            let change: [String: Value] = [
                "resource": Self.resource(d.address.description), "action": .string(d.kind.rawValue),
                "changed_attributes": .list(d.changed.map { .string($0) }),
            ]
            emit("resource_drift", "\(d.address): Drift detected (\(d.kind.rawValue))", ["change": .map(change)])
        }
        for c in plan.resourceChanges {
            var change: [String: Value] = ["resource": Self.resource(c.address.description), "action": .string(c.action.rawValue)]
            if let reason = c.reason { change["reason"] = .string(reason.description) }
            emit("planned_change", "\(c.address): Plan to \(c.action.rawValue)", ["change": .map(change)])
        }
        let counts = plan.counts
        emit("change_summary", "Plan: \(counts.add) to add, \(counts.change) to change, \(counts.destroy) to destroy.", [
            "changes": .map(["add": .int(counts.add), "change": .int(counts.change), "remove": .int(counts.destroy), "operation": "plan"]),
        ])
    }

    func started(_ operation: ApplyOperation, action: ChangeAction) {
        emit("apply_start", "\(operation.address): \(Self.verb(operation, action))…", [
            "hook": .map(["resource": Self.resource(operation.address), "action": .string(Self.action(operation, action))]),
        ])
    }

    func finished(_ operation: ApplyOperation, action: ChangeAction, seconds: Double, error: Diagnostics?) {
        let hook: Value = .map([
            "resource": Self.resource(operation.address), "action": .string(Self.action(operation, action)),
            "elapsed_seconds": .number((seconds * 10).rounded() / 10),
        ])
        if let error {
            emit("apply_errored", "\(operation.address): \(Self.verb(operation, action)) errored", level: "error", ["hook": hook])
            diagnostics(error)
        } else {
            emit("apply_complete", "\(operation.address): \(Self.verb(operation, action)) complete", ["hook": hook])
        }
    }

    func diagnostics(_ diagnostics: Diagnostics) {
        for d in diagnostics {
            var m: [String: Value] = ["severity": .string(d.severity.rawValue), "summary": .string(d.summary), "detail": .string(d.detail)]
            if let l = d.location {
                m["range"] = .map(["filename": .string(l.file), "start": .map(["line": .int(l.line), "column": .int(l.column)])])
            }
            if let a = d.address { m["address"] = .string(a) }
            emit("diagnostic", d.summary, level: d.severity == .error ? "error" : "warn", ["diagnostic": .map(m)])
        }
    }

    func summary(_ result: ApplyResult?, plan actions: [String: ChangeAction], destroy: Bool) {
        var add = 0, change = 0, remove = 0
        for op in result?.succeeded ?? [] {
            switch op {
            case .delete: remove += 1
            case .apply(let address): if actions[address] == .update { change += 1 } else { add += 1 }
            }
        }
        let operation = destroy ? "destroy" : "apply"
        emit("change_summary", "\(destroy ? "Destroy" : "Apply") complete! Resources: \(add) added, \(change) changed, \(remove) destroyed.", [
            "changes": .map(["add": .int(add), "change": .int(change), "remove": .int(remove), "operation": .string(operation)]),
        ])
        if let result {
            emit("outputs", "Outputs: \(result.outputs.count)", [
                "outputs": .map(result.outputs.mapValues { o in
                    o.sensitive ? .map(["sensitive": true]) : .map(["sensitive": false, "value": o.value])
                }),
            ])
        }
    }

    static func action(_ operation: ApplyOperation, _ action: ChangeAction) -> String {
        if case .delete = operation { return "delete" }
        return action == .update ? "update" : "create"
    }

    static func verb(_ operation: ApplyOperation, _ action: ChangeAction) -> String {
        switch (operation, action) {
        case (.delete, _): "Destroying"
        case (.apply, .update): "Modifying"
        default: "Creating"
        }
    }
}
