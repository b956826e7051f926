// An HTTP upgrade request as a client sends it, through what a session does
// with it (session.cpp serve_http/serve_websocket): Beast's request_parser
// with tether's header limit, is_upgrade, check_client_request, then
// make_upstream_request, and serialize_request/parse_request as a reconnect
// replays it; its Sec-WebSocket-Extensions through the permessage-deflate
// negotiation, as an offer and as an answer.
//
// Input: [flags] then the request bytes.
//   flags bit 0: the client came over TLS
//   flags bit 1: the route strips its prefix
//   flags bit 2: the client address is IPv6
//   flags bit 3: the upstream URL has a base path
//
// Invariants on the request tether forwards: no CR, LF or NUL in any header
// name or value, nor in the target; no hop-by-hop header (RFC 9110 7.6.1),
// including those the client's Connection names, besides tether's own
// Connection: Upgrade and Upgrade: websocket; exactly one Host, the client's;
// X-Forwarded-For is the client's list with the address appended; every other
// end-to-end header arrives unchanged; the text form parses back the same.
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../fuzz_check.hpp"
#include "http/forwarding.hpp"
#include "ws/deflate_negotiation.hpp"
#include "ws/ws_handshake.hpp"

namespace {

using namespace tether;

// session.cpp's limit for a request header.
constexpr std::size_t max_request_header = 16 * 1024;

bool clean(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// Tokens of every Connection line, lower-cased, split on commas as RFC 9110
// 5.6.1 lists are.
std::vector<std::string> connection_tokens(const request_header& req) {
  std::vector<std::string> out;
  for (const auto& f : req) {
    if (f.name() != http::field::connection) {
      continue;
    }
    std::string_view v = f.value();
    for (;;) {
      const auto comma = v.find(',');
      std::string_view t = v.substr(0, comma);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) {
        t.remove_prefix(1);
      }
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) {
        t.remove_suffix(1);
      }
      if (!t.empty()) {
        out.push_back(lower(t));
      }
      if (comma == std::string_view::npos) {
        break;
      }
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<std::pair<std::string, std::string>> fields_of(const http::fields& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : f) {
    out.emplace_back(lower(e.name_string()), std::string(e.value()));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) {
    return 0;
  }
  const bool tls = (data[0] & 1) != 0;
  const bool strip = (data[0] & 2) != 0;
  const std::string_view client_ip = (data[0] & 4) != 0 ? "2001:db8::7" : "203.0.113.7";
  const std::string_view url_path = (data[0] & 8) != 0 ? "/base" : "";
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  // As session.cpp reads it: the header only, the body left for later.
  http::request_parser<http::buffer_body> parser;
  parser.header_limit(max_request_header);
  parser.body_limit(boost::none);
  beast::error_code ec;
  parser.put(boost::asio::buffer(text.data(), text.size()), ec);
  if (ec || !parser.is_header_done()) {
    return 0;
  }
  const request_header& client = parser.get().base();
  if (!ws::is_upgrade(client)) {
    return 0;  // plain HTTP pass-through, not this target's concern
  }
  if (auto bad = ws::check_client_request(client)) {
    FUZZ_CHECK(bad->result() == http::status::bad_request ||
               bad->result() == http::status::upgrade_required);
    return 0;
  }
  FUZZ_CHECK(client.count(http::field::host) == 1);

  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const auto target = upstream_target(client.target(), "/ws", strip, url_path);
  // The client's permessage-deflate offers, answered as the session does:
  // a clean header with windows tether can keep. The same bytes as a
  // backend's answer to tether's offer: accepted or refused, never more.
  const auto offers = ws::extension_offers(client);
  if (const auto answer = ws::answer_deflate_offer(offers, {})) {
    FUZZ_CHECK(answer->params.on && clean(answer->header));
    FUZZ_CHECK(answer->params.send_window_bits >= 9 && answer->params.send_window_bits <= 15);
    FUZZ_CHECK(answer->params.receive_window_bits >= 8 && answer->params.receive_window_bits <= 15);
  }
  const auto accepted = ws::accept_deflate_answer(offers, ws::make_deflate_offer({}));
  FUZZ_CHECK(accepted.error.empty() || !accepted.params.on);
  FUZZ_CHECK(!accepted.params.on || (accepted.params.receive_window_bits >= 8 &&
                                     accepted.params.receive_window_bits <= 15));

  const upgrade_request up = ws::make_upstream_request(client, target, key, client_ip, tls);

  FUZZ_CHECK(clean(up.target()) && up.target().find(' ') == std::string_view::npos);
  for (const auto& f : up) {
    FUZZ_CHECK(!f.name_string().empty() && clean(f.name_string()));
    FUZZ_CHECK(clean(f.value()));
  }

  // Hop-by-hop headers: gone, except the two tether sets for its own hop.
  const auto named = connection_tokens(client);
  FUZZ_CHECK(up.count(http::field::connection) == 1 && up[http::field::connection] == "Upgrade");
  FUZZ_CHECK(up.count(http::field::upgrade) == 1 && up[http::field::upgrade] == "websocket");
  for (auto f : {http::field::keep_alive, http::field::proxy_authenticate, http::field::proxy_authorization,
                 http::field::te, http::field::trailer, http::field::transfer_encoding,
                 http::field::proxy_connection}) {
    FUZZ_CHECK(up.count(f) == 0);
  }
  // What tether sets itself after stripping is exempt from the client's Connection.
  static const std::vector<std::string> own{"connection", "upgrade", "host", "sec-websocket-key",
                                            "sec-websocket-version", "x-forwarded-for",
                                            "x-forwarded-proto", "x-forwarded-host"};
  for (const auto& n : named) {
    if (!contains(own, n)) {
      FUZZ_CHECK(up.count(n) == 0);
    }
  }

  FUZZ_CHECK(up.count(http::field::host) == 1);
  FUZZ_CHECK(up[http::field::host] == client[http::field::host]);
  FUZZ_CHECK(up["X-Forwarded-Host"] == client[http::field::host]);
  FUZZ_CHECK(up["X-Forwarded-Proto"] == (tls ? "https" : "http"));
  FUZZ_CHECK(up[http::field::sec_websocket_key] == key);
  FUZZ_CHECK(up.count(http::field::sec_websocket_extensions) == 0);

  // Appended, never replaced: the client's list (unless its Connection made
  // it hop-by-hop), then the address.
  std::string xff;
  if (!contains(named, "x-forwarded-for")) {
    for (const auto& f : client) {
      if (beast::iequals(f.name_string(), "X-Forwarded-For")) {
        xff += f.value();
        xff += ", ";
      }
    }
  }
  xff += client_ip;
  FUZZ_CHECK(up.count("X-Forwarded-For") == 1 && up["X-Forwarded-For"] == xff);

  // Every other client header arrives as it was, in order.
  static const std::vector<std::string> replaced{
      "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
      "transfer-encoding", "upgrade", "proxy-connection", "sec-websocket-key", "sec-websocket-version",
      "sec-websocket-extensions", "sec-websocket-accept", "content-length", "x-forwarded-for",
      "x-forwarded-proto", "x-forwarded-host", "host"};
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& f : fields_of(client)) {
    if (!contains(replaced, f.first) && !contains(named, f.first)) {
      kept.push_back(std::move(f));
    }
  }
  std::vector<std::pair<std::string, std::string>> passed;
  for (auto& f : fields_of(up)) {
    if (!contains(replaced, f.first)) {
      passed.push_back(std::move(f));
    }
  }
  FUZZ_CHECK(kept == passed);

  // A reconnect replays the request from its text form.
  const auto back = ws::parse_request(ws::serialize_request(up));
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->target() == up.target());
  FUZZ_CHECK(fields_of(*back) == fields_of(up));
  return 0;
}
