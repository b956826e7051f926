// Message relay through tether: content, type and order both ways, over
// ws:// and wss://, fragmented and large messages, close codes both ways.
#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

using namespace tt;

namespace {

std::string route_yaml(const test_backend& b, const std::string& extra = {}) {
  return "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n" + extra;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(relay_test)

BOOST_AUTO_TEST_CASE(text_and_binary_round_trip_over_wss) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(!c->send_text("hello"));
  std::string bin("\x00\x01\xff\xfe binary", 12);
  BOOST_REQUIRE(!c->send_binary(bin));
  auto m1 = c->read();
  auto m2 = c->read();
  BOOST_REQUIRE(m1 && m2);
  BOOST_CHECK(*m1 == (message{true, "hello"}));
  BOOST_CHECK(*m2 == (message{false, bin}));
  BOOST_REQUIRE(backend.wait_messages(2));
  BOOST_CHECK(backend.messages()[0] == (message{true, "hello"}));
  BOOST_CHECK(backend.messages()[1] == (message{false, bin}));
}

BOOST_AUTO_TEST_CASE(order_is_preserved_under_pipelining) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  constexpr int n = 2000;
  for (int i = 0; i < n; ++i) {
    BOOST_REQUIRE(!c->send_text("m" + std::to_string(i)));
  }
  for (int i = 0; i < n; ++i) {
    auto m = c->read();
    BOOST_REQUIRE_MESSAGE(m, "message " << i << " missing");
    BOOST_REQUIRE_EQUAL(m->data, "m" + std::to_string(i));
  }
}

BOOST_AUTO_TEST_CASE(client_close_code_and_reason_reach_backend) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->close(4001, "client bye"));
  BOOST_REQUIRE(backend.wait_closes(1));
  BOOST_CHECK_EQUAL(backend.closes()[0].first, 4001);
  BOOST_CHECK_EQUAL(backend.closes()[0].second, "client bye");
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 4001);
}

BOOST_AUTO_TEST_CASE(backend_close_code_and_reason_reach_client) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(4002, "server bye");
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 4002);
  BOOST_CHECK_EQUAL(closed->second, "server bye");
}

BOOST_AUTO_TEST_SUITE_END()
