#pragma once
// Whether a worker is busy enough to coalesce (see poller.hpp). The worker
// reports each stretch of work; at the end of every load window the gate
// compares the busy share with two thresholds. It opens only after several
// busy windows in a row, because saturation lasts while a burst at moderate
// load fills a window or two, and there coalescing would only add latency.
// It closes after one window below the lower threshold (hysteresis: the
// coalescing delays themselves lower the share).
#include <chrono>

namespace tether {

class load_gate {
 public:
  using clock = std::chrono::steady_clock;

  static constexpr int busy_percent_on = 60;
  static constexpr int busy_percent_off = 45;
  static constexpr int windows_on = 3;
  static constexpr std::chrono::milliseconds window{10};

  explicit load_gate(clock::time_point now) : window_start_(now) {}

  /// The worker was busy from `start` to `end`.
  void account(clock::time_point start, clock::time_point end) {
    busy_ += end - start;
    const auto elapsed = end - window_start_;
    if (elapsed < window) {
      return;
    }
    const auto busy_percent = busy_ * 100 / elapsed;
    if (open_) {
      open_ = busy_percent >= busy_percent_off;
      busy_windows_ = 0;
    } else {
      busy_windows_ = busy_percent >= busy_percent_on ? busy_windows_ + 1 : 0;
      open_ = busy_windows_ >= windows_on;
    }
    window_start_ = end;
    busy_ = {};
  }

  bool open() const { return open_; }

 private:
  clock::time_point window_start_;
  clock::duration busy_{};
  int busy_windows_ = 0;  // consecutive windows at or above the "on" share
  bool open_ = false;
};

}  // namespace tether
