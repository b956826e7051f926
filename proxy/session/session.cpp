#include "session/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "http/forwarding.hpp"
#include "http/http_proxy.hpp"
#include "server/logging.hpp"
#include "server/worker.hpp"
#include "tls/tls_failure.hpp"
#include "ws/deflate_negotiation.hpp"
#include "ws/ws_handshake.hpp"

namespace tether {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t max_request_header = 16 * 1024;
/// Failed-handshake lines a worker writes a second at most (the metric
/// counts every failure; the log needs examples, not a copy of a flood).
constexpr std::uint32_t handshake_log_lines_per_second = 10;

}  // namespace

session::session(worker& w, std::shared_ptr<const runtime> rt, std::shared_ptr<listener_context> lc,
                 tcp::socket socket, const tcp::endpoint& peer, bool over_capacity)
    : worker_(w),
      rt_(std::move(rt)),
      listener_(std::move(lc)),
      over_capacity_(over_capacity),
      client_io_(std::make_unique<transport>(std::move(socket))),
      client_ip_(peer.address().to_string()) {
  worker_.add(*this);
}

session::~session() {
  worker_.remove(*this);
  listener_->active().fetch_sub(1, std::memory_order_relaxed);
}

std::shared_ptr<session> session::relay_without_handshake(
    worker& w, std::shared_ptr<const runtime> rt, std::shared_ptr<listener_context> lc,
    const route_runtime& route, std::unique_ptr<byte_stream> client,
    std::unique_ptr<byte_stream> upstream, std::string upstream_request,
    std::string client_target, const ws::deflate_params& client_deflate,
    const ws::deflate_params& upstream_deflate) {
  // As the listener counts an accepted connection (the destructor uncounts it).
  lc->active().fetch_add(1, std::memory_order_relaxed);
  auto s = std::make_shared<session>(w, std::move(rt), std::move(lc), tcp::socket(w.ioc()),
                                     tcp::endpoint{}, false);
  s->client_io_.reset();
  s->route_ = &route;
  s->upstream_request_ = std::move(upstream_request);
  s->client_target_ = std::move(client_target);
  upstream_attempt up;
  up.result = upstream_attempt::status::ok;
  up.stream = std::move(upstream);
  up.deflate = upstream_deflate;
  s->start_relay(std::move(client), std::move(up), {}, client_deflate);
  return s;
}

awaitable<upstream_attempt> session::open_upstream_leg(const upstream_dial& d) {
  if (auto* c = worker_.connector()) {
    co_return co_await c->open(d);
  }
  co_return co_await open_upstream(d);
}

void session::start() {
  net::co_spawn(worker_.ioc(), [self = shared_from_this()]() { return self->run(); }, net::detached);
}

void session::fail_handshake(handshake_failure why, std::string_view detail) {
  listener_->stats().shards[worker_.index()].handshake_failures[why].add();
  // Per worker thread: a flood of bad handshakes costs a few lines a second.
  static thread_local log_limiter limit(handshake_log_lines_per_second);
  const auto v = limit.check(steady::now());
  if (v.suppressed > 0) {
    spdlog::info("failed handshake lines suppressed: {} (more than {} a second on a worker)", v.suppressed,
                 handshake_log_lines_per_second);
  }
  if (v.log) {
    spdlog::info("{}: handshake from {} failed: {}{}{}", listener_->name(), client_ip_, to_string(why),
                 detail.empty() ? "" : ": ", detail);
  }
}

awaitable<void> session::run() {
  const auto& limits = rt_->cfg().default_limits;
  deadline_ = steady::now() + limits.handshake_timeout;
  if (limits.handshake_timeout.count() > 0) {
    worker_.wheel().schedule(*this, deadline_);
  }
  if (auto tls = listener_->tls()) {
    auto& shard = listener_->stats().shards[worker_.index()];
    if (auto ec = co_await client_io_->tls_accept(tls->context())) {
      shard.tls_handshake_failures[tls_failure_of(ec, timed_out_)].add();
      fail_handshake(timed_out_ ? handshake_failure::timeout : handshake_failure::tls, ec.message());
      client_io_->close();
      phase_ = phase::done;
      co_return;
    }
    shard.tls_handshakes.add();
    if (!tls->record_offload()) {
      openssl_records_ = true;
      client_io_->keep_records_in_openssl();
    }
  }
  beast::flat_buffer buffer;
  const bool upgraded = co_await serve_http(buffer);
  if (!upgraded) {
    phase_ = phase::done;
    worker_.wheel().cancel(*this);
    if (client_io_) {
      client_io_->close();
    }
  }
}

