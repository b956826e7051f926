// Message relay through tether: content, type and order both ways, over
// ws:// and wss://, fragmented and large messages, close codes both ways.
#include <boost/test/unit_test.hpp>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <thread>

#include "extra_hostile.hpp"
#include "extra_relay.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

std::string route_yaml(const test_backend& b, const std::string& extra = {}) {
  return "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n" + extra;
}

/// TCP_NODELAY of each connected IPv4 socket of this process (tether runs
/// in-process) with that local port, or with that remote port (0: no match).
std::vector<int> nodelay_of_sockets(std::uint16_t local_port, std::uint16_t peer_port) {
  std::vector<int> out;
  hostile::for_each_tcp_socket([&](std::uint16_t local, std::uint16_t peer, int fd) {
    if ((local_port != 0 && local == local_port) || (peer_port != 0 && peer == peer_port)) {
      int on = 0;
      socklen_t len = sizeof on;
      ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len);
      out.push_back(on);
    }
  });
  return out;
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

// ---------------------------------------------------------------------------
// Fragmentation, sizes, byte values, control frames, empty messages.

BOOST_AUTO_TEST_CASE(fragmented_client_message_arrives_whole) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->send_fragmented(true, {"Hel", "lo, ", "w\xC3", "\xB6rld"}));  // UTF-8 split across frames
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages()[0] == (message{true, "Hello, w\xC3\xB6rld"}));
  auto echo = c->read();
  BOOST_REQUIRE(echo);
  BOOST_CHECK(*echo == (message{true, "Hello, w\xC3\xB6rld"}));
  BOOST_REQUIRE(!c->send_text("next"));
  BOOST_REQUIRE(backend.wait_messages(2));
  BOOST_CHECK_EQUAL(backend.messages().size(), 2u);  // the fragments were one message
  BOOST_CHECK(backend.messages()[1] == (message{true, "next"}));
}

BOOST_AUTO_TEST_CASE(large_fragmented_binary_client_message_arrives_whole) {
  // Fragments above the 64 KiB hold limit are streamed through piecewise.
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  const auto a = random_bytes(100 * 1024, 1);
  const auto b = random_bytes(70 * 1024, 2);
  const auto d = random_bytes(10, 3);
  BOOST_REQUIRE(!c->send_fragmented(false, {a, b, d}));
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_REQUIRE_EQUAL(backend.messages().size(), 1u);
  BOOST_CHECK(!backend.messages()[0].text);
  BOOST_CHECK(backend.messages()[0].data == a + b + d);
  auto echo = c->read();
  BOOST_REQUIRE(echo);
  BOOST_CHECK(!echo->text);
  BOOST_CHECK(echo->data == a + b + d);
}

BOOST_AUTO_TEST_CASE(fragmented_backend_message_reaches_client_whole) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  // Text non-FIN, a ping between the fragments, continuation, continuation FIN.
  backend.send_raw_all(server_frame(0x01, "abc") + server_frame(0x89, "p") + server_frame(0x00, "def") +
                       server_frame(0x80, "g\xC3\xA9"));
  auto m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK(*m == (message{true, "abcdefg\xC3\xA9"}));
  // Binary in two fragments, then a whole message right behind it.
  backend.send_raw_all(server_frame(0x02, std::string("\x00\x01", 2)) + server_frame(0x80, "\xFF") +
                       server_frame(0x81, "single"));
  auto m2 = c->read();
  auto m3 = c->read();
  BOOST_REQUIRE(m2 && m3);
  BOOST_CHECK(*m2 == (message{false, std::string("\x00\x01\xFF", 3)}));
  BOOST_CHECK(*m3 == (message{true, "single"}));
  BOOST_CHECK_EQUAL(c->pings_received(), 0u);  // the backend's ping was answered by tether, not relayed
}

BOOST_AUTO_TEST_CASE(large_fragmented_backend_message_reaches_client_whole) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  const auto a = random_bytes(70 * 1024, 4);
  const auto b = random_bytes(90 * 1024, 5);
  backend.send_raw_all(server_frame(0x02, a) + server_frame(0x80, b));
  auto m = c->read();
  BOOST_REQUIRE(m);
  BOOST_CHECK(!m->text);
  BOOST_CHECK_EQUAL(m->data.size(), a.size() + b.size());
  BOOST_CHECK(m->data == a + b);
}

