#include "tls/openssl_stream.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <climits>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include "tls/record_stream.hpp"

namespace tether {
namespace {

error_code tls_error() {
  return error_code(static_cast<int>(ERR_get_error()), net::error::get_ssl_category());
}

int clamp_int(std::size_t n) { return static_cast<int>(std::min<std::size_t>(n, INT_MAX)); }

/// What a failed SSL_* call `r` means. A peer that closed TCP without
/// close_notify counts as EOF, as browsers and most servers do this.
io_status status_of(SSL* ssl, int r, error_code& ec) {
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
      return io_status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return io_status::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return io_status::eof;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        return io_status::eof;
      }
      [[fallthrough]];
    default:
      ec = tls_error();
      return io_status::error;
  }
}

/// OpenSSL's socket BIO, cut down to what a non-blocking TCP leg needs, on
/// the stream's socket_io (which remembers whether the last read came back
/// short: the one fact the socket BIO hides).
struct socket_bio {
  static socket_io& of(BIO* b) { return *static_cast<socket_io*>(BIO_get_data(b)); }

  static int read(BIO* b, char* out, std::size_t len, std::size_t* done) {
    BIO_clear_retry_flags(b);
    error_code ec;
    const auto st = of(b).recv(reinterpret_cast<std::uint8_t*>(out), len, *done, ec);
    if (st == io_status::done) {
      return 1;
    }
    if (st == io_status::want_read) {
      BIO_set_retry_read(b);
    }
    return 0;
  }

  static int write(BIO* b, const char* in, std::size_t len, std::size_t* done) {
    BIO_clear_retry_flags(b);
    error_code ec;
    const auto st = of(b).send(reinterpret_cast<const std::uint8_t*>(in), len, *done, ec);
    if (st == io_status::done) {
      return 1;
    }
    if (st == io_status::want_write) {
      BIO_set_retry_write(b);
    }
    return 0;
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_EOF:
        return of(b).peer_eof ? 1 : 0;
      case BIO_C_GET_FD:
        return of(b).fd;
      default:
        return 0;
    }
  }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static const BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      auto* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tether socket");
      BIO_meth_set_read_ex(bm, &read);
      BIO_meth_set_write_ex(bm, &write);
      BIO_meth_set_ctrl(bm, &ctrl);
      BIO_meth_set_create(bm, &create);
      return bm;
    }();
    return m;
  }
};

}  // namespace

openssl_stream::openssl_stream(int fd, SSL_CTX* ctx, bool as_client) : fd_stream(fd) {
  ssl_ = SSL_new(ctx);
  BIO* bio = ssl_ != nullptr ? BIO_new(socket_bio::method()) : nullptr;
  if (bio == nullptr) {
    SSL_free(std::exchange(ssl_, nullptr));
    return;
  }
  BIO_set_data(bio, &io_);
  SSL_set_bio(ssl_, bio, bio);
  if (as_client) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
  watch_ = std::make_unique<handoff_watch>();
  watch_->we_are_client = as_client;
  SSL_set_msg_callback(ssl_, &handoff_watch::on_message);
  SSL_set_msg_callback_arg(ssl_, watch_.get());
  SSL_set_app_data(ssl_, watch_.get());
}

openssl_stream::~openssl_stream() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
  }
  io_.close();
}

void openssl_stream::expect_server(const std::string& server_name) {
  error_code ec;
  const auto addr = net::ip::make_address(server_name, ec);
  if (ec) {
    // SNI is for names only (RFC 6066), and so is the host-name check.
    SSL_set_tlsext_host_name(ssl_, server_name.c_str());
    SSL_set1_host(ssl_, server_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), addr.to_string().c_str());
  }
}

io_status openssl_stream::handshake(error_code& ec) {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    return io_status::done;
  }
  const auto st = status_of(ssl_, r, ec);
  if (st == io_status::eof) {
    ec = net::error::eof;  // the handshake cannot end well that way
    return io_status::error;
  }
  return st;
}

std::string openssl_stream::verify_error() const {
  const long verify = SSL_get_verify_result(ssl_);
  return verify == X509_V_OK ? std::string() : X509_verify_cert_error_string(verify);
}

void openssl_stream::stop_watching() {
  if (watch_) {
    SSL_set_msg_callback(ssl_, nullptr);
    SSL_set_app_data(ssl_, nullptr);
    watch_.reset();
  }
}

void openssl_stream::keep_records() { stop_watching(); }

io_status openssl_stream::read(std::span<std::uint8_t> buf, std::size_t& n, error_code& ec) {
  n = 0;
  ERR_clear_error();
  const int r = SSL_read(ssl_, buf.data(), clamp_int(buf.size()));
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return io_status::done;
  }
  return status_of(ssl_, r, ec);
}

io_status openssl_stream::write(std::span<const std::uint8_t> buf, std::size_t& n,
                                error_code& ec) {
  n = 0;
  if (buf.empty()) {
    return io_status::done;
  }
  ERR_clear_error();
  const int r = SSL_write(ssl_, buf.data(), clamp_int(buf.size()));
  write_blocked_ = r <= 0;
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return io_status::done;
  }
  const auto st = status_of(ssl_, r, ec);
  if (st == io_status::eof) {
    ec = net::error::broken_pipe;
    return io_status::error;
  }
  return st;
}

bool openssl_stream::drained() const {
  return io_.last_read_short && SSL_has_pending(ssl_) == 0;
}

bool openssl_stream::holds_input() const { return SSL_has_pending(ssl_) == 1; }

void openssl_stream::send_close_notify() {
  if (io_.fd >= 0 && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
  }
}

void openssl_stream::shutdown_send() {
  send_close_notify();
  io_.shutdown_send();
}

void openssl_stream::close() {
  send_close_notify();
  io_.close();
}

std::unique_ptr<byte_stream> openssl_stream::successor() {
  // Only a relayed stream hands off (the handshake's reader still needs
  // OpenSSL), and only once.
  if (!watch_ || !io_.owns_fd || io_.fd < 0) {
    return nullptr;
  }
  auto& w = *watch_;
  if (w.spoiled || SSL_version(ssl_) != TLS1_3_VERSION || SSL_get_shutdown(ssl_) != 0) {
    stop_watching();
    return nullptr;
  }
  // SSL_in_init: OpenSSL is part way through a post-handshake message (a
  // ticket split across records), whose records it has already taken.
  if (!w.finished_read || !w.finished_written || write_blocked_ || SSL_has_pending(ssl_) != 0 ||
      SSL_in_init(ssl_) != 0) {
    return nullptr;  // OpenSSL still holds bytes: next time
  }
  tls13::suite suite{};
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
  if (cipher == nullptr || !tls13::suite_of(SSL_CIPHER_get_id(cipher), suite) ||
      w.client_secret_size != tls13::secret_size(suite) ||
      w.server_secret_size != tls13::secret_size(suite)) {
    stop_watching();
    return nullptr;
  }
  const auto client = std::span(w.client_secret).first(w.client_secret_size);
  const auto server = std::span(w.server_secret).first(w.server_secret_size);
  auto records = std::make_unique<tls13::record_layer>(
      suite, w.we_are_client ? server : client, w.read_records, w.we_are_client ? client : server,
      w.write_records);
  if (!records->ok()) {
    stop_watching();
    return nullptr;
  }
  auto next = std::make_unique<record_stream>(io_, std::move(records), w.we_are_client);
  // The connection is the new stream's now: this one lets go without a word.
  io_.owns_fd = false;
  io_.fd = -1;
  record_stream::count_handoff();
  return next;
}

}  // namespace tether