awaitable<void> session::reply(string_response res) {
  res.set(http::field::connection, "close");
  co_await http::async_write(*client_io_, res, use_tuple);
}

awaitable<bool> session::serve_http(beast::flat_buffer& buffer) {
  http_passthrough http;
  for (;;) {
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(max_request_header);
    parser.body_limit(boost::none);
    auto [ec, n] = co_await http::async_read_header(*client_io_, buffer, parser, use_tuple);
    if (ec) {
      if (timed_out_) {
        fail_handshake(handshake_failure::timeout);
      } else if (ec == http::error::header_limit) {
        // A request line or header over the limit: 431 (RFC 6585), as Envoy answers.
        fail_handshake(handshake_failure::bad_request);
        co_await reply(ws::make_error_response(http::status::request_header_fields_too_large, 11,
                                               "request header too large\n"));
      } else if (ec != http::error::end_of_stream && ec != net::error::eof &&
                 ec != net::error::connection_reset && ec != net::error::operation_aborted) {
        fail_handshake(handshake_failure::bad_request, ec.message());
        co_await reply(ws::make_error_response(http::status::bad_request, 11, "malformed request\n"));
      }
      co_return false;
    }
    const auto& req = parser.get();
    const auto* route = rt_->routes().match(listener_->name(), req[http::field::host], req.target());
    if (route == nullptr) {
      fail_handshake(handshake_failure::not_found);
      co_await reply(ws::make_error_response(http::status::not_found, req.version(), "no route\n"));
      co_return false;
    }
    route_ = &rt_->route(route);
    if (!route->allowed_origins.empty()) {
      auto origin = req[http::field::origin];
      if (std::find(route->allowed_origins.begin(), route->allowed_origins.end(), origin) ==
          route->allowed_origins.end()) {
        fail_handshake(handshake_failure::forbidden);
        co_await reply(ws::make_error_response(http::status::forbidden, req.version(), "origin not allowed\n"));
        co_return false;
      }
    }
    if (over_capacity_) {
      fail_handshake(handshake_failure::overloaded);
      co_await reply(ws::make_error_response(http::status::service_unavailable, req.version(), "over capacity\n"));
      co_return false;
    }
    if (ws::is_upgrade(req)) {
      worker_.wheel().cancel(*this);
      co_await serve_websocket(parser, buffer);
      co_return true;
    }
    // Plain HTTP: the handshake deadline applies to each request's header
    // only; the exchange itself ends if nothing moves for http_idle_timeout.
    worker_.wheel().cancel(*this);
    phase_ = phase::http;
    const auto idle = route_->cfg->limits.http_idle_timeout;
    http_ = idle.count() > 0 ? &http : nullptr;
    if (http_ != nullptr) {
      worker_.wheel().schedule(*this, steady::now() + idle);
    }
    // Kept for the access line: serve() rewrites the target for the upstream.
    const bool access = rt_->cfg().log.access;
    const std::string method = access ? std::string(req.method_string()) : std::string();
    const std::string target = access ? std::string(req.target()) : std::string();
    const auto began = steady::now();
    const auto outcome = co_await http.serve(*client_io_, buffer, parser, *route_, client_ip_,
                                             listener_->tls() != nullptr,
                                             route_->stats->shards[worker_.index()]);
    if (access) {
      log_http_access(method, target, http, began);
    }
    http_ = nullptr;
    phase_ = phase::handshake;
    worker_.wheel().cancel(*this);
    if (outcome == http_outcome::upstream_unreachable) {
      fail_handshake(handshake_failure::upstream_unreachable);
    }
    if (outcome != http_outcome::keep_alive) {
      co_return false;
    }
    deadline_ = steady::now() + rt_->cfg().default_limits.handshake_timeout;
    if (rt_->cfg().default_limits.handshake_timeout.count() > 0) {
      worker_.wheel().schedule(*this, deadline_);
    }
  }
}

