import MLInfraCLI

@main
struct Entrypoint {
    static func main() async { await MLInfraCommand.run() }
}
