// Heartbeats (SPEC section 5): idle pings per leg keep links through an
// idle-timeout intermediary alive, dead peers are found on both legs,
// application heartbeats go to the client between whole messages, and
// client text heartbeats are answered without reaching the backend.
#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

using namespace tt;

namespace {

std::string config(const std::string& url, const std::string& heartbeat, const std::string& reconnect = "  reconnect: {enabled: false}\n") {
  return listener_yaml(false) + "defaults:\n  heartbeat:\n" + heartbeat + reconnect +
         "routes:\n  - name: r\n    upstream:\n      url: \"" + url + "\"\n";
}

const std::string no_heartbeats =
    "    client: {ping_interval: 0s}\n"
    "    upstream: {ping_interval: 0s}\n";

std::int64_t now_ms() {
  return std::chrono::duration_cast<ms>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(heartbeat_test)

// The client leg goes through a relay that cuts links silent for 300 ms.
void client_leg_through_cutter(bool pings) {
  test_backend backend;
  tether_instance t(config(backend.url(), pings ? "    client: {ping_interval: 100ms, pong_timeout: 1s}\n    upstream: {ping_interval: 0s}\n"
                                                : no_heartbeats));
  idle_cutter cutter(t.port(), 300ms);
  auto c = ws_client::connect(cutter.port());
  BOOST_REQUIRE(!c->send_text("before"));
  BOOST_REQUIRE(c->read());
  // Idle for 4 x T while the client keeps reading (and so answers pings).
  BOOST_CHECK(!c->read(1200ms));
  if (pings) {
    BOOST_CHECK_EQUAL(cutter.cuts(), 0u);
    BOOST_REQUIRE(!c->send_text("after"));
    auto m = c->read();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, "after");
    BOOST_CHECK_GE(c->pings_received(), 8u);
  } else {
    BOOST_CHECK_EQUAL(cutter.cuts(), 1u);
    BOOST_CHECK(!c->send_text("after") == false || !c->read(1000ms));
  }
}

BOOST_AUTO_TEST_CASE(client_leg_survives_idle_cutter_with_pings) { client_leg_through_cutter(true); }
BOOST_AUTO_TEST_CASE(client_leg_is_cut_by_idle_cutter_without_pings) { client_leg_through_cutter(false); }

// The upstream leg goes through the cutter; reconnect is off, so a cut
// upstream shows as close 1014 on the client.
void upstream_leg_through_cutter(bool pings) {
  test_backend backend;
  idle_cutter cutter(backend.port(), 300ms);
  tether_instance t(config("ws://127.0.0.1:" + std::to_string(cutter.port()),
                           pings ? "    client: {ping_interval: 0s}\n    upstream: {ping_interval: 100ms, pong_timeout: 1s}\n"
                                 : no_heartbeats));
  raw_client c(t.port());
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  auto code = c.wait_close_code(1200ms);
  if (pings) {
    BOOST_CHECK_MESSAGE(!code, "closed with " << code.value_or(0));
    BOOST_CHECK_EQUAL(cutter.cuts(), 0u);
    BOOST_REQUIRE(!c.send_text("after"));
    auto m = c.read_message();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, "after");
    BOOST_CHECK_GE(backend.pings_received(), 8u);
  } else {
    BOOST_CHECK_EQUAL(cutter.cuts(), 1u);
    BOOST_CHECK_EQUAL(code.value_or(0), 1014);
  }
}

BOOST_AUTO_TEST_CASE(upstream_leg_survives_idle_cutter_with_pings) { upstream_leg_through_cutter(true); }
BOOST_AUTO_TEST_CASE(upstream_leg_is_cut_by_idle_cutter_without_pings) { upstream_leg_through_cutter(false); }

BOOST_AUTO_TEST_CASE(unresponsive_client_is_dropped_and_backend_gets_1001) {
  test_backend backend;
  tether_instance t(config(backend.url(), "    client: {ping_interval: 100ms, pong_timeout: 200ms}\n    upstream: {ping_interval: 0s}\n"));
  raw_client c(t.port());
  const auto start = std::chrono::steady_clock::now();
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  // The first ping comes after ~ping_interval of silence.
  std::string got = c.read_some(2000ms);
  const auto first_ping = std::chrono::steady_clock::now() - start;
  auto f = parse_server_frame(got);
  BOOST_REQUIRE(f.size > 0);
  BOOST_CHECK_EQUAL(f.opcode, 9);
  BOOST_CHECK_GE(first_ping, 90ms);
  BOOST_CHECK_LT(first_ping, 600ms);
  // Never answered: dropped after ping_interval + pong_timeout (+ slack).
  BOOST_REQUIRE(backend.wait_closes(1, 3000ms));
  const auto dropped = std::chrono::steady_clock::now() - start;
  BOOST_CHECK_EQUAL(backend.closes()[0].first, 1001);
  BOOST_CHECK_GE(dropped, 280ms);
  BOOST_CHECK_LT(dropped, 1500ms);
  c.read_all(2000ms);
  BOOST_CHECK(c.eof());
  BOOST_CHECK_EQUAL(t.metric("tether_heartbeat_timeouts_total{route=\"r\",leg=\"client\"}"), 1);
  BOOST_CHECK_GE(t.metric("tether_pings_sent_total{route=\"r\",leg=\"client\"}"), 1);
}