awaitable<void> session::serve_websocket(http::request_parser<http::buffer_body>& parser,
                                         beast::flat_buffer& buffer) {
  const auto& client_request = parser.get().base();
  client_target_ = std::string(client_request.target());
  if (auto bad = ws::check_client_request(client_request)) {
    fail_handshake(handshake_failure::bad_request);
    co_await reply(std::move(*bad));
    co_return;
  }
  const auto& rc = *route_->cfg;
  const auto key = ws::make_key();
  auto request = ws::make_upstream_request(
      client_request,
      upstream_target(client_target_, rc.path, rc.upstream.strip_prefix,
                      rc.upstream.urls.front().path),
      key, client_ip_, listener_->tls() != nullptr);
  if (auto offer = ws::make_deflate_offer(rc.compression); !offer.empty()) {
    request.set(http::field::sec_websocket_extensions, offer);
  }

  // Round robin over upstream.urls; an endpoint that cannot be reached
  // passes the handshake on to the next one (each within connect_timeout).
  const auto& urls = rc.upstream.urls;
  const auto first = route_->next_url.fetch_add(1, std::memory_order_relaxed);
  upstream_attempt up;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    url_index_ = (first + i) % urls.size();
    const auto& url = urls[url_index_];
    request.target(upstream_target(client_target_, rc.path, rc.upstream.strip_prefix, url.path));
    up = co_await open_upstream_leg({url, route_->upstream_tls.get(), rc.upstream.tls.server_name,
                                     request, key, client_request, rc.upstream.connect_timeout,
                                     openssl_records_});
    if (up.result != upstream_attempt::status::unreachable) {
      break;
    }
    spdlog::warn("route {}: {}", rc.name, up.error);
  }
  if (up.result == upstream_attempt::status::unreachable) {
    fail_handshake(handshake_failure::upstream_unreachable);
    co_await reply(ws::make_error_response(http::status::bad_gateway, 11, "upstream unreachable\n"));
    co_return;
  }
  if (up.result == upstream_attempt::status::rejected) {
    fail_handshake(handshake_failure::upstream_rejected);
    if (up.response.result() == http::status::switching_protocols) {
      spdlog::warn("route {}: {}", rc.name, up.error);
      co_await reply(ws::make_error_response(http::status::bad_gateway, 11, "bad upstream handshake\n"));
    } else {
      // The backend's own answer (401, 403, 404, 5xx...) goes to the client as is.
      auto res = std::move(up.response);
      strip_hop_by_hop(res.base());
      res.prepare_payload();
      co_await reply(std::move(res));
    }
    co_return;
  }
  chosen_protocol_ = std::string(up.response[http::field::sec_websocket_protocol]);
  if (rc.reconnect.enabled) {
    upstream_request_ = ws::serialize_request(request);
    upstream_request_.shrink_to_fit();
  }
  auto res = ws::make_client_response(client_request, up.response.base());
  ws::deflate_params client_deflate;
  if (auto a = ws::answer_deflate_offer(ws::extension_offers(client_request), rc.compression)) {
    res.set(http::field::sec_websocket_extensions, a->header);
    client_deflate = a->params;
  }
  if (auto [ec, n] = co_await http::async_write(*client_io_, res, use_tuple); ec) {
    up.stream->close();
    co_return;
  }
  auto rest = buffer.data();
  std::vector<std::uint8_t> early(static_cast<const std::uint8_t*>(rest.data()),
                                  static_cast<const std::uint8_t*>(rest.data()) + rest.size());
  auto client = client_io_->release();
  client_io_.reset();
  start_relay(std::move(client), std::move(up), early, client_deflate);
}

}  // namespace tether
