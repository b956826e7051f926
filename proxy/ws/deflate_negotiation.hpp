#pragma once
// permessage-deflate negotiation (RFC 7692 section 7) for each leg on its
// own: tether answers the client's offer as a server and makes its own
// offer to the backend as a client. Pure text in, text out (fuzzed with the
// handshake).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace tether::ws {

/// What one leg settled, from tether's side of it.
struct deflate_params {
  bool on = false;
  std::uint8_t send_window_bits = 15;     // the window tether's deflater may use
  std::uint8_t receive_window_bits = 15;  // the window the peer's deflater uses
  bool send_reset = true;     // tether starts each message from an empty window
  bool receive_reset = true;  // so does the peer: tether keeps no inflate state
};

/// tether's answer to a client's Sec-WebSocket-Extensions (all of its lines
/// joined with ", "): the first permessage-deflate offer it can honour, and
/// the response header value. nullopt declines every offer (no extension).
struct deflate_answer {
  deflate_params params;
  std::string header;
};
std::optional<deflate_answer> answer_deflate_offer(std::string_view offers,
                                                   const compression_config& c);

/// tether's offer to a backend, or "" when c.upstream is off.
std::string make_deflate_offer(const compression_config& c);

/// The backend's Sec-WebSocket-Extensions for tether's `offer` (both as
/// sent): the leg's parameters (off when it declined), or why the response
/// fails the connection. send_window_bits is left at 15: the route's
/// max_window_bits narrows it (limited_by).
struct deflate_accept {
  deflate_params params;
  std::string error;
};
deflate_accept accept_deflate_answer(std::string_view response, std::string_view offer);

/// `p` with tether's own window no larger than the route allows.
deflate_params limited_by(deflate_params p, const compression_config& c);

}  // namespace tether::ws
