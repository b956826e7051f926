#pragma once
// OpenSSL contexts for both legs. tether drives OpenSSL directly (not
// asio::ssl::stream) so that an idle TLS session holds no fixed buffers:
// SSL_MODE_RELEASE_BUFFERS frees OpenSSL's record buffers between reads.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace tether {

struct ssl_ctx_deleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_deleter>;

/// A listener's certificates: the default one plus any chosen by SNI.
/// Immutable once built; a reload builds a new one, and sessions that
/// already hold an SSL* keep theirs.
class server_tls {
 public:
  /// Builds from config; on failure returns nullptr and sets `error`.
  static std::shared_ptr<server_tls> make(const listener_tls_config& cfg, std::string& error);
  SSL_CTX* context() const { return default_.get(); }
  /// tls.record_offload: tether may take a session's TLS 1.3 records over.
  bool record_offload() const { return record_offload_; }

 private:
  struct sni_entry {
    std::vector<std::string> names;
    ssl_ctx_ptr ctx;
  };
  static int on_servername(SSL* ssl, int* alert, void* arg);
  SSL_CTX* pick(std::string_view name) const;

  ssl_ctx_ptr default_;
  std::vector<sni_entry> sni_;
  bool record_offload_ = true;
};

/// Client context for wss:// upstreams of one route.
ssl_ctx_ptr make_client_tls(const upstream_tls_config& cfg, std::string& error);

/// Runs one TLS handshake against `server` in memory, on the calling thread,
/// so that the first client does not pay OpenSSL's first-use work and the
/// memory it keeps (algorithm fetches, curve tables, the thread's DRBG).
void warm_up_tls(SSL_CTX* server);

/// The last OpenSSL error as text (and clears the queue).
std::string openssl_error();

}  // namespace tether
