#pragma once
// The immutable route table: picks a route for (listener, Host, target).
// No I/O; rebuilt whole on reload.
#include <memory>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace tether {

class route_table {
 public:
  /// Keeps a reference to `cfg` alive for the routes it hands out.
  explicit route_table(std::shared_ptr<const config> cfg);

  /// SPEC section 3: exact host beats wildcard beats no host; then the
  /// longest path prefix (on whole segments) wins; ties go to the route
  /// listed first. `host` may carry a port (ignored) and any case; `target`
  /// may carry a query string (ignored). nullptr when nothing matches.
  const route_config* match(std::string_view listener, std::string_view host,
                            std::string_view target) const;

  /// True when `path` (no query) lies under `prefix` on segment boundaries:
  /// "/ws" covers "/ws", "/ws/", "/ws/a" and not "/wsx"; "/" covers all.
  static bool path_has_prefix(std::string_view path, std::string_view prefix);
  /// "a.example.com" matches "*.example.com" (any depth), not "example.com".
  static bool host_matches(std::string_view host, std::string_view pattern);

 private:
  std::shared_ptr<const config> cfg_;
  std::vector<const route_config*> ordered_;  // by precedence
};

}  // namespace tether
