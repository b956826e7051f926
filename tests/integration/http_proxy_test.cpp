// Plain HTTP pass-through (SPEC section 4): requests without Upgrade that
// match a route go to the same upstream over HTTP/1.1, bodies streamed both
// ways, keep-alive on both sides, X-Forwarded-* added.
#include <boost/test/unit_test.hpp>
#include <random>

#include "extra_handshake.hpp"
#include "test_support.hpp"

using namespace tt;
using namespace tt::hs;

namespace {

std::string route_to(const std::string& url, const std::string& upstream_extra = {},
                     const std::string& route_extra = {}) {
  return "routes:\n  - name: r\n" + route_extra + "    upstream:\n      url: \"" + url + "\"\n" + upstream_extra;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) {
    c = static_cast<char>(gen() & 0xff);
  }
  return out;
}

http::request<http::string_body> make(http::verb verb, const std::string& target, std::string body = {}) {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = std::move(body);
  return req;
}

/// The answer to GET `target` on a new connection (none: nothing within 5 s),
/// and how long it took.
struct timed_answer {
  std::optional<http::response<http::string_body>> res;
  std::chrono::steady_clock::duration took;
};

timed_answer timed_get(std::uint16_t port, const std::string& target) {
  conn c(port);
  const auto t0 = std::chrono::steady_clock::now();
  auto res = c.request(make(http::verb::get, target), 5000ms);
  return {std::move(res), std::chrono::steady_clock::now() - t0};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(http_proxy_test)

BOOST_AUTO_TEST_CASE(get_is_proxied_to_the_route_upstream) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  auto res = http_get(t.port(), "/hello/world?x=1&y=2");
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_CHECK_EQUAL(res.body(), "target=/hello/world?x=1&y=2");
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 1u);
  BOOST_CHECK_EQUAL(origin.requests()[0].method, "GET");
  BOOST_CHECK_EQUAL(origin.requests()[0].target, "/hello/world?x=1&y=2");

  // The origin's own status, headers and body come back unchanged.
  auto nf = http_get(t.port(), "/status/404");
  BOOST_CHECK_EQUAL(nf.result_int(), 404);
  BOOST_CHECK_EQUAL(nf.body(), "status 404");
  BOOST_CHECK_EQUAL(std::string(nf["X-Origin"]), "yes");
  BOOST_CHECK_EQUAL(t.metric("tether_http_requests_total{route=\"r\",class=\"2xx\"}"), 1.0);
  BOOST_CHECK_EQUAL(t.metric("tether_http_requests_total{route=\"r\",class=\"4xx\"}"), 1.0);
  BOOST_CHECK_EQUAL(t.metric("tether_http_requests_total{route=\"r\",class=\"5xx\"}"), 0.0);
}

BOOST_AUTO_TEST_CASE(post_of_3_mib_round_trips_byte_exact) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  const auto payload = random_bytes(3 * 1024 * 1024, 7);
  auto res = http_request(t.port(), make(http::verb::post, "/echo", payload), false, 30000ms);
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_CHECK_EQUAL(res.body().size(), payload.size());
  BOOST_CHECK_MESSAGE(res.body() == payload, "echoed body differs from the 3 MiB sent");
  BOOST_CHECK_EQUAL(std::string(res["X-Seen-Method"]), "POST");
  BOOST_CHECK_EQUAL(std::string(res["X-Seen-Length"]), "3145728");
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 1u);
  BOOST_CHECK_MESSAGE(origin.requests()[0].body == payload, "origin received a different body");
}

BOOST_AUTO_TEST_CASE(chunked_request_body_is_relayed) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  BOOST_REQUIRE(c.connected());
  BOOST_REQUIRE(!c.write("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"));
  auto res = c.read_response();
  BOOST_REQUIRE(res);
  BOOST_CHECK_EQUAL(res->result_int(), 200);
  BOOST_CHECK_EQUAL(res->body(), "abcdefg");

  // A larger one, in many chunks, on the same connection.
  const auto big = random_bytes(200 * 1000, 11);
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t i = 0; i < big.size(); i += 10000) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", std::min<std::size_t>(10000, big.size() - i));
    chunked += size + big.substr(i, 10000) + "\r\n";
  }
  chunked += "0\r\n\r\n";
  BOOST_REQUIRE(!c.write(chunked));
  auto res2 = c.read_response();
  BOOST_REQUIRE(res2);
  BOOST_CHECK_EQUAL(res2->result_int(), 200);
  BOOST_CHECK_MESSAGE(res2->body() == big, "chunked body of " << big.size() << " bytes came back as "
                                                              << res2->body().size() << " bytes");
  const auto reqs = origin.requests();
  BOOST_REQUIRE_EQUAL(reqs.size(), 2u);
  for (const auto& r : reqs) {
    // Never both framings at once (request smuggling).
    BOOST_CHECK(!(r.chunked && r.count("Content-Length") > 0));
    BOOST_CHECK_LE(r.count("Transfer-Encoding"), 1u);
  }
}

