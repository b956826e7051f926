// permessage-deflate (RFC 7692) on each leg, over ws:// and wss://: tether
// answers the client's offer, makes its own to the backend, inflates what it
// receives and deflates what it sends. The client here is a raw socket that
// compresses and inflates with zlib itself, so that RSV1 and the bytes on
// the wire are visible; the backend is Beast with its own permessage-deflate.
#include <boost/test/unit_test.hpp>
#include <zlib.h>

#include <array>
#include <cstring>
#include <thread>

#include <netinet/tcp.h>

#include "extra_hostile.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

/// Raw deflate with a sync flush, its 00 00 FF FF tail removed (RFC 7692 7.2.1).
std::string deflate_raw(const std::string& in) {
  z_stream z{};
  BOOST_REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<unsigned char> buf(deflateBound(&z, static_cast<uLong>(in.size())) + 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = buf.data();
  z.avail_out = static_cast<uInt>(buf.size());
  BOOST_REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
  std::string out(reinterpret_cast<const char*>(buf.data()), buf.size() - z.avail_out);
  deflateEnd(&z);
  BOOST_REQUIRE(out.size() >= 4 && out.substr(out.size() - 4) == std::string("\0\0\xff\xff", 4));
  out.resize(out.size() - 4);
  return out;
}

std::string inflate_raw(const std::string& in) {
  z_stream z{};
  BOOST_REQUIRE(inflateInit2(&z, -15) == Z_OK);
  const std::string data = in + std::string("\0\0\xff\xff", 4);
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (z.avail_in != 0 && rc == Z_OK) {
    char buf[16384];
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  return out;
}

/// A compressed client message in one frame (FIN, RSV1, opcode).
std::string compressed_frame(const std::string& payload, bool text = true) {
  return client_frame(text ? 0xC1 : 0xC2, deflate_raw(payload));
}

std::string json(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; s.size() < n; ++i) {
    s += R"({"seq":)" + std::to_string(i) + R"(,"symbol":"ACME","bid":101.25,"ask":101.5},)";
  }
  s.resize(n);
  return s;
}

std::string config(const test_backend& b, bool tls, const std::string& route_extra = {}) {
  return listener_yaml(tls) + "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n" +
         route_extra;
}

/// The client's view of one data message: its payload in clear and whether
/// it came compressed.
struct received {
  std::string data;
  bool compressed = false;
  std::uint8_t opcode = 0;
};

std::optional<received> read_data(raw_client& c, ms timeout = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = c.next_frame(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
    if (!f || f->opcode == 8) {
      return std::nullopt;
    }
    if (f->opcode == 1 || f->opcode == 2) {
      BOOST_REQUIRE(f->fin);
      return received{f->rsv1 ? inflate_raw(f->payload) : f->payload, f->rsv1, f->opcode};
    }
  }
}

std::string header_of(const std::string& response, const std::string& name) {
  const auto at = response.find(name + ": ");
  if (at == std::string::npos) {
    return {};
  }
  const auto start = at + name.size() + 2;
  return response.substr(start, response.find("\r\n", start) - start);
}

/// Bytes tether's upstream socket(s) to `backend_port` received: the wire
/// size of what the backend sent, compressed or not (TLS included).
std::uint64_t upstream_wire_bytes(std::uint16_t backend_port) {
  std::uint64_t total = 0;
  hostile::for_each_tcp_socket([&](std::uint16_t, std::uint16_t peer, int fd) {
    if (peer == backend_port) {
      // The kernel's tcpi_bytes_received (linux/tcp.h, offset 128 since
      // Linux 4.1): glibc's struct tcp_info ends before it, and linux/tcp.h
      // cannot be included next to glibc's netinet/tcp.h.
      std::array<std::uint8_t, 256> info{};
      socklen_t len = info.size();
      if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, info.data(), &len) == 0 && len >= 136) {
        std::uint64_t received = 0;
        std::memcpy(&received, info.data() + 128, sizeof received);
        total += received;
      }
    }
  });
  return total;
}

constexpr const char* offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// A backend that accepts permessage-deflate (Beast's own).
backend_options deflating(int window_bits = 15, bool echo = true) {
  backend_options bo;
  bo.deflate = true;
  bo.deflate_window_bits = window_bits;
  bo.echo = echo;
  return bo;
}