BOOST_AUTO_TEST_CASE(responsive_client_is_kept) {
  test_backend backend;
  tether_instance t(config(backend.url(), "    client: {ping_interval: 50ms, pong_timeout: 100ms}\n    upstream: {ping_interval: 0s}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->send_text("before"));
  BOOST_REQUIRE(c->read());
  BOOST_CHECK(!c->read(1000ms));  // reading answers the pings
  BOOST_CHECK(c->is_open());
  BOOST_CHECK_GE(c->pings_received(), 5u);
  BOOST_CHECK_EQUAL(backend.closes().size(), 0u);
  BOOST_CHECK_EQUAL(t.metric("tether_heartbeat_timeouts_total{route=\"r\",leg=\"client\"}"), 0);
}

BOOST_AUTO_TEST_CASE(unresponsive_backend_is_detected) {
  backend_options hung;
  hung.auto_pong = false;
  test_backend backend(hung);
  tether_instance t(config(backend.url(), "    client: {ping_interval: 0s}\n    upstream: {ping_interval: 100ms, pong_timeout: 200ms}\n"));
  raw_client c(t.port());
  const auto start = std::chrono::steady_clock::now();
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  BOOST_CHECK_EQUAL(c.wait_close_code(3000ms).value_or(0), 1014);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  BOOST_CHECK_GE(elapsed, 280ms);
  BOOST_CHECK_LT(elapsed, 1500ms);
  BOOST_CHECK_EQUAL(t.metric("tether_heartbeat_timeouts_total{route=\"r\",leg=\"upstream\"}"), 1);
}

BOOST_AUTO_TEST_CASE(dead_backend_found_by_heartbeat_triggers_reconnect) {
  backend_options hung;
  hung.auto_pong = false;
  test_backend dead(hung);
  test_backend alive;
  tether_instance t(listener_yaml(false) +
                    "defaults:\n  heartbeat:\n    client: {ping_interval: 0s}\n    upstream: {ping_interval: 100ms, pong_timeout: 200ms}\n"
                    "  reconnect: {backoff: {initial: 20ms, max: 100ms}}\n"
                    "routes:\n  - name: r\n    upstream:\n      urls: [\"" + dead.url() + "\", \"" + alive.url() + "\"]\n");
  auto c = ws_client::connect(t.port());  // round robin starts at the hung one
  BOOST_REQUIRE(wait_until([&] { return alive.open_sessions() == 1; }, 3000ms));
  BOOST_REQUIRE(!c->send_text("still here"));
  auto m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "still here");
}

BOOST_AUTO_TEST_CASE(tether_answers_client_pings_and_never_forwards_them) {
  test_backend backend;
  tether_instance t(config(backend.url(), no_heartbeats));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->ping("are you there"));
  BOOST_REQUIRE(!c->send_text("x"));
  BOOST_REQUIRE(c->read());
  BOOST_CHECK_EQUAL(c->pongs_received(), 1u);
  BOOST_CHECK_EQUAL(backend.pings_received(), 0u);
}

BOOST_AUTO_TEST_CASE(app_heartbeat_carries_current_time) {
  test_backend backend;
  tether_instance t(config(backend.url(),
                           "    client:\n      ping_interval: 0s\n      app: {message: '{\"type\":\"heartbeat\",\"ts\":{{now_ms}}}', interval: 100ms}\n"
                           "    upstream: {ping_interval: 0s}\n"));
  auto c = ws_client::connect(t.port());
  int seen = 0;
  const auto end = std::chrono::steady_clock::now() + 700ms;
  while (std::chrono::steady_clock::now() < end) {
    auto m = c->read(500ms);
    BOOST_REQUIRE(m);
    const std::string prefix = "{\"type\":\"heartbeat\",\"ts\":";
    BOOST_REQUIRE_EQUAL(m->data.substr(0, prefix.size()), prefix);
    const auto ts = std::stoll(m->data.substr(prefix.size()));
    BOOST_CHECK_LE(std::llabs(ts - now_ms()), 2000);
    ++seen;
  }
  BOOST_CHECK_GE(seen, 4);
  BOOST_CHECK_LE(seen, 9);
  BOOST_CHECK_GE(t.metric("tether_app_heartbeats_sent_total{route=\"r\"}"), 4);
}