BOOST_AUTO_TEST_CASE(chunked_and_close_delimited_responses_are_relayed) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  auto res = http_get(t.port(), "/chunked");
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_CHECK_EQUAL(res.body(), "hello, chunked world");

  conn c(t.port());
  auto eof_res = c.request(make(http::verb::get, "/eof"));
  BOOST_REQUIRE(eof_res);
  BOOST_CHECK_EQUAL(eof_res->result_int(), 200);
  BOOST_CHECK_EQUAL(eof_res->body(), "until-eof body");
  // tether frames it for the client (chunked), so the client connection may stay.
  auto again = c.request(make(http::verb::get, "/next"));
  BOOST_REQUIRE_MESSAGE(again, "client connection unusable after a close-delimited upstream response");
  BOOST_CHECK_EQUAL(again->body(), "target=/next");
}

BOOST_AUTO_TEST_CASE(response_body_is_streamed_not_buffered) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write("GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto early = c.read_until("first", 800ms);
  BOOST_CHECK_MESSAGE(early.find("first") != std::string::npos,
                      "the first chunk did not arrive before the origin finished: [" << early << "]");
  BOOST_CHECK(early.find("second") == std::string::npos);
  const auto rest = early + c.read_until("0\r\n\r\n", 5000ms);
  BOOST_CHECK(rest.find("second") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(keep_alive_reuses_one_upstream_connection) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  BOOST_REQUIRE(c.connected());
  auto r1 = c.request(make(http::verb::get, "/one"));
  BOOST_REQUIRE(r1);
  BOOST_CHECK_EQUAL(r1->body(), "target=/one");
  auto r2 = c.request(make(http::verb::get, "/two"));
  BOOST_REQUIRE(r2);
  BOOST_CHECK_EQUAL(r2->body(), "target=/two");
  auto r3 = c.request(make(http::verb::post, "/echo", "third"));
  BOOST_REQUIRE(r3);
  BOOST_CHECK_EQUAL(r3->body(), "third");
  BOOST_CHECK(!c.eof());
  BOOST_CHECK_EQUAL(origin.accepted(), 1u);
  const auto reqs = origin.requests();
  BOOST_REQUIRE_EQUAL(reqs.size(), 3u);
  for (const auto& r : reqs) {
    BOOST_CHECK_EQUAL(r.connection, 1u);
  }
  // The client asking to close gets Connection: close and a closed socket.
  auto req = make(http::verb::get, "/last");
  req.keep_alive(false);
  auto r4 = c.request(req);
  BOOST_REQUIRE(r4);
  BOOST_CHECK_EQUAL(r4->body(), "target=/last");
  BOOST_CHECK(!r4->keep_alive());
  c.read_all(3000ms);
  BOOST_CHECK(c.eof());
}

BOOST_AUTO_TEST_CASE(upstream_closing_an_idle_keep_alive_connection_is_not_a_502) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  auto r1 = c.request(make(http::verb::get, "/then-close"));
  BOOST_REQUIRE(r1);
  BOOST_CHECK_EQUAL(r1->result_int(), 200);
  BOOST_CHECK_EQUAL(r1->body(), "then-close");
  // The origin closes its side 50 ms after answering; the client, still
  // connected to tether, sends its next request a little later.
  std::this_thread::sleep_for(300ms);
  auto r2 = c.request(make(http::verb::get, "/next"));
  BOOST_REQUIRE_MESSAGE(r2, "no answer on the kept-alive client connection");
  BOOST_CHECK_EQUAL(r2->result_int(), 200);
  BOOST_CHECK_EQUAL(r2->body(), "target=/next");
  BOOST_CHECK_EQUAL(origin.accepted(), 2u);
}

