// The WebSocket handshake through tether (SPEC sections 3, 4 and 8): route
// choice, listener restriction, allowed origins, what is forwarded each way,
// upstream failures (non-101, unreachable, hung, over capacity), the
// handshake timeout, malformed requests, listener TLS (SNI, min_version,
// mTLS, garbage), wss:// upstreams and IPv6 listeners.
#include <openssl/ssl.h>

#include <boost/test/unit_test.hpp>

#include "extra_handshake.hpp"
#include "test_support.hpp"

using namespace tt;
using namespace tt::hs;

namespace {

using steady_clock = std::chrono::steady_clock;

ms since(steady_clock::time_point start) {
  return std::chrono::duration_cast<ms>(steady_clock::now() - start);
}

/// One route in YAML. `match` is the inside of a flow map ("host: x, path: /y");
/// `upstream_extra` lines are indented by 6, `route_extra` lines by 4.
std::string route(const std::string& name, const std::string& url, const std::string& match = {},
                  const std::string& upstream_extra = {}, const std::string& route_extra = {}) {
  std::string y = "  - name: " + name + "\n";
  if (!match.empty()) {
    y += "    match: {" + match + "}\n";
  }
  y += "    upstream:\n      url: \"" + url + "\"\n" + upstream_extra + route_extra;
  return y;
}

std::string tls_block(const std::string& indent, const std::string& extra = {}) {
  return indent + "tls:\n" + indent + "  cert: " + cert_path("server-chain.crt") + "\n" + indent +
         "  key: " + cert_path("server.key") + "\n" + extra;
}

std::string sni_block() {
  return "      sni:\n        - names: [\"other.test\", \"*.wild.test\"]\n          cert: " +
         cert_path("other.crt") + "\n          key: " + cert_path("other.key") + "\n";
}

/// A listener entry (without the "listeners:" line).
std::string listener(const std::string& name, const std::string& bind = "127.0.0.1:0",
                     const std::string& extra = {}) {
  return "  - name: " + name + "\n    bind: \"" + bind + "\"\n" + extra;
}

std::string header(const http::request<http::string_body>& r, http::field f) { return std::string(r[f]); }
std::string header(const http::request<http::string_body>& r, const std::string& name) {
  return std::string(r[name]);
}

/// Sends raw bytes, reads until tether closes, parses the answer.
http::response<http::string_body> raw_answer(std::uint16_t port, const std::string& bytes, bool tls = false) {
  conn c(port, {.tls = tls});
  BOOST_REQUIRE_MESSAGE(c.connected(), c.error().message());
  BOOST_REQUIRE(!c.write(bytes));
  const auto text = c.read_all(5000ms);
  BOOST_CHECK_MESSAGE(c.eof(), "tether kept the connection open after an error answer: " << text);
  auto res = parse_response(text);
  BOOST_REQUIRE_MESSAGE(res, "no HTTP response in: [" << text << "]");
  return *res;
}

/// A handshake that must fail: returns the HTTP answer tether gave.
http::response<http::string_body> refused(std::uint16_t port, const client_options& o) {
  boost::system::error_code ec;
  http::response<http::string_body> res;
  auto c = ws_client::connect(port, o, ec, &res);
  BOOST_CHECK_MESSAGE(!c, "handshake to " << o.target << " unexpectedly succeeded");
  return res;
}

std::string upgrade_with(const std::string& key, const std::string& version,
                         const std::string& host_line = "Host: 127.0.0.1\r\n") {
  return "GET / HTTP/1.1\r\n" + host_line +
         "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
         "\r\nSec-WebSocket-Version: " + version + "\r\n\r\n";
}

void check_echo(ws_client& c, const std::string& text) {
  BOOST_REQUIRE(!c.send_text(text));
  auto m = c.read();
  BOOST_REQUIRE_MESSAGE(m, "no echo for " << text);
  BOOST_CHECK_EQUAL(m->data, text);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(handshake_test)

// ---------------------------------------------------------------------------
// Route choice

BOOST_AUTO_TEST_CASE(route_choice_exact_then_wildcard_then_any_then_longest_prefix) {
  test_backend exact, wild, longer_wild, any, api, apiv1;
  // File order is deliberately the reverse of the precedence.
  tether_instance t(listener_yaml() + "routes:\n" + route("any", any.url()) +
                    route("api", api.url(), "path: \"/api\"") +
                    route("wild", wild.url(), "host: \"*.test\"") +
                    route("apiv1", apiv1.url(), "path: \"/api/v1\"") +
                    route("exact", exact.url(), "host: \"chat.test\"") +
                    route("longer_wild", longer_wild.url(), "host: \"*.room.test\""));
  test_backend* all[] = {&exact, &wild, &longer_wild, &any, &api, &apiv1};
  auto total = [&] {
    std::size_t n = 0;
    for (auto* b : all) {
      n += b->handshakes().size();
    }
    return n;
  };
  auto expect = [&](const std::string& host, const std::string& target, test_backend& b,
                    const std::string& label) {
    const auto before = b.handshakes().size();
    const auto before_total = total();
    auto c = ws_client::connect(t.port(), {.host = host, .target = target});
    const auto hs = b.handshakes();
    BOOST_CHECK_MESSAGE(hs.size() == before + 1 && total() == before_total + 1,
                        "Host " << host << " target " << target << " did not go (only) to " << label);
    if (hs.size() == before + 1) {
      BOOST_CHECK_EQUAL(hs.back().target(), target);
      BOOST_CHECK_EQUAL(header(hs.back(), http::field::host), host);
    }
  };
  expect("chat.test", "/x", exact, "exact");
  expect("CHAT.Test:8080", "/x", exact, "exact (case and port ignored)");
  expect("chat.test", "/api/v1/items", exact, "exact (host class beats path length)");
  expect("chat.test.", "/x", exact, "exact (trailing dot)");
  expect("room.test", "/api/v1", wild, "wildcard");
  expect("a.room.test", "/", longer_wild, "the longer wildcard");
  expect("a.b.test", "/", wild, "wildcard (deeper name)");
  expect("test", "/x", any, "no-host route (wildcard needs a label)");
  expect("127.0.0.1", "/x", any, "no-host route");
  expect("127.0.0.1", "/api", api, "/api");
  expect("127.0.0.1", "/api/x?y=/api/v1", api, "/api (query not part of the path)");
  expect("127.0.0.1", "/api/v1/items?x=1", apiv1, "/api/v1 (longest prefix)");
  expect("127.0.0.1", "/api/v1", apiv1, "/api/v1 (exact path)");
  expect("127.0.0.1", "/api/v10", api, "/api (prefix on whole segments)");
  expect("127.0.0.1", "/apix", any, "no-host route (prefix on whole segments)");
}

BOOST_AUTO_TEST_CASE(route_restricted_to_a_listener_is_404_on_the_others) {
  test_backend ba, bb;
  tether_instance t("listeners:\n" + listener("a") + listener("b") + "routes:\n" +
                    route("only_a", ba.url(), {}, {}, "    listeners: [a]\n") +
                    route("only_b", bb.url(), "path: \"/b\"", {}, "    listeners: [b]\n"));
  // Listener a: only_a serves everything, only_b does not exist there.
  ws_client::connect(t.port("a"), {.target = "/"});
  ws_client::connect(t.port("a"), {.target = "/b"});
  BOOST_CHECK_EQUAL(ba.handshakes().size(), 2u);
  BOOST_CHECK_EQUAL(bb.handshakes().size(), 0u);
  // Listener b: "/" matches nothing there.
  auto res = raw_answer(t.port("b"), upgrade_request("/", "127.0.0.1"));
  BOOST_CHECK_EQUAL(res.result_int(), 404);
  BOOST_CHECK_EQUAL(http_get(t.port("b"), "/").result_int(), 404);
  ws_client::connect(t.port("b"), {.target = "/b/x"});
  BOOST_CHECK_EQUAL(ba.handshakes().size(), 2u);
  BOOST_REQUIRE_EQUAL(bb.handshakes().size(), 1u);
  BOOST_CHECK_EQUAL(bb.handshakes()[0].target(), "/b/x");
}

BOOST_AUTO_TEST_CASE(no_matching_route_is_404_before_any_upgrade) {
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("r", b.url(), "host: \"only.test\", path: \"/ws\""));
  auto res = raw_answer(t.port(), upgrade_request("/ws", "127.0.0.1"));
  BOOST_CHECK_EQUAL(res.result_int(), 404);
  BOOST_CHECK(res.find(http::field::upgrade) == res.end());
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_request("/other", "only.test")).result_int(), 404);
  BOOST_CHECK_EQUAL(http_get(t.port(), "/ws").result_int(), 404);
  BOOST_CHECK_EQUAL(refused(t.port(), {.target = "/ws"}).result_int(), 404);
  BOOST_CHECK_EQUAL(b.handshakes().size(), 0u);
  // The same request with the right Host is served.
  conn good(t.port());
  good.write(upgrade_request("/ws/x", "only.test"));
  const auto good_head = good.read_until("\r\n\r\n", 5000ms);
  BOOST_CHECK_MESSAGE(good_head.rfind("HTTP/1.1 101", 0) == 0, good_head);
  BOOST_CHECK(wait_until([&] { return b.handshakes().size() == 1; }));
}