BOOST_AUTO_TEST_CASE(app_heartbeat_is_not_sent_while_data_flows) {
  backend_options opts;
  test_backend backend(opts);
  tether_instance t(config(backend.url(),
                           "    client:\n      ping_interval: 0s\n      app: {message: hb, interval: 300ms}\n"
                           "    upstream: {ping_interval: 0s}\n"));
  auto c = ws_client::connect(t.port());
  for (int i = 0; i < 10; ++i) {
    BOOST_REQUIRE(!c->send_text("d" + std::to_string(i)));
    auto m = c->read();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, "d" + std::to_string(i));  // no "hb" in between
    std::this_thread::sleep_for(100ms);
  }
}

// A backend sends a message in fragments with pauses longer than the app
// interval: the heartbeat must wait for the message boundary.
BOOST_AUTO_TEST_CASE(app_heartbeat_never_splits_a_fragmented_message) {
  test_backend backend;
  tether_instance t(config(backend.url(),
                           "    client:\n      ping_interval: 0s\n      app: {message: hb, interval: 50ms}\n"
                           "    upstream: {ping_interval: 0s}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  std::this_thread::sleep_for(200ms);  // heartbeats flow while idle
  backend.send_raw_all(client_frame(0x01, "part1-", false));  // text, not FIN
  std::this_thread::sleep_for(200ms);
  backend.send_raw_all(client_frame(0x00, "part2-", false));  // continuation
  std::this_thread::sleep_for(200ms);
  backend.send_raw_all(client_frame(0x80, "end", false));     // FIN continuation
  backend.send_raw_all(client_frame(0x81, "whole", false));
  std::vector<std::string> got;
  while (got.size() < 10) {
    auto m = c->read(2000ms);
    BOOST_REQUIRE(m);
    got.push_back(m->data);
  }
  // Heartbeats before and after, but the fragmented message arrives intact
  // and the next whole message right after it, in order.
  auto it = std::find(got.begin(), got.end(), "part1-part2-end");
  BOOST_REQUIRE(it != got.end());
  auto whole = std::find(it, got.end(), "whole");
  BOOST_REQUIRE(whole != got.end());
  for (auto i = it + 1; i != whole; ++i) {
    BOOST_CHECK_EQUAL(*i, "hb");
  }
  BOOST_CHECK(std::find(got.begin(), it, "hb") != it);  // heartbeats flowed before
}

BOOST_AUTO_TEST_CASE(client_text_heartbeats_are_answered_not_forwarded) {
  test_backend backend;
  tether_instance t(config(backend.url(),
                           "    client:\n      ping_interval: 0s\n      answer:\n"
                           "        - {match: ping, reply: pong}\n"
                           "        - {match_regex: '\\{\"type\":\"ping\".*', reply: '{\"type\":\"pong\",\"ts\":{{now_ms}}}'}\n"
                           "    upstream: {ping_interval: 0s}\n"));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->send_text("ping"));
  auto m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "pong");
  BOOST_REQUIRE(!c->send_text("{\"type\":\"ping\",\"n\":1}"));
  m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data.substr(0, 22), "{\"type\":\"pong\",\"ts\":17");
  // Near misses are ordinary messages: "pings" (not the whole message) and a binary "ping".
  BOOST_REQUIRE(!c->send_text("pings"));
  BOOST_REQUIRE(!c->send_binary("ping"));
  BOOST_REQUIRE(!c->send_text("x{\"type\":\"ping\"}"));
  BOOST_REQUIRE(backend.wait_messages(3));
  std::this_thread::sleep_for(100ms);
  const auto got = backend.messages();
  BOOST_REQUIRE_EQUAL(got.size(), 3u);
  BOOST_CHECK_EQUAL(got[0].data, "pings");
  BOOST_CHECK(!got[1].text);
  BOOST_CHECK_EQUAL(got[2].data, "x{\"type\":\"ping\"}");
  BOOST_CHECK_EQUAL(t.metric("tether_app_heartbeats_answered_total{route=\"r\"}"), 2);
}

BOOST_AUTO_TEST_CASE(answers_and_client_pings_continue_during_an_outage) {
  test_backend backend;
  tether_instance t(listener_yaml(false) +
                    "defaults:\n  heartbeat:\n    client:\n      ping_interval: 100ms\n      pong_timeout: 1s\n"
                    "      answer: [{match: ping, reply: pong}]\n    upstream: {ping_interval: 0s}\n"
                    "  reconnect: {give_up_after: 10s, backoff: {initial: 50ms, max: 100ms}}\n"
                    "routes:\n  - name: r\n    upstream:\n      url: \"" + backend.url() + "\"\n");
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  backend.kill();
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(!c->send_text("ping"));
    auto m = c->read(1000ms);
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, "pong");
    BOOST_CHECK(!c->read(250ms));  // silent longer than ping_interval: tether pings
  }
  BOOST_CHECK(c->is_open());
  BOOST_CHECK_GE(c->pings_received(), 3u);
}

BOOST_AUTO_TEST_SUITE_END()
