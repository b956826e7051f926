// The heap trimmer: once per burst of new connections, after they stop for a
// whole period (500 ms), never while they keep coming or after a few only.
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>

#include "server/heap_trim.hpp"

namespace {

using namespace std::chrono_literals;

struct trim_fixture {
  boost::asio::io_context ioc;
  std::atomic<std::uint64_t> accepted{0};
  tether::heap_trimmer trimmer{ioc, accepted};
  trim_fixture() { trimmer.start(); }
  ~trim_fixture() { trimmer.stop(); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(heap_trim_test)

BOOST_FIXTURE_TEST_CASE(a_burst_is_trimmed_once_after_it_ends, trim_fixture) {
  accepted = 64;
  ioc.run_for(1300ms);  // a period to see the burst, one quiet period, margin
  BOOST_CHECK_EQUAL(trimmer.trims(), 1u);
  ioc.run_for(1100ms);  // nothing new: nothing more to give back
  BOOST_CHECK_EQUAL(trimmer.trims(), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_few_connections_are_not_worth_a_trim, trim_fixture) {
  accepted = 31;
  ioc.run_for(1300ms);
  BOOST_CHECK_EQUAL(trimmer.trims(), 0u);
}

BOOST_FIXTURE_TEST_CASE(no_trim_while_connections_keep_coming, trim_fixture) {
  const auto end = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < end) {
    accepted += 40;
    ioc.run_for(100ms);
  }
  BOOST_CHECK_EQUAL(trimmer.trims(), 0u);
  ioc.run_for(1300ms);
  BOOST_CHECK_EQUAL(trimmer.trims(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
