// Fragmented messages whose frames reach tether cut at every kind of place,
// both ways, over ws:// and wss://. tether reads each input into the same
// buffer from its start, so a frame header that ends one read and a payload
// that starts the next must never be forwarded as if they were adjacent
// (that is what ended 4 MiB messages in 64-byte fragments with 1002 now and
// then).
#include <boost/test/unit_test.hpp>

#include <random>
#include <thread>

#include "extra_relay.hpp"
#include "test_support.hpp"

using namespace tt;

namespace {

std::string route_yaml(const test_backend& b) {
  return "defaults:\n  limits:\n    max_message_size: 4MiB\nroutes:\n  - name: r\n    upstream:\n      url: \"" +
         b.url() + "\"\n";
}

/// Printable text, so a text message is valid UTF-8 however it is cut.
std::string text_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, ' ');
  for (auto& ch : out) {
    ch = static_cast<char>('a' + rng() % 26);
  }
  return out;
}

/// A message as frames of random sizes (mostly small, some above the 64 KiB
/// hold limit), and the offsets where each frame's header ends.
struct framed {
  std::string wire;
  std::vector<std::size_t> header_ends;
};

framed fragment(const std::string& payload, bool text, bool from_client, std::mt19937& rng) {
  framed out;
  std::size_t at = 0;
  bool first = true;
  while (at < payload.size()) {
    std::size_t n = rng() % 8 == 0 ? 65 * 1024 + rng() % 8192 : 1 + rng() % 300;
    n = std::min(n, payload.size() - at);
    const bool fin = at + n == payload.size();
    const std::uint8_t op = first ? (text ? 0x1 : 0x2) : 0x0;
    const std::uint8_t b0 = static_cast<std::uint8_t>((fin ? 0x80 : 0x00) | op);
    const auto piece = payload.substr(at, n);
    const auto frame = from_client ? client_frame(b0, piece) : server_frame(b0, piece);
    out.wire += frame;
    out.header_ends.push_back(out.wire.size() - n);
    at += n;
    first = false;
  }
  return out;
}

/// Cut points: every header end of some frames (the case that broke), and
/// random ones in between.
std::vector<std::size_t> cuts_of(const framed& f, std::mt19937& rng, std::size_t count) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < count; ++i) {
    if (i % 2 == 0) {
      cuts.push_back(f.header_ends[rng() % f.header_ends.size()]);
    } else {
      cuts.push_back(1 + rng() % (f.wire.size() - 1));
    }
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  cuts.push_back(f.wire.size());
  return cuts;
}

/// Writes `wire` in the pieces `cuts` makes, with a pause after each so
/// that each piece is a read of its own at tether.
template <class Write>
void write_in_pieces(const std::string& wire, const std::vector<std::size_t>& cuts, Write write) {
  std::size_t from = 0;
  for (const auto to : cuts) {
    if (to > from) {
      write(wire.substr(from, to - from));
      std::this_thread::sleep_for(3ms);
    }
    from = to;
  }
}

/// Reads frames until a message is complete: (text, payload), or nullopt.
std::optional<message> read_whole(raw_ws& c, ms timeout) {
  message m;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
    auto f = c.next_frame(std::max(left, 1ms));
    if (!f) {
      return std::nullopt;
    }
    if (f->opcode == 0x8) {
      BOOST_TEST_MESSAGE("close " << close_code_of(f->payload));
      return std::nullopt;
    }
    if (f->opcode == 0x1 || f->opcode == 0x2) {
      m.text = f->opcode == 0x1;
    }
    if (f->opcode <= 0x2) {
      m.data += f->payload;
      if (f->fin) {
        return m;
      }
    }
  }
}

