// The load gate on a synthetic clock: each window is 10 ms, and a "window at
// N%" is a stretch of N% work followed by idle time up to the window's end.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <initializer_list>

#include "io/load_gate.hpp"

namespace {

using tether::load_gate;
using namespace std::chrono_literals;

struct feed {
  load_gate::clock::time_point now = load_gate::clock::time_point{} + 1h;
  load_gate gate{now};

  /// One window: busy for `percent` of it, then a last (empty) batch at its end.
  void window(int percent) {
    const auto busy = std::chrono::microseconds(load_gate::window) * percent / 100;
    gate.account(now, now + busy);
    now += load_gate::window;
    gate.account(now, now);
  }

  void windows(std::initializer_list<int> percents) {
    for (int percent : percents) {
      window(percent);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(load_gate_test)

BOOST_AUTO_TEST_CASE(opens_after_three_busy_windows_in_a_row) {
  feed f;
  f.windows({60, 60});
  BOOST_TEST(!f.gate.open());
  f.window(60);
  BOOST_TEST(f.gate.open());
}

// A burst at moderate load: two busy windows, then one with time to spare.
BOOST_AUTO_TEST_CASE(a_quiet_window_starts_the_count_again) {
  feed f;
  f.windows({100, 100, 30, 100, 100});
  BOOST_TEST(!f.gate.open());
  f.window(100);
  BOOST_TEST(f.gate.open());
}

BOOST_AUTO_TEST_CASE(a_window_below_the_upper_share_does_not_count) {
  feed f;
  f.windows({59, 59, 59, 59, 59, 59, 59, 59, 59, 59});
  BOOST_TEST(!f.gate.open());
}

// The delays lower the busy share; between the two shares the gate stays
// as it was.
BOOST_AUTO_TEST_CASE(once_open_it_closes_only_below_the_lower_share) {
  feed f;
  f.windows({100, 100, 100});
  BOOST_REQUIRE(f.gate.open());
  f.windows({46, 46});
  BOOST_TEST(f.gate.open());
  f.window(44);
  BOOST_TEST(!f.gate.open());
  f.window(100);
  BOOST_TEST(!f.gate.open());
}

// Work reported in many short batches counts the same as one long one, and
// a window is judged only when it has run its length.
BOOST_AUTO_TEST_CASE(short_batches_add_up_within_a_window) {
  feed f;
  auto ten_batches = [&f] {
    for (int i = 0; i < 10; ++i) {
      f.gate.account(f.now, f.now + 800us);
      f.now += 1ms;
    }
    f.gate.account(f.now, f.now);
  };
  ten_batches();
  ten_batches();
  BOOST_TEST(!f.gate.open());
  ten_batches();
  BOOST_TEST(f.gate.open());
}

BOOST_AUTO_TEST_SUITE_END()
