import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A client that writes HTTP requests byte for byte on a loopback socket, so tests can send what
/// real clients and attackers send: any `Host`, any `Content-Type`, a head dripped one byte at a
/// time, or nothing at all.
public final class RawConnection {
    public let fd: Int32

    /// Connects to 127.0.0.1:`port`.
    public init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw RawHTTPError("connect to port \(port): \(reason)")
        }
    }

    deinit { close(fd) }

    /// Writes all of `data`; false when the peer has closed.
    @discardableResult
    public func send(_ data: Data) -> Bool {
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Data(text.utf8)) }

    /// Whether the server closes the connection within `seconds` (reading and dropping what it sends).
    public func closedByPeer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&pfd, 1, left) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return true }
        }
        return false
    }

    /// Reads one response (head and a `Content-Length` body), waiting at most `seconds`.
    public func readResponse(timeout seconds: Double = 10) throws -> RawResponse {
        let deadline = Date().addingTimeInterval(seconds)
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let response = RawResponse(parsing: received) { return response }
            guard Date() < deadline else { throw RawHTTPError("no whole response within \(seconds) s (got \(received.count) bytes)") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 {
                if let response = RawResponse(parsing: received, closed: true) { return response }
                throw RawHTTPError("connection closed after \(received.count) bytes")
            }
            received.append(contentsOf: buffer[0..<n])
        }
    }
}

/// A parsed response.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data
    public var text: String { String(decoding: body, as: UTF8.self) }

    init?(parsing data: Data, closed: Bool = false) {
        guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, statusLine.split(separator: " ").count >= 2,
              let status = Int(statusLine.split(separator: " ")[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = data[end.upperBound...]
        if let length = headers["content-length"].flatMap(Int.init) {
            guard body.count >= length else { return nil }
            self.body = Data(body.prefix(length))
        } else {
            guard closed else { return nil }
            self.body = Data(body)
        }
        self.status = status
        self.headers = headers
    }
}

public struct RawHTTPError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One request on a new connection: `Host` 127.0.0.1:port unless `host` is given, a
/// `Content-Type` only when given, and `Connection: close`.
public func rawRequest(
    port: Int, _ method: String, _ path: String, host: String? = nil, contentType: String? = nil, headers: [String: String] = [:],
    body: Data = Data()
) throws -> RawResponse {
    let connection = try RawConnection(port: port)
    var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
    if let contentType { head += "Content-Type: \(contentType)\r\n" }
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
    head += "Content-Length: \(body.count)\r\n\r\n"
    connection.send(Data(head.utf8) + body)
    return try connection.readResponse()
}

public func rawRequest(
    port: Int, _ method: String, _ path: String, host: String? = nil, contentType: String? = nil, headers: [String: String] = [:],
    json: String
) throws -> RawResponse {
    try rawRequest(port: port, method, path, host: host, contentType: contentType ?? "application/json", headers: headers, body: Data(json.utf8))
}