/// A backend, tether in front of it, and a raw client that offered
/// permessage-deflate and got its 101 (`response`).
struct through_tether {
  test_backend backend;
  tether_instance t;
  raw_client c;
  std::string response;
  through_tether(bool tls, backend_options bo = {}, const std::string& route_extra = {})
      : backend(std::move(bo)), t(config(backend, tls, route_extra)), c(t.port(), tls),
        response(c.upgrade("/", offer)) {
    BOOST_REQUIRE(response.find(" 101 ") != std::string::npos);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(compression_test)

BOOST_AUTO_TEST_CASE(both_legs_compress) {
  for (bool tls : {false, true}) {
    BOOST_TEST_CONTEXT((tls ? "wss" : "ws")) {
      through_tether s(tls, deflating());
      auto& [backend, t, c, res] = s;
      BOOST_CHECK_EQUAL(header_of(res, "Sec-WebSocket-Extensions"),
                        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
      BOOST_REQUIRE_EQUAL(backend.handshakes().size(), 1u);
      BOOST_CHECK_EQUAL(backend.handshakes()[0][http::field::sec_websocket_extensions],
                        "permessage-deflate; client_no_context_takeover; server_no_context_takeover");

      const auto big = json(4096);
      BOOST_REQUIRE(!c.write(compressed_frame(big)));
      BOOST_REQUIRE(backend.wait_messages(1));
      BOOST_CHECK(backend.messages()[0] == (message{true, big}));
      // The backend's echo, compressed by Beast, inflated and deflated again.
      auto echo = read_data(c);
      BOOST_REQUIRE(echo);
      BOOST_CHECK(echo->compressed);
      BOOST_CHECK_EQUAL(echo->opcode, 1);
      BOOST_CHECK(echo->data == big);
      // Under compress_min bytes a message goes out as it is.
      BOOST_REQUIRE(!c.write(compressed_frame("hi")));
      auto small = read_data(c);
      BOOST_REQUIRE(small);
      BOOST_CHECK(!small->compressed);
      BOOST_CHECK_EQUAL(small->data, "hi");
      // An uncompressed message on a compressed leg is fine too (RSV1 per message).
      BOOST_REQUIRE(!c.send_text(big));
      auto plain = read_data(c);
      BOOST_REQUIRE(plain);
      BOOST_CHECK(plain->data == big);
      BOOST_REQUIRE(backend.wait_messages(3));
      BOOST_CHECK(backend.messages()[2] == (message{true, big}));
    }
  }
}

BOOST_AUTO_TEST_CASE(every_size_class_both_ways) {
  for (bool tls : {false, true}) {
    BOOST_TEST_CONTEXT((tls ? "wss" : "ws")) {
      through_tether s(tls, deflating());
      auto& [backend, t, c, res] = s;
      const std::vector<std::size_t> sizes{0, 1, 31, 32, 125, 126, 65535, 65536, 300000};
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        BOOST_REQUIRE(!c.write(compressed_frame(json(sizes[i]), i % 2 == 0)));
      }
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        BOOST_TEST_CONTEXT("size " << sizes[i]) {
          auto m = read_data(c);
          BOOST_REQUIRE(m);
          BOOST_CHECK_EQUAL(m->opcode, i % 2 == 0 ? 1 : 2);
          BOOST_CHECK_EQUAL(m->data.size(), sizes[i]);
          BOOST_CHECK(m->data == json(sizes[i]));
          BOOST_CHECK_EQUAL(m->compressed, sizes[i] >= 32);
        }
      }
      BOOST_REQUIRE(backend.wait_messages(sizes.size()));
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        BOOST_CHECK(backend.messages()[i] == (message{i % 2 == 0, json(sizes[i])}));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(fragmented_compressed_message) {
  through_tether s(false);
  auto& [backend, t, c, res] = s;
  const auto text = json(20000);
  const auto z = deflate_raw(text);
  const auto third = z.size() / 3;
  // RSV1 on the first frame only (RFC 7692 section 6.1).
  BOOST_REQUIRE(!c.write(client_frame(0x41, z.substr(0, third)) +
                         client_frame(0x00, z.substr(third, third)) +
                         client_frame(0x80, z.substr(2 * third))));
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages()[0] == (message{true, text}));
  auto echo = read_data(c);  // this backend refused compression: the echo comes in clear
  BOOST_REQUIRE(echo);
  BOOST_CHECK(!echo->compressed);
  BOOST_CHECK(echo->data == text);
  // RSV1 on a continuation frame is a protocol error.
  BOOST_REQUIRE(!c.write(client_frame(0x41, z.substr(0, third)) + client_frame(0xC0, z.substr(third))));
  BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1002);
}

BOOST_AUTO_TEST_CASE(backend_that_refuses_compression) {
  for (bool tls : {false, true}) {
    BOOST_TEST_CONTEXT((tls ? "wss" : "ws")) {
      through_tether s(tls);  // Beast without permessage-deflate: declines the offer
      auto& [backend, t, c, res] = s;
      BOOST_CHECK(header_of(res, "Sec-WebSocket-Extensions").rfind("permessage-deflate", 0) == 0);
      const auto big = json(3000);
      BOOST_REQUIRE(!c.write(compressed_frame(big)));
      BOOST_REQUIRE(backend.wait_messages(1));
      BOOST_CHECK(backend.messages()[0] == (message{true, big}));
      // The backend sent it in clear; tether does not compress what its
      // sender did not.
      auto echo = read_data(c);
      BOOST_REQUIRE(echo);
      BOOST_CHECK(!echo->compressed);
      BOOST_CHECK(echo->data == big);
    }
  }
}

BOOST_AUTO_TEST_CASE(backend_with_other_parameters_keeps_its_context) {
  for (bool tls : {false, true}) {
    BOOST_TEST_CONTEXT((tls ? "wss" : "ws")) {
      // A 10-bit window on the backend's side, and tether lets it keep its
      // context: tether then inflates with a context of the leg's own.
      through_tether s(tls, deflating(10, false), "    compression: {context_takeover: {receive: true}}\n");
      auto& [backend, t, c, res] = s;
      BOOST_REQUIRE(wait_until([&b = backend] { return b.open_sessions() == 1; }));
      BOOST_CHECK_EQUAL(backend.handshakes()[0][http::field::sec_websocket_extensions],
                        "permessage-deflate; client_no_context_takeover");
      const auto m = json(2048);
      for (int i = 0; i < 5; ++i) {
        backend.send_all({true, m});
      }
      for (int i = 0; i < 5; ++i) {
        auto got = read_data(c);
        BOOST_REQUIRE(got);
        BOOST_CHECK(got->compressed);
        BOOST_CHECK(got->data == m);
      }
      // Compressed on the upstream leg, with context: far fewer bytes than
      // 5 x 2 KiB (the 101 and, for wss, the TLS handshake included).
      const auto wire = upstream_wire_bytes(backend.port());
      BOOST_CHECK_GT(wire, 0u);
      BOOST_CHECK_LT(wire, tls ? 7000u : 4000u);
    }
  }
}

BOOST_AUTO_TEST_CASE(client_without_offer_and_compressing_backend) {
  backend_options bo;
  bo.deflate = true;
  test_backend backend(bo);
  tether_instance t(config(backend, false));
  auto c = ws_client::connect(t.port());
  BOOST_CHECK(c->handshake_response()[http::field::sec_websocket_extensions].empty());
  const auto m = json(5000);
  BOOST_REQUIRE(!c->send_text(m));
  auto echo = c->read();
  BOOST_REQUIRE(echo);
  BOOST_CHECK(*echo == (message{true, m}));
  // The backend's 5000-byte echo came compressed (its 101 included).
  const auto wire = upstream_wire_bytes(backend.port());
  BOOST_CHECK_GT(wire, 0u);
  BOOST_CHECK_LT(wire, 2000u);
}

BOOST_AUTO_TEST_CASE(beast_client_and_backend_both_compressing) {
  // Beast on both ends, each with its own permessage-deflate.
  backend_options bo;
  bo.deflate = true;
  test_backend backend(bo);
  tether_instance t(config(backend, true));
  auto c = ws_client::connect(t.port(), {.tls = true, .host = "localhost", .deflate = true});
  // Beast offers server_max_window_bits=15, which the answer must repeat.
  BOOST_CHECK_EQUAL(c->handshake_response()[http::field::sec_websocket_extensions],
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                    "server_max_window_bits=15");
  for (int i = 0; i < 20; ++i) {
    BOOST_REQUIRE(!c->send_text(json(100 * static_cast<std::size_t>(i))));
  }
  for (int i = 0; i < 20; ++i) {
    auto m = c->read();
    BOOST_REQUIRE(m);
    BOOST_CHECK(m->data == json(100 * static_cast<std::size_t>(i)));
  }
}

BOOST_AUTO_TEST_CASE(compression_off_by_config) {
  backend_options bo;
  bo.deflate = true;
  test_backend backend(bo);
  tether_instance t(config(backend, false, "    compression: {client: false, upstream: false}\n"));
  raw_client c(t.port());
  const auto res = c.upgrade("/", offer);
  BOOST_REQUIRE(res.find(" 101 ") != std::string::npos);
  BOOST_CHECK(header_of(res, "Sec-WebSocket-Extensions").empty());
  BOOST_CHECK(backend.handshakes()[0][http::field::sec_websocket_extensions].empty());
  // Not negotiated: RSV1 is a protocol error.
  BOOST_REQUIRE(!c.write(compressed_frame(json(100))));
  BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1002);
}

BOOST_AUTO_TEST_CASE(decompression_bomb_is_stopped_at_the_limit) {
  for (bool tls : {false, true}) {
    BOOST_TEST_CONTEXT((tls ? "wss" : "ws")) {
      through_tether s(tls, {}, "    limits: {max_message_size: 1MiB}\n");
      auto& [backend, t, c, res] = s;
      BOOST_REQUIRE(wait_until([&b = backend] { return b.open_sessions() == 1; }));
      const std::string zeros(256 * 1024 * 1024, '\0');
      const auto bomb = deflate_raw(zeros);  // about 256 KiB on the wire
      BOOST_REQUIRE_LT(bomb.size(), 1024 * 1024u);
      const auto start = std::chrono::steady_clock::now();
      BOOST_REQUIRE(!c.write(client_frame(0xC2, bomb)));
      BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1009);
      BOOST_CHECK_LT(std::chrono::steady_clock::now() - start, 2s);
      BOOST_REQUIRE(backend.wait_closes(1));
      BOOST_CHECK_EQUAL(backend.closes()[0].first, 1001);
      BOOST_CHECK(backend.messages().empty());
      // One that inflates to just the limit passes.
      raw_client ok(t.port(), tls);
      BOOST_REQUIRE(ok.upgrade("/", offer).find(" 101 ") != std::string::npos);
      BOOST_REQUIRE(!ok.write(client_frame(0xC2, deflate_raw(std::string(1024 * 1024, 'x')))));
      BOOST_REQUIRE(backend.wait_messages(1, 10000ms));
      BOOST_CHECK_EQUAL(backend.messages()[0].data.size(), 1024 * 1024u);
    }
  }
}

