import Foundation

/// The JSON-RPC 2.0 envelope of the plugin protocol, one message per line.
public enum JSONRPC {
    /// The plugin protocol version this mlinfra speaks; `initialize` checks both sides agree.
    public static let protocolVersion = 1

    /// The methods of the plugin protocol, as named on the wire.
    public enum Method: String, Sendable, CaseIterable {
        case initialize, schema, configure, validate, plan, apply, read
        case importResource = "import"
        case planDelete = "plan_delete"
        case shutdown
    }

    /// Error codes a plugin answers with (providers/README.md lists them).
    public enum ErrorCode {
        public static let parseError = -32700
        public static let invalidRequest = -32600
        public static let methodNotFound = -32601
        public static let invalidParams = -32602
        public static let internalError = -32603
        /// The provider itself failed (threw) while handling a valid request.
        public static let providerError = -32000
        /// `initialize` asked for a protocol version the plugin does not speak.
        public static let unsupportedProtocol = -32001
    }

    static func request(id: Int, method: String, params: Value) -> Value {
        ["jsonrpc": "2.0", "id": .int(id), "method": .string(method), "params": params]
    }

    static func response(id: Value, result: Value) -> Value {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: Value, code: Int, message: String, data: Value? = nil) -> Value {
        var body: [String: Value] = ["code": .int(code), "message": .string(message)]
        if let data { body["data"] = data }
        return ["jsonrpc": "2.0", "id": id, "error": .map(body)]
    }

    /// A message the client receives from a plugin.
    enum Incoming {
        case result(id: Int, Value)
        case error(id: Int, code: Int, message: String, data: Value?)
        /// A message with no id: `log` is forwarded to the logger, others are ignored.
        case notification(method: String, params: Value)
        /// A response whose id is not a number this client could have sent.
        case foreignID(Value)
    }

    /// Classifies a line from a plugin; nil when it is not a JSON-RPC 2.0 message.
    static func parseIncoming(_ line: Data) -> Incoming? {
        guard let value = try? JSONLine.value(from: line), case .map(let entries) = value,
            entries["jsonrpc"] == "2.0"
        else { return nil }
        if let method = entries["method"]?.stringValue {
            guard entries["id"] == nil || entries["id"] == .null else { return nil }
            return .notification(method: method, params: entries["params"] ?? .null)
        }
        guard let rawID = entries["id"] else { return nil }
        guard case .int(let id) = rawID else { return .foreignID(rawID) }
        if entries.keys.contains("result") {
            return .result(id: id, entries["result"] ?? .null)
        }
        guard case .map(let body)? = entries["error"], let code = body["code"]?.intValue,
            let message = body["message"]?.stringValue
        else { return nil }
        return .error(id: id, code: code, message: message, data: body["data"])
    }
}
