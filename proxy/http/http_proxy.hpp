#pragma once
// Plain HTTP/1.1 pass-through for requests without Upgrade: bodies stream
// both ways in fixed-size pieces (never held whole), framing is preserved
// (Content-Length or chunked), and both connections are kept alive.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "http/http_types.hpp"
#include "admin/metrics.hpp"
#include "server/runtime.hpp"
#include "http/transport.hpp"

namespace tether {

/// The upstream connection a client connection reuses between requests.
struct http_upstream_cache {
  std::unique_ptr<transport> leg;
  beast::flat_buffer buffer;
  const route_runtime* route = nullptr;
  std::size_t url_index = 0;
};

enum class http_outcome { keep_alive, close, upstream_unreachable };

/// What the session's timer needs to end an exchange that stopped moving
/// (limits.http_idle_timeout): when a byte last moved, and which side is
/// being waited for.
struct http_progress {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  bool connecting = false;         // opening the upstream: connect_timeout governs
  bool awaiting_upstream = false;  // the request is out; no response header yet
  bool timed_out = false;          // set by the timer before it closes a side
  // For the access log: the status answered (0: none) and body bytes each way.
  unsigned status = 0;
  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
  void touch() { last = std::chrono::steady_clock::now(); }
};

/// Plain HTTP on one client connection: the upstream connection its
/// requests reuse, and the progress of the exchange under way, which the
/// session's timer holds to limits.http_idle_timeout.
class http_passthrough {
 public:
  /// Proxies the request whose header `parser` has read from `client`.
  awaitable<http_outcome> serve(transport& client, beast::flat_buffer& client_buffer,
                                http::request_parser<http::buffer_body>& parser,
                                const route_runtime& route, const std::string& client_ip,
                                bool client_tls, route_shard& stats);
  /// When to look again at the exchange under way, from `now`.
  std::chrono::steady_clock::time_point idle_deadline(std::chrono::steady_clock::time_point now,
                                                      std::chrono::steady_clock::duration idle) const;
  /// Ends the exchange under way if it has been idle for `idle` at `now`
  /// (true): waiting for the response, only the upstream is closed, so that
  /// the client still gets a 504; otherwise either side may be the stalled
  /// one, and both go.
  bool end_if_idle(std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration idle,
                   transport* client);
  /// The last exchange's progress (status, body bytes), for the access log.
  const http_progress& progress() const { return progress_; }

 private:
  http_upstream_cache cache_;
  http_progress progress_;
};

/// Proxies the request whose header `parser` has read from `client`.
awaitable<http_outcome> proxy_http(transport& client, beast::flat_buffer& client_buffer,
                                   http::request_parser<http::buffer_body>& parser,
                                   const route_runtime& route, http_upstream_cache& cache,
                                   const std::string& client_ip, bool client_tls,
                                   http_progress& progress, route_shard& stats);

}  // namespace tether
