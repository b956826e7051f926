// Session endings: closing handshakes started by either side (with and
// without a status code), peers that vanish without one, and many sessions
// opened, used and closed at once with the session gauge back at zero.
#include <boost/test/unit_test.hpp>

#include "extra_relay.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

std::string route_yaml(const test_backend& b) {
  return "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n";
}

/// Beast reports a close frame without a body as close_code::none.
constexpr std::uint16_t beast_no_status = static_cast<std::uint16_t>(websocket::close_code::none);

double active(const tether_instance& t) { return t.metric("tether_sessions_active{route=\"r\"}"); }

}  // namespace

BOOST_AUTO_TEST_SUITE(lifecycle_test)

BOOST_AUTO_TEST_CASE(client_close_4000_with_reason_reaches_backend_and_is_answered) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  BOOST_REQUIRE(!c->close(4000, "done for today"));  // completes only when the close reply came
  BOOST_REQUIRE(backend.wait_closes(1));
  BOOST_CHECK_EQUAL(backend.closes()[0].first, 4000);
  BOOST_CHECK_EQUAL(backend.closes()[0].second, "done for today");
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 4000);
  BOOST_CHECK(!c->is_open());
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(client_close_reply_frame_is_exact) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  raw_ws c(t.port());
  BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
  BOOST_REQUIRE(!c.send(client_frame(0x88, close_body(4000, "bye"))));
  auto f = c.wait_close_frame();
  BOOST_REQUIRE_MESSAGE(f, "no close reply");
  BOOST_CHECK(!f->masked);
  BOOST_CHECK(f->fin);
  // tether relays the backend's answer; Beast answers with the code alone.
  BOOST_CHECK(f->payload == close_body(4000));
  BOOST_CHECK(c.wait_eof());  // tether ends the TCP connection after the closing handshake
  BOOST_REQUIRE(backend.wait_closes(1));
  BOOST_CHECK_EQUAL(backend.closes()[0].first, 4000);
  BOOST_CHECK_EQUAL(backend.closes()[0].second, "bye");
}

BOOST_AUTO_TEST_CASE(backend_close_4001_with_reason_reaches_client) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(4001, "server says bye");
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 4001);
  BOOST_CHECK_EQUAL(closed->second, "server says bye");
  // (test_backend cannot record the answer to a close it started: Beast's
  // close operation consumes it.) Both legs end and the session is gone.
  BOOST_CHECK(wait_until([&] { return backend.open_sessions() == 0; }));
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(client_close_without_status_passes_as_empty_close) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  raw_ws c(t.port());
  BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
  BOOST_REQUIRE(!c.send(client_frame(0x88, "")));
  BOOST_REQUIRE(backend.wait_closes(1));
  BOOST_CHECK_EQUAL(backend.closes()[0].first, beast_no_status);  // empty body upstream
  BOOST_CHECK_EQUAL(backend.closes()[0].second, "");
  auto f = c.wait_close_frame();
  BOOST_REQUIRE_MESSAGE(f, "no close reply");
  // The client gets the backend's answer: Beast answers an empty close with 1000.
  BOOST_CHECK_EQUAL(close_code_of(f->payload), 1000);
  BOOST_CHECK(c.wait_eof());
}

