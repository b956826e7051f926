#pragma once
// One generation of configuration, compiled for use: the route table, the
// upstream TLS contexts and regexes of every route, and its stats. A session
// holds the generation it started with, so a reload never touches it.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "admin/metrics.hpp"
#include "config/routes.hpp"
#include "config/text_pattern.hpp"
#include "tls/tls_context.hpp"

namespace tether {

struct route_runtime {
  const route_config* cfg = nullptr;
  ssl_ctx_ptr upstream_tls;                         // for wss:// urls
  std::vector<std::unique_ptr<text_pattern>> answer_regex;  // aligned with heartbeat.client.answer
  std::unique_ptr<text_pattern> replay_regex;
  route_stats* stats = nullptr;
  mutable std::atomic<std::size_t> next_url{0};     // round robin over upstream.urls
};

class runtime {
 public:
  /// Compiles `cfg`; nullptr and `error` on failure (e.g. a CA that does not load).
  static std::shared_ptr<const runtime> make(std::shared_ptr<const config> cfg, metrics& m,
                                             std::string& error);

  const config& cfg() const { return *cfg_; }
  const route_table& routes() const { return routes_; }
  const route_runtime& route(const route_config* r) const;

 private:
  explicit runtime(std::shared_ptr<const config> cfg) : cfg_(cfg), routes_(cfg) {}
  std::shared_ptr<const config> cfg_;
  route_table routes_;
  std::vector<std::unique_ptr<route_runtime>> route_rt_;  // aligned with cfg_->routes
};

}  // namespace tether
