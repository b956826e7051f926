#include "extra_handshake.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sstream>

#include <boost/beast/core/string.hpp>
#include <boost/test/unit_test.hpp>

namespace tt::hs {

namespace {
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;
}  // namespace

bool ipv6_loopback_available() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc);
  error_code ec;
  const tcp::endpoint ep(net::ip::make_address("::1"), 0);
  acceptor.open(ep.protocol(), ec);
  if (!ec) {
    acceptor.bind(ep, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  return !ec;
}

std::uint16_t closed_port() {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

bool tcp_connects(const std::string& address, std::uint16_t port, ms timeout) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  bool done = false;
  error_code result = net::error::timed_out;
  socket.async_connect(tcp::endpoint(net::ip::make_address(address), port), [&](error_code ec) {
    result = ec;
    done = true;
  });
  ioc.run_for(timeout);
  return done && !result;
}

// ---------------------------------------------------------------------------
struct conn::impl {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  beast::tcp_stream tcp{ioc};
  std::unique_ptr<ssl::stream<beast::tcp_stream&>> tls;
  beast::flat_buffer buffer;  // bytes read but not handed out yet
  error_code error;
  bool eof = false;

  template <class F>
  void with_stream(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(tcp);
    }
  }

  /// Runs the io_context until `done` or `timeout`; on timeout cancels the
  /// pending operation and waits (bounded) for its handler.
  bool run(const bool& done, ms timeout) {
    const auto end = steady::now() + timeout;
    ioc.restart();
    while (!done) {
      const auto left = std::chrono::duration_cast<ms>(end - steady::now());
      if (left <= 0ms) {
        break;
      }
      ioc.run_one_for(left);
      if (ioc.stopped()) {
        ioc.restart();
      }
    }
    if (done) {
      return true;
    }
    error_code ec;
    tcp.socket().cancel(ec);
    const auto grace = steady::now() + 1000ms;
    while (!done && steady::now() < grace) {
      ioc.run_one_for(100ms);
      if (ioc.stopped()) {
        ioc.restart();
      }
    }
    return false;
  }
};

conn::conn(std::uint16_t port, conn_options o) : impl_(std::make_unique<impl>()) {
  auto& p = *impl_;
  bool done = false;
  p.error = net::error::timed_out;
  p.tcp.async_connect(tcp::endpoint(net::ip::make_address(o.address), port), [&](error_code ec) {
    p.error = ec;
    done = true;
  });
  if (!p.run(done, o.timeout) || p.error) {
    if (!p.error) {
      p.error = net::error::timed_out;
    }
    return;
  }
  if (!o.tls) {
    return;
  }
  p.ctx.set_verify_mode(o.verify ? ssl::verify_peer : ssl::verify_none);
  if (o.verify) {
    p.ctx.load_verify_file(cert_path(o.ca));
  }
  if (o.client_cert) {
    p.ctx.use_certificate_chain_file(cert_path("client.crt"));
    p.ctx.use_private_key_file(cert_path("client.key"), ssl::context::pem);
  }
  if (o.min_tls_version != 0) {
    SSL_CTX_set_min_proto_version(p.ctx.native_handle(), o.min_tls_version);
  }
  if (o.max_tls_version != 0) {
    SSL_CTX_set_max_proto_version(p.ctx.native_handle(), o.max_tls_version);
  }
  p.tls = std::make_unique<ssl::stream<beast::tcp_stream&>>(p.tcp, p.ctx);
  if (!o.sni.empty()) {
    SSL_set_tlsext_host_name(p.tls->native_handle(), o.sni.c_str());
    if (o.verify) {
      p.tls->set_verify_callback(ssl::host_name_verification(o.sni));
    }
  }
  done = false;
  p.error = net::error::timed_out;
  p.tls->async_handshake(ssl::stream_base::client, [&](error_code ec) {
    p.error = ec;
    done = true;
  });
  if (!p.run(done, o.timeout) && !p.error) {
    p.error = net::error::timed_out;
  }
}

conn::~conn() {
  error_code ec;
  impl_->tcp.socket().close(ec);
  impl_->ioc.restart();
  impl_->ioc.poll();
}

error_code conn::error() const { return impl_->error; }

int conn::tls_version() const { return impl_->tls ? SSL_version(impl_->tls->native_handle()) : 0; }

std::string conn::peer_subject() const {
  if (!impl_->tls) {
    return {};
  }
  X509* cert = SSL_get1_peer_certificate(impl_->tls->native_handle());
  if (cert == nullptr) {
    return {};
  }
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
  X509_free(cert);
  return buf;
}