BOOST_AUTO_TEST_CASE(one_mib_messages_both_directions_byte_exact) {
  // 1 MiB is the default max_message_size: exactly that much must pass.
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  const auto bin = random_bytes(1024 * 1024, 7);
  std::string text;
  for (std::size_t i = 0; i < 512 * 1024; ++i) {
    text += "\xC3\xA9";  // 2-byte UTF-8 characters, so frame pieces split characters
  }
  BOOST_REQUIRE_EQUAL(text.size(), 1024u * 1024u);
  BOOST_REQUIRE(!c->send_binary(bin));
  BOOST_REQUIRE(!c->send_text(text));
  auto e1 = c->read(10000ms);
  auto e2 = c->read(10000ms);
  BOOST_REQUIRE(e1 && e2);
  BOOST_CHECK(!e1->text);
  BOOST_CHECK(e1->data == bin);
  BOOST_CHECK(e2->text);
  BOOST_CHECK(e2->data == text);
  BOOST_REQUIRE(backend.wait_messages(2));
  BOOST_CHECK(backend.messages()[0] == (message{false, bin}));
  BOOST_CHECK(backend.messages()[1] == (message{true, text}));
  BOOST_CHECK(c->is_open());
}

BOOST_AUTO_TEST_CASE(frames_of_32_to_64_kib_pass_byte_exact_over_wss) {
  // From 32 KiB a whole frame is written straight from the read buffer,
  // header and client mask as received; below, it is copied as received.
  // Either way the backend must see the client's bytes and the client the
  // backend's, pipelined and in order.
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  const std::vector<std::size_t> sizes = {32767, 32768, 49155, 65535, 65536};
  std::vector<message> sent;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    sent.push_back({false, random_bytes(sizes[i], static_cast<std::uint32_t>(40 + i))});
    sent.push_back({true, std::string(sizes[i], static_cast<char>('a' + i))});
  }
  for (const auto& m : sent) {
    BOOST_REQUIRE(!(m.text ? c->send_text(m.data) : c->send_binary(m.data)));
  }
  for (std::size_t i = 0; i < sent.size(); ++i) {
    auto echo = c->read(10000ms);
    BOOST_REQUIRE_MESSAGE(echo, "echo " << i << " missing");
    BOOST_CHECK_MESSAGE(*echo == sent[i], "echo " << i << " differs");
  }
  BOOST_REQUIRE(backend.wait_messages(sent.size()));
  for (std::size_t i = 0; i < sent.size(); ++i) {
    BOOST_CHECK_MESSAGE(backend.messages()[i] == sent[i], "message " << i << " differs at the backend");
  }
}

BOOST_AUTO_TEST_CASE(frames_arriving_in_pieces_pass_byte_exact) {
  // Each way a masked binary frame can reach tether, small and large: whole
  // in one read; payload split across reads (collected, then relayed
  // whole); header split across reads (not contiguous with its payload, so
  // copied and re-masked). Binary payloads stay masked inside tether: each
  // path must still deliver the client's bytes.
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  raw_ws c(t.port());
  BOOST_REQUIRE(c.upgraded());
  std::vector<std::string> sent;
  for (const std::size_t size : {std::size_t{200}, std::size_t{40000}}) {
    const auto cut = size / 4;
    const auto a = random_bytes(size, static_cast<std::uint32_t>(51 + size));
    const auto b = random_bytes(size, static_cast<std::uint32_t>(52 + size));
    const auto d = random_bytes(size, static_cast<std::uint32_t>(53 + size));
    BOOST_REQUIRE(!c.send(client_frame(0x82, a)));
    const auto fb = client_frame(0x82, b);
    BOOST_REQUIRE(!c.send(fb.substr(0, cut)));
    std::this_thread::sleep_for(100ms);
    BOOST_REQUIRE(!c.send(fb.substr(cut)));
    const auto fd = client_frame(0x82, d);
    BOOST_REQUIRE(!c.send(fd.substr(0, 3)));
    std::this_thread::sleep_for(100ms);
    BOOST_REQUIRE(!c.send(fd.substr(3)));
    sent.insert(sent.end(), {a, b, d});
  }
  BOOST_REQUIRE(backend.wait_messages(sent.size()));
  for (std::size_t i = 0; i < sent.size(); ++i) {
    BOOST_CHECK_MESSAGE(backend.messages()[i] == (message{false, sent[i]}), "message " << i << " differs");
  }
  for (std::size_t i = 0; i < sent.size(); ++i) {
    auto f = c.next_frame(5000ms);
    BOOST_REQUIRE_MESSAGE(f, "echo " << i << " missing");
    BOOST_CHECK_EQUAL(f->opcode, 2);
    BOOST_CHECK(f->fin);
    BOOST_CHECK(!f->masked);
    BOOST_CHECK_MESSAGE(f->payload == sent[i], "echo " << i << " differs");
  }
}

