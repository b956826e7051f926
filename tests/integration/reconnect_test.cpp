// Upstream re-establishment (SPEC section 6): the client stays connected
// while the backend restarts; nothing it sends after tether knows of the
// loss is lost, duplicated or reordered.
#include <boost/test/unit_test.hpp>

#include "extra_relay.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

std::string config(const std::string& urls, const std::string& reconnect, const std::string& route_extra = {},
                   const std::string& backoff = "{initial: 20ms, max: 100ms, multiplier: 2.0, jitter: 0.2}") {
  return listener_yaml(false) +
         "defaults:\n"
         "  reconnect:\n"
         "    backoff: " + backoff + "\n"
         "    notify: {reconnecting: \"~reconnecting\", reconnected: \"~reconnected\"}\n" +
         reconnect +
         "routes:\n  - name: r\n    upstream:\n" + urls + route_extra;
}

std::string one_url(const test_backend& b) { return "      url: \"" + b.url() + "\"\n"; }

/// Reads until a text message equal to `text` arrives; false on timeout or close.
bool read_until_text(ws_client& c, const std::string& text, ms timeout = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    auto m = c.read(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
    if (!m) {
      return false;
    }
    if (m->text && m->data == text) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> texts(const std::vector<message>& ms, std::size_t from = 0) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < ms.size(); ++i) {
    out.push_back(ms[i].data);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reconnect_test)

BOOST_AUTO_TEST_CASE(backend_killed_and_restarted_keeps_client_and_order) {
  test_backend backend;
  tether_instance t(config(one_url(backend), "    replay: {first: 1}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->send_text("subscribe"));
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(!c->send_text("a" + std::to_string(i)));
  }
  BOOST_REQUIRE(read_until_text(*c, "a4"));
  BOOST_REQUIRE(backend.wait_messages(6));

  backend.kill();
  BOOST_REQUIRE_MESSAGE(read_until_text(*c, "~reconnecting"), "no reconnecting notice");
  const auto before = backend.messages().size();
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(!c->send_text("b" + std::to_string(i)));
  }
  std::this_thread::sleep_for(150ms);  // several failed attempts while the backend is down
  backend.restart();
  BOOST_REQUIRE_MESSAGE(read_until_text(*c, "~reconnected"), "no reconnected notice");
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(!c->send_text("c" + std::to_string(i)));
  }
  BOOST_REQUIRE(read_until_text(*c, "c2"));  // backend -> client traffic resumed
  BOOST_REQUIRE(backend.wait_messages(before + 9));
  const std::vector<std::string> expected{"subscribe", "b0", "b1", "b2", "b3", "b4", "c0", "c1", "c2"};
  const auto got = texts(backend.messages(), before);
  BOOST_CHECK_EQUAL_COLLECTIONS(got.begin(), got.end(), expected.begin(), expected.end());
  BOOST_CHECK(c->is_open());
  BOOST_CHECK_EQUAL(t.metric("tether_upstream_reconnects_total{route=\"r\",result=\"success\"}"), 1);
  BOOST_CHECK_EQUAL(t.metric("tether_buffered_messages{route=\"r\"}"), 0);
}

BOOST_AUTO_TEST_CASE(large_binary_frame_cut_by_the_loss_arrives_whole_after_it) {
  // A large binary frame is relayed still masked. This one starts while the
  // upstream is up and ends after it is lost, so it goes to the outage
  // buffer instead, and from there to the new upstream, in clear and whole.
  test_backend backend;
  tether_instance t(config(one_url(backend), ""));
  raw_ws c(t.port());
  BOOST_REQUIRE(c.upgraded());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  const auto payload = random_bytes(40000, 61);
  const auto frame = client_frame(0x82, payload);
  BOOST_REQUIRE(!c.send(frame.substr(0, 10000)));
  std::this_thread::sleep_for(100ms);
  backend.kill();
  auto notice = c.next_frame(5000ms);
  BOOST_REQUIRE(notice);
  BOOST_REQUIRE_EQUAL(notice->payload, "~reconnecting");
  BOOST_REQUIRE(!c.send(frame.substr(10000)));
  std::this_thread::sleep_for(100ms);
  backend.restart();
  notice = c.next_frame(5000ms);
  BOOST_REQUIRE(notice);
  BOOST_REQUIRE_EQUAL(notice->payload, "~reconnected");
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages().back() == (message{false, payload}));
}