BOOST_AUTO_TEST_CASE(strip_prefix_and_upstream_base_path_shape_the_target) {
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("strip", b.url(), "path: \"/strip\"", "      strip_prefix: true\n") +
                    route("keep", b.url(), "path: \"/keep\"", "      strip_prefix: false\n") +
                    route("based", b.url() + "/base", "path: \"/based\"", "      strip_prefix: true\n") +
                    route("based_all", b.url() + "/base/", {}, "      strip_prefix: false\n"));
  auto seen = [&](const std::string& target) {
    const auto before = b.handshakes().size();
    auto c = ws_client::connect(t.port(), {.target = target});
    const auto hs = b.handshakes();
    BOOST_REQUIRE_EQUAL(hs.size(), before + 1);
    return std::string(hs.back().target());
  };
  BOOST_CHECK_EQUAL(seen("/strip/chat?x=1"), "/chat?x=1");
  BOOST_CHECK_EQUAL(seen("/strip/a/b"), "/a/b");
  BOOST_CHECK_EQUAL(seen("/strip"), "/");
  BOOST_CHECK_EQUAL(seen("/strip?x=1"), "/?x=1");
  BOOST_CHECK_EQUAL(seen("/keep/chat?x=1"), "/keep/chat?x=1");
  BOOST_CHECK_EQUAL(seen("/keep"), "/keep");
  BOOST_CHECK_EQUAL(seen("/based/chat?y=2"), "/base/chat?y=2");
  BOOST_CHECK_EQUAL(seen("/other/z?q=1"), "/base/other/z?q=1");
  BOOST_CHECK_EQUAL(seen("/"), "/base/");
}