BOOST_AUTO_TEST_CASE(broken_deflate_data_and_utf8_close_with_1007) {
  test_backend backend;
  tether_instance t(config(backend, false));
  {
    raw_client c(t.port());
    BOOST_REQUIRE(c.upgrade("/", offer).find(" 101 ") != std::string::npos);
    BOOST_REQUIRE(!c.write(client_frame(0xC2, std::string("\xff\xff\xff\xff\x12\x34", 6))));
    BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1007);
  }
  {
    raw_client c(t.port());
    BOOST_REQUIRE(c.upgrade("/", offer).find(" 101 ") != std::string::npos);
    std::string bad(40, 'a');
    bad += "\xc3\x28";  // invalid UTF-8, seen only after inflating
    BOOST_REQUIRE(!c.write(compressed_frame(bad)));
    BOOST_CHECK_EQUAL(c.wait_close_code().value_or(0), 1007);
  }
  BOOST_CHECK(backend.messages().empty());
}

BOOST_AUTO_TEST_CASE(tethers_own_messages_and_answers) {
  backend_options bo;
  bo.deflate = true;
  test_backend backend(bo);
  tether_instance t(config(backend, false,
                           "    heartbeat:\n      client:\n        ping_interval: 0s\n"
                           "        app: {message: '{\"type\":\"heartbeat\",\"pad\":\"0123456789012345678901234567890123456789\"}', interval: 100ms}\n"
                           "        answer:\n          - {match: '{\"type\":\"ping\",\"pad\":\"0123456789012345678901234567890123456789\"}', reply: '{\"type\":\"pong\"}'}\n"));
  raw_client c(t.port());
  BOOST_REQUIRE(c.upgrade("/", offer).find(" 101 ") != std::string::npos);
  // The answer rule sees the inflated text; the answer is tether's own.
  BOOST_REQUIRE(!c.write(compressed_frame(R"({"type":"ping","pad":"0123456789012345678901234567890123456789"})")));
  bool pong = false;
  bool heartbeat = false;
  const auto end = std::chrono::steady_clock::now() + 3s;
  while ((!pong || !heartbeat) && std::chrono::steady_clock::now() < end) {
    auto m = read_data(c, 1000ms);
    BOOST_REQUIRE(m);
    // tether's own messages go uncompressed, as RSV1 allows per message.
    BOOST_CHECK(!m->compressed);
    pong = pong || m->data == R"({"type":"pong"})";
    heartbeat = heartbeat || m->data.rfind(R"({"type":"heartbeat")", 0) == 0;
  }
  BOOST_CHECK(pong);
  BOOST_CHECK(heartbeat);
  BOOST_CHECK(backend.messages().empty());
  // As in clear, a message in several frames is not tether's to answer: the
  // same ping in two compressed frames goes to the backend.
  const std::string ping = R"({"type":"ping","pad":"0123456789012345678901234567890123456789"})";
  const auto z = deflate_raw(ping);
  BOOST_REQUIRE(!c.write(client_frame(0x41, z.substr(0, z.size() / 2)) + client_frame(0x80, z.substr(z.size() / 2))));
  BOOST_REQUIRE(backend.wait_messages(1));
  BOOST_CHECK(backend.messages()[0] == (message{true, ping}));
}

