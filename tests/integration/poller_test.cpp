// The poller's coalescing under load: a busy worker waits its delay between
// batches of several ready sockets; a worker with time to spare, or a batch
// of a few sockets, never waits. Real TCP sockets on loopback, the poller on
// its own io_context.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "io/poller.hpp"
#include "io/poller_wait.hpp"
#include "test_support.hpp"

namespace {

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;
using ms = std::chrono::duration<double, std::milli>;
using namespace std::chrono_literals;

/// A connected loopback pair: `near` is written by the test, `far` sits in
/// the poller (non-blocking).
struct tcp_pair {
  int near = -1;
  int far = -1;
  ~tcp_pair() {
    ::close(near);
    ::close(far);
  }
};

std::vector<std::unique_ptr<tcp_pair>> make_pairs(int count) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(listener, count) == 0);
  BOOST_REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  std::vector<std::unique_ptr<tcp_pair>> pairs;
  for (int i = 0; i < count; ++i) {
    auto p = std::make_unique<tcp_pair>();
    p->near = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(::connect(p->near, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const int one = 1;
    ::setsockopt(p->near, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    p->far = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK);
    BOOST_REQUIRE(p->far >= 0);
    pairs.push_back(std::move(p));
  }
  ::close(listener);
  return pairs;
}

void send_byte(int fd) { BOOST_REQUIRE(::send(fd, "x", 1, 0) == 1); }

/// Reads whatever arrived and tells `on_data` when there was some.
class reader final : public tether::pollable {
 public:
  reader(int fd, std::function<void()> on_data) : fd_(fd), on_data_(std::move(on_data)) {}
  void on_ready(tether::readiness r) override {
    if (!r.readable) {
      return;
    }
    char buf[64];
    bool got = false;
    while (::recv(fd_, buf, sizeof buf, 0) > 0) {
      got = true;
    }
    if (got) {
      on_data_();
    }
  }
  void flush() override {}

 private:
  int fd_;
  std::function<void()> on_data_;
};

/// Runs `ioc` until it stops, at most a few seconds.
void run_bounded(net::io_context& ioc) {
  ioc.run_for(5s);
  BOOST_REQUIRE_MESSAGE(ioc.stopped(), "the poller never saw the expected reads");
}

/// Keeps the worker's thread busy, as relaying would.
void spin_for(clock_type::duration d) {
  const auto until = clock_type::now() + d;
  while (clock_type::now() < until) {
  }
}

struct batches_seen {
  clock_type::duration longest_gap{};  // from the end of a batch to the start of the next
  clock_type::duration total{};
};

/// `sockets` ready together, `rounds` times: each read spends `work` and
/// then makes its socket ready again for the next batch.
batches_seen run_batches(std::chrono::microseconds coalesce, int sockets, int rounds,
                         clock_type::duration work) {
  net::io_context ioc(1);
  tether::poller poller(ioc, coalesce);
  auto pairs = make_pairs(sockets);
  int reads = 0;
  batches_seen seen;
  clock_type::time_point batch_end;
  std::vector<std::unique_ptr<reader>> readers;
  for (auto& p : pairs) {
    readers.push_back(std::make_unique<reader>(p->far, [&, near = p->near] {
      const int in_batch = reads++ % sockets;
      if (in_batch == 0 && reads > 1) {
        seen.longest_gap = std::max(seen.longest_gap, clock_type::now() - batch_end);
      }
      spin_for(work);
      if (reads == sockets * rounds) {
        poller.stop();
        ioc.stop();
        return;
      }
      // Its own socket, so the byte is read in the next batch, not this one.
      send_byte(near);
      if (in_batch == sockets - 1) {
        batch_end = clock_type::now();
      }
    }));
    BOOST_REQUIRE(!poller.add(p->far, *readers.back()));
  }
  for (auto& p : pairs) {
    send_byte(p->near);
  }
  // Let every byte land before the first look, so the first batch has all.
  std::this_thread::sleep_for(20ms);
  const auto start = clock_type::now();
  run_bounded(ioc);
  seen.total = clock_type::now() - start;
  BOOST_TEST(reads == sockets * rounds);
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(poller_test)

// CTest runs the socket suites twice, the second time with
// TETHER_ASIO_PUBLIC_API=1: that run must really use the public-API wait.
BOOST_AUTO_TEST_CASE(the_wait_in_use_is_the_one_asked_for) {
  const char* forced = std::getenv("TETHER_ASIO_PUBLIC_API");
  const bool public_api = forced != nullptr && std::string(forced) == "1";
  BOOST_TEST(std::string(tether::poller_wait::kind()) == (public_api ? "public" : "reactor"));
}

// Six sockets, and each read keeps the thread busy for a millisecond: the
// worker is loaded, so between batches it sleeps the delay (100 ms here).
BOOST_AUTO_TEST_CASE(a_loaded_worker_waits_the_coalescing_delay_between_batches) {
  const auto seen = run_batches(100ms, 6, 12, 1ms);
  BOOST_TEST_MESSAGE("longest gap " << ms(seen.longest_gap).count() << " ms");
  BOOST_TEST(ms(seen.longest_gap).count() >= 90.0);
}

BOOST_AUTO_TEST_CASE(without_coalescing_a_loaded_worker_never_waits) {
  const auto seen = run_batches(0us, 6, 12, 1ms);
  BOOST_TEST(ms(seen.longest_gap).count() < 60.0);
}

// The same batches with no work in them: the worker has time to spare, so
// waking it is affordable and a delay would only add latency.
BOOST_AUTO_TEST_CASE(a_worker_with_time_to_spare_never_waits) {
  const auto seen = run_batches(100ms, 6, 12, 0ms);
  BOOST_TEST(ms(seen.longest_gap).count() < 60.0);
}

// One socket, twenty round trips, each read keeping the thread busy for two
// milliseconds: loaded, but a batch of one never waits. The work takes 40 ms;
// a 200 ms delay whenever the worker counts as loaded would add at least 600.
BOOST_AUTO_TEST_CASE(a_batch_of_few_sockets_never_waits) {
  const auto seen = run_batches(200ms, 1, 20, 2ms);
  BOOST_TEST(ms(seen.total).count() < 300.0);
}

BOOST_AUTO_TEST_SUITE_END()