// ---------------------------------------------------------------------------
// Origins and forwarding

BOOST_AUTO_TEST_CASE(allowed_origins_accepts_listed_and_refuses_others_with_403) {
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("r", b.url(), {}, {},
                          "    allowed_origins: [\"https://good.example\", \"https://also.example\"]\n"));
  auto c1 = ws_client::connect(t.port(), {.headers = {{"Origin", "https://good.example"}}});
  auto c2 = ws_client::connect(t.port(), {.headers = {{"Origin", "https://also.example"}}});
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 2u);
  BOOST_CHECK_EQUAL(header(b.handshakes()[0], http::field::origin), "https://good.example");
  check_echo(*c1, "allowed");

  auto bad = refused(t.port(), {.headers = {{"Origin", "https://evil.example"}}});
  BOOST_CHECK_EQUAL(bad.result_int(), 403);
  auto similar = refused(t.port(), {.headers = {{"Origin", "https://good.example.evil"}}});
  BOOST_CHECK_EQUAL(similar.result_int(), 403);
  auto raw = raw_answer(t.port(), upgrade_request("/", "127.0.0.1", "Origin: http://good.example\r\n"));
  BOOST_CHECK_EQUAL(raw.result_int(), 403);
  BOOST_CHECK_EQUAL(b.handshakes().size(), 2u);
}

BOOST_AUTO_TEST_CASE(handshake_forwards_target_headers_and_subprotocol_both_ways) {
  test_backend b({.subprotocol = "chat.v1",
                  .response_headers = {{"Set-Cookie", "sid=42; Path=/; HttpOnly"},
                                       {"Set-Cookie", "theme=dark"},
                                       {"X-Backend", "b1"}}});
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  auto c = ws_client::connect(
      t.port(), {.host = "app.example:8443",
                 .target = "/chat/room?token=abc&x=1",
                 .headers = {{"Cookie", "a=1; b=2"},
                             {"Authorization", "Bearer t0k3n"},
                             {"Origin", "https://app.example"},
                             {"X-Custom-Thing", "custom value"},
                             {"X-Forwarded-For", "1.2.3.4"},
                             {"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"}},
                 .subprotocols = "chat.v2, chat.v1"});
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 1u);
  const auto h = b.handshakes()[0];
  BOOST_CHECK_EQUAL(h.method_string(), "GET");
  BOOST_CHECK_EQUAL(h.target(), "/chat/room?token=abc&x=1");
  BOOST_CHECK_EQUAL(header(h, http::field::host), "app.example:8443");
  BOOST_CHECK_EQUAL(header(h, http::field::cookie), "a=1; b=2");
  BOOST_CHECK_EQUAL(header(h, http::field::authorization), "Bearer t0k3n");
  BOOST_CHECK_EQUAL(header(h, http::field::origin), "https://app.example");
  BOOST_CHECK_EQUAL(header(h, "X-Custom-Thing"), "custom value");
  BOOST_CHECK_EQUAL(header(h, http::field::sec_websocket_protocol), "chat.v2, chat.v1");
  BOOST_CHECK_EQUAL(h.count("X-Forwarded-For"), 1u);
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-For"), "1.2.3.4, 127.0.0.1");
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-Proto"), "http");
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-Host"), "app.example:8443");
  // Each leg negotiates its own extensions: the client's offer is answered
  // by tether, and the backend gets tether's own offer.
  BOOST_CHECK_EQUAL(h.count(http::field::sec_websocket_extensions), 1u);
  BOOST_CHECK_EQUAL(header(h, http::field::sec_websocket_extensions),
                    "permessage-deflate; client_no_context_takeover; server_no_context_takeover");
  BOOST_CHECK_EQUAL(header(h, http::field::sec_websocket_version), "13");

  const auto& res = c->handshake_response();
  BOOST_CHECK_EQUAL(res.result_int(), 101);
  BOOST_CHECK_EQUAL(std::string(res[http::field::sec_websocket_protocol]), "chat.v1");
  BOOST_REQUIRE_EQUAL(res.count(http::field::set_cookie), 2u);
  auto cookie = res.find(http::field::set_cookie);
  BOOST_CHECK_EQUAL(std::string(cookie->value()), "sid=42; Path=/; HttpOnly");
  BOOST_CHECK_EQUAL(std::string(std::next(cookie)->value()), "theme=dark");
  BOOST_CHECK_EQUAL(std::string(res["X-Backend"]), "b1");
  BOOST_CHECK_EQUAL(std::string(res[http::field::sec_websocket_extensions]),
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  check_echo(*c, "after the handshake");
}

BOOST_AUTO_TEST_CASE(client_supplied_forwarded_proto_and_host_are_replaced) {
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  auto c = ws_client::connect(t.port(), {.host = "real.example",
                                         .headers = {{"X-Forwarded-Proto", "https"},
                                                     {"X-Forwarded-Host", "spoofed.example"}}});
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 1u);
  const auto h = b.handshakes()[0];
  BOOST_CHECK_EQUAL(h.count("X-Forwarded-Proto"), 1u);
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-Proto"), "http");
  BOOST_CHECK_EQUAL(h.count("X-Forwarded-Host"), 1u);
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-Host"), "real.example");
}

