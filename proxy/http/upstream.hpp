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
#include "io/byte_stream.hpp"
#include "ws/deflate_negotiation.hpp"

namespace tether {

struct upstream_attempt {
  enum class status {
    ok,           // 101 accepted and checked
    unreachable,  // DNS, TCP, TLS failure or timeout: the client gets 502
    rejected,     // answered, but not with a valid 101: `response` is it
  };
  status result = status::unreachable;
  /// On ok: the connection, past its handshake, for the relay's leg.
  std::unique_ptr<byte_stream> stream;
  string_response response;            // the upstream's answer (101 or other)
  std::vector<std::uint8_t> leftover;  // bytes read past the 101 (early frames)
  ws::deflate_params deflate;          // permessage-deflate as the upstream accepted it
  std::string error;                   // for logs
};

/// What opening an upstream leg needs (all referenced, valid while it runs).
struct upstream_dial {
  const upstream_url& url;
  SSL_CTX* tls_ctx;                 // for wss:// URLs
  const std::string& server_name;   // overrides the URL's host for SNI and verification
  const upgrade_request& req;       // whose Sec-WebSocket-Key is `key`
  std::string_view key;
  const request_header& client_req; // the client's offer (subprotocols, extensions)
  duration timeout;
  bool keep_records_in_openssl = false;  // the listener's tls.record_offload: false
};

/// Opens a WebSocket connection to `d.url` with `d.req`, within `d.timeout`:
/// resolve, connect, TLS, handshake. On ok the stream is released from the
/// handshake's transport once the 101 is checked.
awaitable<upstream_attempt> open_upstream(const upstream_dial& d);

/// How a session opens its upstream legs (the handshake's and every
/// reconnect's). The worker holds one; none means open_upstream. A new kind
/// of upstream (or the in-memory harness) provides its own.
class upstream_connector {
 public:
  virtual ~upstream_connector() = default;
  virtual awaitable<upstream_attempt> open(const upstream_dial& d) = 0;
};

/// A connection for HTTP pass-through, or why there is none.
struct upstream_connection {
  std::unique_ptr<transport> leg;
  std::string error;  // for logs
};

/// Opens a plain TCP (+TLS for wss://) connection for HTTP pass-through.
awaitable<upstream_connection> open_http_upstream(
    const upstream_url& url, SSL_CTX* tls_ctx, const std::string& server_name, duration timeout);

}  // namespace tether
