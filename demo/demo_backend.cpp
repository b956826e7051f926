// demo_backend: an ordinary WebSocket + HTTP server that stands in for the
// "unchanged backend" behind tether in the demo and the end-to-end tests. It
// speaks plain ws:// and http:// only and knows nothing about tether, so it
// must not use anything from proxy/.
//
//   GET  /             the demo page (demo/index.html, compiled in)
//   GET  /api/time     {"now_ms":<unix ms>}
//   GET  /api/headers  the request line and headers as JSON (what tether forwarded)
//   POST /api/echo     the request body back, same Content-Type
//   WebSocket upgrade on any path: echoes every message with its type and
//   pushes {"type":"time","now_ms":...} every --push-interval seconds.
#include <boost/asio.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "demo_index_html.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// Large enough for the pass-through tests that push multi-MiB bodies and
// messages through tether; small enough that garbage cannot exhaust memory.
constexpr std::size_t max_body_size = 64 * 1024 * 1024;
constexpr std::size_t max_message_size = 64 * 1024 * 1024;
constexpr std::size_t max_header_size = 64 * 1024;
// Idle keep-alive connections are closed like nginx does by default, so a
// proxy in front has to cope with that as it would in production.
constexpr std::chrono::seconds http_idle_timeout{75};
constexpr std::chrono::seconds ws_handshake_timeout{30};
// Bounds the echo queue: when the client stops reading, we stop reading too.
constexpr std::size_t echo_queue_depth = 16;

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

struct options {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 8080;  // matches config/demo.yaml
  std::chrono::seconds push_interval{10};
  std::chrono::seconds ws_idle_timeout{0};  // 0: never drop silent WebSocket clients
  bool verbose = false;
};

using options_ptr = std::shared_ptr<const options>;

void note(const options& opts, std::string_view what) {
  if (opts.verbose) {
    std::cerr << "demo_backend: " << what << '\n';
  }
}

std::int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string time_json(std::string_view type_field) {
  std::string out = "{";
  out += type_field;
  out += "\"now_ms\":" + std::to_string(unix_ms()) + "}";
  return out;
}

// ---------------------------------------------------------------- HTTP ----

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response make_response(const request& req, http::status status, std::string_view content_type,
                       std::string body) {
  response res{status, req.version()};
  res.set(http::field::server, "tether-demo-backend");
  if (!content_type.empty()) {
    res.set(http::field::content_type, content_type);
  }
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  if (req.method() == http::verb::head) {
    // HEAD announces the length of the body it does not send.
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  return res;
}

std::string headers_json(const request& req) {
  std::string out = "{\"method\":\"" + json_escape(req.method_string()) + "\",\"target\":\"" +
                    json_escape(req.target()) + "\",\"headers\":[";
  bool first = true;
  // Pairs, not an object: order and repeated fields are what tests look at.
  for (const auto& field : req) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += "[\"" + json_escape(field.name_string()) + "\",\"" + json_escape(field.value()) + "\"]";
  }
  out += "]}";
  return out;
}

response handle_request(request&& req) {
  std::string_view path = req.target();
  path = path.substr(0, path.find('?'));
  const bool is_get = req.method() == http::verb::get || req.method() == http::verb::head;

  if (is_get && (path == "/" || path == "/index.html")) {
    return make_response(req, http::status::ok, "text/html; charset=utf-8",
                         std::string(demo_index_html));
  }
  if (is_get && path == "/api/time") {
    return make_response(req, http::status::ok, "application/json", time_json(""));
  }
  if (is_get && path == "/api/headers") {
    return make_response(req, http::status::ok, "application/json", headers_json(req));
  }
  if (req.method() == http::verb::post && path == "/api/echo") {
    std::string content_type(req[http::field::content_type]);
    if (content_type.empty()) {
      content_type = "application/octet-stream";
    }
    std::string body = std::move(req.body());
    return make_response(req, http::status::ok, content_type, std::move(body));
  }
  return make_response(req, http::status::not_found, "text/plain; charset=utf-8", "not found\n");
}

