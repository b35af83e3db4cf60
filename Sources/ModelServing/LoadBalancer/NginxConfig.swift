import Foundation

/// The nginx configuration of the load balancers: one `upstream` and one `server` block each,
/// for a file that nginx's `http` block includes.
///
/// Failover is nginx's own: a router that refuses the connection, times out or answers 502/503/504
/// is skipped for the next one (`proxy_next_upstream`, including POSTs: a prediction has no side
/// effect, so sending it again is safe), and left out for `fail_timeout` after a failure.
public enum NginxConfig {
    public static func render(_ balancers: [(config: LoadBalancerConfig, upstreams: [String])]) -> String {
        var out = "# Written by mlinfra from the control store; every change is overwritten.\n"
        for (config, upstreams) in balancers.sorted(by: { $0.config.name < $1.config.name }) {
            let upstream = "mlinfra_\(config.name.replacingOccurrences(of: "-", with: "_"))"
            let listen = config.host.contains(":") ? "[\(config.host)]:\(config.port)" : "\(config.host):\(config.port)"
            out += "\n# load_balancer \(config.name) → endpoint \(config.endpoint)\n"
            guard !upstreams.isEmpty else {
                out += """
                    server {
                        listen \(listen);
                        location / { return 503 "no live host serves endpoint \(config.endpoint)\\n"; }
                    }

                    """
                continue
            }
            out += "upstream \(upstream) {\n"
            for server in upstreams.sorted() { out += "    server \(server) max_fails=1 fail_timeout=5s;\n" }
            out += "    keepalive 32;\n}\n"
            out += """
                server {
                    listen \(listen);
                    location / {
                        proxy_pass http://\(upstream);
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $host;
                        proxy_connect_timeout \(format(config.connectTimeout));
                        proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;
                        proxy_next_upstream_tries \(upstreams.count + 1);
                        proxy_buffering off;
                    }
                }

                """
        }
        return out
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(Int((seconds * 1000).rounded()))ms"
    }
}
