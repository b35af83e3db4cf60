import Testing
@testable import MLInfraCore

@Suite struct ExpressionTests {
    let here = SourceLocation(file: "s.yaml", line: 3, column: 10)

    func parse(_ text: String) -> (Template?, Diagnostics) {
        var d = Diagnostics()
        let t = TemplateParser.parse(text, at: here, diagnostics: &d)
        return (t, d)
    }

    @Test func plainTextHasNoReferences() {
        #expect(parse("hello").0?.references.isEmpty == true)
    }

    @Test func soleReferenceKeepsItsPlace() throws {
        let t = try #require(parse("${model_version.v3.version}").0)
        let (r, l) = try #require(t.soleReference)
        #expect(r.root == .resource(type: "model_version", name: "v3", key: nil))
        #expect(r.path == ["version"])
        #expect(l == here)
    }

    @Test func interpolationSplitsTextAndReferences() throws {
        let t = try #require(parse("http://${endpoint.fraud.host}:8080/${var.path}").0)
        #expect(t.parts.count == 4)
        let refs = t.references
        #expect(refs[0].0.description == "endpoint.fraud.host")
        #expect(refs[0].1.column == 10 + 7)
        #expect(refs[1].0.root == .variable("path"))
    }

    @Test(arguments: ["var.env", "each.key", "each.value.size", "model.m[\"a\"].id", "feature_store.main"])
    func referencesParse(_ body: String) {
        #expect(TemplateParser.parseReference(body) != nil)
    }

    @Test(arguments: ["", "var", "1x.y", "a..b", "each.other", "model.m.", "a b.c"])
    func badReferencesAreRefused(_ body: String) {
        #expect(TemplateParser.parseReference(body) == nil)
    }

    @Test func unclosedExpressionIsADiagnostic() {
        let (t, d) = parse("x ${var.a")
        #expect(t == nil)
        #expect(d.errors.first?.summary.contains("unclosed") == true)
        #expect(d.errors.first?.location?.column == 12)
    }

    @Test func dollarDollarEscapes() throws {
        let t = try #require(parse("cost: $${not.a.ref}").0)
        #expect(t.references.isEmpty)
        #expect(t.parts == [.text("cost: ${not.a.ref}")])
    }
}