// Answers a request we could not parse, when there is still someone to answer.
net::awaitable<void> reject_request(beast::tcp_stream& stream, const error_code& ec) {
  const auto& http_category = http::make_error_code(http::error::bad_method).category();
  if (ec.category() != http_category || ec == http::error::end_of_stream ||
      ec == http::error::partial_message) {
    co_return;  // EOF, reset, timeout: nobody is waiting for an answer
  }
  auto status = http::status::bad_request;
  if (ec == http::error::body_limit) {
    status = http::status::payload_too_large;
  } else if (ec == http::error::header_limit) {
    status = http::status::request_header_fields_too_large;
  }
  response res{status, 11};
  res.set(http::field::server, "tether-demo-backend");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(false);
  res.body() = std::string(http::obsolete_reason(status)) + "\n";
  res.prepare_payload();
  stream.expires_after(std::chrono::seconds(5));
  co_await http::async_write(stream, res, use_tuple);
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// ----------------------------------------------------------- WebSocket ----

struct outgoing {
  bool binary = false;
  std::string data;
};

using outgoing_channel = net::experimental::channel<void(error_code, outgoing)>;

// Shared by the reader (the session coroutine), the writer and the pusher:
// Beast allows one read and one write in flight, so every write goes through
// the channel to the single writer.
struct ws_session {
  explicit ws_session(beast::tcp_stream&& stream)
      : ws(std::move(stream)),
        out(ws.get_executor(), echo_queue_depth),
        push_timer(ws.get_executor()) {}

  void stop() {
    out.close();
    push_timer.cancel();
  }

  websocket::stream<beast::tcp_stream> ws;
  outgoing_channel out;
  net::steady_timer push_timer;
};

std::string first_subprotocol(std::string_view offered) {
  offered = offered.substr(0, offered.find(','));
  const auto begin = offered.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  const auto end = offered.find_last_not_of(" \t");
  return std::string(offered.substr(begin, end - begin + 1));
}

net::awaitable<void> write_loop(std::shared_ptr<ws_session> session) {
  for (;;) {
    auto [ec, message] = co_await session->out.async_receive(use_tuple);
    if (ec) {
      co_return;
    }
    session->ws.binary(message.binary);
    auto [write_ec, written] = co_await session->ws.async_write(net::buffer(message.data), use_tuple);
    if (write_ec) {
      // The reader may be parked on a full queue; closing wakes it.
      session->stop();
      error_code ignored;
      beast::get_lowest_layer(session->ws).socket().close(ignored);
      co_return;
    }
  }
}

net::awaitable<void> push_loop(std::shared_ptr<ws_session> session, std::chrono::seconds interval) {
  for (;;) {
    session->push_timer.expires_after(interval);
    auto [ec] = co_await session->push_timer.async_wait(use_tuple);
    if (ec || !session->out.is_open()) {
      co_return;
    }
    // Dropped when the queue is full: a late time stamp is worth nothing.
    session->out.try_send(error_code{}, outgoing{false, time_json("\"type\":\"time\",")});
  }
}

net::awaitable<void> run_websocket(beast::tcp_stream stream, request req, options_ptr opts) {
  auto session = std::make_shared<ws_session>(std::move(stream));
  auto& ws = session->ws;

  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = ws_handshake_timeout;
  timeouts.idle_timeout = opts->ws_idle_timeout.count() > 0
                              ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    opts->ws_idle_timeout)
                              : websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  ws.read_message_max(max_message_size);
  ws.write_buffer_bytes(64 * 1024);
  // No permessage-deflate: Beast 1.81 fails to inflate some large
  // context-takeover messages (boostorg/beast#3028, fixed in 1.90).

  const std::string protocol = first_subprotocol(req[http::field::sec_websocket_protocol]);
  ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
    res.set(http::field::server, "tether-demo-backend");
    res.set("X-Demo-Backend", "1");
    if (!protocol.empty()) {
      res.set(http::field::sec_websocket_protocol, protocol);
    }
  }));

  auto [accept_ec] = co_await ws.async_accept(req, use_tuple);
  if (accept_ec) {
    note(*opts, "websocket handshake failed: " + accept_ec.message());
    co_return;
  }
  note(*opts, "websocket open: " + std::string(req.target()));

  const auto executor = co_await net::this_coro::executor;
  net::co_spawn(executor, write_loop(session), net::detached);
  if (opts->push_interval.count() > 0) {
    net::co_spawn(executor, push_loop(session, opts->push_interval), net::detached);
  }

  beast::flat_buffer buffer;
  for (;;) {
    auto [read_ec, size] = co_await ws.async_read(buffer, use_tuple);
    if (read_ec) {
      // A close frame from the client ends here too: Beast has already
      // answered it with the same code.
      note(*opts, "websocket done: " + read_ec.message());
      break;
    }
    outgoing echo{ws.got_binary(), beast::buffers_to_string(buffer.data())};
    buffer.consume(buffer.size());
    auto [send_ec] = co_await session->out.async_send(error_code{}, std::move(echo), use_tuple);
    if (send_ec) {
      note(*opts, "websocket done: write failed");  // the writer closed the channel
      break;
    }
  }
  session->stop();
}

// ------------------------------------------------------ connections ----