BOOST_AUTO_TEST_CASE(upstream_down_is_502) {
  const auto port = closed_port();
  tether_instance t(listener_yaml() +
                    route_to("ws://127.0.0.1:" + std::to_string(port), "      connect_timeout: 2s\n"));
  auto res = http_get(t.port(), "/anything");
  BOOST_CHECK_EQUAL(res.result_int(), 502);

  // An https upstream that accepts TCP but never finishes TLS: 502 within connect_timeout.
  silent_server hung;
  tether_instance t2(listener_yaml() + route_to("wss://127.0.0.1:" + std::to_string(hung.port()),
                                                "      connect_timeout: 300ms\n      tls: {ca: " +
                                                    cert_path("ca.crt") + "}\n"));
  const auto start = std::chrono::steady_clock::now();
  auto hung_res = http_get(t2.port(), "/anything");
  const auto took = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - start);
  BOOST_CHECK_EQUAL(hung_res.result_int(), 502);
  BOOST_CHECK_GE(took.count(), 250);
  BOOST_CHECK_LT(took.count(), 3000);
}

BOOST_AUTO_TEST_CASE(forwarded_headers_added_and_hop_by_hop_removed) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  auto req = make(http::verb::get, "/headers");
  req.set(http::field::host, "site.example");
  req.set("X-Forwarded-For", "10.0.0.1");
  req.set("X-Custom", "kept");
  req.set(http::field::connection, "keep-alive, X-Hop");
  req.set("X-Hop", "secret");
  req.set(http::field::cookie, "c=1");
  auto res = http_request(t.port(), req);
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 1u);
  const auto r = origin.requests()[0];
  BOOST_CHECK_EQUAL(r.header("Host"), "site.example");
  BOOST_CHECK_EQUAL(r.header("X-Forwarded-For"), "10.0.0.1, 127.0.0.1");
  BOOST_CHECK_EQUAL(r.count("X-Forwarded-For"), 1u);
  BOOST_CHECK_EQUAL(r.header("X-Forwarded-Proto"), "http");
  BOOST_CHECK_EQUAL(r.header("X-Forwarded-Host"), "site.example");
  BOOST_CHECK_EQUAL(r.header("X-Custom"), "kept");
  BOOST_CHECK_EQUAL(r.header("Cookie"), "c=1");
  BOOST_CHECK_EQUAL(r.count("X-Hop"), 0u);
  BOOST_CHECK(res.body().find("X-Forwarded-Proto: http\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(forwarded_proto_is_https_on_a_tls_listener) {
  http_origin origin;
  tether_instance t(listener_yaml(true) + route_to(origin.url()));
  auto res = http_request(t.port(), make(http::verb::get, "/headers"), true);
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 1u);
  const auto r = origin.requests()[0];
  BOOST_CHECK_EQUAL(r.header("X-Forwarded-Proto"), "https");
  BOOST_CHECK_EQUAL(r.header("X-Forwarded-For"), "127.0.0.1");
  BOOST_CHECK_EQUAL(r.header("X-Forwarded-Host"), "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(head_gets_headers_only_and_the_connection_stays_usable) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  auto head = c.request(make(http::verb::head, "/page"));
  BOOST_REQUIRE(head);
  BOOST_CHECK_EQUAL(head->result_int(), 200);
  BOOST_CHECK_EQUAL(std::string((*head)[http::field::content_length]), "1234");
  BOOST_CHECK_EQUAL(std::string((*head)["X-Head"]), "yes");
  BOOST_CHECK(head->body().empty());
  auto next = c.request(make(http::verb::get, "/after-head"));
  BOOST_REQUIRE_MESSAGE(next, "no answer after HEAD (did tether wait for a body?)");
  BOOST_CHECK_EQUAL(next->body(), "target=/after-head");
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 2u);
  BOOST_CHECK_EQUAL(origin.requests()[0].method, "HEAD");
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_answered_and_not_forwarded) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                         "Expect: 100-continue\r\n\r\n"));
  const auto interim = c.read_until("\r\n\r\n", 5000ms);
  BOOST_CHECK_MESSAGE(interim.rfind("HTTP/1.1 100", 0) == 0, "interim answer: " << interim);
  BOOST_REQUIRE(!c.write("hello"));
  auto res = c.read_response();
  BOOST_REQUIRE(res);
  BOOST_CHECK_EQUAL(res->result_int(), 200);
  BOOST_CHECK_EQUAL(res->body(), "hello");
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 1u);
  BOOST_CHECK_EQUAL(origin.requests()[0].count("Expect"), 0u);
}

