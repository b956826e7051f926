#include "tls13_peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace tt {
namespace {

using steady = std::chrono::steady_clock;

/// HKDF-Expand-Label(secret, label, "", len) with SHA-256 (RFC 8446 7.1).
void expand_label(const std::uint8_t* secret, const char* label, std::uint8_t* out,
                  std::size_t len) {
  std::string info;
  info += static_cast<char>(len >> 8);
  info += static_cast<char>(len & 0xff);
  const std::string full = std::string("tls13 ") + label;
  info += static_cast<char>(full.size());
  info += full;
  info += '\0';
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(secret), 32),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  const int ok = EVP_KDF_derive(ctx, out, len, params);
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  BOOST_REQUIRE_EQUAL(ok, 1);
}

std::array<std::uint8_t, 12> nonce_of(const tls13_direction& d) {
  auto nonce = d.iv;
  for (int i = 0; i < 8; ++i) {
    nonce[11 - i] ^= static_cast<std::uint8_t>(d.seq >> (8 * i));
  }
  return nonce;
}

const std::string ws_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string accept_key(const std::string& key) {
  std::uint8_t digest[20];
  const std::string in = key + ws_guid;
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha1(), nullptr);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, 20);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

}  // namespace

void tls13_direction::install(const std::uint8_t* s) {
  std::memcpy(secret.data(), s, secret.size());
  expand_label(secret.data(), "key", key.data(), key.size());
  expand_label(secret.data(), "iv", iv.data(), iv.size());
  seq = 0;
}

void tls13_direction::next_generation() {
  std::array<std::uint8_t, 32> next{};
  expand_label(secret.data(), "traffic upd", next.data(), next.size());
  install(next.data());
}

test_listener::test_listener() {
  fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::listen(fd, 16) == 0);
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  port = ntohs(a.sin_port);
}

test_listener::~test_listener() { ::close(fd); }

tls13_peer::tls13_peer(int fd, bool is_client) : fd_(fd), is_client_(is_client) {}

tls13_peer::~tls13_peer() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void tls13_peer::keylog(const SSL* ssl, const char* line) {
  auto* self = static_cast<tls13_peer*>(SSL_get_app_data(ssl));
  auto take = [&](const char* label, std::array<std::uint8_t, 32>& out) {
    if (std::strncmp(line, label, std::strlen(label)) != 0) {
      return;
    }
    const char* hex = std::strrchr(line, ' ') + 1;
    if (std::strlen(hex) != 64) {
      return;
    }
    for (std::size_t i = 0; i < 32; ++i) {
      out[i] = static_cast<std::uint8_t>(std::stoi(std::string(hex + 2 * i, 2), nullptr, 16));
    }
    ++self->secrets_;
  };
  take("CLIENT_TRAFFIC_SECRET_0 ", self->client_secret_);
  take("SERVER_TRAFFIC_SECRET_0 ", self->server_secret_);
}

bool tls13_peer::do_handshake(SSL_CTX* ctx, ms timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<long>(timeout.count() / 1000);
  tv.tv_usec = static_cast<long>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
  SSL_CTX_set_keylog_callback(ctx, &tls13_peer::keylog);
  SSL* ssl = SSL_new(ctx);
  SSL_set_app_data(ssl, this);
  SSL_set_fd(ssl, fd_);
  int r = 0;
  if (is_client_) {
    SSL_set_tlsext_host_name(ssl, "localhost");
    r = SSL_connect(ssl);
  } else {
    r = SSL_accept(ssl);
  }
  // OpenSSL has read exactly the handshake (no read-ahead) and, with no
  // tickets, written nothing after it: every record from here on is ours,
  // numbered from 0 under the first application secrets.
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  if (r != 1 || secrets_ != 2) {
    return false;
  }
  read_.install(is_client_ ? server_secret_.data() : client_secret_.data());
  write_.install(is_client_ ? client_secret_.data() : server_secret_.data());
  return true;
}

std::unique_ptr<tls13_peer> tls13_peer::connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return nullptr;
  }
  return connect_fd(fd);
}

std::unique_ptr<tls13_peer> tls13_peer::connect_fd(int fd) {
  std::unique_ptr<tls13_peer> p(new tls13_peer(fd, true));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, cert_path("ca.crt").c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return p->do_handshake(ctx, 5000ms) ? std::move(p) : nullptr;
}

