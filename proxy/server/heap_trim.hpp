#pragma once
// Gives freed heap back to the OS once a burst of new connections is over.
// Each handshake allocates tens of KiB that live only as long as it does
// (TLS record buffers, key exchange, the upgrade request), in between the
// objects of sessions that stay. glibc keeps the holes they leave resident:
// about 1 KiB per session after a thousand handshakes, 64 at a time.
// malloc_trim hands the whole free pages among them back (MADV_DONTNEED).
// It runs once per burst, after new connections have stopped for a moment,
// never per connection.
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "net.hpp"

namespace tether {

class heap_trimmer {
 public:
  /// `accepted`: connections accepted so far, by every listener.
  heap_trimmer(net::io_context& ioc, const std::atomic<std::uint64_t>& accepted);
  void start();
  void stop();
  /// Trims done so far.
  std::uint64_t trims() const { return trims_; }

 private:
  using steady = std::chrono::steady_clock;
  static constexpr auto period = std::chrono::milliseconds(500);
  // Fewer new connections than this leave too little behind to be worth it.
  static constexpr std::uint64_t min_burst = 32;

  void arm();
  void on_tick();

  net::steady_timer timer_;
  const std::atomic<std::uint64_t>& accepted_;
  std::uint64_t seen_ = 0;
  std::uint64_t trimmed_at_ = 0;
  std::uint64_t trims_ = 0;
  bool stopped_ = false;
};

}  // namespace tether
