// Hostile backends (issue #16): an upstream that never reads, a 101 with a
// wrong Sec-WebSocket-Accept, masked frames, a 2^63 frame length, close
// codes that must not be sent. Every case runs while a canary session
// echoes every 100 ms through the same tether (its own route and backend);
// none of its echoes may take longer than 1 s.
#include <boost/test/unit_test.hpp>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>

#include "extra_handshake.hpp"
#include "extra_hostile.hpp"
#include "extra_relay.hpp"
#include "test_support.hpp"

using namespace tt;
using namespace tt::hostile;

namespace {

/// What abuse may add to the process's resident memory (ASan included).
constexpr std::size_t rss_bound = 64u << 20;
/// See hostile_clients_test.cpp: high_water plus one read plus slack.
constexpr std::size_t held_bound = 512 * 1024 + 256 * 1024 + 128 * 1024;

/// The request target in a raw request head.
std::string target_of(const std::string& head) {
  const auto sp = head.find(' ');
  return head.substr(sp + 1, head.find(' ', sp + 1) - sp - 1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_backends_test)

BOOST_AUTO_TEST_CASE(upstream_that_never_reads_stops_reading_from_the_client) {
  // The client pushes up to 200 MB toward a backend that reads nothing;
  // tether must stop reading the client and hold no more than held_bound
  // (the bytes in socket buffers on the way are measured, see
  // hostile_clients_test.cpp).
  constexpr std::size_t push_limit = 200u * 1000 * 1000;
  test_backend echo;
  raw_backend backend([](raw_backend& self, int fd, const std::string& head) {
    write_all(fd, raw_backend::accept_answer(head));
    while (!self.stopping()) {
      std::this_thread::sleep_for(20ms);
    }
  });
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  const auto rss_before = rss_bytes();

  const int fd = upgraded_socket(t.port());
  BOOST_REQUIRE(fd >= 0);
  bool stalled = false;
  const auto pushed = push_until_stalled(fd, client_frame(0x82, random_bytes(64 * 1024, 6)), push_limit, 1500ms, stalled);
  const auto queued = kernel_queued({t.port(), backend.port()});
  const auto held = pushed > queued ? pushed - queued : 0;
  const auto unread = unread_bytes(t.port(), local_port(fd));
  BOOST_TEST_MESSAGE("client pushed " << (pushed >> 10) << " KiB; socket buffers hold " << (queued >> 10)
                                      << " KiB; tether holds " << (held >> 10) << " KiB");
  BOOST_CHECK_MESSAGE(stalled, "the client wrote all of " << push_limit << " bytes: tether never pushed back");
  BOOST_CHECK_MESSAGE(held <= held_bound, "tether holds " << held << " bytes (bound " << held_bound << ")");
  BOOST_CHECK_MESSAGE(unread > 0, "tether kept reading from the client");
  const auto rss_after = rss_bytes();
  const auto grew = rss_after > rss_before ? rss_after - rss_before : 0;
  BOOST_TEST_MESSAGE("RSS grew by " << (grew >> 10) << " KiB");
  BOOST_CHECK_MESSAGE(grew < rss_bound, "RSS grew by " << (grew >> 20) << " MiB");
  c.check();
  close_with_reset(fd);
}

BOOST_AUTO_TEST_CASE(bad_101_answers_give_502) {
  // A 101 whose Sec-WebSocket-Accept does not answer tether's key (or is
  // missing) is not a WebSocket: the client gets 502, never a 101.
  test_backend echo;
  raw_backend backend([](raw_backend&, int fd, const std::string& head) {
    const auto t = target_of(head);
    std::string accept;
    if (t == "/wrong-accept") {
      accept = "Sec-WebSocket-Accept: " + hs::ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==") + "\r\n";
    } else if (t == "/garbage-accept") {
      accept = "Sec-WebSocket-Accept: not-base64\r\n";
    }
    write_all(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + accept +
                      "\r\n" + server_frame(0x81, "must not reach the client"));
    read_until(fd, "never", 2000ms);
  });
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  for (const std::string target : {"/wrong-accept", "/garbage-accept", "/no-accept"}) {
    BOOST_TEST_CONTEXT(target) {
      const int fd = tcp_connect(t.port());
      BOOST_REQUIRE(write_all(fd, hs::upgrade_request(target, "127.0.0.1")));
      const auto got = read_until(fd, "\r\n\r\n");
      BOOST_CHECK_EQUAL(got.substr(0, got.find("\r\n")), "HTTP/1.1 502 Bad Gateway");
      BOOST_CHECK(got.find("must not reach") == std::string::npos);
      BOOST_CHECK(wait_closed(fd, 3000ms));
      ::close(fd);
    }
  }
  BOOST_CHECK_EQUAL(t.metric("tether_handshake_failures_total{listener=\"main\",reason=\"upstream_rejected\"}"), 3.0);
  c.check();
}

BOOST_AUTO_TEST_CASE(protocol_errors_from_the_backend_give_1002_upstream_and_1014_to_the_client) {
  // After a good handshake the backend sends one bad frame (chosen by the
  // request target). SPEC 8 / README: the backend gets the RFC code (1002),
  // the client gets 1014 (bad gateway), and nothing of the bad frame is
  // relayed.
  test_backend echo;
  std::mutex mutex;
  std::map<std::string, std::optional<std::uint16_t>> upstream_codes;
  std::string len63 = "\x82\x7F";
  len63 += std::string("\x80\x00\x00\x00\x00\x00\x00\x00", 8);  // 2^63: the top bit must be 0
  const std::map<std::string, std::string> bad = {
      {"/masked", client_frame(0x81, "masked by a server", /*mask=*/true)},
      {"/length-2-63", len63 + "xxxx"},
      {"/close-1005", server_frame(0x88, close_body(1005))},
      {"/close-999", server_frame(0x88, close_body(999))},
      {"/close-5000", server_frame(0x88, close_body(5000))},
      {"/close-1015", server_frame(0x88, close_body(1015))},
  };
  raw_backend backend([&](raw_backend&, int fd, const std::string& head) {
    const auto t = target_of(head);
    write_all(fd, raw_backend::accept_answer(head));
    std::this_thread::sleep_for(100ms);  // the client has its 101 before the bad frame
    write_all(fd, bad.at(t));
    const auto code = read_close_from_proxy(fd, 5000ms);
    std::lock_guard lock(mutex);
    upstream_codes[t] = code;
  });
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  for (const auto& entry : bad) {
    const std::string target = entry.first;
    BOOST_TEST_CONTEXT(target) {
      raw_ws client(t.port(), false, target);
      BOOST_REQUIRE_MESSAGE(client.upgraded(), client.response_head());
      auto f = client.wait_close_frame(5000ms);
      BOOST_REQUIRE_MESSAGE(f, "client got no close frame");
      BOOST_CHECK_EQUAL(close_code_of(f->payload), 1014);
      BOOST_CHECK(!client.send(client_frame(0x88, close_body(1014))));
      BOOST_CHECK(client.wait_eof(5000ms));
      BOOST_REQUIRE(wait_until(
          [&] {
            std::lock_guard lock(mutex);
            return upstream_codes.count(target) == 1;
          },
          6000ms));
      std::lock_guard lock(mutex);
      BOOST_CHECK_MESSAGE(upstream_codes[target] == std::optional<std::uint16_t>(1002),
                          "backend got " << (upstream_codes[target] ? std::to_string(*upstream_codes[target])
                                                                    : std::string("no close frame")));
    }
  }
  BOOST_CHECK(wait_until([&] { return t.metric("tether_sessions_active{route=\"r\"}") == 0; }));
  c.check();
}

BOOST_AUTO_TEST_SUITE_END()
