// Hostile clients (issue #16): slowloris, oversized heads, half-open and
// vanished connections, a client that never reads, control characters in
// header values, Host headers no route names. Every case runs while a
// canary session echoes every 100 ms through the same tether; none of its
// echoes may take longer than 1 s, and tether (in-process) may not grow the
// process's resident memory by more than rss_bound while it is abused.
#include <boost/test/unit_test.hpp>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "extra_handshake.hpp"
#include "extra_hostile.hpp"
#include "extra_relay.hpp"
#include "test_support.hpp"

using namespace tt;
using namespace tt::hostile;

namespace {

using sclock = std::chrono::steady_clock;

/// What abuse may add to the process's resident memory (ASan included).
constexpr std::size_t rss_bound = 64u << 20;
/// tether's bound on bytes it holds for a leg that does not take them: the
/// other leg stops being read at 512 KiB pending (session_relay.cpp
/// high_water), and one read (worker.hpp read_buffer_size, 256 KiB) may
/// land on top; a frame's worth of slack on top of that.
constexpr std::size_t held_bound = 512 * 1024 + 256 * 1024 + 128 * 1024;

void check_rss(std::size_t before) {
  const auto now = rss_bytes();
  const auto grew = now > before ? now - before : 0;
  BOOST_TEST_MESSAGE("RSS grew by " << (grew >> 10) << " KiB");
  BOOST_CHECK_MESSAGE(grew < rss_bound, "RSS grew by " << (grew >> 20) << " MiB (bound "
                                                       << (rss_bound >> 20) << " MiB)");
}

double metric_or_zero(const tether_instance& t, const std::string& series) {
  return std::max(0.0, t.metric(series));
}

/// Connects, sends `bytes`, and returns what tether answered before closing
/// (bounded).
std::string exchange(std::uint16_t port, const std::string& bytes) {
  const int fd = tcp_connect(port);
  BOOST_REQUIRE(fd >= 0);
  write_all(fd, bytes);  // may fail part-way once tether has answered and closed
  auto got = read_until(fd, "\r\n\r\n", 5000ms);
  ::close(fd);
  return got;
}

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

/// A raw backend that answers every upgrade and then holds the connection.
raw_backend holding_backend() {
  return raw_backend([](raw_backend& self, int fd, const std::string& head) {
    write_all(fd, raw_backend::accept_answer(head));
    while (!self.stopping()) {
      std::this_thread::sleep_for(20ms);
    }
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hostile_clients_test)

BOOST_AUTO_TEST_CASE(slowloris_handshakes_are_cut_at_handshake_timeout) {
  // 1,000 connections that send part of an upgrade request and then dribble
  // one header byte per connection every 100 ms: the dribble must not move
  // the deadline, so each is cut about handshake_timeout (1 s) after it came.
  constexpr std::size_t n = 1000;
  BOOST_REQUIRE_GE(raise_fd_limit(4 * n + 1024), 2 * n + 512);  // ours and tether's ends
  test_backend echo;
  tether_instance t(tether_yaml(echo, route("r", echo.url()), "defaults: {limits: {handshake_timeout: 1s}}\n"));
  canary c(t.port());
  const auto rss_before = rss_bytes();

  struct loris {
    int fd = -1;
    sclock::time_point opened;
    sclock::time_point cut{};
    bool open = true;
  };
  std::vector<loris> lorises;
  lorises.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const int fd = tcp_connect(t.port());
    BOOST_REQUIRE_MESSAGE(fd >= 0, "connect " << i << " failed: " << std::strerror(errno));
    BOOST_REQUIRE(write_all(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow: "));
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    loris l;
    l.fd = fd;
    l.opened = sclock::now();
    lorises.push_back(l);
  }
  std::size_t open = n;
  const auto give_up = sclock::now() + 20s;
  while (open > 0 && sclock::now() < give_up) {
    for (auto& l : lorises) {
      if (!l.open) {
        continue;
      }
      char buf[512];
      const auto r = ::recv(l.fd, buf, sizeof buf, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        l.open = false;
        l.cut = sclock::now();
        --open;
        continue;
      }
      ::send(l.fd, "a", 1, MSG_NOSIGNAL);
    }
    std::this_thread::sleep_for(100ms);
  }
  ms earliest = 1h, latest = 0ms;
  for (auto& l : lorises) {
    if (!l.open) {
      const auto lived = std::chrono::duration_cast<ms>(l.cut - l.opened);
      earliest = std::min(earliest, lived);
      latest = std::max(latest, lived);
    }
    ::close(l.fd);
  }
  BOOST_TEST_MESSAGE("slowloris connections lived " << earliest.count() << " to " << latest.count() << " ms");
  BOOST_CHECK_MESSAGE(open == 0, open << " of " << n << " slow handshakes still open after 20 s");
  BOOST_CHECK_MESSAGE(earliest >= 700ms, "a slow handshake was cut after " << earliest.count()
                                                                           << " ms, before handshake_timeout");
  BOOST_CHECK_MESSAGE(latest <= 8000ms, "a slow handshake lived " << latest.count() << " ms (timeout 1 s)");
  BOOST_CHECK_GE(metric_or_zero(t, "tether_handshake_failures_total{listener=\"main\",reason=\"timeout\"}"),
                 static_cast<double>(n));
  BOOST_CHECK_EQUAL(echo.handshakes().size(), 1u);  // the canary's only
  check_rss(rss_before);
  c.check();
}

BOOST_AUTO_TEST_CASE(oversized_request_heads_get_431) {
  // tether reads at most 16 KiB of request head (session.cpp
  // max_request_header). Beyond it: 431 Request Header Fields Too Large, as
  // Envoy answers (RFC 6585), for a long header, many headers, a long
  // request line, and a head that never ends; nothing reaches the backend.
  test_backend echo;
  auto backend = holding_backend();
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  const auto rss_before = rss_bytes();

  std::string many;
  for (int i = 0; i < 200; ++i) {
    many += "X-Many-" + std::to_string(i) + ": " + std::string(100, 'm') + "\r\n";
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"one 20 KiB header", hs::upgrade_request("/", "127.0.0.1", "X-Big: " + std::string(20 * 1024, 'b') + "\r\n")},
      {"200 headers of 100 bytes", hs::upgrade_request("/", "127.0.0.1", many)},
      {"20 KiB request target", hs::upgrade_request("/" + std::string(20 * 1024, 't'), "127.0.0.1")},
      {"plain GET with a 20 KiB header",
       "GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20 * 1024, 'b') + "\r\n\r\n"},
      {"a head that never ends (1 MiB)",
       "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: " + std::string(1 << 20, 'e')},
  };
  for (const auto& [what, bytes] : cases) {
    BOOST_TEST_CONTEXT(what) {
      const auto got = exchange(t.port(), bytes);
      BOOST_CHECK_EQUAL(status_line(got), "HTTP/1.1 431 Request Header Fields Too Large");
    }
  }
  // Just under the limit still passes (the limit is where it says).
  const auto fits = exchange(t.port(), hs::upgrade_request("/", "127.0.0.1", "X-Big: " + std::string(15 * 1024, 'b') + "\r\n"));
  BOOST_CHECK_EQUAL(status_line(fits), "HTTP/1.1 101 Switching Protocols");
  BOOST_CHECK(wait_until([&] { return backend.accepted() == 1; }, 3000ms));
  BOOST_CHECK_EQUAL(backend.accepted(), 1u);
  check_rss(rss_before);
  c.check();
}

BOOST_AUTO_TEST_CASE(half_open_and_vanished_clients_end_only_their_session) {
  // The route's clients are pinged after 200 ms of silence and dead 400 ms
  // later; a long handshake_timeout shows that a half-closed handshake ends
  // on its FIN, not on the timer.
  test_backend echo;
  test_backend backend;
  tether_instance t(tether_yaml(
      echo, route("r", backend.url(), "    heartbeat: {client: {ping_interval: 200ms, pong_timeout: 400ms}}\n"),
      "defaults: {limits: {handshake_timeout: 30s}}\n"));
  canary c(t.port());
  const auto rss_before = rss_bytes();
  std::size_t closes = 0;
  auto upgraded = [&] {
    const int fd = tcp_connect(t.port());
    BOOST_REQUIRE(fd >= 0);
    BOOST_REQUIRE(write_all(fd, hs::upgrade_request("/", "127.0.0.1")));
    const auto head = read_until(fd, "\r\n\r\n");
    BOOST_REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101", 0) == 0, head);
    return fd;
  };
  auto backend_got_1001 = [&](const char* what) {
    ++closes;
    BOOST_REQUIRE_MESSAGE(backend.wait_closes(closes, 5000ms), what << ": backend got no close frame");
    BOOST_CHECK_MESSAGE(backend.closes()[closes - 1].first == 1001,
                        what << ": backend got " << backend.closes()[closes - 1].first);
  };
  const auto handshakes = [&] { return backend.handshakes().size(); };

  {  // FIN right after the upgrade: the client is gone, the backend gets 1001.
    const int fd = upgraded();
    ::shutdown(fd, SHUT_WR);
    backend_got_1001("FIN after upgrade");
    BOOST_CHECK_MESSAGE(wait_closed(fd, 5000ms), "tether kept a half-closed client open");
    ::close(fd);
  }
  {  // FIN in the middle of the request head: ended at once, nothing upstream.
    const auto before = handshakes();
    const int fd = tcp_connect(t.port());
    BOOST_REQUIRE(write_all(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs"));
    ::shutdown(fd, SHUT_WR);
    const auto start = sclock::now();
    BOOST_CHECK_MESSAGE(wait_closed(fd, 5000ms), "tether kept a half-sent handshake open");
    BOOST_CHECK(sclock::now() - start < 5s);
    ::close(fd);
    BOOST_CHECK_EQUAL(handshakes(), before);
  }
  {  // Gone without FIN or reset after the upgrade: found dead by heartbeat.
    const int fd = upgraded();
    backend_got_1001("silent client");
    BOOST_CHECK_EQUAL(metric_or_zero(t, "tether_heartbeat_timeouts_total{route=\"r\",leg=\"client\"}"), 1.0);
    BOOST_CHECK_MESSAGE(wait_closed(fd, 5000ms), "tether kept a dead client's connection");
    ::close(fd);
  }
  {  // Reset (SO_LINGER 0) after the upgrade, while the backend is sending.
    const int fd = upgraded();
    BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
    for (int i = 0; i < 50; ++i) {
      backend.send_all({false, std::string(16 * 1024, 'x')});
    }
    close_with_reset(fd);
    backend_got_1001("reset after upgrade");
  }
  {  // Reset in the middle of the request head.
    const auto before = handshakes();
    const int fd = tcp_connect(t.port());
    BOOST_REQUIRE(write_all(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConn"));
    close_with_reset(fd);
    std::this_thread::sleep_for(300ms);
    BOOST_CHECK_EQUAL(handshakes(), before);
  }
  BOOST_CHECK_MESSAGE(wait_until([&] { return t.metric("tether_sessions_active{route=\"r\"}") == 0; }),
                      "a session of the route is still active");
  BOOST_CHECK_EQUAL(backend.closes().size(), closes);
  check_rss(rss_before);
  c.check();
}

BOOST_AUTO_TEST_CASE(client_that_never_reads_stops_reading_from_the_backend) {
  // The backend pushes up to 200 MB toward a client that reads nothing.
  // Every byte the backend wrote is in a socket buffer on the way or held
  // by tether; the socket buffers are measured (the sockets of both legs
  // are in this process), so what tether holds is known: it must stay
  // under held_bound, and tether's upstream socket must be left unread.
  constexpr std::size_t push_limit = 200u * 1000 * 1000;
  test_backend echo;
  std::atomic<std::size_t> pushed{0};
  std::atomic<bool> stalled{false}, done{false};
  const auto frame = client_frame(0x82, random_bytes(64 * 1024, 5), /*mask=*/false);
  raw_backend backend([&](raw_backend& self, int fd, const std::string& head) {
    write_all(fd, raw_backend::accept_answer(head));
    bool s = false;
    pushed = push_until_stalled(fd, frame, push_limit, 1500ms, s);
    stalled = s;
    done = true;
    while (!self.stopping()) {
      std::this_thread::sleep_for(20ms);
    }
  });
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  const auto rss_before = rss_bytes();

  const int fd = upgraded_socket(t.port());
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE_MESSAGE(wait_until([&] { return done.load(); }, 60000ms), "the backend's push did not end");
  const auto queued = kernel_queued({t.port(), backend.port()});
  const auto held = pushed > queued ? pushed - queued : 0;
  const auto unread = unread_bytes(0, backend.port());
  BOOST_TEST_MESSAGE("backend pushed " << (pushed >> 10) << " KiB; socket buffers hold " << (queued >> 10)
                                       << " KiB; tether holds " << (held >> 10) << " KiB");
  BOOST_CHECK_MESSAGE(stalled, "the backend wrote all of " << push_limit << " bytes: tether never pushed back");
  BOOST_CHECK_MESSAGE(held <= held_bound, "tether holds " << held << " bytes (bound " << held_bound << ")");
  BOOST_CHECK_MESSAGE(unread > 0, "tether kept reading from the backend");
  check_rss(rss_before);
  c.check();
  close_with_reset(fd);
}

BOOST_AUTO_TEST_CASE(ping_flood_from_a_client_that_never_reads_is_bounded) {
  // tether answers every ping itself. A client that sends 200 MB of pings
  // and reads none of the pongs must not make tether queue 190 MB of pongs:
  // while its output waits, only the latest ping keeps a pong (RFC 6455
  // 5.5.3). Counted on the wire: when the client finally reads, what comes
  // before the last ping's pong is what the socket buffers held (at most
  // tcp_wmem + tcp_rmem max, 36 MiB here) plus tether's 64 KiB. (RSS is no
  // measure here: ASan's quarantine keeps 256 MB of freed per-ping
  // allocations resident; with quarantine_size_mb=0 RSS grew by 6.6 MB.)
  constexpr std::size_t push_limit = 200u * 1000 * 1000;
  test_backend echo;
  test_backend backend;
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  const auto rss_before = rss_bytes();

  const int fd = upgraded_socket(t.port());
  BOOST_REQUIRE(fd >= 0);
  std::string pings;
  for (int i = 0; i < 500; ++i) {
    pings += client_frame(0x89, std::string(125, 'p'));
  }
  bool stalled = false;
  const auto pushed = push_until_stalled(fd, pings, push_limit, 1500ms, stalled);
  BOOST_TEST_MESSAGE("client pushed " << (pushed >> 10) << " KiB of pings" << (stalled ? " (stalled)" : ""));
  (void)rss_before;
  // The push stops at its byte limit, most likely inside a ping: finish that
  // one, or "last" below would be read as the rest of its payload.
  if (const auto into = pushed % pings.size(); into != 0) {
    BOOST_REQUIRE(write_all(fd, pings.substr(into)));
  }
  // A last, different ping: its pong must come, after what tether still holds.
  BOOST_REQUIRE(write_all(fd, client_frame(0x89, "last")));
  std::string got;
  std::size_t received = 0;
  bool last_pong = false;
  const auto end = sclock::now() + 20s;
  char buf[65536];
  while (!last_pong && sclock::now() < end) {
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      received += static_cast<std::size_t>(n);
      got.append(buf, static_cast<std::size_t>(n));
      last_pong = got.find(std::string("\x8A\x04last", 6)) != std::string::npos;
      if (got.size() > (1u << 20)) {
        got.erase(0, got.size() - 16);
      }
    } else {
      std::this_thread::sleep_for(5ms);
    }
  }
  BOOST_CHECK_MESSAGE(last_pong, "no pong for the last ping");
  BOOST_TEST_MESSAGE("client read " << (received >> 10) << " KiB of pongs");
  BOOST_CHECK_MESSAGE(received < (48u << 20), "tether queued " << received << " bytes of pongs");
  c.check();
  close_with_reset(fd);
  BOOST_CHECK(backend.messages().empty());
}

BOOST_AUTO_TEST_CASE(control_characters_in_header_values_get_400) {
  // CR, LF or NUL inside a header value (header injection, request
  // smuggling) is rejected with 400 as nginx and Envoy do, on upgrades and
  // on plain HTTP; nothing reaches the backend.
  test_backend echo;
  auto backend = holding_backend();
  tether_instance t(tether_yaml(echo, route("r", backend.url())));
  canary c(t.port());
  const std::vector<std::pair<std::string, std::string>> values = {
      {"bare CR", "a\rX-Injected: 1"},
      {"bare LF", "a\nX-Injected: 1"},
      {"NUL", std::string("a\0b", 3)},
      {"CR at the end", "a\r"},
      {"DEL", "a\x7f"},
  };
  for (const auto& [what, value] : values) {
    BOOST_TEST_CONTEXT(what) {
      const auto up = exchange(t.port(), hs::upgrade_request("/", "127.0.0.1", "X-Evil: " + value + "\r\n"));
      BOOST_CHECK_EQUAL(status_line(up), "HTTP/1.1 400 Bad Request");
      const auto plain = exchange(t.port(), "GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: " + value + "\r\n\r\n");
      BOOST_CHECK_EQUAL(status_line(plain), "HTTP/1.1 400 Bad Request");
      const auto host = exchange(t.port(), hs::upgrade_request("/", "127.0.0.1" + value));
      BOOST_CHECK_EQUAL(status_line(host), "HTTP/1.1 400 Bad Request");
    }
  }
  std::this_thread::sleep_for(200ms);
  BOOST_CHECK_EQUAL(backend.accepted(), 0u);
  c.check();
}

BOOST_AUTO_TEST_CASE(host_no_route_names_gets_404_and_reaches_no_backend) {
  // Routes choose by host only: a Host that none names gets 404, upgrade or
  // not, and no backend sees a connection.
  test_backend echo;
  auto backend = holding_backend();
  tether_instance t(tether_yaml(echo, route("app", backend.url(), "    match: {host: \"app.test\"}\n")));
  canary c(t.port());
  for (const std::string host : {"other.test", "evil.app.test", "app.test.evil", "127.0.0.1", "canary.test.app.test"}) {
    BOOST_TEST_CONTEXT(host) {
      BOOST_CHECK_EQUAL(status_line(exchange(t.port(), hs::upgrade_request("/", host))), "HTTP/1.1 404 Not Found");
      BOOST_CHECK_EQUAL(status_line(exchange(t.port(), "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n")),
                        "HTTP/1.1 404 Not Found");
    }
  }
  std::this_thread::sleep_for(200ms);
  BOOST_CHECK_EQUAL(backend.accepted(), 0u);
  BOOST_CHECK_EQUAL(echo.handshakes().size(), 1u);  // the canary's own
  // The route itself works (the backend would have seen a misrouted request).
  BOOST_CHECK_EQUAL(status_line(exchange(t.port(), hs::upgrade_request("/", "app.test:8080"))),
                    "HTTP/1.1 101 Switching Protocols");
  BOOST_CHECK(wait_until([&] { return backend.accepted() == 1; }, 3000ms));
  c.check();
}

BOOST_AUTO_TEST_SUITE_END()
