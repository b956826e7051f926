// Every close tether decides is explained: one info line naming the route,
// the client, the code and the reason, and an access line that says who
// began each leg's end.
#include <boost/test/unit_test.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "extra_relay.hpp"
#include "log_capture.hpp"
#include "server/logging.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

/// Lines as bare messages, without time and level.
struct message_log : log_capture {
  message_log() { sink().set_pattern("%v"); }
};

std::string config(const test_backend& b) {
  return listener_yaml(false) + "log: {access: true}\nroutes:\n  - name: r\n    upstream:\n      url: \"" +
         b.url() + "\"\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(close_log_test)

BOOST_AUTO_TEST_CASE(client_protocol_error_is_logged_and_in_the_access_line) {
  message_log log;
  test_backend backend;
  {
    tether_instance t(config(backend));
    raw_ws c(t.port());
    BOOST_REQUIRE(c.upgraded());
    BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
    BOOST_REQUIRE(!c.send(client_frame(0xC1, "hello")));  // RSV1 with no extension
    BOOST_REQUIRE(c.wait_close_frame(3000ms));
    const auto why = log.wait_line({"route r: closing client 127.0.0.1 with 1002: reserved bits set"});
    BOOST_CHECK_MESSAGE(!why.empty(), "no line explains the 1002");
    c.wait_eof(3000ms);
    const auto access = log.wait_line({"access ", "route=r", "client_close=1002",
                                       "client_closed_by=\"tether(reserved bits set)\"", "upstream_close=1001",
                                       "upstream_closed_by=\"tether(client protocol error)\""});
    BOOST_CHECK_MESSAGE(!access.empty(), "no access line with both legs' ends");
    // The same ends, counted.
    BOOST_CHECK_EQUAL(t.metric("tether_closes_total{route=\"r\",leg=\"client\",code=\"1002\"}"), 1.0);
    BOOST_CHECK_EQUAL(t.metric("tether_closes_total{route=\"r\",leg=\"upstream\",code=\"1001\"}"), 1.0);
    BOOST_CHECK_EQUAL(t.metric("tether_closes_total{route=\"r\",leg=\"client\",code=\"1000\"}"), 0.0);
  }
}

BOOST_AUTO_TEST_CASE(backend_close_is_credited_to_the_backend) {
  message_log log;
  test_backend backend;
  {
    tether_instance t(config(backend));
    auto c = ws_client::connect(t.port());
    BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
    backend.close_all(4001, "bye");
    auto closed = c->wait_close();
    BOOST_REQUIRE(closed);
    BOOST_CHECK_EQUAL(closed->first, 4001);
    const auto access = log.wait_line({"access ", "client_close=4001", "client_closed_by=\"tether(upstream closed)\"",
                                       "upstream_close=4001", "upstream_closed_by=upstream"});
    BOOST_CHECK_MESSAGE(!access.empty(), "no access line crediting the backend");
    // An application code counts as "other": the label set stays bounded.
    BOOST_CHECK_EQUAL(t.metric("tether_closes_total{route=\"r\",leg=\"upstream\",code=\"other\"}"), 1.0);
    BOOST_CHECK_EQUAL(t.metric("tether_closes_total{route=\"r\",leg=\"client\",code=\"other\"}"), 1.0);
  }
}

BOOST_AUTO_TEST_CASE(failed_handshake_is_logged_with_its_reason) {
  message_log log;
  test_backend backend;
  {
    tether_instance t(config(backend));
    raw_client c(t.port());
    BOOST_REQUIRE(!c.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n"));  // no key
    BOOST_CHECK(c.read_all(2000ms).find(" 400 ") != std::string::npos);
    const auto line = log.wait_line({"main: handshake from 127.0.0.1 failed: bad_request"});
    BOOST_CHECK_MESSAGE(!line.empty(), "no line explains the 400");
  }
}

BOOST_AUTO_TEST_SUITE_END()