BOOST_AUTO_TEST_CASE(x_forwarded_for_sent_as_several_lines_is_kept_whole) {
  // RFC 9110 5.3: several lines of a list header mean the comma-joined list.
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write(upgrade_request("/", "127.0.0.1",
                                         "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n")));
  const auto head = c.read_until("\r\n\r\n", 5000ms);
  BOOST_REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, head);
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 1u);
  const auto h = b.handshakes()[0];
  BOOST_CHECK_EQUAL(h.count("X-Forwarded-For"), 1u);
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-For"), "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1");
}

BOOST_AUTO_TEST_CASE(browser_style_upgrade_headers_are_accepted) {
  // Firefox sends "Connection: keep-alive, Upgrade"; header values are case-insensitive.
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write("GET /ff HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive, Upgrade\r\n"
                         "Upgrade: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\n"
                         "Sec-WebSocket-Protocol: c\r\n\r\n"));
  const auto head = c.read_until("\r\n\r\n", 5000ms);
  BOOST_REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, head);
  auto res = parse_response(head);
  BOOST_REQUIRE(res);
  BOOST_CHECK_EQUAL(std::string((*res)[http::field::sec_websocket_accept]), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  BOOST_CHECK_EQUAL(std::string((*res)[http::field::sec_websocket_protocol]), "a");
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 1u);
  BOOST_CHECK_EQUAL(b.handshakes()[0].target(), "/ff");
}

BOOST_AUTO_TEST_CASE(frames_sent_right_after_the_request_are_not_lost) {
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write(upgrade_request("/", "127.0.0.1") + client_frame(0x81, "early bird")));
  std::string bytes = c.read_until("\r\n\r\n", 5000ms);
  BOOST_REQUIRE_MESSAGE(bytes.rfind("HTTP/1.1 101", 0) == 0, bytes);
  bytes.erase(0, bytes.find("\r\n\r\n") + 4);
  parsed_frame f;
  const auto end = steady_clock::now() + 5000ms;
  while ((f = parse_server_frame(bytes)).size == 0 && !c.eof() && steady_clock::now() < end) {
    bytes += c.read_some(500ms);
  }
  BOOST_REQUIRE_MESSAGE(f.size > 0, "no echo of the early frame");
  BOOST_CHECK_EQUAL(f.payload, "early bird");
  BOOST_REQUIRE(b.wait_messages(1));
  BOOST_CHECK(b.messages()[0] == (message{true, "early bird"}));
}

BOOST_AUTO_TEST_CASE(forwarded_proto_is_https_on_a_tls_listener) {
  test_backend b;
  tether_instance t(listener_yaml(true) + "routes:\n" + route("r", b.url()));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost", .target = "/secure?q=1"});
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 1u);
  const auto h = b.handshakes()[0];
  BOOST_CHECK_EQUAL(h.target(), "/secure?q=1");
  BOOST_CHECK_EQUAL(header(h, http::field::host), "localhost");
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-For"), "127.0.0.1");
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-Proto"), "https");
  BOOST_CHECK_EQUAL(header(h, "X-Forwarded-Host"), "localhost");
  // No subprotocol offered: none answered.
  BOOST_CHECK_EQUAL(c->handshake_response().count(http::field::sec_websocket_protocol), 0u);
  check_echo(*c, "over wss");
}

// ---------------------------------------------------------------------------
// Upstream failures

BOOST_AUTO_TEST_CASE(non_101_answer_from_backend_reaches_the_client_as_is) {
  test_backend b({.response_headers = {{"WWW-Authenticate", "Bearer realm=\"tether-test\""}},
                  .reject_status = 401,
                  .reject_body = "login required\n"});
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  auto res = refused(t.port(), {.target = "/private"});
  BOOST_CHECK_EQUAL(res.result_int(), 401);
  BOOST_CHECK_EQUAL(res.body(), "login required\n");
  BOOST_CHECK_EQUAL(std::string(res[http::field::www_authenticate]), "Bearer realm=\"tether-test\"");

  auto raw = raw_answer(t.port(), upgrade_request("/private", "127.0.0.1"));
  BOOST_CHECK_EQUAL(raw.result_int(), 401);
  BOOST_CHECK_EQUAL(raw.body(), "login required\n");

  b.set_options({.reject_status = 404, .reject_body = "no such room"});
  auto res404 = refused(t.port(), {.target = "/room/9"});
  BOOST_CHECK_EQUAL(res404.result_int(), 404);
  BOOST_CHECK_EQUAL(res404.body(), "no such room");
  BOOST_CHECK_EQUAL(b.handshakes().size(), 3u);
}