net::awaitable<void> run_connection(tcp::socket socket, options_ptr opts) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(max_body_size);
    parser.header_limit(max_header_size);

    stream.expires_after(http_idle_timeout);
    auto [header_ec, header_size] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (header_ec) {
      co_await reject_request(stream, header_ec);
      co_return;
    }

    if (websocket::is_upgrade(parser.get())) {
      if (!parser.is_done()) {
        auto [body_ec, body_size] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (body_ec) {
          co_return;
        }
      }
      stream.expires_never();  // the WebSocket stream keeps its own timeouts
      co_await run_websocket(std::move(stream), parser.release(), opts);
      co_return;
    }

    // curl and others wait for "100 Continue" before sending a large body.
    if (!parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
      auto [continue_ec, continue_size] = co_await http::async_write(stream, go_on, use_tuple);
      if (continue_ec) {
        co_return;
      }
    }
    if (!parser.is_done()) {
      auto [body_ec, body_size] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (body_ec) {
        co_await reject_request(stream, body_ec);
        co_return;
      }
    }

    auto res = handle_request(parser.release());
    note(*opts, "http " + std::to_string(res.result_int()));
    auto [write_ec, written] = co_await http::async_write(stream, res, use_tuple);
    if (write_ec) {
      co_return;
    }
    if (!res.keep_alive()) {
      error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

net::awaitable<void> accept_loop(tcp::acceptor acceptor, options_ptr opts) {
  const auto executor = co_await net::this_coro::executor;
  net::steady_timer pause(executor);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == net::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      // Typically EMFILE: wait instead of spinning on a full descriptor table.
      note(*opts, "accept failed: " + ec.message());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    net::co_spawn(executor, run_connection(std::move(socket), opts), net::detached);
  }
}

// --------------------------------------------------------------- main ----

void usage(std::ostream& out) {
  out << "usage: demo_backend [--port N] [--bind ADDRESS] [--push-interval SECONDS]\n"
         "                    [--idle-timeout SECONDS] [--verbose]\n"
         "  --port N               TCP port, 0 for one chosen by the OS (default 8080)\n"
         "  --bind ADDRESS         IPv4 or IPv6 address (default 127.0.0.1)\n"
         "  --push-interval S      seconds between time pushes, 0 for none (default 10)\n"
         "  --idle-timeout S       drop WebSocket clients silent this long, 0 for never (default 0)\n"
         "  --verbose              log connections to stderr\n"
         "Prints \"listening on PORT\" once listening.\n";
}

std::optional<long> parse_number(std::string_view text, long max, bool allow_seconds_suffix) {
  if (allow_seconds_suffix && text.ends_with('s')) {
    text.remove_suffix(1);
  }
  long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value < 0 ||
      value > max) {
    return std::nullopt;
  }
  return value;
}

// Returns the exit code on failure.
std::optional<int> parse_args(int argc, char** argv, options& opts) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto value = [&]() -> std::optional<std::string_view> {
      if (inline_value) {
        return inline_value;
      }
      if (i + 1 < argc) {
        return std::string_view(argv[++i]);
      }
      return std::nullopt;
    };
    auto bad = [&](std::string_view why) {
      std::cerr << "demo_backend: " << arg << ": " << why << '\n';
      usage(std::cerr);
      return 2;
    };

    if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return 0;
    }
    if (arg == "--verbose" || arg == "-v") {
      opts.verbose = true;
    } else if (arg == "--port") {
      const auto text = value();
      const auto port = text ? parse_number(*text, 65535, false) : std::nullopt;
      if (!port) {
        return bad("want a port number 0-65535");
      }
      opts.port = static_cast<std::uint16_t>(*port);
    } else if (arg == "--bind") {
      const auto text = value();
      if (!text || text->empty()) {
        return bad("want an address");
      }
      opts.bind = std::string(*text);
    } else if (arg == "--push-interval" || arg == "--idle-timeout") {
      const auto text = value();
      const auto seconds = text ? parse_number(*text, 86400, true) : std::nullopt;
      if (!seconds) {
        return bad("want whole seconds, 0-86400");
      }
      (arg == "--push-interval" ? opts.push_interval : opts.ws_idle_timeout) =
          std::chrono::seconds(*seconds);
    } else {
      return bad("unknown option");
    }
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = std::make_shared<options>();
  if (const auto exit_code = parse_args(argc, argv, *opts)) {
    return *exit_code;
  }

  error_code ec;
  std::string bind_host = opts->bind;
  if (bind_host.size() > 2 && bind_host.front() == '[' && bind_host.back() == ']') {
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  }
  const auto address = net::ip::make_address(bind_host, ec);
  if (ec) {
    std::cerr << "demo_backend: --bind " << opts->bind << ": not an IP address\n";
    return 2;
  }

  net::io_context ioc{1};
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint endpoint(address, opts->port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    // Lets a restarted backend take its port back at once, which the
    // reconnect demo and tests do all the time.
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    std::cerr << "demo_backend: cannot listen on " << opts->bind << ":" << opts->port << ": "
              << ec.message() << '\n';
    return 1;
  }
  const auto port = acceptor.local_endpoint().port();

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](const error_code&, int) { ioc.stop(); });

  net::co_spawn(ioc, accept_loop(std::move(acceptor), opts), net::detached);

  std::cout << "listening on " << port << std::endl;
  ioc.run();
  // Leave without tearing down sessions: the kernel closes the sockets, and
  // the signal handlers stay installed, so a second SIGTERM from an impatient
  // test harness cannot turn a clean stop into death by signal.
  std::cout.flush();
  std::_Exit(0);
}
