import Testing
@testable import MLInfraCore

@Suite struct SpecValidationTests {
    func errors(_ text: String, vars: [String] = []) async -> [Diagnostic] {
        let (_, d) = await TestSpec.configuration(text, vars: vars)
        return d.errors
    }

    func expectError(_ text: String, contains needle: String, line: Int, column: Int, vars: [String] = [], sourceLocation: Testing.SourceLocation = #_sourceLocation) async {
        let found = await errors(text, vars: vars)
        let match = found.first { $0.summary.contains(needle) || $0.detail.contains(needle) }
        #expect(match != nil, "no error containing \(needle) in \(found)", sourceLocation: sourceLocation)
        #expect(match?.location?.file == "main.yaml", sourceLocation: sourceLocation)
        #expect(match?.location?.line == line, sourceLocation: sourceLocation)
        #expect(match?.location?.column == column, sourceLocation: sourceLocation)
    }

    let head = "mlinfra: 1\nproject: demo\n"

    @Test func validSpecExpandsAndOrders() async throws {
        let (c, d) = await TestSpec.configuration(head + """
            resources:
              group.g: { members: ["${thing.a.url}"], owner: "${thing.a}" }
              thing.a: { size: 3, ttl: 90d, limits: { max: 4 } }
            """)
        #expect(!d.hasErrors, "\(d.items)")
        let order = try #require(c).instances.map(\.address.description)
        #expect(order == ["thing.a", "group.g"])
    }

    @Test func unknownTopLevelKeySuggests() async {
        await expectError(head + "resorces: {}\n", contains: "Did you mean `resources`", line: 3, column: 1)
    }

    @Test func unknownResourceTypeSuggests() async {
        await expectError(head + "resources:\n  thng.a: { size: 1 }\n", contains: "Did you mean `thing`", line: 4, column: 3)
    }

    @Test func unknownAttributeSuggests() async {
        await expectError(head + "resources:\n  thing.a:\n    size: 1\n    sise: 2\n", contains: "Did you mean `size`", line: 6, column: 5)
    }

    @Test func wrongTypeNamesTheAttribute() async {
        await expectError(head + "resources:\n  thing.a: { size: [1, 2] }\n", contains: "`size` must be an int", line: 4, column: 20)
    }

    @Test func missingRequiredAttribute() async {
        await expectError(head + "resources:\n  thing.a: { label: x }\n", contains: "needs the attribute `size`", line: 4, column: 3)
    }

    @Test func referenceToNothing() async {
        await expectError(head + "resources:\n  thing.a: { size: 1, ref: \"${thing.nope.url}\" }\n", contains: "`thing.nope` is not a resource", line: 4, column: 29)
    }

    @Test func referenceToUnknownAttribute() async {
        await expectError(head + "resources:\n  thing.b: { size: 1 }\n  thing.a: { size: 1, ref: \"${thing.b.lable}\" }\n", contains: "Did you mean `label`", line: 5, column: 29)
    }

    @Test func computedAttributeCannotBeSet() async {
        await expectError(head + "resources:\n  thing.a: { size: 1, url: x }\n", contains: "set by the provider", line: 4, column: 23)
    }

    @Test func badDuration() async {
        await expectError(head + "resources:\n  thing.a: { size: 1, ttl: 5x }\n", contains: "not a duration", line: 4, column: 28)
    }

    @Test func nestedObjectNeedsItsRequiredSetting() async {
        await expectError(head + "resources:\n  thing.a: { size: 1, limits: { min: 1 } }\n", contains: "needs the setting `max`", line: 4, column: 31)
    }

    @Test func referenceOfTheWrongType() async {
        await expectError(head + "resources:\n  group.x: {}\n  group.g: { owner: \"${group.x}\" }\n", contains: "must refer to a `thing`", line: 5, column: 22)
    }

    @Test func cycleIsPrintedWhole() async {
        let found = await errors(head + """
            resources:
              thing.a: { size: 1, ref: "${thing.b.url}" }
              thing.b: { size: 1, ref: "${thing.c.url}" }
              thing.c: { size: 1, depends_on: [thing.a] }
            """)
        let cycle = found.first { $0.summary.hasPrefix("dependency cycle") }
        #expect(cycle != nil)
        #expect(cycle?.summary.contains("thing.a → thing.b → thing.c → thing.a") == true
            || cycle?.summary.contains("thing.b → thing.c → thing.a → thing.b") == true
            || cycle?.summary.contains("thing.c → thing.a → thing.b → thing.c") == true)
    }

    @Test func duplicateAddressAcrossFilesNamesBoth() async {
        let (_, d) = SpecLoader.load(sources: [
            ("a.yaml", head + "resources:\n  thing.a: { size: 1 }\n"),
            ("b.yaml", "resources:\n  thing.a: { size: 2 }\n"),
        ])
        let e = d.errors.first { $0.summary.contains("defined twice") }
        #expect(e?.location == SourceLocation(file: "b.yaml", line: 2, column: 3))
        #expect(e?.detail.contains("a.yaml:4:3") == true)
    }

    @Test func variableOutsideAllowedIsRefused() async {
        let spec = head + "variables:\n  env: { type: string, default: dev, allowed: [dev, prod] }\nresources: {}\n"
        await expectError(spec, contains: "\"qa\" is not one of", line: 4, column: 3, vars: ["env=qa"])
    }

    @Test func variableOfWrongTypeIsRefused() async {
        let spec = head + "variables:\n  n: { type: int, default: 1 }\nresources: {}\n"
        await expectError(spec, contains: "expected int", line: 4, column: 3, vars: ["n=many"])
    }

    @Test func sensitiveVariableValueNeverInErrors() async {
        let spec = head + "variables:\n  token: { type: int, sensitive: true }\nresources: {}\n"
        let found = await errors(spec, vars: ["token=hunter2"])
        #expect(!found.isEmpty)
        #expect(!found.contains { $0.description.contains("hunter2") })
    }

    @Test func forEachMakesKeyedInstances() async throws {
        let (c, d) = await TestSpec.configuration(head + """
            variables:
              sizes: { type: map, default: { small: 1, big: 9 } }
            resources:
              thing.t:
                for_each: ${var.sizes}
                size: ${each.value}
                label: "t-${each.key}"
            """)
        #expect(!d.hasErrors, "\(d.items)")
        let addresses = try #require(c).instances.map(\.address.description).sorted()
        #expect(addresses == ["thing.t[\"big\"]", "thing.t[\"small\"]"])
    }

    @Test func forEachOnAResourceValueIsRefused() async {
        await expectError(head + "resources:\n  thing.a: { size: 1 }\n  thing.b:\n    for_each: \"${thing.a.tags}\"\n    size: 1\n",
                          contains: "must be known before apply", line: 6, column: 16)
    }

    @Test func unknownVariableInReference() async {
        await expectError(head + "resources:\n  thing.a: { size: \"${var.sze}\" }\n", contains: "not a declared variable", line: 4, column: 21)
    }
}
