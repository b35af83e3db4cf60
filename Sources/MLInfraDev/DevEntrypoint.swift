// mlinfra-dev: the mlinfra command with the test-only `disk` provider built in,
// for end-to-end tests and benchmarks of the core. Never shipped.
import MLInfraCLI
import MLInfraCoreTesting

@main
struct DevEntrypoint {
    static func main() async {
        BuiltinProviders.register(name: "disk") { DiskProvider() }
        await MLInfraCommand.run()
    }
}