std::unique_ptr<tls13_peer> tls13_peer::accept(int listen_fd, ms timeout) {
  pollfd pfd{listen_fd, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) {
    return nullptr;
  }
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) {
    return nullptr;
  }
  std::unique_ptr<tls13_peer> p(new tls13_peer(fd, false));
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_use_certificate_chain_file(ctx, cert_path("server-chain.crt").c_str());
  SSL_CTX_use_PrivateKey_file(ctx, cert_path("server.key").c_str(), SSL_FILETYPE_PEM);
  SSL_CTX_set_num_tickets(ctx, 0);
  return p->do_handshake(ctx, timeout) ? std::move(p) : nullptr;
}

std::string tls13_peer::seal(std::uint8_t type, const std::string& content, std::size_t padding) {
  std::string inner = content;
  inner += static_cast<char>(type);
  inner.append(padding, '\0');
  return seal_inner(inner);
}

std::string tls13_peer::seal_inner(const std::string& inner) {
  const std::size_t body = inner.size() + 16;
  std::string out(5 + body, '\0');
  auto* o = reinterpret_cast<std::uint8_t*>(out.data());
  o[0] = application_data;
  o[1] = 3;
  o[2] = 3;
  o[3] = static_cast<std::uint8_t>(body >> 8);
  o[4] = static_cast<std::uint8_t>(body);
  const auto nonce = nonce_of(write_);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  bool ok = EVP_EncryptInit_ex2(ctx, EVP_aes_128_gcm(), write_.key.data(), nonce.data(), nullptr) == 1 &&
            EVP_EncryptUpdate(ctx, nullptr, &n, o, 5) == 1 &&
            EVP_EncryptUpdate(ctx, o + 5, &n, reinterpret_cast<const std::uint8_t*>(inner.data()),
                              static_cast<int>(inner.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, o + 5 + inner.size(), &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, o + 5 + inner.size()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  BOOST_REQUIRE(ok);
  ++write_.seq;
  return out;
}

bool tls13_peer::send_raw(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const auto r = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (r <= 0) {
      return false;
    }
    done += static_cast<std::size_t>(r);
  }
  return true;
}

bool tls13_peer::try_send_raw(const std::string& bytes, std::size_t& sent) {
  const auto r = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  sent = r > 0 ? static_cast<std::size_t>(r) : 0;
  return r > 0;
}

bool tls13_peer::send_key_update(bool update_requested) {
  const std::string ku{'\x18', '\0', '\0', '\x01', update_requested ? '\x01' : '\x00'};
  const bool ok = send(handshake, ku);
  write_.next_generation();
  return ok;
}

bool tls13_peer::fill(std::size_t n, ms timeout) {
  const auto until = steady::now() + timeout;
  while (rx_.size() < n) {
    const auto left = std::chrono::duration_cast<ms>(until - steady::now()).count();
    pollfd pfd{fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) != 1) {
      return false;
    }
    char buf[65536];
    const auto r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) {
      eof_ = true;
      return false;
    }
    rx_.append(buf, static_cast<std::size_t>(r));
  }
  return true;
}

std::optional<tls13_peer::record> tls13_peer::read_record(ms timeout) {
  if (!fill(5, timeout)) {
    return std::nullopt;
  }
  const std::size_t body = static_cast<std::uint8_t>(rx_[3]) << 8 | static_cast<std::uint8_t>(rx_[4]);
  if (!fill(5 + body, timeout) || body < 17 || rx_[0] != application_data) {
    return std::nullopt;
  }
  auto* r = reinterpret_cast<std::uint8_t*>(rx_.data());
  const std::size_t sealed = body - 16;
  std::string inner(sealed, '\0');
  const auto nonce = nonce_of(read_);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  std::uint8_t last[16];
  const bool ok =
      EVP_DecryptInit_ex2(ctx, EVP_aes_128_gcm(), read_.key.data(), nonce.data(), nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, r + 5 + sealed) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &n, r, 5) == 1 &&
      EVP_DecryptUpdate(ctx, reinterpret_cast<std::uint8_t*>(inner.data()), &n, r + 5,
                        static_cast<int>(sealed)) == 1 &&
      EVP_DecryptFinal_ex(ctx, last, &n) == 1;
  EVP_CIPHER_CTX_free(ctx);
  BOOST_REQUIRE_MESSAGE(ok, "a record from tether does not open");
  rx_.erase(0, 5 + body);
  ++read_.seq;
  while (!inner.empty() && inner.back() == '\0') {
    inner.pop_back();
  }
  BOOST_REQUIRE(!inner.empty());
  record out{static_cast<std::uint8_t>(inner.back()), inner.substr(0, inner.size() - 1)};
  if (out.type == handshake && !out.content.empty() && out.content[0] == '\x18') {
    ++key_updates_received_;
    read_.next_generation();
  }
  return out;
}

