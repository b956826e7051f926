#pragma once
// Opening one upstream leg: resolve, connect, TLS, WebSocket handshake,
// all within connect_timeout. Reconnects call this again with the same
// request, so a backend sees the same handshake every time.
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "http/http_types.hpp"
#include "net.hpp"
#include "http/transport.hpp"

namespace tether {

struct upstream_attempt {
  enum class status {
    ok,           // 101 accepted and checked
    unreachable,  // DNS, TCP, TLS failure or timeout: the client gets 502
    rejected,     // answered, but not with a valid 101: `response` is it
  };
  status result = status::unreachable;
  std::unique_ptr<transport> leg;
  string_response response;            // the upstream's answer (101 or other)
  std::vector<std::uint8_t> leftover;  // bytes read past the 101 (early frames)
  std::string error;                   // for logs
};

/// Opens a WebSocket connection to `url` with `req` (whose Sec-WebSocket-Key
/// is `key`). `tls_ctx` is used for wss:// URLs; `server_name` overrides
/// the URL's host for SNI and verification when not empty.
awaitable<upstream_attempt> open_upstream(const upstream_url& url, SSL_CTX* tls_ctx,
                                          const std::string& server_name,
                                          const upgrade_request& req, std::string_view key,
                                          const request_header& client_req,
                                          duration timeout);

/// Opens a plain TCP (+TLS for wss://) connection for HTTP pass-through.
awaitable<std::pair<std::unique_ptr<transport>, std::string>> open_http_upstream(
    const upstream_url& url, SSL_CTX* tls_ctx, const std::string& server_name, duration timeout);

}  // namespace tether
