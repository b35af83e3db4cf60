/// Evaluates expressions typed at `mlinfra console` against the spec and its state: variables,
/// locals, functions, and resources as state last recorded them.
public struct ExpressionConsole: Sendable {
    public let configuration: Configuration
    public let state: StateFile

    public init(configuration: Configuration, state: StateFile) {
        self.configuration = configuration
        self.state = state
    }

    /// The value of `line`, as views print it (secrets as `(sensitive)`), or the diagnostics that
    /// say what is wrong with it. `line` is an expression (`upper(var.env)`) or text with `${…}` in it.
    public func evaluate(_ line: String, lineNumber: Int = 1) -> (String?, Diagnostics) {
        var diagnostics = Diagnostics()
        let location = SourceLocation(file: "<console>", line: lineNumber, column: 1)
        let text = line.trimmingCharacters(in: .whitespaces)
        let expr: SpecExpr
        if text.contains("${") {
            guard let template = TemplateParser.parse(text, at: location, diagnostics: &diagnostics) else { return (nil, diagnostics) }
            expr = .template(template, location)
        } else {
            guard let expression = ExpressionParser.parse(text, at: location, whole: location, diagnostics: &diagnostics) else {
                return (nil, diagnostics)
            }
            expr = .template(Template(parts: [.expression(expression, location)]), location)
        }
        let key = configuration.stateKey
        let known = Dictionary(state.resources.map { ($0.address, KnownInstance($0, key: key)) }, uniquingKeysWith: { a, _ in a })
        var evaluator = configuration.evaluator(known: { known[$0] })
        let r = evaluator.evaluate(expr, diagnostics: &diagnostics)
        guard !diagnostics.hasErrors else { return (nil, configuration.redactor.scrub(diagnostics)) }
        // A value read from the environment may be a secret: the console never prints it either.
        let paths = r.unmarkedEnvironment.isEmpty ? r.sensitivePaths : [""]
        return (Secrets.render(Secrets.mask(r.value, paths: paths)), configuration.redactor.scrub(diagnostics))
    }
}
