#include "ws/ws_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <boost/beast/core/string.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>

#include "http/forwarding.hpp"
#include "ws/deflate_negotiation.hpp"

namespace tether::ws {
namespace {

constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

bool token_list_has(std::string_view list, std::string_view token) {
  return http::token_list(list).exists(token);
}

// Sec-WebSocket-Key must be base64 of exactly 16 bytes: 24 characters, "==" at the end.
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") {
    return false;
  }
  for (char c : key.substr(0, 22)) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return false;
    }
  }
  return true;
}

bool offered_protocol(const request_header& req, std::string_view proto) {
  for (auto it = req.find(http::field::sec_websocket_protocol);
       it != req.end() && it->name() == http::field::sec_websocket_protocol; ++it) {
    for (auto p : http::token_list(it->value())) {
      if (beast::iequals(p, proto)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

bool is_upgrade(const request_header& req) {
  return req.method() == http::verb::get &&
         token_list_has(req[http::field::connection], "upgrade") &&
         beast::iequals(req[http::field::upgrade], "websocket");
}

std::optional<string_response> check_client_request(const request_header& req) {
  if (req.version() != 11) {
    return make_error_response(http::status::bad_request, req.version(), "WebSocket needs HTTP/1.1\n");
  }
  if (req[http::field::host].empty()) {
    return make_error_response(http::status::bad_request, 11, "missing Host\n");
  }
  // RFC 9112 section 3.2: the route was chosen by the first Host, and the
  // upstream might believe another one.
  if (req.count(http::field::host) != 1) {
    return make_error_response(http::status::bad_request, 11, "more than one Host\n");
  }
  if (!valid_key(req[http::field::sec_websocket_key])) {
    return make_error_response(http::status::bad_request, 11, "invalid Sec-WebSocket-Key\n");
  }
  if (req[http::field::sec_websocket_version] != "13") {
    auto res = make_error_response(http::status::upgrade_required, 11, "unsupported WebSocket version\n");
    res.set(http::field::sec_websocket_version, "13");
    return res;
  }
  return std::nullopt;
}

std::string accept_key(std::string_view key) {
  std::string input(key);
  input += guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return base64(digest, sizeof digest);
}

std::string make_key() {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof raw);
  return base64(raw, sizeof raw);
}

upgrade_request make_upstream_request(const request_header& client_req, std::string target,
                                      std::string_view key, std::string_view client_ip,
                                      bool client_tls) {
  upgrade_request req;
  req.base() = client_req;
  req.version(11);
  req.target(target);
  strip_hop_by_hop(req.base());
  // "Connection: Host" makes Host hop-by-hop, yet the upstream needs one
  // (and check_client_request made sure there is exactly one).
  if (req.count(http::field::host) == 0) {
    req.set(http::field::host, client_req[http::field::host]);
  }
  // Each leg negotiates its own extensions: the session adds its own offer.
  for (auto f : {http::field::sec_websocket_key, http::field::sec_websocket_version,
                 http::field::sec_websocket_extensions, http::field::sec_websocket_accept,
                 http::field::content_length}) {
    req.erase(f);
  }
  add_forwarded(req.base(), client_ip, client_tls);
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, key);
  req.set(http::field::sec_websocket_version, "13");
  return req;
}

std::string serialize_request(const upgrade_request& req) {
  std::string out;
  out.reserve(256);
  out += req.method_string();
  out += ' ';
  out += req.target();
  out += " HTTP/1.1\r\n";
  for (const auto& f : req) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

std::optional<upgrade_request> parse_request(std::string_view text) {
  http::request_parser<http::empty_body> parser;
  beast::error_code ec;
  parser.put(boost::asio::buffer(text.data(), text.size()), ec);
  if (ec || !parser.is_done()) {
    return std::nullopt;
  }
  return parser.release();
}

std::string extension_offers(const http::fields& fields) {
  std::string out;
  for (auto it = fields.find(http::field::sec_websocket_extensions);
       it != fields.end() && it->name() == http::field::sec_websocket_extensions; ++it) {
    if (!out.empty()) {
      out += ", ";
    }
    out += it->value();
  }
  return out;
}

std::string check_upstream_response(const http::response_header<>& res, std::string_view key,
                                    const request_header& offered, std::string_view extensions) {
  if (res.result() != http::status::switching_protocols) {
    return "upstream answered " + std::to_string(res.result_int());
  }
  if (!beast::iequals(res[http::field::upgrade], "websocket") ||
      !token_list_has(res[http::field::connection], "upgrade")) {
    return "upstream 101 without Upgrade: websocket";
  }
  if (res[http::field::sec_websocket_accept] != accept_key(key)) {
    return "upstream sent a wrong Sec-WebSocket-Accept";
  }
  if (auto accepted = accept_deflate_answer(extension_offers(res), extensions); !accepted.error.empty()) {
    return accepted.error;
  }
  auto proto = res[http::field::sec_websocket_protocol];
  if (!proto.empty() && !offered_protocol(offered, proto)) {
    return "upstream chose a subprotocol the client did not offer";
  }
  return {};
}

http::response<http::empty_body> make_client_response(const request_header& client_req,
                                                      const http::response_header<>& upstream_res) {
  http::response<http::empty_body> res;
  res.base() = upstream_res;
  res.version(11);
  strip_hop_by_hop(res.base());
  for (auto f : {http::field::sec_websocket_accept, http::field::sec_websocket_extensions,
                 http::field::content_length}) {
    res.erase(f);
  }
  res.result(http::status::switching_protocols);
  res.set(http::field::upgrade, "websocket");
  res.set(http::field::connection, "Upgrade");
  res.set(http::field::sec_websocket_accept, accept_key(client_req[http::field::sec_websocket_key]));
  return res;
}

string_response make_error_response(http::status status, unsigned version, std::string body) {
  string_response res{status, version == 10 ? 10u : 11u};
  res.set(http::field::server, "tether");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::connection, "close");
  res.keep_alive(false);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace tether::ws
