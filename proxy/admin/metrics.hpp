#pragma once
// Counters for /metrics (SPEC section 9), declared in metric_list.hpp.
// Every counter is sharded per worker thread and written only by its own
// thread (a plain load+store, no locked
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

#include "admin/metric_labels.hpp"
#include "admin/metric_list.hpp"

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

/// One counter per value of a label: `messages[direction::upstream_to_client]`.
template <class E>
struct by {
  std::array<counter, label_of<E>::values.size()> at;
  counter& operator[](E e) { return at[static_cast<std::size_t>(e)]; }
};

/// One counter per pair of values of two labels.
template <class E, class F>
struct by2 {
  std::array<by<F>, label_of<E>::values.size()> at;
  counter& operator()(E e, F f) { return at[static_cast<std::size_t>(e)][f]; }
};
using by_leg_and_code = by2<leg_kind, close_kind>;

#define TETHER_METRIC_MEMBER(member, name, type, help) type member;

struct alignas(64) route_shard {
  TETHER_ROUTE_METRICS(TETHER_METRIC_MEMBER)
};

struct alignas(64) listener_shard {
  TETHER_LISTENER_METRICS(TETHER_METRIC_MEMBER)
};

#undef TETHER_METRIC_MEMBER

/// Stats of one route (by name) across all workers; outlives config reloads.
struct route_stats {
  explicit route_stats(std::size_t workers) : shards(workers) {}
  std::vector<route_shard> shards;
};

struct listener_stats {
  explicit listener_stats(std::size_t workers) : shards(workers) {}
  std::vector<listener_shard> shards;
#define TETHER_LISTENER_GAUGE(member, name, help) std::atomic<std::size_t> member{0};
  TETHER_LISTENER_GAUGES(TETHER_LISTENER_GAUGE)
#undef TETHER_LISTENER_GAUGE
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
