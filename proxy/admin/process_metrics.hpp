#pragma once
// The process's own metrics, under the names Prometheus client libraries
// use (process_*), so the dashboards operators already have work, plus
// tether_build_info.
#include <string>

namespace tether {

/// Appends the samples, read from /proc/self at the time of the scrape.
void render_process_metrics(std::string& out);

}  // namespace tether
