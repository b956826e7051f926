#include "http/http_proxy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>
#include <spdlog/spdlog.h>

#include "http/forwarding.hpp"
#include "http/upstream.hpp"
#include "ws/ws_handshake.hpp"

namespace tether {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
/// Size of each body piece in flight: bodies of any size stream through it.
constexpr std::size_t body_piece = 16 * 1024;

/// Streams the body behind `parser` (header already read) from `in` to
/// `out`, after writing the header. Returns {read error, write error}.
template <bool IsRequest>
awaitable<std::pair<error_code, error_code>> relay_message(
    transport& in, beast::flat_buffer& in_buffer,
    http::parser<IsRequest, http::buffer_body>& parser, transport& out, http_progress& progress) {
  auto& msg = parser.get();
  http::serializer<IsRequest, http::buffer_body> sr{msg};
  std::unique_ptr<char[]> piece(new char[body_piece]);
  if (auto [ec, n] = co_await http::async_write_header(out, sr, use_tuple); ec) {
    co_return std::pair{error_code{}, ec};
  }
  progress.touch();
  do {
    if (!parser.is_done()) {
      msg.body().data = piece.get();
      msg.body().size = body_piece;
      // read_some: whatever has arrived goes on now (server-sent events,
      // long polling), not when 16 KiB have gathered.
      auto [ec, n] = co_await http::async_read_some(in, in_buffer, parser, use_tuple);
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      if (ec) {
        co_return std::pair{ec, error_code{}};
      }
      progress.touch();
      msg.body().size = body_piece - msg.body().size;
      (IsRequest ? progress.request_bytes : progress.response_bytes) += msg.body().size;
      // No bytes this time: a null buffer, because an empty one would be
      // written as the last chunk.
      msg.body().data = msg.body().size > 0 ? piece.get() : nullptr;
      msg.body().more = !parser.is_done();
    } else {
      msg.body().data = nullptr;
      msg.body().size = 0;
      msg.body().more = false;
    }
    auto [ec, n] = co_await http::async_write(out, sr, use_tuple);
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec) {
      co_return std::pair{error_code{}, ec};
    }
    progress.touch();
  } while (!parser.is_done() || !sr.is_done());
  co_return std::pair{error_code{}, error_code{}};
}

/// After hop-by-hop headers are gone, the body must still be framed for
/// the next hop: keep Content-Length, otherwise chunk it.
template <class Message>
void reframe(Message& msg, bool had_length, bool chunked_or_eof) {
  if (!had_length && chunked_or_eof) {
    msg.chunked(true);
  }
}

}  // namespace

