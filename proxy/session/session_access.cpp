// The access log (log.access): one line per finished session or plain HTTP
// exchange, from tallies the session keeps next to the route's metrics.
// Field names are the README's ("Operations"); they are the same in text
// and JSON.
#include "http/http_proxy.hpp"
#include "server/logging.hpp"
#include "session/session.hpp"

namespace tether {
namespace {

std::uint64_t ms_of(steady::duration d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

/// Who began a leg's end: its peer (`peer`), or tether and why.
std::string closed_by(const leg_end& e, std::string_view peer) {
  switch (e.by) {
    case leg_end::closer::peer:
      return std::string(peer);
    case leg_end::closer::tether:
      return fmt::format("tether({})", e.why);
    case leg_end::closer::none:
      break;
  }
  return "none";
}

}  // namespace

void session::log_access() const {
  const auto now = steady::now();
  const auto& ce = client_->end();
  const leg_end none;
  const auto& ue = upstream_ ? upstream_->end() : none;
  auto outage = tally_.outage;
  if (upstream_state_ == upstream_state::lost) {
    outage += now - outage_start_;  // ended during an outage that was never closed
  }
  constexpr auto c = static_cast<std::size_t>(leg_kind::client);
  constexpr auto u = static_cast<std::size_t>(leg_kind::upstream);
  access_line(rt_->cfg().log.format == "json")
      .field("listener", listener_->name())
      .field("route", route_->cfg->name)
      .field("client", client_ip_)
      .field("target", client_target_)
      .field("duration_ms", ms_of(now - started_))
      .field("messages_to_upstream", tally_.messages_to_upstream)
      .field("bytes_to_upstream", tally_.bytes_to_upstream)
      .field("messages_to_client", tally_.messages_to_client)
      .field("bytes_to_client", tally_.bytes_to_client)
      .field("client_pings_sent", tally_.pings_sent[c])
      .field("upstream_pings_sent", tally_.pings_sent[u])
      .field("client_heartbeat_timeouts", tally_.heartbeat_timeouts[c])
      .field("upstream_heartbeat_timeouts", tally_.heartbeat_timeouts[u])
      .field("app_heartbeats_sent", tally_.app_heartbeats_sent)
      .field("app_heartbeats_answered", tally_.app_heartbeats_answered)
      .field("reconnects", reconnects_)
      .field("outage_ms", ms_of(outage))
      .field("client_close", ce.code)
      .field("client_close_reason", ce.reason)
      .field("client_closed_by", closed_by(ce, "client"))
      .field("upstream_close", ue.code)
      .field("upstream_close_reason", ue.reason)
      .field("upstream_closed_by", closed_by(ue, "upstream"))
      .write();
}

void session::log_http_access(std::string_view method, std::string_view target,
                              const http_passthrough& http, steady::time_point began) const {
  const auto& p = http.progress();
  access_line(rt_->cfg().log.format == "json")
      .field("listener", listener_->name())
      .field("route", route_->cfg->name)
      .field("client", client_ip_)
      .field("method", method)
      .field("target", target)
      .field("status", p.status)
      .field("request_bytes", p.request_bytes)
      .field("response_bytes", p.response_bytes)
      .field("duration_ms", ms_of(steady::now() - began))
      .write();
}

}  // namespace tether
