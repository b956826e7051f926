#pragma once
// The opening handshake on both legs (RFC 6455 section 4), upstream first:
// tether offers the client's request to the backend, and only answers the
// client with what the backend chose.
#include <optional>
#include <string>
#include <string_view>

#include "http/http_types.hpp"

namespace tether::ws {

/// True for a request asking to upgrade to WebSocket (any validity).
bool is_upgrade(const request_header& req);

/// Checks a client's upgrade request. nullopt when valid; otherwise the
/// response to send (400, or 426 with Sec-WebSocket-Version: 13).
std::optional<string_response> check_client_request(const request_header& req);

/// base64(SHA-1(key + GUID)).
std::string accept_key(std::string_view key);
/// A fresh Sec-WebSocket-Key.
std::string make_key();

/// The request tether sends upstream: the client's end-to-end headers with
/// its own key, none of the client's extensions (tether adds its own offer),
/// and X-Forwarded-* added.
upgrade_request make_upstream_request(const request_header& client_req, std::string target,
                                      std::string_view key, std::string_view client_ip,
                                      bool client_tls);

/// A request header as HTTP/1.1 text, and back: a session keeps its upstream
/// request this way for reconnects (a few hundred bytes instead of a
/// node-based header map). parse_request returns nullopt on malformed text.
std::string serialize_request(const upgrade_request& req);
std::optional<upgrade_request> parse_request(std::string_view text);

/// Checks the upstream's 101 for the request made with `key` and tether's
/// extension offer `extensions`. Empty when valid, else the reason.
std::string check_upstream_response(const http::response_header<>& res, std::string_view key,
                                    const request_header& offered, std::string_view extensions);

/// Every Sec-WebSocket-Extensions line of `fields` as one list.
std::string extension_offers(const http::fields& fields);

/// The 101 for the client: its accept key, the upstream's subprotocol and
/// the upstream's end-to-end response headers (Set-Cookie, ...).
http::response<http::empty_body> make_client_response(const request_header& client_req,
                                                      const http::response_header<>& upstream_res);

/// A plain response with a short text body, e.g. 404 or 502.
string_response make_error_response(http::status status, unsigned version, std::string body);

}  // namespace tether::ws
