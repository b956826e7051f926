#include "metrics.hpp"

#include <fmt/format.h>

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

const char* to_string(handshake_failure f) {
  switch (f) {
    case handshake_failure::tls: return "tls";
    case handshake_failure::timeout: return "timeout";
    case handshake_failure::bad_request: return "bad_request";
    case handshake_failure::not_found: return "not_found";
    case handshake_failure::forbidden: return "forbidden";
    case handshake_failure::overloaded: return "overloaded";
    case handshake_failure::upstream_unreachable: return "upstream_unreachable";
    case handshake_failure::upstream_rejected: return "upstream_rejected";
    case handshake_failure::count_: break;
  }
  return "unknown";
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

template <class F>
std::uint64_t sum_u(const route_stats& r, F f) {
  std::uint64_t s = 0;
  for (const auto& sh : r.shards) {
    s += f(sh).get();
  }
  return s;
}

template <class F>
std::int64_t sum_i(const route_stats& r, F f) {
  std::int64_t s = 0;
  for (const auto& sh : r.shards) {
    s += f(sh).get();
  }
  return s;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string metrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto each_route = [&](const char* name, const char* type, const char* help, auto line) {
    header(out, name, type, help);
    for (const auto& [route, stats] : routes_) {
      line(route, *stats);
    }
  };
  auto put = [&](const char* name, const std::string& labels, auto value) {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
  };
  auto rl = [](const std::string& route) { return fmt::format("route=\"{}\"", route); };

  each_route("tether_sessions_active", "gauge", "Sessions currently open.",
             [&](auto& n, auto& r) { put("tether_sessions_active", rl(n), sum_i(r, [](auto& s) -> auto& { return s.sessions_active; })); });
  each_route("tether_sessions_total", "counter", "Sessions accepted.",
             [&](auto& n, auto& r) { put("tether_sessions_total", rl(n), sum_u(r, [](auto& s) -> auto& { return s.sessions_total; })); });

  header(out, "tether_handshake_failures_total", "counter", "Connections that failed before a session started.");
  for (const auto& [name, stats] : listeners_) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(handshake_failure::count_); ++i) {
      std::uint64_t s = 0;
      for (const auto& sh : stats->shards) {
        s += sh.failures[i].get();
      }
      put("tether_handshake_failures_total",
          fmt::format("listener=\"{}\",reason=\"{}\"", name, to_string(static_cast<handshake_failure>(i))), s);
    }
  }

  static constexpr const char* directions[2] = {"client_to_upstream", "upstream_to_client"};
  static constexpr const char* legs[2] = {"client", "upstream"};
  each_route("tether_messages_total", "counter", "Data messages relayed.", [&](auto& n, auto& r) {
    for (int d = 0; d < 2; ++d) {
      put("tether_messages_total", fmt::format("{},direction=\"{}\"", rl(n), directions[d]),
          sum_u(r, [d](auto& s) -> auto& { return s.messages[d]; }));
    }
  });
  each_route("tether_bytes_total", "counter", "Payload bytes relayed.", [&](auto& n, auto& r) {
    for (int d = 0; d < 2; ++d) {
      put("tether_bytes_total", fmt::format("{},direction=\"{}\"", rl(n), directions[d]),
          sum_u(r, [d](auto& s) -> auto& { return s.bytes[d]; }));
    }
  });
  each_route("tether_pings_sent_total", "counter", "Ping frames sent by tether.", [&](auto& n, auto& r) {
    for (int l = 0; l < 2; ++l) {
      put("tether_pings_sent_total", fmt::format("{},leg=\"{}\"", rl(n), legs[l]),
          sum_u(r, [l](auto& s) -> auto& { return s.pings_sent[l]; }));
    }
  });
  each_route("tether_heartbeat_timeouts_total", "counter", "Peers found dead by heartbeat.", [&](auto& n, auto& r) {
    for (int l = 0; l < 2; ++l) {
      put("tether_heartbeat_timeouts_total", fmt::format("{},leg=\"{}\"", rl(n), legs[l]),
          sum_u(r, [l](auto& s) -> auto& { return s.heartbeat_timeouts[l]; }));
    }
  });
  each_route("tether_app_heartbeats_sent_total", "counter", "Application heartbeats sent to clients.",
             [&](auto& n, auto& r) { put("tether_app_heartbeats_sent_total", rl(n), sum_u(r, [](auto& s) -> auto& { return s.app_heartbeats_sent; })); });
  each_route("tether_app_heartbeats_answered_total", "counter", "Client heartbeats answered by tether.",
             [&](auto& n, auto& r) { put("tether_app_heartbeats_answered_total", rl(n), sum_u(r, [](auto& s) -> auto& { return s.app_heartbeats_answered; })); });
  each_route("tether_upstream_reconnects_total", "counter", "Upstream re-establishments.", [&](auto& n, auto& r) {
    put("tether_upstream_reconnects_total", rl(n) + ",result=\"success\"", sum_u(r, [](auto& s) -> auto& { return s.reconnect_success; }));
    put("tether_upstream_reconnects_total", rl(n) + ",result=\"gave_up\"", sum_u(r, [](auto& s) -> auto& { return s.reconnect_gave_up; }));
  });
  each_route("tether_upstream_outage_seconds", "histogram", "Time from upstream loss to re-establishment.",
             [&](auto& n, auto& r) {
               std::uint64_t cumulative = 0;
               for (std::size_t i = 0; i < outage_buckets.size(); ++i) {
                 cumulative += sum_u(r, [i](auto& s) -> auto& { return s.outage.buckets[i]; });
                 put("tether_upstream_outage_seconds_bucket", fmt::format("{},le=\"{}\"", rl(n), outage_buckets[i]), cumulative);
               }
               const auto count = sum_u(r, [](auto& s) -> auto& { return s.outage.count; });
               put("tether_upstream_outage_seconds_bucket", rl(n) + ",le=\"+Inf\"", count);
               double sum = 0;
               for (const auto& sh : r.shards) {
                 sum += sh.outage.sum.load(std::memory_order_relaxed);
               }
               put("tether_upstream_outage_seconds_sum", rl(n), sum);
               put("tether_upstream_outage_seconds_count", rl(n), count);
             });
  each_route("tether_buffered_messages", "gauge", "Client messages held during upstream outages.",
             [&](auto& n, auto& r) { put("tether_buffered_messages", rl(n), sum_i(r, [](auto& s) -> auto& { return s.buffered_messages; })); });

  header(out, "tether_config_reloads_total", "counter", "Configuration reloads.");
  put("tether_config_reloads_total", "result=\"success\"", reloads_ok_.load());
  put("tether_config_reloads_total", "result=\"failure\"", reloads_failed_.load());
  return out;
}

}  // namespace tether