BOOST_AUTO_TEST_CASE(invalid_upstream_101_is_502) {
  std::atomic<int> mode{0};
  canned_server backend([&](const std::string& head) -> std::string {
    const std::string accept =
        "Sec-WebSocket-Accept: " + ws_accept_for(head_field(head, "Sec-WebSocket-Key")) + "\r\n";
    const std::string ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    switch (mode.load()) {
      case 0:  // valid, the control, with a first message in the same packet
        return ok + accept + "Sec-WebSocket-Protocol: chat\r\n\r\n" + std::string("\x81\x05hello", 7);
      case 1:  // accept computed from another key
        return ok + "Sec-WebSocket-Accept: " + ws_accept_for("AAAAAAAAAAAAAAAAAAAAAA==") + "\r\n\r\n";
      case 2:  // a subprotocol the client did not offer
        return ok + accept + "Sec-WebSocket-Protocol: other\r\n\r\n";
      case 3:  // an extension tether did not offer
        return ok + accept + "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n";
      case 4:  // no Upgrade header
        return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" + accept + "\r\n";
      case 5:  // permessage-deflate with a parameter tether did not offer (RFC 7692 7.1.2.2)
        return ok + accept + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n\r\n";
      default:  // closes without answering
        return {};
    }
  });
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("r", "ws://127.0.0.1:" + std::to_string(backend.port())));
  {
    auto c = ws_client::connect(t.port(), {.subprotocols = "chat"});
    BOOST_CHECK_EQUAL(std::string(c->handshake_response()[http::field::sec_websocket_protocol]), "chat");
    auto first = c->read();
    BOOST_REQUIRE_MESSAGE(first, "the message sent with the 101 was lost");
    BOOST_CHECK(*first == (message{true, "hello"}));
  }
  for (int m : {1, 2, 3, 4, 5, 6}) {
    mode = m;
    BOOST_CHECK_MESSAGE(refused(t.port(), {.subprotocols = "chat"}).result_int() == 502,
                        "invalid upstream answer " << m << " not turned into 502");
  }
  BOOST_CHECK_EQUAL(backend.requests(), 7u);
}

BOOST_AUTO_TEST_CASE(urls_are_used_round_robin_with_their_own_base_paths) {
  test_backend a, b;
  tether_instance t(listener_yaml() + "routes:\n  - name: r\n    upstream:\n      urls: [\"" + a.url() +
                    "/pa\", \"" + b.url() + "/pb\"]\n");
  for (int i = 0; i < 4; ++i) {
    auto c = ws_client::connect(t.port(), {.target = "/t" + std::to_string(i)});
  }
  BOOST_REQUIRE_EQUAL(a.handshakes().size(), 2u);
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 2u);
  for (const auto& h : a.handshakes()) {
    BOOST_CHECK_MESSAGE(h.target().starts_with("/pa/t"), h.target());
  }
  for (const auto& h : b.handshakes()) {
    BOOST_CHECK_MESSAGE(h.target().starts_with("/pb/t"), h.target());
  }
}

BOOST_AUTO_TEST_CASE(closed_backend_port_is_502) {
  const auto port = closed_port();
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("r", "ws://127.0.0.1:" + std::to_string(port), {}, "      connect_timeout: 2s\n"));
  const auto start = steady_clock::now();
  auto res = refused(t.port(), {});
  BOOST_CHECK_EQUAL(res.result_int(), 502);
  BOOST_CHECK_LT(since(start).count(), 1900);  // refused at once, not after connect_timeout
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_request("/", "127.0.0.1")).result_int(), 502);
}

BOOST_AUTO_TEST_CASE(unresolvable_backend_is_502) {
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("r", "ws://no-such-host.invalid:9", {}, "      connect_timeout: 2s\n"));
  BOOST_CHECK_EQUAL(refused(t.port(), {}).result_int(), 502);
}

BOOST_AUTO_TEST_CASE(hung_backend_is_502_within_connect_timeout) {
  silent_server hung;
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("plain", "ws://127.0.0.1:" + std::to_string(hung.port()), "path: \"/plain\"",
                          "      connect_timeout: 300ms\n") +
                    route("tls", "wss://127.0.0.1:" + std::to_string(hung.port()), "path: \"/tls\"",
                          "      connect_timeout: 300ms\n      tls: {ca: " + cert_path("ca.crt") + "}\n"));
  for (const std::string target : {"/plain", "/tls"}) {
    const auto accepted = hung.accepted();
    const auto start = steady_clock::now();
    auto res = refused(t.port(), {.target = target});
    const auto took = since(start);
    BOOST_TEST_MESSAGE(target << ": 502 after " << took.count() << " ms");
    BOOST_CHECK_EQUAL(res.result_int(), 502);
    BOOST_CHECK_GE(took.count(), 250);
    BOOST_CHECK_LT(took.count(), 3000);
    BOOST_CHECK_EQUAL(hung.accepted(), accepted + 1);  // TCP worked; the answer never came
  }
}

BOOST_AUTO_TEST_CASE(handshakes_beyond_max_connections_get_503) {
  test_backend b;
  tether_instance t("listeners:\n" + listener("main", "127.0.0.1:0", "    max_connections: 2\n") +
                    "routes:\n" + route("r", b.url()));
  auto c1 = ws_client::connect(t.port());
  auto c2 = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return b.open_sessions() == 2; }));
  auto res = refused(t.port(), {});
  BOOST_CHECK_EQUAL(res.result_int(), 503);
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_request("/", "127.0.0.1")).result_int(), 503);
  BOOST_CHECK_EQUAL(b.handshakes().size(), 2u);
  check_echo(*c1, "still one");
  check_echo(*c2, "still two");
  // A freed slot is usable again.
  BOOST_REQUIRE(!c1->close(1000));
  BOOST_REQUIRE(wait_until([&] { return b.open_sessions() == 1; }));
  std::unique_ptr<ws_client> c3;
  BOOST_CHECK(wait_until([&] {
    boost::system::error_code ec;
    c3 = ws_client::connect(t.port(), {}, ec);
    return c3 != nullptr;
  }));
  if (c3) {
    check_echo(*c3, "third");
  }
}

// ---------------------------------------------------------------------------
// Handshake timeout and bad input

