// A client's TLS 1.3 records after tether takes them over from OpenSSL
// (proxy/tls/record_stream.cpp): the handoff happens, data, KeyUpdate and
// close_notify work across it, and a forged record ends only its session.
#include <boost/test/unit_test.hpp>
#include <openssl/ssl.h>

#include <atomic>

#include "extra_relay.hpp"
#include "test_modes.hpp"
#include "test_support.hpp"
#include "tls/record_stream.hpp"

using namespace tt;

namespace {

/// A wss:// client whose session has relayed one echo: its records are tether's.
std::unique_ptr<raw_client> relaying_tls_client(std::uint16_t port) {
  auto c = std::make_unique<raw_client>(port, true);
  BOOST_REQUIRE(c->connected());
  BOOST_REQUIRE(c->upgrade().find(" 101 ") != std::string::npos);
  BOOST_REQUIRE(!c->send_text("fine so far"));
  BOOST_REQUIRE(c->read_message());
  return c;
}

/// Handoffs a test expects: none when the suite runs with record_offload off.
std::uint64_t handoffs(std::uint64_t legs) { return record_offload_on() ? legs : 0; }

std::string route_yaml(const test_backend& b) {
  return "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n";
}

/// Sends `rounds` messages of `size` random bytes, each echoed whole, then
/// closes with 1000 and expects 1000 back.
void echo_big_then_close(ws_client& c, std::size_t size, int rounds) {
  const auto big = random_bytes(size, static_cast<std::uint32_t>(size));
  for (int i = 0; i < rounds; ++i) {
    BOOST_REQUIRE(!c.send_binary(big));
    auto echo = c.read(20000ms);
    BOOST_REQUIRE(echo);
    BOOST_CHECK(echo->data == big);
  }
  BOOST_REQUIRE(!c.close(1000, "bye"));
  auto closed = c.wait_close();
  BOOST_REQUIRE(closed);
  BOOST_CHECK_EQUAL(closed->first, 1000);
}

/// Counts KeyUpdate messages a client's SSL receives.
std::atomic<int> key_updates_received{0};

void count_key_updates(int write_p, int, int content_type, const void* buf, std::size_t len, SSL*,
                       void*) {
  if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
      static_cast<const std::uint8_t*>(buf)[0] == SSL3_MT_KEY_UPDATE) {
    ++key_updates_received;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_records_test)

BOOST_AUTO_TEST_CASE(records_leave_openssl_once_the_relay_starts) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  const auto before = tether::record_stream::handoffs();
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(!c->send_text("hello"));
  auto m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK(*m == (message{true, "hello"}));
  BOOST_CHECK_EQUAL(tether::record_stream::handoffs() - before, handoffs(1));
  // Many records each way, in pieces the sockets split as they like.
  echo_big_then_close(*c, 1000 * 1024 + 7, 1);
}

BOOST_AUTO_TEST_CASE(client_key_update_is_answered_and_followed_both_ways) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  const auto before = tether::record_stream::handoffs();
  raw_client c(t.port(), true);
  BOOST_REQUIRE(c.connected());
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  BOOST_REQUIRE(!c.send_text("one"));
  auto m = c.read_message();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "one");
  BOOST_REQUIRE_EQUAL(tether::record_stream::handoffs() - before, handoffs(1));

  key_updates_received = 0;
  SSL_set_msg_callback(c.native_ssl(), &count_key_updates);
  // The client's next record carries its KeyUpdate; tether must read on
  // with the new key, answer with its own KeyUpdate and write with its new key.
  BOOST_REQUIRE_EQUAL(SSL_key_update(c.native_ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  BOOST_REQUIRE(!c.send_text("two"));
  m = c.read_message();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "two");
  BOOST_CHECK_EQUAL(key_updates_received.load(), 1);
  // An update the client does not ask tether to match: only its read key moves.
  BOOST_REQUIRE_EQUAL(SSL_key_update(c.native_ssl(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  BOOST_REQUIRE(!c.send_text("three"));
  m = c.read_message();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "three");
  BOOST_CHECK_EQUAL(key_updates_received.load(), 1);
  BOOST_REQUIRE(backend.wait_messages(3));
  BOOST_CHECK_EQUAL(backend.messages()[2].data, "three");
}

BOOST_AUTO_TEST_CASE(forged_record_ends_only_its_session) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto owner = relaying_tls_client(t.port());
  raw_client& bad = *owner;
  // An application-data record whose tag cannot verify.
  BOOST_REQUIRE(
      !bad.write_below_tls(std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'x')));
  bad.read_all(3000ms);
  BOOST_CHECK(bad.eof());
  BOOST_REQUIRE(backend.wait_closes(1));

  auto good = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(!good->send_text("still here"));
  auto m = good->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "still here");
}

