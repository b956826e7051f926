#include "admin/metrics.hpp"

#include <fmt/format.h>

#include <type_traits>
#include <utility>

#include "admin/process_metrics.hpp"

namespace tether {

void histogram::observe(double seconds) {
  for (std::size_t i = 0; i < outage_buckets.size(); ++i) {
    if (seconds <= outage_buckets[i]) {
      buckets[i].add();
      break;
    }
  }
  count.add();
  sum.store(sum.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
}

route_stats& metrics::route(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = routes_[name];
  if (!slot) {
    slot = std::make_unique<route_stats>(workers_);
  }
  return *slot;
}

listener_stats& metrics::listener(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto& slot = listeners_[name];
  if (!slot) {
    slot = std::make_unique<listener_stats>(workers_);
  }
  return *slot;
}

void metrics::config_reload(bool ok) {
  (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
}

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void line(std::string& out, const char* name, std::string_view labels, auto value) {
  fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
}

// The Prometheus type of each kind of member.
const char* type_of(const counter*) { return "counter"; }
const char* type_of(const gauge*) { return "gauge"; }
const char* type_of(const histogram*) { return "histogram"; }
template <class E>
const char* type_of(const by<E>*) {
  return "counter";
}
template <class E, class F>
const char* type_of(const by2<E, F>*) {
  return "counter";
}

// One family's samples for one route or listener: the shards summed.
template <class Shard, class T>
  requires std::is_same_v<T, counter> || std::is_same_v<T, gauge>
void samples(std::string& out, const char* name, const std::string& labels,
             const std::vector<Shard>& shards, T Shard::*m) {
  decltype(std::declval<const T&>().get()) sum = 0;
  for (const auto& sh : shards) {
    sum += (sh.*m).get();
  }
  line(out, name, labels, sum);
}

template <class Shard, class E>
void samples(std::string& out, const char* name, const std::string& labels,
             const std::vector<Shard>& shards, by<E> Shard::*m) {
  for (std::size_t i = 0; i < label_of<E>::values.size(); ++i) {
    std::uint64_t sum = 0;
    for (const auto& sh : shards) {
      sum += (sh.*m).at[i].get();
    }
    line(out, name, fmt::format("{},{}=\"{}\"", labels, label_of<E>::name, label_of<E>::values[i]),
         sum);
  }
}

template <class Shard, class E, class F>
void samples(std::string& out, const char* name, const std::string& labels,
             const std::vector<Shard>& shards, by2<E, F> Shard::*m) {
  for (std::size_t i = 0; i < label_of<E>::values.size(); ++i) {
    for (std::size_t j = 0; j < label_of<F>::values.size(); ++j) {
      std::uint64_t sum = 0;
      for (const auto& sh : shards) {
        sum += (sh.*m).at[i].at[j].get();
      }
      line(out, name,
           fmt::format("{},{}=\"{}\",{}=\"{}\"", labels, label_of<E>::name, label_of<E>::values[i],
                       label_of<F>::name, label_of<F>::values[j]),
           sum);
    }
  }
}

template <class Shard>
void samples(std::string& out, const char* name, const std::string& labels,
             const std::vector<Shard>& shards, histogram Shard::*m) {
  const std::string bucket = fmt::format("{}_bucket", name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < outage_buckets.size(); ++i) {
    for (const auto& sh : shards) {
      cumulative += (sh.*m).buckets[i].get();
    }
    line(out, bucket.c_str(), fmt::format("{},le=\"{}\"", labels, outage_buckets[i]), cumulative);
  }
  std::uint64_t count = 0;
  double sum = 0;
  for (const auto& sh : shards) {
    count += (sh.*m).count.get();
    sum += (sh.*m).sum.load(std::memory_order_relaxed);
  }
  line(out, bucket.c_str(), labels + ",le=\"+Inf\"", count);
  line(out, fmt::format("{}_sum", name).c_str(), labels, sum);
  line(out, fmt::format("{}_count", name).c_str(), labels, count);
}

/// One metric family: its header, then its samples for every route (or
/// listener), labelled with `scope`="<name>".
template <class Stats, class Shard, class T>
void family(std::string& out, const char* name, const char* help, const char* scope,
            const std::map<std::string, std::unique_ptr<Stats>>& all, T Shard::*m) {
  header(out, name, type_of(static_cast<const T*>(nullptr)), help);
  for (const auto& [key, stats] : all) {
    samples(out, name, fmt::format("{}=\"{}\"", scope, key), stats->shards, m);
  }
}

}  // namespace

std::string metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
#define TETHER_ROUTE_FAMILY(member, name, type, help) \
  family(out, name, help, "route", routes_, &route_shard::member);
#define TETHER_LISTENER_FAMILY(member, name, type, help) \
  family(out, name, help, "listener", listeners_, &listener_shard::member);
#define TETHER_LISTENER_GAUGE(member, name, help)                                  \
  header(out, name, "gauge", help);                                               \
  for (const auto& [key, stats] : listeners_) {                                   \
    line(out, name, fmt::format("listener=\"{}\"", key), stats->member.load());    \
  }
  TETHER_ROUTE_METRICS(TETHER_ROUTE_FAMILY)
  TETHER_LISTENER_METRICS(TETHER_LISTENER_FAMILY)
  TETHER_LISTENER_GAUGES(TETHER_LISTENER_GAUGE)
#undef TETHER_ROUTE_FAMILY
#undef TETHER_LISTENER_FAMILY
#undef TETHER_LISTENER_GAUGE

  header(out, "tether_config_reloads_total", "counter", "Configuration reloads.");
  line(out, "tether_config_reloads_total", "result=\"success\"", reloads_ok_.load());
  line(out, "tether_config_reloads_total", "result=\"failure\"", reloads_failed_.load());
  render_process_metrics(out);
  return out;
}

}  // namespace tether