BOOST_AUTO_TEST_CASE(reading_resumes_after_a_slow_client_catches_up) {
  // 32 MiB toward a client that reads nothing for a while: more than the
  // socket buffers on both legs hold, so tether stops reading the backend
  // (backpressure) and must start again as the client drains; every message
  // arrives, in order, byte exact. Over wss:// tether's sends also stop
  // part-way through sealed TLS records, which must be finished byte for byte.
  constexpr int n = 64;
  constexpr std::size_t size = 512 * 1024;
  auto expected = [](int i) {
    auto data = random_bytes(size, static_cast<std::uint32_t>(i));
    data.replace(0, 4, "#" + std::to_string(100 + i));
    return data;
  };
  for (const bool tls : {false, true}) {
    BOOST_TEST_CONTEXT("tls " << tls) {
      test_backend backend({.on_message = [&](const message&, std::function<void(message)> reply) {
        for (int i = 0; i < n; ++i) {
          reply({false, expected(i)});
        }
      }});
      tether_instance t(listener_yaml(tls) + route_yaml(backend));
      auto c = ws_client::connect(t.port(), {.tls = tls, .host = "localhost"});
      BOOST_REQUIRE(!c->send_text("go"));
      std::this_thread::sleep_for(1500ms);
      // Every byte the backend has written is in a socket buffer on the way
      // (all four ends are in this process) or held by tether, which may hold
      // no more than high_water (512 KiB) plus one read (256 KiB). (The
      // message the backend is part-way through writing is not counted as
      // sent: what tether holds may be up to 512 KiB more than measured.)
      // Reading freely, tether would hold all 32 MiB and leave its upstream
      // socket empty.
      const auto sent = backend.bytes_sent();
      const auto queued = hostile::kernel_queued({t.port(), backend.port()});
      const auto held = sent > queued ? sent - queued : 0;
      BOOST_TEST_MESSAGE("backend sent " << (sent >> 10) << " KiB, socket buffers hold " << (queued >> 10)
                                         << " KiB, tether holds at most " << (held >> 10) << " KiB");
      BOOST_CHECK_MESSAGE(held <= (512 + 256 + 64) * 1024u, "tether holds " << held << " bytes");
      BOOST_CHECK_MESSAGE(hostile::unread_bytes(0, backend.port()) > 0, "tether kept reading the backend");
      for (int i = 0; i < n; ++i) {
        auto m = c->read(10000ms);
        BOOST_REQUIRE_MESSAGE(m, "message " << i << " missing");
        BOOST_REQUIRE_MESSAGE(m->data == expected(i), "message " << i << " differs");
      }
      BOOST_CHECK(c->is_open());
    }
  }
}

BOOST_AUTO_TEST_CASE(five_mib_message_passes_with_raised_limit) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + "defaults: {limits: {max_message_size: 8MiB}}\n" + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  const auto big = random_bytes(5 * 1024 * 1024, 9);
  BOOST_REQUIRE(!c->send_binary(big));
  auto echo = c->read(15000ms);
  BOOST_REQUIRE_MESSAGE(echo, "5 MiB echo did not arrive");
  BOOST_CHECK_EQUAL(echo->data.size(), big.size());
  BOOST_CHECK(echo->data == big);
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages()[0].data == big);
}

BOOST_AUTO_TEST_CASE(binary_with_every_byte_value) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  std::string all;
  for (int round = 0; round < 3; ++round) {
    for (int v = 0; v < 256; ++v) {
      all.push_back(static_cast<char>(round % 2 == 0 ? v : 255 - v));
    }
  }
  BOOST_REQUIRE(!c->send_binary(all));
  auto echo = c->read();
  BOOST_REQUIRE(echo);
  BOOST_CHECK(*echo == (message{false, all}));
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages()[0] == (message{false, all}));
}

