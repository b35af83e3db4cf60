import MLInfraCore
import ModelRegistry

/// The schemas of the registry's resource types.
enum RegistrySchemas {
    static let all: [String: ResourceSchema] = [
        "registry": registry, "model": model, "model_version": modelVersion, "model_alias": modelAlias,
    ]

    static let registry = ResourceSchema(
        description: "The model registry (one per data directory): SQLite and artifact files under <data_dir>/registry, "
            + "or a team's shared PostgreSQL database.",
        attributes: [
            "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "Defaults to the resource name."),
            "storage": AttributeSchema(
                .object([
                    "sqlite": AttributeSchema(.object([:]), description: "registry.sqlite under <data_dir>/registry (the default)."),
                    "postgres": AttributeSchema(
                        .object([
                            "url": AttributeSchema(
                                .string, required: true, sensitive: true,
                                description: "postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…]; give it through a sensitive variable."),
                            "schema": AttributeSchema(.string, description: "The schema of the registry's tables; default mlinfra_registry."),
                            "synchronous_commit": AttributeSchema(
                                .bool,
                                description: "Wait for the server's disk flush on every change (default true); false keeps a change through any "
                                    + "crash of mlinfra but not through a crash of the database server in the following moment, as SQLite's NORMAL sync."),
                        ]),
                        description: "Records in a PostgreSQL schema shared by everyone who names it; tables created and migrated by mlinfra."),
                ]),
                description: "Where models, versions, aliases and the audit log are kept: { sqlite: {} } (default) or { postgres: { url: … } }."),
            "artifacts": AttributeSchema(
                .object([
                    "path": AttributeSchema(.string, description: "A directory (local or a shared mount), relative to the spec."),
                    "postgres": AttributeSchema(.object([:]), description: "In the storage's PostgreSQL database, in chunks checked on every read."),
                ]),
                description: "Where artifacts are kept: files under <data_dir>/registry/artifacts by default; with PostgreSQL storage, in the database."),
            "path": .computed(.string, description: "The registry's local directory (with PostgreSQL, the cache of checked artifact copies)."),
            "id": .computed(.string),
        ])

    static let model = ResourceSchema(
        description: "A registered model: a name under which numbered versions and aliases are kept.",
        attributes: [
            "registry": AttributeSchema(.string, required: true, referenceType: "registry", description: "The registry, e.g. ${registry.main}."),
            "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "The model's name; defaults to the resource name."),
            "description": AttributeSchema(.string, computed: true, optional: true, description: "Free text."),
            "tags": AttributeSchema(.map(.string), computed: true, optional: true, description: "Key/value tags."),
            "protected_aliases": AttributeSchema(
                .list(.string), computed: true, optional: true,
                description: "Aliases only `mlinfra apply` may move; `mlinfra models set-alias` and the HTTP API refuse."),
            "id": .computed(.string),
        ])

    static let modelVersion = ResourceSchema(
        description: "One version of a model: its artifact is content-hashed, and new content is a new version.",
        attributes: [
            "model": AttributeSchema(.string, required: true, forceNew: true, referenceType: "model", description: "The model, e.g. ${model.fraud}."),
            "artifact": AttributeSchema(.string, required: true, description: "The artifact file, or a directory (an MLflow model folder: every regular file in it), relative to the spec."),
            "format": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "e.g. linear-json, xgboost-json (which endpoints serve; docs/model-formats.md), onnx; default file."),
            "description": AttributeSchema(.string, computed: true, optional: true),
            "tags": AttributeSchema(.map(.string), computed: true, optional: true),
            "run_id": AttributeSchema(.string, description: "Lineage: the training run."),
            "dataset": AttributeSchema(.string, description: "Lineage: the training data."),
            "commit": AttributeSchema(.string, description: "Lineage: the code commit."),
            "version": .computed(.int, description: "The version number the registry assigned."),
            "sha256": .computed(.string, description: "The artifact's sha256, computed at plan time; a change replaces the version."),
            "size": .computed(.int, description: "The artifact's size in bytes."),
            "source": .computed(.string, description: "The artifact's path when it was registered."),
            "uri": .computed(.string, description: "models:/MODEL/VERSION"),
            "id": .computed(.string, description: "MODEL/VERSION"),
        ])

    static let modelAlias = ResourceSchema(
        description: "An alias of a model pointing to one version; moving it is an in-place update.",
        attributes: [
            "model": AttributeSchema(.string, required: true, forceNew: true, referenceType: "model", description: "The model, e.g. ${model.fraud}."),
            "alias": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "The alias; defaults to the resource name."),
            "version": AttributeSchema(.int, required: true, description: "The version it points to, e.g. ${model_version.fraud_v3.version}."),
            "uri": .computed(.string, description: "models:/MODEL@ALIAS"),
            "id": .computed(.string, description: "MODEL@ALIAS"),
        ])
}

