#pragma once
// Counters for /metrics (SPEC section 9). Every counter is sharded per worker
// thread and written only by its own thread (a plain load+store, no locked
// instruction), so counting a message costs a few nanoseconds and never
// bounces a cache line between cores. The admin thread sums the shards.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tether {

/// A counter with a single writer thread.
struct counter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

/// A gauge with a single writer thread (it may go negative in one shard;
/// only the sum is meaningful).
struct gauge {
  std::atomic<std::int64_t> v{0};
  void add(std::int64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::int64_t get() const { return v.load(std::memory_order_relaxed); }
};

inline constexpr std::array<double, 10> outage_buckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

struct histogram {
  std::array<counter, outage_buckets.size()> buckets;  // cumulative at render time
  counter count;
  std::atomic<double> sum{0};
  void observe(double seconds);
};

enum class leg_kind { client = 0, upstream = 1 };

struct alignas(64) route_shard {
  gauge sessions_active;
  counter sessions_total;
  counter messages[2];  // [0] client_to_upstream, [1] upstream_to_client
  counter bytes[2];
  counter pings_sent[2];          // by leg_kind
  counter heartbeat_timeouts[2];  // by leg_kind
  counter app_heartbeats_sent;
  counter app_heartbeats_answered;
  counter reconnect_success;
  counter reconnect_gave_up;
  gauge buffered_messages;
  histogram outage;
};

enum class handshake_failure {
  tls,
  timeout,
  bad_request,
  not_found,
  forbidden,
  overloaded,
  upstream_unreachable,
  upstream_rejected,
  count_
};
const char* to_string(handshake_failure f);

struct alignas(64) listener_shard {
  std::array<counter, static_cast<std::size_t>(handshake_failure::count_)> failures;
};

/// Stats of one route (by name) across all workers; outlives config reloads.
struct route_stats {
  explicit route_stats(std::size_t workers) : shards(workers) {}
  std::vector<route_shard> shards;
};

struct listener_stats {
  explicit listener_stats(std::size_t workers) : shards(workers) {}
  std::vector<listener_shard> shards;
};

/// All metrics of the process. Lookup by name happens when a session or a
/// listener starts, never per message.
class metrics {
 public:
  explicit metrics(std::size_t workers) : workers_(workers) {}
  route_stats& route(const std::string& name);
  listener_stats& listener(const std::string& name);
  void config_reload(bool ok);
  /// Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  std::size_t workers_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<route_stats>> routes_;
  std::map<std::string, std::unique_ptr<listener_stats>> listeners_;
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
};

}  // namespace tether