error_code conn::write(const std::string& bytes) {
  auto& p = *impl_;
  bool done = false;
  error_code result = net::error::timed_out;
  p.with_stream([&](auto& s) {
    net::async_write(s, net::buffer(bytes), [&](error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
  });
  p.run(done, 10000ms);
  return result;
}

std::string conn::read_some(ms timeout) {
  auto& p = *impl_;
  if (p.buffer.size() > 0) {
    auto out = beast::buffers_to_string(p.buffer.data());
    p.buffer.consume(p.buffer.size());
    return out;
  }
  if (p.eof || p.error) {
    return {};
  }
  bool done = false;
  std::string out;
  char buf[65536];
  p.with_stream([&](auto& s) {
    s.async_read_some(net::buffer(buf), [&](error_code ec, std::size_t n) {
      out.assign(buf, n);
      if (ec && ec != net::error::operation_aborted) {
        p.eof = true;
      }
      done = true;
    });
  });
  p.run(done, timeout);
  return out;
}

std::string conn::read_until(const std::string& delim, ms timeout) {
  std::string out;
  const auto end = steady::now() + timeout;
  while (!eof() && out.find(delim) == std::string::npos && steady::now() < end) {
    out += read_some(std::chrono::duration_cast<ms>(end - steady::now()));
  }
  return out;
}

std::string conn::read_all(ms timeout) {
  std::string out;
  const auto end = steady::now() + timeout;
  while (!eof() && steady::now() < end) {
    out += read_some(std::chrono::duration_cast<ms>(end - steady::now()));
  }
  return out;
}

bool conn::eof() const { return impl_->eof && impl_->buffer.size() == 0; }

std::optional<http::response<http::string_body>> conn::read_response(bool head, ms timeout) {
  auto& p = *impl_;
  if (p.error) {
    return std::nullopt;
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(512 * 1024 * 1024);
  parser.skip(head);
  bool done = false;
  error_code result = net::error::timed_out;
  p.with_stream([&](auto& s) {
    http::async_read(s, p.buffer, parser, [&](error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
  });
  if (!p.run(done, timeout) || result) {
    if (result && result != net::error::operation_aborted && result != net::error::timed_out) {
      p.eof = true;
    }
    return std::nullopt;
  }
  return parser.release();
}

std::optional<http::response<http::string_body>> conn::request(http::request<http::string_body> req,
                                                               ms timeout) {
  req.version(11);
  if (req.find(http::field::host) == req.end()) {
    req.set(http::field::host, "127.0.0.1");
  }
  req.prepare_payload();
  std::ostringstream os;
  os << req;
  if (write(os.str())) {
    return std::nullopt;
  }
  return read_response(req.method() == http::verb::head, timeout);
}

std::string upgrade_request(const std::string& target, const std::string& host,
                            const std::string& extra_headers) {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra_headers + "\r\n";
}

std::optional<http::response<http::string_body>> parse_response(const std::string& bytes) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  error_code ec;
  const auto used = parser.put(net::buffer(bytes), ec);
  if (ec && ec != http::error::need_more) {
    return std::nullopt;
  }
  if (!parser.is_header_done()) {
    return std::nullopt;
  }
  if (!parser.is_done() && used < bytes.size()) {
    parser.put(net::buffer(bytes.data() + used, bytes.size() - used), ec);
  }
  return parser.release();
}

// ---------------------------------------------------------------------------
struct silent_server::impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::unique_ptr<tcp::socket>> held;  // io thread only
  std::atomic<std::size_t> accepted{0};
  std::thread thread;

  void accept_one() {
    auto socket = std::make_unique<tcp::socket>(ioc);
    auto* s = socket.get();
    held.push_back(std::move(socket));
    acceptor.async_accept(*s, [this](error_code ec) {
      if (ec) {
        return;
      }
      ++accepted;
      accept_one();
    });
  }
};

silent_server::silent_server() : impl_(std::make_unique<impl>()) {
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_one();
  impl_->thread = std::thread([i = impl_.get()] { i->ioc.run(); });
}

silent_server::~silent_server() {
  net::post(impl_->ioc, [i = impl_.get()] {
    error_code ec;
    i->acceptor.close(ec);
    for (auto& s : i->held) {
      s->close(ec);
    }
  });
  impl_->thread.join();  // run() returns once the cancelled accept's handler ran
}

std::size_t silent_server::accepted() const { return impl_->accepted.load(); }

// ---------------------------------------------------------------------------
struct canned_server::impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::function<std::string(const std::string&)> answer;
  std::atomic<std::size_t> requests{0};
  std::thread thread;

  net::awaitable<void> accept_loop() {
    constexpr auto t = net::as_tuple(net::use_awaitable);
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(t);
      if (ec) {
        co_return;
      }
      net::co_spawn(ioc, serve(std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> serve(tcp::socket socket) {
    constexpr auto t = net::as_tuple(net::use_awaitable);
    std::string in;
    auto [ec, n] = co_await net::async_read_until(socket, net::dynamic_buffer(in), "\r\n\r\n", t);
    if (ec) {
      co_return;
    }
    ++requests;
    const auto out = answer(in.substr(0, n));
    if (out.empty()) {
      co_return;  // the socket closes with this frame
    }
    auto [wec, wn] = co_await net::async_write(socket, net::buffer(out), t);
    char sink[4096];
    while (!wec) {
      auto [rec, rn] = co_await socket.async_read_some(net::buffer(sink), t);
      wec = rec;
    }
  }
};

canned_server::canned_server(std::function<std::string(const std::string&)> answer,
                             const std::string& address)
    : impl_(std::make_unique<impl>()) {
  impl_->answer = std::move(answer);
  const tcp::endpoint ep(net::ip::make_address(address), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  net::co_spawn(impl_->ioc, impl_->accept_loop(), net::detached);
  impl_->thread = std::thread([i = impl_.get()] { i->ioc.run(); });
}

canned_server::~canned_server() {
  impl_->ioc.stop();
  impl_->thread.join();
}

std::size_t canned_server::requests() const { return impl_->requests.load(); }

std::string ws_accept_for(const std::string& key) {
  const std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, sizeof digest);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

std::string head_field(const std::string& head, const std::string& name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    const auto start = pos + 2;
    const auto end = head.find("\r\n", start);
    const std::string line = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const auto colon = line.find(':');
    if (colon != std::string::npos && beast::iequals(line.substr(0, colon), name)) {
      auto value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      value.erase(value.find_last_not_of(" \t") + 1);
      return value;
    }
    pos = end;
  }
  return {};
}

}  // namespace tt::hs
