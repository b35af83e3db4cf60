import Foundation
import Testing

@testable import MLInfraCore

/// `mlinfra fmt`'s layout: canonical, comment-keeping, idempotent, and never a change of meaning.
@Suite struct SpecFormatterTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let messy = """
        # The registry quickstart, written carelessly.
        mlinfra: 1
        project:     demo   


        variables:
            env: {type: string,default:   dev}   # where it runs
            regions:
            - eu
            -   us
            empty: {}
        resources:
              # the main registry
              registry.main:   { description:  "models, for ${var.env}" }
              model.fraud:
                  registry: registry.main
                  description: |
                    Fraud detector.
                      Indented line kept.
                  tags: [ team ,  ml ]
                  versions:
                  -   name: v1
                      path: ./m.json
                  - name: v2   # the new one

                    # its file
                    path: ./m2.json
        """

    static let canonical = """
        # The registry quickstart, written carelessly.
        mlinfra: 1
        project: demo

        variables:
          env: { type: string, default: dev }   # where it runs
          regions:
            - eu
            - us
          empty: {}
        resources:
          # the main registry
          registry.main: { description: "models, for ${var.env}" }
          model.fraud:
            registry: registry.main
            description: |
              Fraud detector.
                Indented line kept.
            tags: [team, ml]
            versions:
              - name: v1
                path: ./m.json
              - name: v2   # the new one

                # its file
                path: ./m2.json

        """

    @Test func aCarelessSpecComesOutCanonicalWithEveryComment() throws {
        #expect(SpecFormatter.format(Self.messy, file: "messy.yaml") == .formatted(Self.canonical))
        #expect(SpecFormatter.format(Self.canonical, file: "canonical.yaml") == .formatted(Self.canonical))
    }

    @Test func blockScalarsKeepTheirContentAndTrailingLines() {
        let text = "a:\n    lit: |+\n      x  \n\n    fold: >-\n      one\n\n      two\n"
        guard case .formatted(let out) = SpecFormatter.format(text, file: "b.yaml") else {
            Issue.record("refused")
            return
        }
        #expect(out == "a:\n  lit: |+\n    x  \n\n  fold: >-\n    one\n\n    two\n")
    }

    @Test func aFileThatDoesNotParseIsRefusedNamingWhere() {
        guard case .refused(let why) = SpecFormatter.format("a: [1, 2\nb: 3\n", file: "bad.yaml") else {
            Issue.record("formatted a file that does not parse")
            return
        }
        #expect(why.contains("bad.yaml:"), "\(why)")
    }

    /// Every file of the YAML fuzz corpus is either refused or formatted to the same meaning, and formatting twice changes nothing.
    @Test func theFuzzCorpusIsRefusedOrKeptInMeaningAndStable() throws {
        let dir = Self.repository.appendingPathComponent("Fuzz/corpus").path
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }
        #expect(names.count > 10)
        for name in names {
            let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            guard case .formatted(let once) = SpecFormatter.format(text, file: name) else { continue }
            #expect(SpecFormatter.format(once, file: name) == .formatted(once), "formatting \(name) twice changed it")
        }
    }

    /// Every spec in the repository formats without refusal, keeps its comments, and is stable.
    @Test func everySpecInTheRepositoryRoundTrips() throws {
        var files: [String] = []
        for top in ["specs", "bench", "docs", "Tests"] {
            let root = Self.repository.appendingPathComponent(top).path
            guard let walker = FileManager.default.enumerator(atPath: root) else { continue }
            for case let path as String in walker where (path.hasSuffix(".yaml") || path.hasSuffix(".yml")) && !path.contains("/corpus/") {
                files.append(root + "/" + path)
            }
        }
        #expect(files.contains { $0.contains("specs/quickstart/") } && files.contains { $0.contains("specs/fraud-detection/") })
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            guard YAMLLoader.load(Array(text.utf8), file: file).diagnostics.hasErrors == false else { continue }  // a test's bad input
            guard case .formatted(let once) = SpecFormatter.format(text, file: file) else {
                Issue.record("fmt refused \(file)")
                continue
            }
            #expect(SpecFormatter.format(once, file: file) == .formatted(once), "formatting \(file) twice changed it")
            let comments = { (t: String) in t.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("#") } }
            #expect(comments(once) == comments(text), "\(file) lost or changed a comment line")
        }
    }
}
