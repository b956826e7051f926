// The poller's coalescing under load: after a batch of several ready sockets
// it waits its delay before looking again, and a batch of one or two never
// waits. Real TCP sockets on loopback, the poller on its own io_context.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "poller.hpp"
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
  void on_ready(std::uint32_t events) override {
    if ((events & EPOLLIN) == 0) {
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

/// Six sockets ready at once; while handling them the test writes to the
/// first again. Returns how long after that write the poller read it.
clock_type::duration second_look_after(std::chrono::microseconds coalesce) {
  net::io_context ioc(1);
  tether::poller poller(ioc, coalesce);
  auto pairs = make_pairs(6);
  int reads = 0;
  clock_type::time_point rewritten;
  clock_type::duration gap{};
  std::vector<std::unique_ptr<reader>> readers;
  for (auto& p : pairs) {
    readers.push_back(std::make_unique<reader>(p->far, [&, near = p->near] {
      if (++reads == 1) {
        // Its own socket, so the byte cannot be read in this same batch.
        rewritten = clock_type::now();
        send_byte(near);
      } else if (reads == static_cast<int>(pairs.size()) + 1) {
        gap = clock_type::now() - rewritten;
        poller.stop();
        ioc.stop();
      }
    }));
    BOOST_REQUIRE(!poller.add(p->far, *readers.back()));
  }
  for (auto& p : pairs) {
    send_byte(p->near);
  }
  // Let every byte land before the first look, so one batch has all six.
  std::this_thread::sleep_for(50ms);
  run_bounded(ioc);
  return gap;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(poller_test)

BOOST_AUTO_TEST_CASE(a_busy_batch_waits_the_coalescing_delay_before_the_next_look) {
  const auto gap = second_look_after(150ms);
  BOOST_TEST_MESSAGE("second look after " << ms(gap).count() << " ms");
  BOOST_TEST(ms(gap).count() >= 140.0);
  BOOST_TEST(ms(gap).count() < 2000.0);
}

BOOST_AUTO_TEST_CASE(without_coalescing_the_next_look_is_at_once) {
  const auto gap = second_look_after(0us);
  BOOST_TEST(ms(gap).count() < 100.0);
}

BOOST_AUTO_TEST_CASE(light_traffic_never_waits) {
  // One socket, twenty round trips through the poller: with a 150 ms delay
  // applied to every batch this would take three seconds.
  net::io_context ioc(1);
  tether::poller poller(ioc, 150ms);
  auto pairs = make_pairs(1);
  int reads = 0;
  reader r(pairs[0]->far, [&] {
    if (++reads == 20) {
      poller.stop();
      ioc.stop();
    } else {
      send_byte(pairs[0]->near);
    }
  });
  BOOST_REQUIRE(!poller.add(pairs[0]->far, r));
  const auto start = clock_type::now();
  send_byte(pairs[0]->near);
  run_bounded(ioc);
  BOOST_TEST(reads == 20);
  BOOST_TEST(ms(clock_type::now() - start).count() < 1000.0);
}

BOOST_AUTO_TEST_SUITE_END()