BOOST_AUTO_TEST_CASE(new_upstream_sees_the_same_handshake) {
  test_backend backend;
  tether_instance t(config(one_url(backend), ""));
  auto c = ws_client::connect(t.port(), {.target = "/chat?room=7",
                                         .headers = {{"Cookie", "sid=42"}, {"Authorization", "Bearer x"}, {"Origin", "https://app.test"}},
                                         .subprotocols = "v1, v2"});
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(1012, "restart");
  BOOST_REQUIRE(read_until_text(*c, "~reconnected"));
  const auto hs = backend.handshakes();
  BOOST_REQUIRE_EQUAL(hs.size(), 2u);
  BOOST_CHECK_EQUAL(hs[0].target(), "/chat?room=7");
  BOOST_CHECK_EQUAL(hs[1].target(), hs[0].target());
  for (const char* h : {"Cookie", "Authorization", "Origin", "Sec-WebSocket-Protocol", "X-Forwarded-For",
                        "X-Forwarded-Proto", "X-Forwarded-Host", "Host"}) {
    BOOST_CHECK_MESSAGE(!hs[0][h].empty(), h << " missing");
    BOOST_CHECK_EQUAL(hs[1][h], hs[0][h]);
  }
  BOOST_CHECK_EQUAL(c->handshake_response()[http::field::sec_websocket_protocol], "v1");
}

BOOST_AUTO_TEST_CASE(close_1012_reconnects_and_1000_passes_through) {
  test_backend backend;
  tether_instance t(config(one_url(backend), ""));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(1012, "service restart");
  BOOST_REQUIRE(read_until_text(*c, "~reconnected"));
  BOOST_REQUIRE(!c->send_text("after"));
  BOOST_REQUIRE(read_until_text(*c, "after"));
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.close_all(1000, "bye for good");
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 1000);
  BOOST_CHECK_EQUAL(closed->second, "bye for good");
}

BOOST_AUTO_TEST_CASE(backend_that_never_returns_gives_1013_after_budget) {
  test_backend backend;
  tether_instance t(config(one_url(backend), "    give_up_after: 600ms\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  backend.kill();
  auto closed = c->wait_close(5000ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 1013);
  BOOST_CHECK_GE(elapsed, 550ms);
  BOOST_CHECK_LT(elapsed, 3000ms);
  BOOST_CHECK_EQUAL(t.metric("tether_upstream_reconnects_total{route=\"r\",result=\"gave_up\"}"), 1);
}

BOOST_AUTO_TEST_CASE(buffer_overflow_closes_client_with_1013) {
  test_backend backend;
  tether_instance t(config(one_url(backend), "    buffer: {messages: 3, bytes: 1MiB}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  BOOST_REQUIRE(read_until_text(*c, "~reconnecting"));
  for (int i = 0; i < 4; ++i) {
    c->send_text("m" + std::to_string(i));
  }
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 1013);
}

BOOST_AUTO_TEST_CASE(byte_bound_of_buffer_also_applies) {
  test_backend backend;
  tether_instance t(config(one_url(backend), "    buffer: {messages: 100, bytes: 1KiB}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  BOOST_REQUIRE(read_until_text(*c, "~reconnecting"));
  c->send_text(std::string(600, 'x'));
  c->send_text(std::string(600, 'y'));
  auto closed = c->wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 1013);
}

BOOST_AUTO_TEST_CASE(unauthorized_on_reconnect_ends_with_1014) {
  test_backend backend;
  tether_instance t(config(one_url(backend), ""));
  raw_client c(t.port());
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  backend_options rejecting;
  rejecting.reject_status = 401;
  backend.set_options(rejecting);
  backend.restart();
  BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1014);
}

BOOST_AUTO_TEST_CASE(server_errors_on_reconnect_are_retried) {
  test_backend backend;
  tether_instance t(config(one_url(backend), ""));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  backend_options failing;
  failing.reject_status = 503;
  backend.set_options(failing);
  backend.restart();
  BOOST_REQUIRE(wait_until([&] { return backend.handshakes().size() >= 3; }));  // 1 + two 503s
  backend.set_options({});
  BOOST_REQUIRE(read_until_text(*c, "~reconnected"));
}

BOOST_AUTO_TEST_CASE(changed_subprotocol_ends_with_1014) {
  test_backend backend;
  tether_instance t(config(one_url(backend), ""));
  raw_client c(t.port());
  BOOST_REQUIRE(c.upgrade("/", "Sec-WebSocket-Protocol: v1, v2\r\n").find("Sec-WebSocket-Protocol: v1") != std::string::npos);
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  backend_options picky;
  picky.subprotocol = "v2";
  backend.set_options(picky);
  backend.restart();
  BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1014);
}

BOOST_AUTO_TEST_CASE(reconnect_moves_to_the_next_url) {
  test_backend a;
  test_backend b;
  tether_instance t(config("      urls: [\"" + a.url() + "\", \"" + b.url() + "\"]\n", "    replay: {first: 1}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->send_text("hello"));
  BOOST_REQUIRE(read_until_text(*c, "hello"));
  BOOST_REQUIRE_EQUAL(a.open_sessions() + b.open_sessions(), 1u);
  auto& first = a.open_sessions() == 1 ? a : b;
  auto& second = a.open_sessions() == 1 ? b : a;
  first.kill();  // never comes back
  BOOST_REQUIRE(read_until_text(*c, "~reconnected"));
  BOOST_REQUIRE(!c->send_text("world"));
  BOOST_REQUIRE(read_until_text(*c, "world"));
  BOOST_REQUIRE(second.wait_messages(2));
  BOOST_CHECK_EQUAL(second.messages()[0].data, "hello");  // replayed
  BOOST_CHECK_EQUAL(second.messages()[1].data, "world");
}

BOOST_AUTO_TEST_CASE(initial_handshake_skips_a_dead_url) {
  test_backend live;
  std::uint16_t dead_port;
  {
    test_backend dead;
    dead_port = dead.port();
  }
  tether_instance t(config("      urls: [\"ws://127.0.0.1:" + std::to_string(dead_port) + "\", \"" + live.url() + "\"]\n", ""));
  for (int i = 0; i < 4; ++i) {
    auto c = ws_client::connect(t.port());
    BOOST_REQUIRE(!c->send_text("x"));
    BOOST_REQUIRE(read_until_text(*c, "x"));
  }
}

BOOST_AUTO_TEST_CASE(disabled_reconnect_passes_closes_and_gives_1014_on_loss) {
  test_backend backend;
  tether_instance t(config(one_url(backend), "    enabled: false\n"));
  {
    auto c = ws_client::connect(t.port());
    BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
    backend.close_all(1012, "restarting");
    auto closed = c->wait_close();
    BOOST_REQUIRE(closed);
    BOOST_CHECK_EQUAL(closed->first, 1012);
    BOOST_CHECK_EQUAL(closed->second, "restarting");
  }
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 0; }));
  raw_client c(t.port());
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1014);
}