BOOST_AUTO_TEST_CASE(handshake_timeout_drops_silent_slow_and_tls_idle_clients) {
  test_backend b;
  tether_instance t("listeners:\n" + listener("main") + listener("secure", "127.0.0.1:0", tls_block("    ")) +
                    "defaults:\n  limits:\n    handshake_timeout: 300ms\n" + "routes:\n" + route("r", b.url()));
  auto early = ws_client::connect(t.port("main"));
  auto early_tls = ws_client::connect(t.port("secure"), {.tls = true, .host = "localhost"});

  auto expect_dropped = [](const std::string& what, const std::function<bool()>& closed,
                           steady_clock::time_point start) {
    const bool dropped = closed();
    const auto took = since(start);
    BOOST_TEST_MESSAGE(what << ": closed after " << took.count() << " ms");
    BOOST_CHECK_MESSAGE(dropped, what << ": not disconnected");
    BOOST_CHECK_MESSAGE(took >= 250ms && took < 2000ms, what << ": disconnected after " << took.count() << " ms");
  };
  {
    const auto start = steady_clock::now();
    conn silent(t.port("main"));
    BOOST_REQUIRE(silent.connected());
    expect_dropped("silent plain client", [&] { silent.read_all(3000ms); return silent.eof(); }, start);
  }
  {
    const auto start = steady_clock::now();
    conn half(t.port("main"));
    BOOST_REQUIRE(half.connected());
    half.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
    expect_dropped("half request", [&] { half.read_all(3000ms); return half.eof(); }, start);
  }
  {
    // Trickling a header line every 50 ms does not extend the deadline.
    const auto start = steady_clock::now();
    conn slow(t.port("main"));
    BOOST_REQUIRE(slow.connected());
    slow.write("GET / HTTP/1.1\r\n");
    expect_dropped("trickling client", [&] {
      for (int i = 0; i < 60 && !slow.eof(); ++i) {
        if (slow.write("X-Slow-" + std::to_string(i) + ": x\r\n")) {
          return true;  // the write failing means the connection is gone
        }
        slow.read_some(50ms);
      }
      return slow.eof();
    }, start);
  }
  {
    const auto start = steady_clock::now();
    conn no_hello(t.port("secure"));  // TCP only: no ClientHello
    BOOST_REQUIRE(no_hello.connected());
    expect_dropped("TLS listener, no ClientHello", [&] { no_hello.read_all(3000ms); return no_hello.eof(); }, start);
  }
  {
    const auto start = steady_clock::now();
    conn idle_tls(t.port("secure"), {.tls = true});  // TLS done, no request
    BOOST_REQUIRE(idle_tls.connected());
    expect_dropped("TLS listener, no request", [&] { idle_tls.read_all(3000ms); return idle_tls.eof(); }, start);
  }
  // Sessions that finished their handshake before are not affected.
  check_echo(*early, "early plain");
  check_echo(*early_tls, "early tls");
  auto late = ws_client::connect(t.port("main"));
  check_echo(*late, "late");
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_400_and_old_versions_426) {
  test_backend b;
  tether_instance t(listener_yaml() + "routes:\n" + route("r", b.url()));
  BOOST_CHECK_EQUAL(raw_answer(t.port(), "GARBAGE\r\n\r\n").result_int(), 400);
  BOOST_CHECK_EQUAL(raw_answer(t.port(), "GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n").result_int(), 400);
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_with("short", "13")).result_int(), 400);
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_with("dGhlIHNhbXBsZSBub25jZQ=", "13")).result_int(), 400);
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_with("", "13")).result_int(), 400);
  BOOST_CHECK_EQUAL(raw_answer(t.port(), upgrade_with("dGhlIHNhbXBsZSBub25jZQ==", "13", "")).result_int(), 400);

  auto old = raw_answer(t.port(), upgrade_with("dGhlIHNhbXBsZSBub25jZQ==", "8"));
  BOOST_CHECK_EQUAL(old.result_int(), 426);
  BOOST_CHECK_EQUAL(std::string(old[http::field::sec_websocket_version]), "13");

  const std::string huge = "X-Big: " + std::string(20000, 'a') + "\r\n";
  auto big = raw_answer(t.port(), upgrade_request("/", "127.0.0.1", huge));
  BOOST_CHECK_MESSAGE(big.result_int() >= 400 && big.result_int() < 500,
                      "oversized header got " << big.result_int());

  BOOST_CHECK_EQUAL(b.handshakes().size(), 0u);
  auto c = ws_client::connect(t.port());
  check_echo(*c, "still serving");
}

// ---------------------------------------------------------------------------
// Listener TLS

BOOST_AUTO_TEST_CASE(sni_chooses_the_certificate) {
  test_backend b;
  tether_instance t("listeners:\n" + listener("main", "127.0.0.1:0", tls_block("    ", sni_block())) +
                    "routes:\n" + route("r", b.url()));
  // The client verifies the name it asked for against ca.crt: this only
  // works when tether presents the matching certificate.
  auto other = ws_client::connect(t.port(), {.tls = true, .host = "other.test"});
  check_echo(*other, "other");
  auto wild = ws_client::connect(t.port(), {.tls = true, .host = "a.wild.test"});
  check_echo(*wild, "wild");
  auto local = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  check_echo(*local, "default");
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 3u);
  BOOST_CHECK_EQUAL(header(b.handshakes()[0], http::field::host), "other.test");

  auto subject = [&](const std::string& sni) {
    conn c(t.port(), {.tls = true, .sni = sni, .verify = false});
    BOOST_REQUIRE_MESSAGE(c.connected(), "TLS with SNI " << sni << ": " << c.error().message());
    return c.peer_subject();
  };
  BOOST_CHECK_EQUAL(subject("other.test"), "/O=tether development/CN=other.test");
  BOOST_CHECK_EQUAL(subject("x.wild.test"), "/O=tether development/CN=other.test");
  BOOST_CHECK_EQUAL(subject("OTHER.Test"), "/O=tether development/CN=other.test");
  BOOST_CHECK_EQUAL(subject("localhost"), "/O=tether development/CN=localhost");
  BOOST_CHECK_EQUAL(subject("unknown.test"), "/O=tether development/CN=localhost");
  BOOST_CHECK_EQUAL(subject(""), "/O=tether development/CN=localhost");
}

