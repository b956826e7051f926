#pragma once
// stderr logging in `text` (human) or `json` (one object per line) format.
#include "config/config.hpp"

namespace tether {

/// Applies log.level and log.format; safe to call again on reload.
void setup_logging(const log_config& cfg);

}  // namespace tether