BOOST_AUTO_TEST_CASE(thousand_sessions_survive_one_backend_restart) {
  constexpr int n = 1000;
  test_backend backend;
  tether_instance t(config(one_url(backend), "", "", "{initial: 50ms, max: 1s, multiplier: 2.0, jitter: 0.5}"));
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(ws_client::connect(t.port()));
  }
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == n; }, 20000ms));
  backend.kill();
  backend.restart();
  const auto restarted = std::chrono::steady_clock::now();
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == n; }, 30000ms));
  const auto took = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now() - restarted);
  BOOST_TEST_MESSAGE("1000 sessions re-established " << took.count() << " ms after the backend restart");
  for (int i = 0; i < n; ++i) {
    BOOST_REQUIRE(!clients[i]->send_text("after-" + std::to_string(i)));
  }
  for (int i = 0; i < n; ++i) {
    BOOST_REQUIRE_MESSAGE(read_until_text(*clients[i], "after-" + std::to_string(i), 10000ms), "session " << i << " lost");
  }
  BOOST_CHECK_EQUAL(t.metric("tether_upstream_reconnects_total{route=\"r\",result=\"success\"}"), n);
  BOOST_CHECK_EQUAL(t.metric("tether_sessions_active{route=\"r\"}"), n);
}

// A process that stops without draining (tests, a second signal) destroys
// its workers while sessions wait out a backoff: the wait's coroutine owns
// its session, so the session ends as the worker's io_context goes, and must
// not reach the worker's wheel, poller or codecs, gone by then.
BOOST_AUTO_TEST_CASE(stopping_while_a_session_waits_in_backoff_ends_it_cleanly) {
  test_backend backend;
  auto t = std::make_unique<tether_instance>(
      config(one_url(backend), "", {}, "{initial: 10s, max: 10s, multiplier: 1.0, jitter: 0}"));
  auto c = ws_client::connect(t->port());
  BOOST_REQUIRE(!c->send_text("hello"));
  BOOST_REQUIRE(read_until_text(*c, "hello"));
  backend.kill();
  BOOST_REQUIRE_MESSAGE(read_until_text(*c, "~reconnecting"), "no reconnecting notice");
  BOOST_CHECK_EQUAL(t->metric("tether_sessions_active{route=\"r\"}"), 1);
  t.reset();  // ASan reports a use after free here if the order is wrong
  auto m = c->read(2000ms);
  BOOST_CHECK(!m);  // the connection went with the process
}

BOOST_AUTO_TEST_SUITE_END()
