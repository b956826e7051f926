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
  void touch() { last = std::chrono::steady_clock::now(); }
};

/// Proxies the request whose header `parser` has read from `client`.
awaitable<http_outcome> proxy_http(transport& client, beast::flat_buffer& client_buffer,
                                   http::request_parser<http::buffer_body>& parser,
                                   const route_runtime& route, http_upstream_cache& cache,
                                   const std::string& client_ip, bool client_tls,
                                   http_progress& progress, route_shard& stats);

}  // namespace tether
