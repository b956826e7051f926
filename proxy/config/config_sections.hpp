#pragma once
// The sections a route inherits from `defaults:` (heartbeat, reconnect,
// limits, compression). Each apply_* overwrites only the keys present in the YAML, so
// reading a route's section on top of a copy of the defaults gives
// SPEC section 3's merge: maps merge key by key, lists replace whole.
#include "config/config.hpp"
#include "config/config_yaml.hpp"

namespace tether::config_yaml {

void apply_heartbeat(parse_context& ctx, const field& at, heartbeat_config& out);
void apply_reconnect(parse_context& ctx, const field& at, reconnect_config& out);
void apply_limits(parse_context& ctx, const field& at, limits_config& out);
void apply_compression(parse_context& ctx, const field& at, compression_config& out);

}  // namespace tether::config_yaml
