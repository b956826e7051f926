#pragma once
// What a session needs to know about the listener that accepted it. One per
// configured listener name; survives reloads (certificates are swapped in).
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "admin/metrics.hpp"
#include "tls/tls_context.hpp"

namespace tether {

class listener_context {
 public:
  listener_context(std::string name, listener_stats& stats) : name_(std::move(name)), stats_(stats) {}

  const std::string& name() const { return name_; }
  listener_stats& stats() { return stats_; }

  std::shared_ptr<server_tls> tls() const {
    std::lock_guard lock(mutex_);
    return tls_;
  }
  void set_tls(std::shared_ptr<server_tls> tls) {
    std::lock_guard lock(mutex_);
    tls_ = std::move(tls);
  }
  std::size_t max_connections() const { return stats_.max_connections.load(std::memory_order_relaxed); }
  void set_max_connections(std::size_t n) { stats_.max_connections.store(n, std::memory_order_relaxed); }

  /// Connections currently open on this listener (all workers).
  std::atomic<std::size_t>& active() { return stats_.connections; }

 private:
  std::string name_;
  listener_stats& stats_;
  mutable std::mutex mutex_;
  std::shared_ptr<server_tls> tls_;
};

}  // namespace tether