BOOST_AUTO_TEST_CASE(x_forwarded_for_sent_as_several_lines_is_kept_whole) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write("GET /headers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 1.1.1.1\r\n"
                         "X-Forwarded-For: 2.2.2.2\r\n\r\n"));
  auto res = c.read_response();
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(origin.requests().size(), 1u);
  BOOST_CHECK_EQUAL(origin.requests()[0].count("X-Forwarded-For"), 1u);
  BOOST_CHECK_EQUAL(origin.requests()[0].header("X-Forwarded-For"), "1.1.1.1, 2.2.2.2, 127.0.0.1");
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  conn c(t.port());
  BOOST_REQUIRE(!c.write("GET /p1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                         "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nbody"
                         "GET /p3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  auto r3 = c.read_response();
  BOOST_REQUIRE(r1 && r2 && r3);
  BOOST_CHECK_EQUAL(r1->body(), "target=/p1");
  BOOST_CHECK_EQUAL(r2->body(), "body");
  BOOST_CHECK_EQUAL(r3->body(), "target=/p3");
}

BOOST_AUTO_TEST_CASE(one_client_connection_across_routes_and_into_a_websocket) {
  http_origin site, api;
  test_backend ws;
  tether_instance t(listener_yaml() + "routes:\n"
                    "  - name: site\n    upstream:\n      url: \"" + site.url() + "\"\n"
                    "  - name: api\n    match: {path: \"/api\"}\n    upstream:\n      url: \"" + api.url() + "\"\n"
                    "  - name: ws\n    match: {path: \"/ws\"}\n    upstream:\n      url: \"" + ws.url() + "\"\n");
  conn c(t.port());
  for (const std::string target : {"/index.html", "/api/items", "/style.css", "/api/users"}) {
    auto r = c.request(make(http::verb::get, target));
    BOOST_REQUIRE_MESSAGE(r, "no answer for " << target);
    BOOST_CHECK_EQUAL(r->body(), "target=" + target);
  }
  BOOST_CHECK_EQUAL(site.requests().size(), 2u);
  BOOST_CHECK_EQUAL(api.requests().size(), 2u);
  // Then the same connection upgrades.
  BOOST_REQUIRE(!c.write(upgrade_request("/ws", "127.0.0.1")));
  std::string bytes = c.read_until("\r\n\r\n", 5000ms);
  BOOST_REQUIRE_MESSAGE(bytes.rfind("HTTP/1.1 101", 0) == 0, bytes);
  bytes.erase(0, bytes.find("\r\n\r\n") + 4);
  BOOST_REQUIRE(!c.write(client_frame(0x81, "after http")));
  parsed_frame f;
  for (int i = 0; i < 20 && (f = parse_server_frame(bytes)).size == 0 && !c.eof(); ++i) {
    bytes += c.read_some(250ms);
  }
  BOOST_REQUIRE_MESSAGE(f.size > 0, "no echo after the upgrade");
  BOOST_CHECK_EQUAL(f.payload, "after http");
}

BOOST_AUTO_TEST_CASE(http_10_client_gets_an_http_10_answer_and_close) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url()));
  for (const std::string target : {"/old", "/eof", "/chunked"}) {
    conn c(t.port());
    BOOST_REQUIRE(!c.write("GET " + target + " HTTP/1.0\r\n\r\n"));
    const auto text = c.read_all(5000ms);
    BOOST_CHECK_MESSAGE(c.eof(), target << ": connection not closed");
    BOOST_CHECK_MESSAGE(text.rfind("HTTP/1.0 200", 0) == 0, target << ": " << text);
    BOOST_CHECK_MESSAGE(text.find("chunked") == std::string::npos || target == "/chunked",
                        target << ": chunked answer to HTTP/1.0: " << text);
    const auto body = text.substr(std::min(text.size(), text.find("\r\n\r\n") + 4));
    const std::string expected = target == "/old"   ? "target=/old"
                                 : target == "/eof" ? "until-eof body"
                                                    : "hello, chunked world";
    BOOST_CHECK_EQUAL(body, expected);
  }
}

BOOST_AUTO_TEST_CASE(strip_prefix_and_base_path_apply_to_http) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url() + "/base", "      strip_prefix: true\n",
                                               "    match: {path: \"/app\"}\n"));
  auto res = http_get(t.port(), "/app/x?y=1");
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_CHECK_EQUAL(res.body(), "target=/base/x?y=1");
  BOOST_CHECK_EQUAL(http_get(t.port(), "/elsewhere").result_int(), 404);
  BOOST_CHECK_EQUAL(origin.requests().size(), 1u);
}