BOOST_AUTO_TEST_CASE(min_version_13_refuses_tls12_clients) {
  test_backend b;
  tether_instance t("listeners:\n" +
                    listener("v13", "127.0.0.1:0", tls_block("    ", "      min_version: \"1.3\"\n")) +
                    listener("v12", "127.0.0.1:0", tls_block("    ")) + "routes:\n" + route("r", b.url()));
  {
    conn old(t.port("v13"), {.tls = true, .max_tls_version = TLS1_2_VERSION});
    BOOST_CHECK_MESSAGE(!old.connected(), "a TLS 1.2-only client got through min_version 1.3");
  }
  {
    conn modern(t.port("v13"), {.tls = true});
    BOOST_REQUIRE_MESSAGE(modern.connected(), modern.error().message());
    BOOST_CHECK_EQUAL(modern.tls_version(), TLS1_3_VERSION);
  }
  {
    // Control: the same TLS 1.2 client works against the default listener.
    conn old(t.port("v12"), {.tls = true, .max_tls_version = TLS1_2_VERSION});
    BOOST_REQUIRE_MESSAGE(old.connected(), old.error().message());
    BOOST_CHECK_EQUAL(old.tls_version(), TLS1_2_VERSION);
  }
  auto c = ws_client::connect(t.port("v13"), {.tls = true, .host = "localhost"});
  check_echo(*c, "tls 1.3");
}

BOOST_AUTO_TEST_CASE(client_ca_requires_a_client_certificate) {
  test_backend b;
  tether_instance t("listeners:\n" +
                    listener("main", "127.0.0.1:0",
                             tls_block("    ", "      client_ca: " + cert_path("ca.crt") + "\n" + sni_block())) +
                    "routes:\n" + route("r", b.url()));
  boost::system::error_code ec;
  BOOST_CHECK(!ws_client::connect(t.port(), {.tls = true, .host = "localhost"}, ec));
  BOOST_CHECK(!ws_client::connect(t.port(), {.tls = true, .host = "other.test"}, ec));
  {
    conn tls12(t.port(), {.tls = true, .max_tls_version = TLS1_2_VERSION});
    BOOST_CHECK_MESSAGE(!tls12.connected(), "TLS 1.2 handshake without a client certificate succeeded");
  }
  BOOST_CHECK_EQUAL(b.handshakes().size(), 0u);

  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost", .client_cert = true});
  check_echo(*c, "mutual");
  auto o = ws_client::connect(t.port(), {.tls = true, .host = "other.test", .client_cert = true});
  check_echo(*o, "mutual via sni");
  BOOST_CHECK_EQUAL(b.handshakes().size(), 2u);
}

BOOST_AUTO_TEST_CASE(plain_text_and_garbage_on_a_tls_listener_are_dropped) {
  test_backend b;
  tether_instance t(listener_yaml(true) + "routes:\n" + route("r", b.url()));
  auto before = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  {
    const auto start = steady_clock::now();
    conn clear(t.port());
    BOOST_REQUIRE(clear.connected());
    clear.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const auto got = clear.read_all(3000ms);
    BOOST_CHECK_MESSAGE(clear.eof(), "connection left open");
    BOOST_CHECK_LT(since(start).count(), 2000);  // default handshake_timeout is 10s
    BOOST_CHECK(got.find("101") == std::string::npos);
  }
  {
    conn junk(t.port());
    BOOST_REQUIRE(junk.connected());
    std::string bytes = "\x16\x03\x01\x02\x00";
    for (int i = 0; i < 600; ++i) {
      bytes.push_back(static_cast<char>((i * 37) & 0xff));
    }
    junk.write(bytes);
    junk.read_all(3000ms);
    BOOST_CHECK_MESSAGE(junk.eof(), "connection left open after a garbage ClientHello");
  }
  BOOST_CHECK_EQUAL(b.handshakes().size(), 1u);
  check_echo(*before, "unaffected");
  auto after = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  check_echo(*after, "still serving");
}

// ---------------------------------------------------------------------------
// wss:// upstreams

