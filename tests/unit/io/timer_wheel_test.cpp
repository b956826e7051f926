// The worker's timer wheel on a real io_context: entries run at or after
// their deadline and within a few ticks of it, once, in any slot of the
// wheel's turn or beyond it, and never after they were cancelled or destroyed.
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "io/timer_wheel.hpp"

namespace {

using namespace std::chrono_literals;
using tether::steady;

struct probe final : tether::wheel_entry {
  std::vector<steady::time_point> fired;
  std::function<void(probe&, steady::time_point)> then;
  void on_timer(steady::time_point now) override {
    fired.push_back(now);
    if (then) {
      then(*this, now);
    }
  }
};

struct wheel_fixture {
  boost::asio::io_context ioc;
  tether::timer_wheel wheel{ioc, 5ms};

  /// Runs the loop until `done` or `limit`.
  void run_until(const std::function<bool()>& done, steady::duration limit = 3s) {
    const auto end = steady::now() + limit;
    while (!done() && steady::now() < end) {
      ioc.restart();  // a loop that ran out of work stays stopped until then
      ioc.run_for(2ms);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(timer_wheel_test)

BOOST_FIXTURE_TEST_CASE(an_entry_runs_once_not_before_its_deadline, wheel_fixture) {
  probe p;
  const auto due = steady::now() + 40ms;
  wheel.schedule(p, due);
  BOOST_CHECK(p.scheduled());
  BOOST_CHECK_EQUAL(wheel.size(), 1u);
  run_until([&] { return !p.fired.empty(); });
  BOOST_REQUIRE_EQUAL(p.fired.size(), 1u);
  BOOST_CHECK(p.fired[0] >= due);
  // A loaded machine may wake the loop late; the wheel adds at most a tick.
  BOOST_CHECK(p.fired[0] < due + 500ms);
  BOOST_CHECK(!p.scheduled());
  BOOST_CHECK_EQUAL(wheel.size(), 0u);
  ioc.restart();
  ioc.run_for(50ms);
  BOOST_CHECK_EQUAL(p.fired.size(), 1u);
}

BOOST_FIXTURE_TEST_CASE(entries_run_in_deadline_order_across_slots, wheel_fixture) {
  std::vector<int> order;
  std::vector<std::unique_ptr<probe>> probes;
  const auto start = steady::now();
  for (int i : {3, 0, 4, 1, 2}) {
    auto p = std::make_unique<probe>();
    p->then = [&order, i](probe&, steady::time_point) { order.push_back(i); };
    wheel.schedule(*p, start + 20ms * (i + 1));
    probes.push_back(std::move(p));
  }
  run_until([&] { return order.size() == 5; });
  const std::vector<int> want{0, 1, 2, 3, 4};
  BOOST_CHECK_EQUAL_COLLECTIONS(order.begin(), order.end(), want.begin(), want.end());
}

BOOST_FIXTURE_TEST_CASE(rescheduling_moves_the_one_deadline, wheel_fixture) {
  probe p;
  const auto start = steady::now();
  wheel.schedule(p, start + 20ms);
  wheel.schedule(p, start + 120ms);
  BOOST_CHECK_EQUAL(wheel.size(), 1u);
  run_until([&] { return !p.fired.empty(); });
  BOOST_REQUIRE_EQUAL(p.fired.size(), 1u);
  BOOST_CHECK(p.fired[0] >= start + 120ms);
}

BOOST_FIXTURE_TEST_CASE(cancelled_and_destroyed_entries_never_run, wheel_fixture) {
  probe kept;
  probe cancelled;
  auto destroyed = std::make_unique<probe>();
  const auto due = steady::now() + 30ms;
  wheel.schedule(cancelled, due);
  wheel.schedule(*destroyed, due);
  wheel.schedule(kept, due + 20ms);
  wheel.cancel(cancelled);
  destroyed.reset();
  BOOST_CHECK_EQUAL(wheel.size(), 1u);
  run_until([&] { return !kept.fired.empty(); });
  BOOST_CHECK_EQUAL(kept.fired.size(), 1u);
  BOOST_CHECK(cancelled.fired.empty());
}

BOOST_FIXTURE_TEST_CASE(an_entry_may_reschedule_itself_from_its_callback, wheel_fixture) {
  probe p;
  p.then = [this](probe& self, steady::time_point now) {
    if (self.fired.size() < 3) {
      wheel.schedule(self, now + 10ms);
    }
  };
  wheel.schedule(p, steady::now());
  run_until([&] { return p.fired.size() == 3; });
  BOOST_REQUIRE_EQUAL(p.fired.size(), 3u);
  BOOST_CHECK(p.fired[1] >= p.fired[0] + 10ms);
  BOOST_CHECK(p.fired[2] >= p.fired[1] + 10ms);
  ioc.restart();
  ioc.run_for(50ms);
  BOOST_CHECK_EQUAL(p.fired.size(), 3u);
}

BOOST_FIXTURE_TEST_CASE(a_deadline_past_a_whole_turn_waits_for_its_turn, wheel_fixture) {
  // 4096 slots of 5 ms: a deadline 21 s out shares its slot with one 30 ms
  // out (21 s is one turn plus 30 ms, near enough to land in the same or a
  // neighbouring slot), and must not run with it.
  probe near;
  probe far;
  const auto start = steady::now();
  wheel.schedule(near, start + 30ms);
  wheel.schedule(far, start + 30ms + 4096 * 5ms);
  run_until([&] { return !near.fired.empty(); });
  ioc.restart();
  ioc.run_for(100ms);
  BOOST_CHECK_EQUAL(near.fired.size(), 1u);
  BOOST_CHECK(far.fired.empty());
  BOOST_CHECK(far.scheduled());
  BOOST_CHECK_EQUAL(wheel.size(), 1u);
}

BOOST_FIXTURE_TEST_CASE(a_deadline_in_the_past_runs_at_the_next_tick, wheel_fixture) {
  probe p;
  wheel.schedule(p, steady::now() - 1s);
  run_until([&] { return !p.fired.empty(); }, 1s);
  BOOST_CHECK_EQUAL(p.fired.size(), 1u);
}

BOOST_AUTO_TEST_SUITE_END()