void client_to_backend(bool tls, std::uint32_t seed) {
  test_backend backend;
  tether_instance t(listener_yaml(tls) + route_yaml(backend));
  raw_ws c(t.port(), tls);
  BOOST_REQUIRE(c.upgraded());
  std::mt19937 rng(seed);
  for (const bool text : {true, false}) {
    const auto payload = text ? text_bytes(300 * 1024, seed) : random_bytes(300 * 1024, seed);
    const auto f = fragment(payload, text, true, rng);
    write_in_pieces(f.wire, cuts_of(f, rng, 120), [&](const std::string& piece) {
      BOOST_REQUIRE(!c.send(piece));
    });
    auto echo = read_whole(c, 10000ms);
    BOOST_REQUIRE_MESSAGE(echo, "no echo (text " << text << ")");
    BOOST_CHECK_EQUAL(echo->text, text);
    BOOST_CHECK_MESSAGE(echo->data == payload, "echo differs (text " << text << ")");
  }
  BOOST_REQUIRE(backend.wait_messages(2));
  BOOST_CHECK(backend.closes().empty());
}

void backend_to_client(bool tls, std::uint32_t seed) {
  test_backend::options o;
  o.echo = false;
  test_backend backend(o);
  tether_instance t(listener_yaml(tls) + route_yaml(backend));
  client_options co;
  co.tls = tls;
  co.host = "localhost";
  auto c = ws_client::connect(t.port(), co);
  BOOST_REQUIRE(wait_until([&] { return backend.open_sessions() == 1; }));
  std::mt19937 rng(seed);
  for (const bool text : {true, false}) {
    const auto payload = text ? text_bytes(300 * 1024, seed) : random_bytes(300 * 1024, seed);
    const auto f = fragment(payload, text, false, rng);
    write_in_pieces(f.wire, cuts_of(f, rng, 120), [&](const std::string& piece) {
      backend.send_raw_all(piece);
    });
    auto m = c->read(10000ms);
    BOOST_REQUIRE_MESSAGE(m, "no message (text " << text << ")");
    BOOST_CHECK_EQUAL(m->text, text);
    BOOST_CHECK_MESSAGE(m->data == payload, "message differs (text " << text << ")");
  }
  BOOST_CHECK(backend.closes().empty());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fragment_split_test)

BOOST_AUTO_TEST_CASE(header_ending_a_read_with_its_payload_in_the_next) {
  // The smallest reproduction: each frame's header is one read and its
  // payload the next, for frames held whole and frames relayed in place.
  for (const bool tls : {false, true}) {
    BOOST_TEST_CONTEXT("tls " << tls) {
      test_backend backend;
      tether_instance t(listener_yaml(tls) + route_yaml(backend));
      raw_ws c(t.port(), tls);
      BOOST_REQUIRE(c.upgraded());
      for (const std::size_t size : {std::size_t{10}, std::size_t{300}, std::size_t{40000}}) {
        for (const std::uint8_t op : {std::uint8_t{0x1}, std::uint8_t{0x2}}) {
          const auto payload = op == 0x1 ? text_bytes(size, 7) : random_bytes(size, 7);
          const auto frame = client_frame(static_cast<std::uint8_t>(0x80 | op), payload);
          const auto header = frame.size() - size;
          BOOST_REQUIRE(!c.send(frame.substr(0, header)));
          std::this_thread::sleep_for(30ms);
          BOOST_REQUIRE(!c.send(frame.substr(header)));
          auto echo = read_whole(c, 5000ms);
          BOOST_REQUIRE_MESSAGE(echo, "no echo of " << size << " bytes, op " << int(op));
          BOOST_CHECK_MESSAGE(echo->data == payload, "echo of " << size << " bytes differs");
        }
      }
      BOOST_CHECK(backend.closes().empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(random_fragments_client_to_backend_over_ws) {
  for (std::uint32_t seed = 1; seed <= 3; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) { client_to_backend(false, seed); }
  }
}

BOOST_AUTO_TEST_CASE(random_fragments_client_to_backend_over_wss) {
  for (std::uint32_t seed = 11; seed <= 13; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) { client_to_backend(true, seed); }
  }
}

BOOST_AUTO_TEST_CASE(random_fragments_backend_to_client_over_ws) {
  for (std::uint32_t seed = 21; seed <= 23; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) { backend_to_client(false, seed); }
  }
}

BOOST_AUTO_TEST_CASE(random_fragments_backend_to_client_over_wss) {
  for (std::uint32_t seed = 31; seed <= 33; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) { backend_to_client(true, seed); }
  }
}

BOOST_AUTO_TEST_SUITE_END()
