/// The spec lines the end-to-end tests share: `model.scorer` in `registry.main`, its versions v1
/// and v2 (`models/v1.json`, `models/v2.json`, linear-json) and the alias `production` on one of them.
enum ScorerModel {
    /// The resources, indented as entries of `resources:`; `aliasOn` is "v1" or "v2".
    static func resources(aliasOn version: String) -> String {
        """
          model.scorer:
            registry: ${registry.main}
          model_version.v1:
            model: ${model.scorer}
            artifact: models/v1.json
            format: linear-json
          model_version.v2:
            model: ${model.scorer}
            artifact: models/v2.json
            format: linear-json
            depends_on: [model_version.v1]
          model_alias.production:
            model: ${model.scorer}
            alias: production
            version: ${model_version.\(version).version}
        """
    }
}
