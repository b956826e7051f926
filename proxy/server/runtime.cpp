#include "server/runtime.hpp"

namespace tether {

std::shared_ptr<const runtime> runtime::make(std::shared_ptr<const config> cfg, metrics& m,
                                             std::string& error) {
  std::shared_ptr<runtime> rt(new runtime(cfg));
  for (const auto& r : cfg->routes) {
    auto rr = std::make_unique<route_runtime>();
    rr->cfg = &r;
    const bool any_tls = std::any_of(r.upstream.urls.begin(), r.upstream.urls.end(),
                                     [](const upstream_url& u) { return u.tls; });
    if (any_tls) {
      rr->upstream_tls = make_client_tls(r.upstream.tls, error);
      if (!rr->upstream_tls) {
        error = "route " + r.name + ": " + error;
        return nullptr;
      }
    }
    // The loader checked every pattern; one that fails here is a bug.
    auto compile = [&](const std::string& pattern) {
      std::string why;
      auto p = text_pattern::compile(pattern, why);
      if (!p) {
        error = "route " + r.name + ": invalid regex: " + why;
      }
      return p;
    };
    for (const auto& a : r.heartbeat.client.answer) {
      rr->answer_regex.push_back(a.match_regex.empty() ? nullptr : compile(a.match_regex));
      if (!a.match_regex.empty() && !rr->answer_regex.back()) {
        return nullptr;
      }
    }
    if (!r.reconnect.replay_match_regex.empty()) {
      rr->replay_regex = compile(r.reconnect.replay_match_regex);
      if (!rr->replay_regex) {
        return nullptr;
      }
    }
    rr->stats = &m.route(r.name);
    rt->route_rt_.push_back(std::move(rr));
  }
  return rt;
}

const route_runtime& runtime::route(const route_config* r) const {
  return *route_rt_[static_cast<std::size_t>(r - cfg_->routes.data())];
}

}  // namespace tether