BOOST_AUTO_TEST_CASE(wss_upstream_verification) {
  test_backend b({.tls = true});
  BOOST_REQUIRE_EQUAL(b.url().rfind("wss://127.0.0.1:", 0), 0u);
  auto tls = [](const std::string& fields) { return "      tls: {" + fields + "}\n"; };
  const auto ca = cert_path("ca.crt");
  const auto untrusted = cert_path("untrusted-ca.crt");
  tether_instance t(listener_yaml() + "routes:\n" +
                    route("ok", b.url(), "path: \"/ok\"", tls("ca: " + ca)) +
                    route("untrusted", b.url(), "path: \"/untrusted\"", tls("ca: " + untrusted)) +
                    route("noverify", b.url(), "path: \"/noverify\"", tls("ca: " + untrusted + ", verify: false")) +
                    route("wrongname", b.url(), "path: \"/wrongname\"", tls("ca: " + ca + ", server_name: other.test")) +
                    route("rightname", b.url(), "path: \"/rightname\"", tls("ca: " + ca + ", server_name: localhost")));
  auto ok = ws_client::connect(t.port(), {.target = "/ok"});
  check_echo(*ok, "over wss upstream");
  BOOST_REQUIRE_EQUAL(b.handshakes().size(), 1u);
  BOOST_CHECK_EQUAL(b.handshakes()[0].target(), "/ok");

  BOOST_CHECK_EQUAL(refused(t.port(), {.target = "/untrusted"}).result_int(), 502);
  BOOST_CHECK_EQUAL(refused(t.port(), {.target = "/wrongname"}).result_int(), 502);
  BOOST_CHECK_EQUAL(b.handshakes().size(), 1u);  // TLS failed before any HTTP

  auto nv = ws_client::connect(t.port(), {.target = "/noverify"});
  check_echo(*nv, "unverified");
  auto rn = ws_client::connect(t.port(), {.target = "/rightname"});
  check_echo(*rn, "named");
  BOOST_CHECK_EQUAL(b.handshakes().size(), 3u);
}

// ---------------------------------------------------------------------------
// IPv6

BOOST_AUTO_TEST_CASE(ipv6_listener_serves_clients_on_loopback) {
  if (!ipv6_loopback_available()) {
    BOOST_TEST_MESSAGE("skipped: cannot bind [::1] on this machine");
    return;
  }
  test_backend b;
  // An upstream on [::1] too: it answers a valid 101 and records the request.
  std::vector<std::string> v6_heads;
  std::mutex v6_mutex;
  canned_server v6_backend(
      [&](const std::string& head) {
        std::lock_guard lock(v6_mutex);
        v6_heads.push_back(head);
        return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: " + ws_accept_for(head_field(head, "Sec-WebSocket-Key")) + "\r\n\r\n";
      },
      "::1");
  tether_instance t("listeners:\n" + listener("v6", "[::1]:0") +
                    listener("v6tls", "[::1]:0", tls_block("    ")) + "routes:\n" + route("r", b.url()) +
                    route("v6up", "ws://[::1]:" + std::to_string(v6_backend.port()),
                          "host: \"[::1]\", path: \"/up\""));
  const auto port = t.port("v6");
  BOOST_REQUIRE_NE(port, 0);
  auto exchange = [&](conn& c, std::uint16_t p, const std::string& text) {
    const std::string host = "[::1]:" + std::to_string(p);
    BOOST_REQUIRE(!c.write(upgrade_request("/v6?x=1", host)));
    const auto head = c.read_until("\r\n\r\n", 5000ms);
    BOOST_REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, "answer: " << head);
    const auto h = b.handshakes().back();
    BOOST_CHECK_EQUAL(h.target(), "/v6?x=1");
    BOOST_CHECK_EQUAL(header(h, http::field::host), host);
    BOOST_CHECK_EQUAL(header(h, "X-Forwarded-For"), "::1");
    BOOST_REQUIRE(!c.write(client_frame(0x81, text)));
    std::string bytes = head.substr(head.find("\r\n\r\n") + 4);
    parsed_frame f;
    const auto end = steady_clock::now() + 5000ms;
    while ((f = parse_server_frame(bytes)).size == 0 && !c.eof() && steady_clock::now() < end) {
      bytes += c.read_some(500ms);
    }
    BOOST_REQUIRE_MESSAGE(f.size > 0, "no echo frame");
    BOOST_CHECK_EQUAL(f.opcode, 1);
    BOOST_CHECK_EQUAL(f.payload, text);
  };
  {
    conn c(port, {.address = "::1"});
    BOOST_REQUIRE_MESSAGE(c.connected(), c.error().message());
    exchange(c, port, "hello over v6");
  }
  {
    conn c(t.port("v6tls"), {.address = "::1", .tls = true, .sni = "localhost"});
    BOOST_REQUIRE_MESSAGE(c.connected(), c.error().message());
    exchange(c, t.port("v6tls"), "hello over v6 tls");
  }
  BOOST_CHECK_EQUAL(b.handshakes().size(), 2u);
  {
    // Host "[::1]:port" matches the route's host "[::1]"; the upstream is on [::1] as well.
    conn c(port, {.address = "::1"});
    BOOST_REQUIRE(c.connected());
    BOOST_REQUIRE(!c.write(upgrade_request("/up/x", "[::1]:" + std::to_string(port))));
    const auto head = c.read_until("\r\n\r\n", 5000ms);
    BOOST_CHECK_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, "answer: " << head);
    std::lock_guard lock(v6_mutex);
    BOOST_REQUIRE_EQUAL(v6_heads.size(), 1u);
    BOOST_CHECK(v6_heads[0].rfind("GET /up/x HTTP/1.1\r\n", 0) == 0);
    BOOST_CHECK_EQUAL(head_field(v6_heads[0], "X-Forwarded-For"), "::1");
  }
  BOOST_CHECK_EQUAL(b.handshakes().size(), 2u);
}

BOOST_AUTO_TEST_SUITE_END()
