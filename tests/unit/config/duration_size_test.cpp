// parse_duration and parse_size: the value syntax of SPEC section 3.
#include <boost/test/unit_test.hpp>

#include <string>

#include "config/config.hpp"

using tether::duration;
using tether::parse_duration;
using tether::parse_size;

BOOST_AUTO_TEST_SUITE(config_durations)

BOOST_AUTO_TEST_CASE(units) {
  BOOST_TEST(parse_duration("250ms").value().count() == 250);
  BOOST_TEST(parse_duration("20s").value().count() == 20'000);
  BOOST_TEST(parse_duration("5m").value().count() == 300'000);
  BOOST_TEST(parse_duration("1h").value().count() == 3'600'000);
}

BOOST_AUTO_TEST_CASE(zero_means_off_and_is_valid) {
  BOOST_TEST(parse_duration("0s").value().count() == 0);
  BOOST_TEST(parse_duration("0ms").value().count() == 0);
}

BOOST_AUTO_TEST_CASE(decimals) {
  BOOST_TEST(parse_duration("1.5s").value().count() == 1500);
  BOOST_TEST(parse_duration("0.25m").value().count() == 15'000);
  BOOST_TEST(parse_duration("0.001s").value().count() == 1);
  BOOST_TEST(parse_duration("2.50h").value().count() == 9'000'000);
}

BOOST_AUTO_TEST_CASE(below_a_millisecond_is_refused) {
  // Rounding would silently turn "0.4ms" into "off".
  BOOST_TEST(!parse_duration("0.4ms"));
  BOOST_TEST(!parse_duration("1.5ms"));
  BOOST_TEST(!parse_duration("0.0001s"));
}

BOOST_AUTO_TEST_CASE(malformed) {
  for (const char* text : {"", "20", "0", "s", "ms", "-1s", "+1s", "1.s", ".5s", "5 s", " 5s", "5s ",
                           "5S", "5MS", "1d", "10sec", "1e3ms", "1,5s", "5s5", "0x10s", "1h30m",
                           "abc", "1..5s"}) {
    BOOST_TEST(!parse_duration(text), "accepted \"" << text << "\"");
  }
}

BOOST_AUTO_TEST_CASE(overflow) {
  BOOST_TEST(!parse_duration("99999999999999999999999s"));
  BOOST_TEST(!parse_duration("18446744073709551615h"));
  BOOST_TEST(!parse_duration("2000000h"));  // beyond the ~31 year cap
  BOOST_TEST(parse_duration("8760h").value().count() == 8760LL * 3'600'000);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config_sizes)

BOOST_AUTO_TEST_CASE(plain_bytes) {
  BOOST_TEST(parse_size("512").value() == 512u);
  BOOST_TEST(parse_size("0").value() == 0u);
  BOOST_TEST(parse_size("512B").value() == 512u);
}

BOOST_AUTO_TEST_CASE(binary_units) {
  BOOST_TEST(parse_size("64KiB").value() == 64u * 1024);
  BOOST_TEST(parse_size("1MiB").value() == 1024u * 1024);
  BOOST_TEST(parse_size("1GiB").value() == 1024ull * 1024 * 1024);
}

BOOST_AUTO_TEST_CASE(decimal_units) {
  BOOST_TEST(parse_size("1KB").value() == 1000u);
  BOOST_TEST(parse_size("2MB").value() == 2'000'000u);
  BOOST_TEST(parse_size("3GB").value() == 3'000'000'000ull);
}

BOOST_AUTO_TEST_CASE(malformed) {
  for (const char* text : {"", "-1", "+1", "1.5MiB", "1kib", "1KIB", "1 KiB", "1TiB", "KiB", "1K",
                           "1k", "1M", "0x10", "1e3", "abc", " 1", "1 ", "1MiBx"}) {
    BOOST_TEST(!parse_size(text), "accepted \"" << text << "\"");
  }
}

BOOST_AUTO_TEST_CASE(overflow) {
  BOOST_TEST(!parse_size("18446744073709551616"));
  BOOST_TEST(!parse_size("18446744073709551615GiB"));
  BOOST_TEST(!parse_size("99999999999GiB"));
  BOOST_TEST(parse_size("18446744073709551615").value() == 18446744073709551615ull);
}

BOOST_AUTO_TEST_SUITE_END()