BOOST_AUTO_TEST_CASE(wss_route_proxies_http_over_https) {
  http_origin origin(true);
  tether_instance t(listener_yaml() +
                    route_to(origin.url(), "      tls: {ca: " + cert_path("ca.crt") + "}\n"));
  auto res = http_request(t.port(), make(http::verb::post, "/echo", "over tls"));
  BOOST_CHECK_EQUAL(res.result_int(), 200);
  BOOST_CHECK_EQUAL(res.body(), "over tls");
  BOOST_CHECK_EQUAL(origin.requests().size(), 1u);
}

// limits.http_idle_timeout: an exchange in which nothing moves ends, so a
// stalled client or a hung origin cannot hold a connection (and a place
// under max_connections) forever. The wheel's tick is 100 ms: it fires
// between the limit and a tick or two after.
const std::string idle_300ms = "    limits: {http_idle_timeout: 300ms}\n";

BOOST_AUTO_TEST_CASE(origin_that_never_answers_gets_504_at_http_idle_timeout) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url(), {}, idle_300ms));
  const auto [res, took] = timed_get(t.port(), "/hang");
  BOOST_REQUIRE_MESSAGE(res, "no answer within 5 s");
  BOOST_CHECK_EQUAL(res->result_int(), 504);
  BOOST_CHECK_GE(took, 290ms);
  BOOST_CHECK_LT(took, 3000ms);
  BOOST_CHECK_EQUAL(origin.requests().size(), 1u);
  BOOST_CHECK_EQUAL(t.metric("tether_http_idle_timeouts_total{route=\"r\"}"), 1.0);
  BOOST_CHECK_EQUAL(t.metric("tether_http_requests_total{route=\"r\",class=\"5xx\"}"), 1.0);
}

BOOST_AUTO_TEST_CASE(stalled_request_body_is_cut_at_http_idle_timeout) {
  http_origin origin;
  tether_instance t(listener_yaml() + route_to(origin.url(), {}, idle_300ms));
  conn c(t.port());
  BOOST_REQUIRE(
      !c.write("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789"));
  const auto t0 = std::chrono::steady_clock::now();
  const auto got = c.read_all(5000ms);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  BOOST_CHECK_MESSAGE(c.eof(), "tether kept the connection of a stalled upload for 5 s");
  BOOST_CHECK_EQUAL(got, "");  // no response: the request never ended
  BOOST_CHECK_GE(elapsed, 290ms);
  BOOST_CHECK_LT(elapsed, 3000ms);
  // Only that connection ended: tether goes on serving others.
  BOOST_CHECK_EQUAL(http_get(t.port(), "/ok").body(), "target=/ok");
}

BOOST_AUTO_TEST_CASE(upstream_connect_is_left_to_connect_timeout) {
  // A wss:// upstream that takes TCP but never answers the TLS handshake:
  // connect_timeout (600 ms) ends that with 502, even though the idle limit
  // (200 ms) is shorter.
  silent_server hung;
  const std::string upstream_extra =
      "      connect_timeout: 600ms\n      tls: {ca: " + cert_path("ca.crt") + "}\n";
  tether_instance t(listener_yaml() + route_to("wss://127.0.0.1:" + std::to_string(hung.port()),
                                               upstream_extra,
                                               "    limits: {http_idle_timeout: 200ms}\n"));
  const auto [res, took] = timed_get(t.port(), "/x");
  BOOST_REQUIRE_MESSAGE(res, "connection closed without an answer");
  BOOST_CHECK_EQUAL(res->result_int(), 502);
  BOOST_CHECK_GE(took, 550ms);
  BOOST_CHECK_LT(took, 3000ms);
}

BOOST_AUTO_TEST_CASE(http_idle_timeout_counts_silence_not_total_time) {
  // Five chunks 200 ms apart take a second, over three times the limit,
  // but the exchange is never 300 ms silent.
  http_origin origin;
  tether_instance t(listener_yaml() +
                    route_to(origin.url(), {}, "    limits: {http_idle_timeout: 500ms}\n"));
  const auto [res, took] = timed_get(t.port(), "/drip");
  BOOST_REQUIRE(res);
  BOOST_CHECK_EQUAL(res->result_int(), 200);
  BOOST_CHECK_EQUAL(res->body(), "abcde");
  BOOST_CHECK_GE(took, 900ms);  // it did outlast the limit
}

BOOST_AUTO_TEST_SUITE_END()
