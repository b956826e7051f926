// The upstream request a session keeps for reconnects, as text and back.
#include <boost/test/unit_test.hpp>

#include "ws/ws_handshake.hpp"

using namespace tether;

BOOST_AUTO_TEST_SUITE(ws_handshake_test)

BOOST_AUTO_TEST_CASE(upstream_request_survives_text_round_trip) {
  request_header client;
  client.method(http::verb::get);
  client.target("/chat?room=1");
  client.version(11);
  client.set(http::field::host, "example.com");
  client.set(http::field::upgrade, "websocket");
  client.set(http::field::connection, "Upgrade");
  client.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  client.set(http::field::sec_websocket_version, "13");
  client.set(http::field::sec_websocket_protocol, "v2.chat, v1.chat");
  client.insert(http::field::cookie, "a=1");
  client.insert("X-Custom", "two  spaces");
  const auto req = ws::make_upstream_request(client, "/chat?room=1", "AAAAAAAAAAAAAAAAAAAAAA==", "10.0.0.7", true);
  const auto text = ws::serialize_request(req);
  const auto back = ws::parse_request(text);
  BOOST_REQUIRE(back);
  BOOST_CHECK_EQUAL(back->target(), "/chat?room=1");
  BOOST_CHECK(back->method() == http::verb::get);
  std::vector<std::pair<std::string, std::string>> a, b;
  for (const auto& f : req) {
    a.emplace_back(f.name_string(), f.value());
  }
  for (const auto& f : *back) {
    b.emplace_back(f.name_string(), f.value());
  }
  BOOST_CHECK(a == b);
  BOOST_CHECK_EQUAL((*back)[http::field::sec_websocket_protocol], "v2.chat, v1.chat");
  BOOST_CHECK_EQUAL((*back)["X-Custom"], "two  spaces");
}

BOOST_AUTO_TEST_CASE(garbage_is_not_a_request) {
  BOOST_CHECK(!ws::parse_request("not http\r\n\r\n"));
  BOOST_CHECK(!ws::parse_request("GET / HTTP/1.1\r\nHost: x\r\n"));  // header not finished
}

namespace {

// A valid upgrade request from a client, for the cases below to alter.
request_header client_upgrade() {
  request_header req;
  req.method(http::verb::get);
  req.target("/ws");
  req.version(11);
  req.set(http::field::host, "chat.example.com");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  return req;
}

}  // namespace

// RFC 9112 section 3.2: more than one Host is a 400, and forwarding both
// would let the upstream pick another host than the route did.
BOOST_AUTO_TEST_CASE(two_host_headers_get_400) {
  auto req = client_upgrade();
  req.insert(http::field::host, "evil.example.com");
  const auto bad = ws::check_client_request(req);
  BOOST_REQUIRE(bad);
  BOOST_CHECK(bad->result() == http::status::bad_request);
}

// "Connection: Host" makes the client's Host hop-by-hop; the upstream still
// needs one. Both cases were found by the handshake fuzz target.
BOOST_AUTO_TEST_CASE(connection_naming_host_keeps_host_upstream) {
  auto req = client_upgrade();
  req.set(http::field::connection, "Upgrade, Host");
  BOOST_REQUIRE(!ws::check_client_request(req));
  const auto up = ws::make_upstream_request(req, "/ws", "AAAAAAAAAAAAAAAAAAAAAA==", "10.0.0.7", false);
  BOOST_CHECK_EQUAL(up.count(http::field::host), 1u);
  BOOST_CHECK_EQUAL(up[http::field::host], "chat.example.com");
  BOOST_CHECK_EQUAL(up["X-Forwarded-Host"], "chat.example.com");
}

BOOST_AUTO_TEST_SUITE_END()