void tls13_peer::read_app_until(const std::function<bool()>& enough, ms timeout) {
  const auto until = steady::now() + timeout;
  while (!enough()) {
    const auto left = std::chrono::duration_cast<ms>(until - steady::now());
    auto r = read_record(left);
    if (!r || r->type == alert) {
      break;
    }
    if (r->type == application_data) {
      plain_ += r->content;
    }
  }
}

std::string tls13_peer::take_plain(std::size_t n) {
  std::string out = plain_.substr(0, n);
  plain_.erase(0, n);
  return out;
}

std::string tls13_peer::read_until(const std::string& delim, ms timeout) {
  read_app_until([&] { return plain_.find(delim) != std::string::npos; }, timeout);
  const auto at = plain_.find(delim);
  return take_plain(at == std::string::npos ? plain_.size() : at + delim.size());
}

std::string tls13_peer::read_app(std::size_t n, ms timeout) {
  read_app_until([&] { return plain_.size() >= n; }, timeout);
  return take_plain(std::min(n, plain_.size()));
}

tls13_peer::ending tls13_peer::wait_end(ms timeout) {
  ending e;
  const auto until = steady::now() + timeout;
  while (!e.closed) {
    const auto left = std::chrono::duration_cast<ms>(until - steady::now());
    if (left.count() <= 0) {
      e.timed_out = true;
      break;
    }
    auto r = read_record(left);
    if (!r) {
      e.closed = eof_;
      e.timed_out = !eof_;
      break;
    }
    if (r->type == alert && r->content.size() == 2 && !e.alert) {
      e.alert = true;
      e.level = static_cast<std::uint8_t>(r->content[0]);
      e.description = static_cast<std::uint8_t>(r->content[1]);
    }
  }
  return e;
}

bool tls13_peer::ws_upgrade(const std::string& target) {
  const std::string req = "GET " + target +
                          " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n";
  if (!send(application_data, req)) {
    return false;
  }
  return read_until("\r\n\r\n").find(" 101 ") != std::string::npos;
}

bool tls13_peer::ws_accept() {
  const std::string req = read_until("\r\n\r\n");
  std::string lower = req;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string name = "sec-websocket-key:";
  const auto at = lower.find(name);
  if (at == std::string::npos) {
    return false;
  }
  auto begin = at + name.size();
  while (req[begin] == ' ') {
    ++begin;
  }
  const std::string key = req.substr(begin, req.find("\r\n", begin) - begin);
  return send(application_data,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: " +
                  accept_key(key) + "\r\n\r\n");
}

std::string tls13_peer::ws_text_frame(const std::string& text) const {
  std::string f;
  f += '\x81';
  const char mask_bit = is_client_ ? '\x80' : '\0';
  if (text.size() < 126) {
    f += static_cast<char>(mask_bit | static_cast<char>(text.size()));
  } else {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(text.size() >> 8);
    f += static_cast<char>(text.size() & 0xff);
  }
  if (!is_client_) {
    return f + text;
  }
  const char key[4] = {1, 2, 3, 4};
  f.append(key, 4);
  for (std::size_t i = 0; i < text.size(); ++i) {
    f += static_cast<char>(text[i] ^ key[i % 4]);
  }
  return f;
}

std::optional<std::string> tls13_peer::ws_read_text(ms timeout) {
  for (;;) {
    std::string head = read_app(2, timeout);
    if (head.size() < 2) {
      return std::nullopt;
    }
    const auto op = static_cast<std::uint8_t>(head[0]) & 0x0f;
    const bool masked = (static_cast<std::uint8_t>(head[1]) & 0x80) != 0;
    std::uint64_t len = static_cast<std::uint8_t>(head[1]) & 0x7f;
    if (len >= 126) {
      const std::string ext = read_app(len == 126 ? 2 : 8, timeout);
      len = 0;
      for (char c : ext) {
        len = len << 8 | static_cast<std::uint8_t>(c);
      }
    }
    const std::string key = masked ? read_app(4, timeout) : std::string();
    std::string payload = read_app(static_cast<std::size_t>(len), timeout);
    if (payload.size() != len) {
      return std::nullopt;
    }
    for (std::size_t i = 0; masked && i < payload.size(); ++i) {
      payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
    }
    if (op == 8) {
      return std::nullopt;
    }
    if (op == 1 || op == 2) {
      return payload;
    }
  }
}

}  // namespace tt
