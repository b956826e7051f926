// KeyUpdates on tether's own TLS 1.3 record layer (tls/record_stream.cpp)
// from a peer that sends and never reads: at most one reply waits (RFC 8446
// 4.6.3 lets one reply answer many requests), and reading stops while it
// waits. The transport is driven by hand over a socketpair, where the two
// directions are independent queues: over loopback TCP a peer whose receive
// queue is full soon stops sending by itself, which hides what tether does
// (tls_record_rules_test's flood shows that end to end).
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <future>

#include "test_support.hpp"
#include "tls13_peer.hpp"
#include "tls/tls_context.hpp"
#include "io/byte_stream.hpp"
#include "http/transport.hpp"

using namespace tt;

namespace {

using io_status = tether::io_status;

/// A TLS 1.3 session accepted by a tether transport on one end of a
/// socketpair, past the handshake and detached from asio; a tls13_peer
/// client on the other end.
struct offloaded {
  boost::asio::io_context ioc;
  std::shared_ptr<tether::server_tls> tls;
  std::unique_ptr<tether::transport> handshake;
  std::unique_ptr<tether::byte_stream> io;
  std::unique_ptr<tls13_peer> peer;
  std::array<std::uint8_t, 64 * 1024> buf{};

  offloaded() {
    int sv[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    tether::listener_tls_config cfg;
    cfg.cert = cert_path("server-chain.crt");
    cfg.key = cert_path("server.key");
    cfg.min_version = "1.3";
    std::string error;
    tls = tether::server_tls::make(cfg, error);
    BOOST_REQUIRE_MESSAGE(tls, error);
    boost::asio::ip::tcp::socket s(ioc);
    s.assign(boost::asio::ip::tcp::v4(), sv[0]);
    handshake = std::make_unique<tether::transport>(std::move(s));
    auto client = std::async(std::launch::async, [fd = sv[1]] { return tls13_peer::connect_fd(fd); });
    bool done = false;
    boost::system::error_code hs;
    boost::asio::co_spawn(ioc, handshake->tls_accept(tls->context()),
                          [&](std::exception_ptr, boost::system::error_code ec) {
                            hs = ec;
                            done = true;
                          });
    ioc.run_for(5s);
    BOOST_REQUIRE(done);
    BOOST_REQUIRE_MESSAGE(!hs, hs.message());
    peer = client.get();
    BOOST_REQUIRE(peer);
    io = handshake->release();
    BOOST_REQUIRE(io->fd() >= 0);
    // The relay's stream: tether's records, handed over from OpenSSL.
    auto records = io->successor();
    BOOST_REQUIRE(records);
    io = std::move(records);
  }

  /// Reads until the transport has nothing more to give; the last status.
  io_status drain(std::size_t& plain) {
    for (;;) {
      std::size_t n = 0;
      boost::system::error_code ec;
      const auto st = io->read(buf, n, ec);
      BOOST_REQUIRE_MESSAGE(st != io_status::error && st != io_status::eof, ec.message());
      if (st != io_status::done) {
        return st;
      }
      plain += n;
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(key_update_backpressure_test)

BOOST_AUTO_TEST_CASE(requests_while_a_reply_waits_share_it_and_stop_the_reading) {
  offloaded s;
  // Each round: as many [KeyUpdate(update_requested), one data byte] pairs
  // as the socket takes, then the transport reads all it can. The data byte
  // keeps the run of records without data short (that has its own bound).
  constexpr std::size_t budget = 32 * 1024 * 1024;
  std::size_t sent = 0;
  std::size_t plain = 0;
  int requests = 0;
  std::string pending;
  auto st = io_status::done;
  int stuck_rounds = 0;
  while (sent < budget && stuck_rounds < 3) {
    std::size_t round = 0;
    for (;;) {
      if (pending.empty()) {
        for (int i = 0; i < 64; ++i) {
          pending += s.peer->seal(tls13_peer::handshake, std::string("\x18\x00\x00\x01\x01", 5));
          s.peer->update_write_key();
          pending += s.peer->seal(tls13_peer::application_data, "x");
        }
      }
      std::size_t n = 0;
      if (!s.peer->try_send_raw(pending, n)) {
        break;
      }
      pending.erase(0, n);
      round += n;
      if (pending.empty()) {
        requests += 64;
      }
    }
    sent += round;
    st = s.drain(plain);
    stuck_rounds = round == 0 && st == io_status::want_write ? stuck_rounds + 1 : 0;
  }
  BOOST_TEST_MESSAGE(requests << " requests, " << sent << " bytes sent before the peer blocked, "
                              << plain << " data bytes read");
  // Reading stopped: the peer's bytes sit unread, and the transport asks
  // to write before it reads again.
  BOOST_REQUIRE_MESSAGE(sent < budget, "the transport kept reading " << sent << " bytes");
  BOOST_CHECK(st == io_status::want_write);

  // The peer reads what came: one reply per stretch in which the socket
  // took replies, not one per request read (each request's data byte
  // follows it, so `plain` counts the requests read).
  while (s.peer->read_record(100ms)) {
  }
  const int replies = s.peer->key_updates_received();
  BOOST_TEST_MESSAGE(replies << " replies to the " << plain << " requests read");
  BOOST_CHECK_GE(replies, 1);
  BOOST_CHECK_LT(replies, static_cast<int>(plain) / 2);

  // The peer reads from now on: every request gets processed, and the
  // session goes on under the keys both sides moved to.
  std::size_t rounds = 0;
  while ((!pending.empty() || plain < static_cast<std::size_t>(requests)) && rounds++ < 2000) {
    while (s.peer->read_record(5ms)) {
    }
    std::size_t n = 0;
    if (!pending.empty() && s.peer->try_send_raw(pending, n)) {
      pending.erase(0, n);
      if (pending.empty()) {
        requests += 64;
      }
    }
    s.drain(plain);
  }
  while (s.peer->read_record(100ms)) {
  }
  BOOST_TEST_MESSAGE(s.peer->key_updates_received() << " replies to " << requests << " requests");
  BOOST_CHECK_EQUAL(plain, static_cast<std::size_t>(requests));
  BOOST_CHECK_LT(s.peer->key_updates_received(), requests);
  BOOST_REQUIRE(s.peer->send(tls13_peer::application_data, "after"));
  std::size_t n = 0;
  boost::system::error_code ec;
  io_status last = io_status::want_read;
  for (int i = 0; i < 100 && last != io_status::done; ++i) {
    last = s.io->read(s.buf, n, ec);
  }
  BOOST_REQUIRE(last == io_status::done);
  BOOST_CHECK_EQUAL(std::string(reinterpret_cast<const char*>(s.buf.data()), n), "after");
  BOOST_REQUIRE(s.io->write(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>("back"), 4), n, ec) == io_status::done);
  BOOST_CHECK_EQUAL(s.peer->read_app(4, 1000ms), "back");
}

BOOST_AUTO_TEST_SUITE_END()