BOOST_AUTO_TEST_CASE(reconnect_in_the_middle_of_compressed_traffic) {
  for (bool tls : {false, true}) {
    BOOST_TEST_CONTEXT((tls ? "wss" : "ws")) {
      through_tether s(tls, deflating(),
                       "    reconnect:\n      backoff: {initial: 20ms, max: 100ms}\n"
                       "      replay: {first: 1}\n");
      auto& [backend, t, c, res] = s;
      const auto sub = json(200);
      BOOST_REQUIRE(!c.write(compressed_frame(sub)));
      for (int i = 0; i < 3; ++i) {
        BOOST_REQUIRE(!c.write(compressed_frame("a" + std::to_string(i) + json(100))));
      }
      BOOST_REQUIRE(backend.wait_messages(4));
      for (int i = 0; i < 4; ++i) {
        BOOST_REQUIRE(read_data(c));  // the echoes
      }
      backend.kill();
      std::this_thread::sleep_for(100ms);
      for (int i = 0; i < 3; ++i) {
        BOOST_REQUIRE(!c.write(compressed_frame("b" + std::to_string(i) + json(100))));
      }
      std::this_thread::sleep_for(100ms);
      backend.restart();
      BOOST_REQUIRE(backend.wait_messages(8, 10000ms));
      const auto got = backend.messages();
      // After the restart: the replayed opening message, then the buffer, in order, in clear.
      std::vector<std::string> after;
      for (std::size_t i = 4; i < got.size(); ++i) {
        after.push_back(got[i].data);
      }
      const std::vector<std::string> expected{sub, "b0" + json(100), "b1" + json(100), "b2" + json(100)};
      BOOST_CHECK_EQUAL_COLLECTIONS(after.begin(), after.end(), expected.begin(), expected.end());
      // The new upstream was offered compression again and traffic goes on compressed.
      BOOST_REQUIRE_EQUAL(backend.handshakes().size(), 2u);
      BOOST_CHECK(!backend.handshakes()[1][http::field::sec_websocket_extensions].empty());
      BOOST_REQUIRE(!c.write(compressed_frame("c0" + json(500))));
      for (;;) {
        auto m = read_data(c);
        BOOST_REQUIRE(m);
        if (m->data == "c0" + json(500)) {
          BOOST_CHECK(m->compressed);
          break;
        }
      }
      BOOST_CHECK(!c.eof());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
