#pragma once
// Every per-route and per-listener metric tether exports (SPEC section 9),
// declared once. The shard members the data path counts into (metrics.hpp)
// and the /metrics text (metrics.cpp) are both made from these lists, so a
// new metric is one line here plus the place that counts it.
//
// X(member, name, type, help). The type is the member's: counter, gauge,
// histogram, by<label> for one counter per value of a label, or
// by_leg_and_code for one per leg and close code (metric_labels.hpp names
// each label and its values).

#define TETHER_ROUTE_METRICS(X)                                                                   \
  X(sessions_active, "tether_sessions_active", gauge, "Sessions currently open.")                \
  X(sessions_total, "tether_sessions_total", counter, "Sessions accepted.")                      \
  X(messages, "tether_messages_total", by<direction>, "Data messages relayed.")                  \
  X(bytes, "tether_bytes_total", by<direction>, "Payload bytes relayed.")                        \
  X(pings_sent, "tether_pings_sent_total", by<leg_kind>, "Ping frames sent by tether.")          \
  X(heartbeat_timeouts, "tether_heartbeat_timeouts_total", by<leg_kind>,                         \
    "Peers found dead by heartbeat.")                                                            \
  X(app_heartbeats_sent, "tether_app_heartbeats_sent_total", counter,                            \
    "Application heartbeats sent to clients.")                                                   \
  X(app_heartbeats_answered, "tether_app_heartbeats_answered_total", counter,                    \
    "Client heartbeats answered by tether.")                                                     \
  X(upstream_reconnects, "tether_upstream_reconnects_total", by<reconnect_result>,               \
    "Upstream re-establishments.")                                                               \
  X(upstream_outage, "tether_upstream_outage_seconds", histogram,                                \
    "Time from upstream loss to re-establishment.")                                              \
  X(buffered_messages, "tether_buffered_messages", gauge,                                        \
    "Client messages held during upstream outages.")                                             \
  X(http_requests, "tether_http_requests_total", by<status_class>,                               \
    "Plain HTTP requests passed through, by the class of the status answered.")                  \
  X(http_idle_timeouts, "tether_http_idle_timeouts_total", counter,                              \
    "Plain HTTP exchanges ended by limits.http_idle_timeout.")                                   \
  X(closes, "tether_closes_total", by_leg_and_code,                                              \
    "Sessions ended, by leg and the close code that leg ended with.")

#define TETHER_LISTENER_METRICS(X)                                                                \
  X(handshake_failures, "tether_handshake_failures_total", by<handshake_failure>,                \
    "Connections that failed before a session started.")                                         \
  X(tls_handshakes, "tether_tls_handshakes_total", counter,                                      \
    "Client TLS handshakes completed.")                                                          \
  X(tls_handshake_failures, "tether_tls_handshake_failures_total", by<tls_failure>,              \
    "Client TLS handshakes failed, by reason.")

// Gauges of a listener that every worker moves (one shared atomic each, set
// once per connection, never per message): X(member, name, help).
#define TETHER_LISTENER_GAUGES(X)                                                                 \
  X(connections, "tether_listener_connections", "Connections open on the listener.")             \
  X(max_connections, "tether_listener_max_connections", "The listener's max_connections.")