BOOST_AUTO_TEST_CASE(backend_close_without_status_passes_as_empty_close) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  raw_ws c(t.port());
  BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(beast_no_status, "");
  auto f = c.wait_close_frame();
  BOOST_REQUIRE_MESSAGE(f, "backend's close did not reach the client");
  BOOST_CHECK_EQUAL(f->payload.size(), 0u);
  BOOST_CHECK(f->fin);
  BOOST_CHECK(!f->masked);
  BOOST_REQUIRE(!c.send(client_frame(0x88, "")));  // answer it
  BOOST_CHECK(c.wait_eof());
  BOOST_CHECK(wait_until([&] { return backend.open_sessions() == 0; }));
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(vanished_raw_client_gives_backend_1001) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  {
    raw_ws c(t.port());
    BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
    BOOST_REQUIRE(!c.send(client_frame(0x81, "hi")));
    BOOST_REQUIRE(backend.wait_messages(1));
  }  // socket closed, no close frame
  const auto start = std::chrono::steady_clock::now();
  BOOST_REQUIRE_MESSAGE(backend.wait_closes(1, 2000ms), "backend got no close within 2 s");
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - start, 2000ms);
  BOOST_CHECK_EQUAL(backend.closes()[0].first, 1001);
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(last_message_and_fin_in_one_segment_give_message_then_1001) {
  // The message and the end of the stream arrive in one readiness event: the
  // short read of the message must not be taken to mean "nothing more to
  // read", or the end of stream goes unnoticed. (No echo: an echo to the
  // half-closed client would end in a reset, which is noticed anyway.)
  test_backend backend({.echo = false});
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  for (int i = 0; i < 3; ++i) {
    raw_ws c(t.port());
    BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
    BOOST_REQUIRE(!c.raw().write_then_fin(client_frame(0x81, "last " + std::to_string(i))));
    BOOST_REQUIRE_MESSAGE(backend.wait_closes(i + 1, 2000ms), "backend got no close within 2 s");
    BOOST_CHECK_EQUAL(backend.closes()[i].first, 1001);
    BOOST_REQUIRE(backend.wait_messages(i + 1));
    BOOST_CHECK_EQUAL(backend.messages()[i].data, "last " + std::to_string(i));
  }
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(vanished_tls_ws_client_gives_backend_1001) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  {
    auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
    BOOST_REQUIRE(!c->send_text("hi"));
    BOOST_REQUIRE(c->read());
  }  // destroyed without a close
  BOOST_REQUIRE_MESSAGE(backend.wait_closes(1, 2000ms), "backend got no close within 2 s");
  BOOST_CHECK_EQUAL(backend.closes()[0].first, 1001);
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(killed_backend_gives_client_1014_without_reconnect) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + "defaults: {reconnect: {enabled: false}}\n" + route_yaml(backend));
  raw_ws c(t.port());  // Beast's client refuses 1014 (Boost 1.81), so read the frame itself
  BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
  BOOST_REQUIRE(!c.send(client_frame(0x81, "hi")));
  auto echo = c.next_frame();
  BOOST_REQUIRE(echo);
  BOOST_CHECK_EQUAL(echo->payload, "hi");
  const auto start = std::chrono::steady_clock::now();
  backend.kill();
  auto f = c.wait_close_frame(3000ms);
  BOOST_REQUIRE_MESSAGE(f, "no close frame after the backend died");
  BOOST_CHECK_LT(std::chrono::steady_clock::now() - start, 2000ms);
  BOOST_CHECK_EQUAL(close_code_of(f->payload), 1014);
  BOOST_CHECK_EQUAL(backend.handshakes().size(), 1u);  // no reconnect attempt
  BOOST_REQUIRE(!c.send(client_frame(0x88, close_body(1014))));
  BOOST_CHECK(c.wait_eof());
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(backend_close_1000_passes_through) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));  // reconnect at its default
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(1000, "normal");
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 1000);
  BOOST_CHECK_EQUAL(closed->second, "normal");
  BOOST_CHECK(wait_until([&] { return backend.open_sessions() == 0; }));
  BOOST_CHECK(wait_until([&] { return active(t) == 0; }));
}

BOOST_AUTO_TEST_CASE(hundred_sessions_plain_and_tls_echo_in_order_and_close_cleanly) {
  test_backend backend;
  const auto tls_listener = listener_yaml(true, "sec").substr(std::string("listeners:\n").size());
  tether_instance t(listener_yaml(false) + tls_listener + route_yaml(backend));
  constexpr int sessions = 100;
  constexpr int per_session = 20;
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < sessions; ++i) {
    if (i % 2 == 0) {
      clients.push_back(ws_client::connect(t.port("main")));
    } else {
      clients.push_back(ws_client::connect(t.port("sec"), {.tls = true, .host = "localhost"}));
    }
  }
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == sessions; }));
  // The gauge moves right after tether has written the 101, so poll it.
  BOOST_CHECK_MESSAGE(wait_until([&] { return active(t) == sessions; }), "sessions_active is " << active(t));
  // Every session sends all of its messages, interleaved with the others.
  for (int k = 0; k < per_session; ++k) {
    for (int i = 0; i < sessions; ++i) {
      BOOST_REQUIRE(!clients[i]->send_text("s" + std::to_string(i) + "-" + std::to_string(k)));
    }
  }
  for (int i = 0; i < sessions; ++i) {
    for (int k = 0; k < per_session; ++k) {
      auto m = clients[i]->read();
      BOOST_REQUIRE_MESSAGE(m, "session " << i << " message " << k << " missing");
      BOOST_REQUIRE_EQUAL(m->data, "s" + std::to_string(i) + "-" + std::to_string(k));
    }
  }
  for (int i = 0; i < sessions; ++i) {
    BOOST_REQUIRE_MESSAGE(!clients[i]->close(1000, "bye"), "session " << i << " close not answered");
  }
  BOOST_REQUIRE(backend.wait_closes(sessions, 10000ms));
  for (const auto& [code, reason] : backend.closes()) {
    BOOST_CHECK_EQUAL(code, 1000);
    BOOST_CHECK_EQUAL(reason, "bye");
  }
  BOOST_CHECK_MESSAGE(wait_until([&] { return active(t) == 0; }, 10000ms),
                      "sessions_active stays at " << active(t));
  BOOST_CHECK_EQUAL(t.metric("tether_sessions_total{route=\"r\"}"), sessions);
  BOOST_CHECK_EQUAL(t.metric("tether_messages_total{route=\"r\",direction=\"client_to_upstream\"}"),
                    sessions * per_session);
  BOOST_CHECK_EQUAL(t.metric("tether_messages_total{route=\"r\",direction=\"upstream_to_client\"}"),
                    sessions * per_session);
  BOOST_CHECK(wait_until([&] { return backend.open_sessions() == 0; }));
}

BOOST_AUTO_TEST_SUITE_END()
