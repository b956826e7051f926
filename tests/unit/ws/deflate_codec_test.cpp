// zlib framing for permessage-deflate: round trips with and without context
// takeover, the RFC 7692 example bytes, the size limit and broken input.
#include <boost/test/unit_test.hpp>

#include <random>
#include <string>

#include "ws/deflate_codec.hpp"

using namespace tether::ws;

namespace {

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

std::string text(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(deflate_codec_test)

BOOST_AUTO_TEST_CASE(rfc7692_example_inflates) {
  // RFC 7692 section 7.2.3.1: "Hello" compressed, tail removed.
  const std::vector<std::uint8_t> hello{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  inflater i(15);
  std::vector<std::uint8_t> out;
  BOOST_REQUIRE(i.inflate(hello, out, 1024, true) == inflater::result::ok);
  BOOST_CHECK_EQUAL(text(out), "Hello");
  // Section 7.2.3.3: "Hello" as a stored (uncompressed) block.
  const std::vector<std::uint8_t> stored{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
  BOOST_REQUIRE(i.inflate(stored, out, 1024, true) == inflater::result::ok);
  BOOST_CHECK_EQUAL(text(out), "Hello");
}

BOOST_AUTO_TEST_CASE(round_trip_without_context) {
  deflater d(6, 15);
  inflater i(15);
  std::vector<std::uint8_t> wire, back;
  const std::string msg(5000, 'a');
  BOOST_REQUIRE(d.compress(bytes(msg), wire, true));
  BOOST_CHECK_LT(wire.size(), 100u);
  // The tail is left off.
  BOOST_CHECK(!(wire.size() >= 4 && wire[wire.size() - 1] == 0xff && wire[wire.size() - 2] == 0xff));
  BOOST_REQUIRE(i.inflate(wire, back, 1 << 20, true) == inflater::result::ok);
  BOOST_CHECK_EQUAL(text(back), msg);
  // Again from a reset stream: the same bytes.
  std::vector<std::uint8_t> again;
  BOOST_REQUIRE(d.compress(bytes(msg), again, true));
  BOOST_CHECK(again == wire);
}

BOOST_AUTO_TEST_CASE(round_trip_with_context_takeover) {
  deflater d(6, 15);
  inflater i(15);
  const auto msg = bytes(R"({"type":"quote","symbol":"ACME","bid":101.25,"ask":101.5})");
  std::vector<std::uint8_t> first, second, back;
  BOOST_REQUIRE(d.compress(msg, first, false));
  BOOST_REQUIRE(d.compress(msg, second, false));
  BOOST_CHECK_LT(second.size(), first.size());  // refers back to the first
  BOOST_REQUIRE(i.inflate(first, back, 4096, false) == inflater::result::ok);
  BOOST_CHECK(back == msg);
  BOOST_REQUIRE(i.inflate(second, back, 4096, false) == inflater::result::ok);
  BOOST_CHECK(back == msg);
}

BOOST_AUTO_TEST_CASE(random_sizes_round_trip_in_small_windows) {
  std::mt19937 rng(7);
  for (int bits = 9; bits <= 15; ++bits) {
    deflater d(1 + bits % 9, bits);
    inflater i(bits);
    for (std::size_t n : {0u, 1u, 31u, 200u, 4096u, 70000u, 300000u}) {
      std::vector<std::uint8_t> msg(n);
      for (auto& b : msg) {
        b = static_cast<std::uint8_t>(rng() % 16);  // compressible, not trivially
      }
      std::vector<std::uint8_t> wire, back;
      BOOST_REQUIRE(d.compress(msg, wire, true));
      BOOST_REQUIRE(i.inflate(wire, back, 1 << 20, true) == inflater::result::ok);
      BOOST_CHECK(back == msg);
    }
  }
}

BOOST_AUTO_TEST_CASE(bomb_stops_at_the_limit) {
  deflater d(9, 15);
  std::vector<std::uint8_t> zeros(64 * 1024 * 1024), wire, out;
  BOOST_REQUIRE(d.compress(zeros, wire, true));
  BOOST_CHECK_LT(wire.size(), 100 * 1024u);
  inflater i(15);
  BOOST_CHECK(i.inflate(wire, out, 1024 * 1024, true) == inflater::result::too_big);
  // It stopped right past the limit, not after inflating 64 MiB.
  BOOST_CHECK_LE(out.size(), 1024 * 1024 + 1u);
  BOOST_CHECK_LE(out.capacity(), 2 * 1024 * 1024u);
  // Exactly at the limit is fine.
  std::vector<std::uint8_t> exact(1024 * 1024);
  BOOST_REQUIRE(d.compress(exact, wire, true));
  BOOST_CHECK(i.inflate(wire, out, exact.size(), true) == inflater::result::ok);
  BOOST_CHECK_EQUAL(out.size(), exact.size());
}

BOOST_AUTO_TEST_CASE(garbage_is_bad_data_and_the_stream_recovers) {
  inflater i(15);
  std::vector<std::uint8_t> out;
  const std::vector<std::uint8_t> garbage{0xff, 0xff, 0xff, 0xff, 0x12, 0x34};
  BOOST_CHECK(i.inflate(garbage, out, 4096, true) == inflater::result::bad_data);
  const std::vector<std::uint8_t> hello{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
  BOOST_REQUIRE(i.inflate(hello, out, 1024, false) == inflater::result::ok);
  BOOST_CHECK_EQUAL(text(out), "Hello");
}

BOOST_AUTO_TEST_CASE(pool_shares_streams_by_level_and_window) {
  deflate_pool pool;
  BOOST_CHECK_EQUAL(&pool.shared_deflater(6, 15), &pool.shared_deflater(6, 15));
  BOOST_CHECK_NE(&pool.shared_deflater(6, 15), &pool.shared_deflater(6, 12));
  BOOST_CHECK_NE(&pool.shared_deflater(1, 15), &pool.shared_deflater(6, 15));
  BOOST_CHECK_EQUAL(&pool.shared_inflater(), &pool.shared_inflater());
}

BOOST_AUTO_TEST_SUITE_END()