/// Checks of a resource's configuration that need no registry.
enum RegistryValidation {
    static func check(type: String, config: [String: Value]) -> [AttributeDiagnostic] {
        var problems: [AttributeDiagnostic] = []
        func expectString(_ key: String) {
            guard let value = config[key], !value.isUnknown, !value.isNull else { return }
            if value.stringValue == nil {
                problems.append(AttributeDiagnostic(attribute: key, .error("`\(key)` must be a string, not \(value.kindName)")))
            }
        }
        func expectTags(_ key: String) {
            guard let value = config[key], !value.isUnknown, !value.isNull else { return }
            guard let map = value.mapValue else {
                problems.append(AttributeDiagnostic(attribute: key, .error("`\(key)` must be a map of strings", detail: "e.g. \(key): { dataset: fraud_2024_q1 }")))
                return
            }
            for (k, v) in map where v.interpolated == nil && !v.isUnknown {
                problems.append(AttributeDiagnostic(attribute: "\(key).\(k)", .error("tag `\(k)` must be a string, number or bool, not \(v.kindName)")))
            }
        }
        func checkName(_ key: String, alias: Bool = false) {
            guard let name = config[key]?.stringValue else { return }
            do {
                if alias { try Naming.checkAlias(name) } else { try Naming.checkModelName(name) }
            } catch let error as RegistryError {
                problems.append(AttributeDiagnostic(attribute: key, .error(error.message, detail: error.remedy)))
            } catch {
                problems.append(AttributeDiagnostic(attribute: key, .error("\(error)")))
            }
        }
        switch type {
        case "registry":
            expectString("name")
        case "model":
            for key in ["registry", "name", "description"] { expectString(key) }
            expectTags("tags")
            checkName("name")
            if let value = config["protected_aliases"], !value.isUnknown, !value.isNull {
                if let list = value.listValue {
                    for (i, item) in list.enumerated() {
                        guard let alias = item.stringValue else {
                            if !item.isUnknown {
                                problems.append(AttributeDiagnostic(attribute: "protected_aliases.\(i)", .error("an alias must be a string")))
                            }
                            continue
                        }
                        do { try Naming.checkAlias(alias) } catch let error as RegistryError {
                            problems.append(AttributeDiagnostic(attribute: "protected_aliases.\(i)", .error(error.message, detail: error.remedy)))
                        } catch {}
                    }
                } else {
                    problems.append(AttributeDiagnostic(attribute: "protected_aliases", .error("`protected_aliases` must be a list of alias names", detail: "e.g. protected_aliases: [production]")))
                }
            }
        case "model_version":
            for key in ["model", "artifact", "format", "description", "run_id", "dataset", "commit"] { expectString(key) }
            expectTags("tags")
            if config["format"]?.stringValue == "" {
                problems.append(AttributeDiagnostic(attribute: "format", .error("`format` must not be empty", detail: "e.g. linear-json, xgboost-json, onnx or file")))
            }
        case "model_alias":
            for key in ["model", "alias"] { expectString(key) }
            checkName("alias", alias: true)
            if let value = config["version"], !value.isUnknown {
                let number = value.intValue ?? value.stringValue.flatMap { Int($0) }
                if (number ?? 0) < 1 {
                    problems.append(AttributeDiagnostic(
                        attribute: "version",
                        .error("`version` must be a version number (1, 2, …), not \(value.rendered)",
                               detail: "Point it at a version, e.g. version: ${model_version.fraud_v3.version}")))
                }
            }
        default:
            problems.append(AttributeDiagnostic(.error(
                "the registry provider has no resource type '\(type)'", detail: "It manages registry, model, model_version and model_alias.")))
        }
        return problems
    }
}