BOOST_AUTO_TEST_CASE(client_ping_is_answered_by_tether_and_not_forwarded) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->ping("are you there"));
  BOOST_REQUIRE(!c->send_text("after"));
  auto m = c->read();  // tether's pong is sent before the echo can come back
  BOOST_REQUIRE(m);
  BOOST_CHECK(*m == (message{true, "after"}));
  BOOST_CHECK_EQUAL(c->pongs_received(), 1u);
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK_EQUAL(backend.messages().size(), 1u);
  BOOST_CHECK_EQUAL(backend.pings_received(), 0u);
}

BOOST_AUTO_TEST_CASE(pong_carries_the_ping_payload_even_mid_message) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  raw_ws c(t.port());
  BOOST_REQUIRE_MESSAGE(c.upgraded(), c.response_head());
  // A ping between two fragments of one message (allowed by RFC 6455 5.4).
  BOOST_REQUIRE(!c.send(client_frame(0x01, "frag-") + client_frame(0x89, "ping-42") + client_frame(0x80, "ment")));
  auto pong = c.next_frame();
  BOOST_REQUIRE(pong);
  BOOST_CHECK_EQUAL(pong->opcode, 0xA);
  BOOST_CHECK(pong->fin);
  BOOST_CHECK(!pong->masked);
  BOOST_CHECK_EQUAL(pong->payload, "ping-42");
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages()[0] == (message{true, "frag-ment"}));
  // The echo comes back to the client unmasked and whole.
  std::string echoed;
  for (;;) {
    auto f = c.next_frame();
    BOOST_REQUIRE(f);
    BOOST_CHECK(!f->masked);
    BOOST_REQUIRE(f->opcode == 1 || f->opcode == 0);
    echoed += f->payload;
    if (f->fin) {
      break;
    }
  }
  BOOST_CHECK_EQUAL(echoed, "frag-ment");
  BOOST_CHECK_EQUAL(backend.pings_received(), 0u);
}

BOOST_AUTO_TEST_CASE(empty_messages_keep_their_type) {
  test_backend backend;
  tether_instance t(listener_yaml(false) + route_yaml(backend));
  auto c = ws_client::connect(t.port());
  BOOST_REQUIRE(!c->send_text(""));
  BOOST_REQUIRE(!c->send_binary(""));
  BOOST_REQUIRE(!c->send_text("x"));
  auto m1 = c->read();
  auto m2 = c->read();
  auto m3 = c->read();
  BOOST_REQUIRE(m1 && m2 && m3);
  BOOST_CHECK(*m1 == (message{true, ""}));
  BOOST_CHECK(*m2 == (message{false, ""}));
  BOOST_CHECK(*m3 == (message{true, "x"}));
  BOOST_REQUIRE(backend.wait_messages(3));
  BOOST_CHECK(backend.messages()[0] == (message{true, ""}));
  BOOST_CHECK(backend.messages()[1] == (message{false, ""}));
  BOOST_CHECK(backend.messages()[2] == (message{true, "x"}));
  // An empty message made of an empty start frame and an empty final continuation.
  raw_ws r(t.port());
  BOOST_REQUIRE(r.upgraded());
  BOOST_REQUIRE(!r.send(client_frame(0x02, "") + client_frame(0x80, "")));
  BOOST_REQUIRE(backend.wait_messages(4));
  BOOST_CHECK(backend.messages()[3] == (message{false, ""}));
}

// Nagle with delayed ACKs would hold a small frame back by up to 40 ms. The
// client socket gets TCP_NODELAY from tether's listener (inherited on accept),
// the upstream socket before it connects.
BOOST_AUTO_TEST_CASE(both_legs_have_nagle_off) {
  test_backend backend;
  tether_instance t(listener_yaml(true) + route_yaml(backend));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost"});
  BOOST_REQUIRE(!c->send_text("x"));
  BOOST_REQUIRE(c->read());
  const auto accepted = nodelay_of_sockets(t.port(), 0);  // tether's side of the client leg
  BOOST_REQUIRE_EQUAL(accepted.size(), 1U);
  BOOST_CHECK_EQUAL(accepted[0], 1);
  const auto upstream = nodelay_of_sockets(0, backend.port());  // tether's upstream leg
  BOOST_REQUIRE_EQUAL(upstream.size(), 1U);
  BOOST_CHECK_EQUAL(upstream[0], 1);
}

BOOST_AUTO_TEST_SUITE_END()
