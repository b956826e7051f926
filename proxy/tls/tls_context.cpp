#include "tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config/routes.hpp"
#include "tls/tls_cipher_lists.hpp"
#include "tls/handoff_watch.hpp"

namespace tether {
namespace {

// Modes every tether SSL* runs with: partial writes and moving buffers fit
// the non-blocking write loop; RELEASE_BUFFERS drops ~30 KB per idle session.
constexpr long ssl_modes =
    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS;

/// What every context of tether's shares: buffers, read-ahead, and the
/// keylog callback that gives the records' handoff its secrets.
ssl_ctx_ptr new_ctx(const SSL_METHOD* method, int min_version, std::string& error) {
  ssl_ctx_ptr ctx(SSL_CTX_new(method));
  if (!ctx) {
    error = "SSL_CTX_new: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_mode(ctx.get(), ssl_modes);
  // One read(2) per batch of records instead of two per record (header, body).
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  // Large messages then take one read per 64 KiB, not per 16 KiB record; the
  // buffer is still released while the session is idle.
  SSL_CTX_set_default_read_buffer_len(ctx.get(), 64 * 1024);
  // The application secrets, for the handoff of the records to tether.
  SSL_CTX_set_keylog_callback(ctx.get(), &tls_handoff_keylog);
  return ctx;
}

ssl_ctx_ptr new_server_ctx(const listener_tls_config& cfg, const std::string& cert,
                           const std::string& key, int min_version, std::string& error) {
  auto ctx = new_ctx(TLS_server_method(), min_version, error);
  if (!ctx) {
    return nullptr;
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // OpenSSL's own TLS 1.2 default still offers CBC and static-RSA suites.
  const std::string ciphers(cfg.ciphers.empty() ? default_tls12_ciphers : cfg.ciphers);
  const std::string suites(cfg.ciphersuites.empty() ? default_tls13_ciphersuites
                                                    : cfg.ciphersuites);
  if (SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) != 1 ||
      SSL_CTX_set_ciphersuites(ctx.get(), suites.c_str()) != 1) {
    error = "cipher list: " + openssl_error();
    return nullptr;
  }
  // One TLS 1.3 ticket, not OpenSSL's two: a WebSocket client holds one
  // connection, so one ticket is all a reconnect can use, and each ticket
  // costs an encryption and a write on every handshake.
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    error = "cannot load certificate " + cert + ": " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "cannot load key " + key + ": " + openssl_error();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = "key " + key + " does not match certificate " + cert;
    return nullptr;
  }
  return ctx;
}

bool require_client_certs(SSL_CTX* ctx, const std::string& ca, std::string& error) {
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    error = "cannot load client_ca " + ca + ": " + openssl_error();
    return false;
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
  if (names != nullptr) {
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return true;
}

}  // namespace

std::string openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

void warm_up_tls(SSL_CTX* server) {
  ssl_ctx_ptr client_ctx(SSL_CTX_new(TLS_client_method()));
  SSL* client = client_ctx ? SSL_new(client_ctx.get()) : nullptr;
  SSL* accepted = SSL_new(server);
  BIO* client_end = nullptr;
  BIO* server_end = nullptr;
  if (client != nullptr && accepted != nullptr &&
      BIO_new_bio_pair(&client_end, 0, &server_end, 0) == 1) {
    SSL_set_bio(client, client_end, client_end);
    SSL_set_bio(accepted, server_end, server_end);
    SSL_set_connect_state(client);
    SSL_set_accept_state(accepted);
    // TLS 1.3 needs two flights each way; a listener that demands client
    // certificates fails part-way, which still warms the common part.
    for (int i = 0; i < 4; ++i) {
      SSL_do_handshake(client);
      SSL_do_handshake(accepted);
    }
    // One record each way, so the record layer's ciphers run once too.
    char byte = 'x';
    if (SSL_write(client, &byte, 1) == 1 && SSL_read(accepted, &byte, 1) == 1) {
      SSL_write(accepted, &byte, 1);
      SSL_read(client, &byte, 1);
    }
  }
  SSL_free(client);
  SSL_free(accepted);
  ERR_clear_error();
}

std::shared_ptr<server_tls> server_tls::make(const listener_tls_config& cfg, std::string& error) {
  const int min_version = cfg.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
  auto out = std::make_shared<server_tls>();
  out->record_offload_ = cfg.record_offload;
  out->default_ = new_server_ctx(cfg, cfg.cert, cfg.key, min_version, error);
  if (!out->default_) {
    return nullptr;
  }
  if (!cfg.client_ca.empty() && !require_client_certs(out->default_.get(), cfg.client_ca, error)) {
    return nullptr;
  }
  for (const auto& s : cfg.sni) {
    sni_entry e{s.names, new_server_ctx(cfg, s.cert, s.key, min_version, error)};
    if (!e.ctx) {
      return nullptr;
    }
    if (!cfg.client_ca.empty() && !require_client_certs(e.ctx.get(), cfg.client_ca, error)) {
      return nullptr;
    }
    out->sni_.push_back(std::move(e));
  }
  if (!out->sni_.empty()) {
    SSL_CTX_set_tlsext_servername_callback(out->default_.get(), &server_tls::on_servername);
    SSL_CTX_set_tlsext_servername_arg(out->default_.get(), out.get());
  }
  return out;
}

SSL_CTX* server_tls::pick(std::string_view name) const {
  // Exact names first, then wildcards, as for routes.
  for (const auto& e : sni_) {
    for (const auto& n : e.names) {
      if (n.find('*') == std::string::npos && route_table::host_matches(name, n)) {
        return e.ctx.get();
      }
    }
  }
  for (const auto& e : sni_) {
    for (const auto& n : e.names) {
      if (n.find('*') != std::string::npos && route_table::host_matches(name, n)) {
        return e.ctx.get();
      }
    }
  }
  return nullptr;
}

int server_tls::on_servername(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const server_tls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  if (SSL_CTX* ctx = self->pick(name)) {
    SSL_set_SSL_CTX(ssl, ctx);
    // SSL_set_SSL_CTX swaps the certificate but not the verify settings.
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), nullptr);
  }
  return SSL_TLSEXT_ERR_OK;
}

ssl_ctx_ptr make_client_tls(const upstream_tls_config& cfg, std::string& error) {
  auto ctx = new_ctx(TLS_client_method(), TLS1_2_VERSION, error);
  if (!ctx) {
    return nullptr;
  }
  if (cfg.verify) {
    const bool loaded = cfg.ca.empty()
                            ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                            : SSL_CTX_load_verify_locations(ctx.get(), cfg.ca.c_str(), nullptr) == 1;
    if (!loaded) {
      error = "cannot load upstream ca " + cfg.ca + ": " + openssl_error();
      return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  if (!cfg.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cfg.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = "cannot load upstream client certificate: " + openssl_error();
      return nullptr;
    }
  }
  return ctx;
}

}  // namespace tether