awaitable<http_outcome> proxy_http(transport& client, beast::flat_buffer& client_buffer,
                                   http::request_parser<http::buffer_body>& parser,
                                   const route_runtime& route, http_upstream_cache& cache,
                                   const std::string& client_ip, bool client_tls,
                                   http_progress& progress, route_shard& stats) {
  const auto& rc = *route.cfg;
  auto& req = parser.get();
  const bool client_keep_alive = req.keep_alive();
  const bool head = req.method() == http::verb::head;
  const unsigned client_version = req.version();
  auto fail = [&](http::status status, const char* why) -> awaitable<void> {
    stats.http_requests[class_of_status(static_cast<unsigned>(status))].add();
    cache.leg.reset();
    auto res = ws::make_error_response(status, client_version, why);
    progress.status = static_cast<unsigned>(status);
    progress.response_bytes = res.body().size();
    co_await http::async_write(client, res, use_tuple);
  };

  // Like nginx, tether answers Expect: 100-continue itself: it is about to
  // read the body anyway, and the upstream then never sees a bare Expect.
  if (beast::iequals(req[http::field::expect], "100-continue")) {
    req.erase(http::field::expect);
    static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
    if (auto ec = co_await client.write_all(net::buffer(cont)); ec) {
      co_return http_outcome::close;
    }
  }
  const bool req_chunked = req.chunked();
  const bool req_length = parser.content_length().has_value();
  // A request without a body can be sent again if a kept-alive upstream
  // connection turns out to have been closed by the origin meanwhile.
  const bool resendable = parser.is_done();
  const std::string client_target(req.target());
  strip_hop_by_hop(req.base());
  add_forwarded(req.base(), client_ip, client_tls);
  req.version(11);
  reframe(req, req_length, req_chunked);

  std::optional<http::response_parser<http::buffer_body>> parser_slot;
  for (int attempt = 0;; ++attempt) {
    const bool reused = cache.leg && cache.route == &route && cache.leg->is_open();
    if (!reused) {
      cache.leg.reset();
      cache.buffer.clear();
      cache.url_index = route.next_url.fetch_add(1, std::memory_order_relaxed) % rc.upstream.urls.size();
      const auto& url = rc.upstream.urls[cache.url_index];
      progress.connecting = true;
      auto [leg, error] = co_await open_http_upstream(url, route.upstream_tls.get(),
                                                      rc.upstream.tls.server_name,
                                                      rc.upstream.connect_timeout);
      progress.connecting = false;
      if (!leg) {
        spdlog::warn("route {}: {}", rc.name, error);
        co_await fail(http::status::bad_gateway, "upstream unreachable\n");
        co_return http_outcome::upstream_unreachable;
      }
      cache.leg = std::move(leg);
      cache.route = &route;
      progress.touch();
    }
    const bool retry = reused && resendable && attempt == 0;
    req.target(upstream_target(client_target, rc.path, rc.upstream.strip_prefix,
                               rc.upstream.urls[cache.url_index].path));
    auto [rec, wec] =
        co_await relay_message<true>(client, client_buffer, parser, *cache.leg, progress);
    if (rec) {
      cache.leg.reset();
      co_return http_outcome::close;
    }
    if (wec && retry) {
      cache.leg.reset();
      continue;
    }
    if (wec) {
      co_await fail(http::status::bad_gateway, "upstream write failed\n");
      co_return http_outcome::close;
    }
    auto& p = parser_slot.emplace();
    p.body_limit(boost::none);
    p.skip(head);
    progress.awaiting_upstream = true;
    auto [ec, n] = co_await http::async_read_header(*cache.leg, cache.buffer, p, use_tuple);
    if (progress.timed_out) {
      co_await fail(http::status::gateway_timeout, "upstream did not answer in time\n");
      co_return http_outcome::close;
    }
    if (ec && retry) {
      cache.leg.reset();
      continue;
    }
    if (ec) {
      co_await fail(http::status::bad_gateway, "no response from upstream\n");
      co_return http_outcome::close;
    }
    progress.touch();
    break;
  }
  // Interim answers: 100 was already sent by tether; others (103) pass on.
  while (parser_slot->get().result_int() / 100 == 1 && parser_slot->get().result_int() != 101) {
    const auto status = parser_slot->get().result_int();
    if (status != 100 && client_version == 11) {
      http::response<http::empty_body> interim{parser_slot->get().result(), 11};
      interim.base() = parser_slot->get().base();
      http::serializer<false, http::empty_body> sr{interim};
      co_await http::async_write_header(client, sr, use_tuple);
    }
    auto& p = parser_slot.emplace();
    p.body_limit(boost::none);
    p.skip(head);
    if (auto [ec, n] = co_await http::async_read_header(*cache.leg, cache.buffer, p, use_tuple); ec) {
      co_await fail(progress.timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
                    "no response from upstream\n");
      co_return http_outcome::close;
    }
    progress.touch();
  }
  progress.awaiting_upstream = false;
  auto& rp = *parser_slot;
  auto& res = rp.get();
  const bool upstream_keep_alive = res.keep_alive();
  const bool res_length = rp.content_length().has_value();
  const bool res_chunked = res.chunked();
  const bool no_body = head || res.result_int() / 100 == 1 || res.result() == http::status::no_content ||
                       res.result() == http::status::not_modified;
  const bool until_eof = !no_body && !res_length && !res_chunked;
  strip_hop_by_hop(res.base());
  bool keep = client_keep_alive;
  if (!no_body) {
    if (client_version == 10 && !res_length) {
      keep = false;  // HTTP/1.0 has no chunking: the end of the body is the close
    } else {
      reframe(res, res_length, res_chunked || until_eof);
    }
  }
  res.version(client_version);
  res.keep_alive(keep);
  stats.http_requests[class_of_status(res.result_int())].add();
  progress.status = res.result_int();
  auto [rrec, rwec] = co_await relay_message<false>(*cache.leg, cache.buffer, rp, client, progress);
  if (rrec || rwec || !upstream_keep_alive || until_eof) {
    cache.leg.reset();
  }
  if (rrec || rwec) {
    co_return http_outcome::close;
  }
  co_return keep ? http_outcome::keep_alive : http_outcome::close;
}

awaitable<http_outcome> http_passthrough::serve(transport& client, beast::flat_buffer& client_buffer,
                                                http::request_parser<http::buffer_body>& parser,
                                                const route_runtime& route, const std::string& client_ip,
                                                bool client_tls, route_shard& stats) {
  progress_ = {};
  co_return co_await proxy_http(client, client_buffer, parser, route, cache_, client_ip, client_tls,
                                progress_, stats);
}

std::chrono::steady_clock::time_point http_passthrough::idle_deadline(
    std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration idle) const {
  // connect_timeout bounds the connecting, and its 502 is the better answer.
  return progress_.connecting ? now + idle : progress_.last + idle;
}

bool http_passthrough::end_if_idle(std::chrono::steady_clock::time_point now,
                                   std::chrono::steady_clock::duration idle, transport* client) {
  if (progress_.connecting || now < progress_.last + idle) {
    return false;
  }
  progress_.timed_out = true;
  if (cache_.leg) {
    cache_.leg->close();
  }
  if (!progress_.awaiting_upstream && client != nullptr) {
    client->close();
  }
  return true;
}

}  // namespace tether
