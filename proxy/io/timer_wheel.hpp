#pragma once
// One coarse timer per worker thread for every session on it. A session keeps
// a single entry holding its next deadline; activity only stamps a time in
// the session (no re-arm per message), and the session recomputes its next
// deadline when the wheel calls it. 100k sessions cost one wake-up per tick.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

#include "net.hpp"

namespace tether {

using steady = std::chrono::steady_clock;

class timer_wheel;

/// Something the wheel calls back; unlinks itself when destroyed.
class wheel_entry {
 public:
  wheel_entry() = default;
  wheel_entry(const wheel_entry&) = delete;
  wheel_entry& operator=(const wheel_entry&) = delete;
  virtual ~wheel_entry();

  /// Called on the wheel's thread at or shortly after the deadline.
  virtual void on_timer(steady::time_point now) = 0;
  bool scheduled() const { return wheel_ != nullptr; }

 private:
  friend class timer_wheel;
  timer_wheel* wheel_ = nullptr;
  wheel_entry* prev_ = nullptr;
  wheel_entry* next_ = nullptr;
  std::uint64_t due_tick_ = 0;
};

class timer_wheel {
 public:
  /// `tick`: resolution; deadlines are rounded up to it.
  timer_wheel(net::io_context& ioc, std::chrono::milliseconds tick);
  ~timer_wheel();

  /// (Re)schedules `e` at `when`; an entry has at most one deadline.
  void schedule(wheel_entry& e, steady::time_point when);
  void cancel(wheel_entry& e);
  std::size_t size() const { return size_; }
  std::chrono::milliseconds tick() const { return tick_; }
  /// Stops the periodic timer (shutdown).
  void stop();

 private:
  static constexpr std::size_t slots = 4096;
  void arm();
  void on_tick();
  /// The first tick at or after `t` (an entry due at `t` runs then).
  std::uint64_t tick_of(steady::time_point t) const;
  /// The last tick at or before `t`.
  std::uint64_t ticks_passed(steady::time_point t) const;

  net::steady_timer timer_;
  std::chrono::milliseconds tick_;
  steady::time_point origin_;
  std::uint64_t next_tick_ = 0;  // every tick below this has been run
  std::vector<wheel_entry*> heads_;
  std::size_t size_ = 0;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace tether
