#include "server/heap_trim.hpp"

#include <malloc.h>

#include <spdlog/spdlog.h>

namespace tether {

heap_trimmer::heap_trimmer(net::io_context& ioc, const std::atomic<std::uint64_t>& accepted)
    : timer_(ioc), accepted_(accepted) {}

void heap_trimmer::start() {
  stopped_ = false;
  arm();
}

void heap_trimmer::stop() {
  stopped_ = true;
  timer_.cancel();
}

void heap_trimmer::arm() {
  timer_.expires_after(period);
  timer_.async_wait([this](error_code ec) {
    if (!ec && !stopped_) {
      on_tick();
      arm();
    }
  });
}

void heap_trimmer::on_tick() {
  const auto now = accepted_.load(std::memory_order_relaxed);
  // Quiet for a whole period after a burst: the burst's handshakes are over.
  if (now == seen_ && now - trimmed_at_ >= min_burst) {
    const auto t0 = steady::now();
    ::malloc_trim(0);
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
    spdlog::debug("heap trimmed after {} connections in {} us", now - trimmed_at_, took.count());
    trimmed_at_ = now;
    ++trims_;
  }
  seen_ = now;
}

}  // namespace tether
