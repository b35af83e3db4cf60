import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

@Suite struct SchemaCodableTests {
    @Test func providerSchemaRoundTripsThroughJSON() throws {
        var schema = FakeProvider.makeSchema()
        schema.concurrencyLimit = 4
        schema.resourceTypes["nested"] = ResourceSchema(
            version: 3,
            attributes: [
                "replicas": AttributeSchema(.object(["min": AttributeSchema(.int, required: true), "max": AttributeSchema(.int)])),
                "checks": AttributeSchema(.list(.object(["feature": AttributeSchema(.string)]))),
                "labels": AttributeSchema(.map(.list(.string))),
            ])
        let data = try JSONEncoder().encode(schema)
        #expect(try JSONDecoder().decode(ProviderSchema.self, from: data) == schema)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""resource_types""#))
        #expect(text.contains(#""concurrency_limit":4"#))
        #expect(text.contains(#""force_new":true"#))
        #expect(text.contains(#""optional":true"#))
        #expect(text.contains(#""type":"map(list(string))""#))
        #expect(text.contains(#""type":{"list":{"object":"#))
    }

    @Test func handWrittenSchemaWithDefaultsDecodes() throws {
        let json = #"""
            {"name":"acme","version":"1.0.0",
             "resource_types":{"acme_bucket":{"attributes":{
                "name":{"type":"string","required":true,"force_new":true},
                "tags":{"type":"map(string)"},
                "arn":{"type":"string","computed":true},
                "region":{"type":"string","computed":true,"optional":true},
                "size":{"type":{"map":"int"}}}}}}
            """#
        let schema = try JSONDecoder().decode(ProviderSchema.self, from: Data(json.utf8))
        let bucket = try #require(schema.resourceTypes["acme_bucket"])
        #expect(bucket.version == 1)
        #expect(schema.config.isEmpty)
        #expect(schema.concurrencyLimit == nil)
        #expect(bucket.attributes["name"] == AttributeSchema(.string, required: true, forceNew: true))
        #expect(bucket.attributes["tags"]?.type == .map(.string))
        #expect(bucket.attributes["arn"]?.computed == true)
        #expect(bucket.attributes["arn"]?.settable == false)
        #expect(bucket.attributes["region"]?.settable == true)
        #expect(bucket.attributes["size"]?.type == .map(.int))
    }

    @Test(arguments: ["str", "list(", "list(strin)", "map()", "object"])
    func unknownTypeNamesAreRejected(_ name: String) {
        let json = #"{"type":"\#(name)"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AttributeSchema.self, from: Data(json.utf8)) }
    }

    @Test func typeStringsParse() {
        #expect(AttributeType(parsing: "duration") == .duration)
        #expect(AttributeType(parsing: "list(map(number))") == .list(.map(.number)))
        #expect(AttributeType(parsing: " any ") == .any)
        #expect(AttributeType(parsing: "list(string") == nil)
    }
}
