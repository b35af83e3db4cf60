/// The version of mlinfra, recorded in state files and plan files.
public enum MLInfraVersion {
    public static let current = "0.1.0"
}