BOOST_AUTO_TEST_CASE(oversized_record_ends_its_session) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto owner = relaying_tls_client(t.port());
  raw_client& bad = *owner;
  // A header announcing more than 2^14 + 256 bytes of record body.
  BOOST_REQUIRE(!bad.write_below_tls(std::string("\x17\x03\x03\x41\x01", 5)));
  bad.read_all(3000ms);
  BOOST_CHECK(bad.eof());
}

BOOST_AUTO_TEST_CASE(wss_upstream_leg_hands_off_too) {
  // tether is the TLS client here: the backend's session tickets and its
  // records before and after the handoff must all be accounted for, and a
  // ticket that comes after it (one ahead of every echo) passed over.
  test_backend backend({.tls = true, .ticket_before_each_message = true});
  tether_instance t(listener_yaml(true) + "routes:\n  - name: r\n    upstream:\n      url: \"" +
                    backend.url() + "\"\n      tls: {ca: " + cert_path("ca.crt") + "}\n");
  const auto before = tether::record_stream::handoffs();
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(!c->send_text("hello"));
  auto m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK_EQUAL(m->data, "hello");
  BOOST_CHECK_EQUAL(tether::record_stream::handoffs() - before, handoffs(2));
  echo_big_then_close(*c, 700 * 1024 + 3, 3);
  BOOST_REQUIRE(backend.wait_closes(1));
}

BOOST_AUTO_TEST_CASE(wss_upstream_tickets_spanning_records_are_passed_over) {
  // 3 KB tickets in records of at most 512 bytes: every ticket the backend
  // sends, around the handoff and after it, arrives in pieces, some with the
  // handshake header itself split.
  test_backend backend({.tls = true, .ticket_before_each_message = true, .split_tickets = true});
  tether_instance t(listener_yaml(true) + "routes:\n  - name: r\n    upstream:\n      url: \"" +
                    backend.url() + "\"\n      tls: {ca: " + cert_path("ca.crt") + "}\n");
  const auto before = tether::record_stream::handoffs();
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  for (int i = 0; i < 5; ++i) {
    const std::string text = "hello " + std::to_string(i);
    BOOST_REQUIRE(!c->send_text(text));
    auto m = c->read();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, text);
  }
  BOOST_CHECK_EQUAL(tether::record_stream::handoffs() - before, handoffs(2));
  echo_big_then_close(*c, 100 * 1024 + 3, 2);
  BOOST_REQUIRE(backend.wait_closes(1));
}

BOOST_AUTO_TEST_CASE(tls12_session_stays_with_openssl_and_works) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  const auto before = tether::record_stream::handoffs();
  raw_client c(t.port(), true, TLS1_2_VERSION);
  BOOST_REQUIRE(c.connected());
  BOOST_REQUIRE_EQUAL(SSL_version(c.native_ssl()), TLS1_2_VERSION);
  BOOST_REQUIRE(c.upgrade().find(" 101 ") != std::string::npos);
  for (const char* text : {"one", "two"}) {
    BOOST_REQUIRE(!c.send_text(text));
    auto m = c.read_message();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, text);
  }
  BOOST_CHECK_EQUAL(tether::record_stream::handoffs(), before);
}

BOOST_AUTO_TEST_SUITE_END()
