#include "config/config_yaml.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

// The files a configuration names: they must exist and, for certificates,
// keys and CAs, load with OpenSSL, so that `tether --check` catches them
// before a start or reload does. Relative paths resolve against the current
// working directory, as the TLS code will open them the same way.
namespace tether::config_yaml {

namespace {

struct ssl_ctx_free {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using owned_ssl_ctx = std::unique_ptr<SSL_CTX, ssl_ctx_free>;

// An encrypted key must fail the check, not prompt on the terminal.
int refuse_password(char*, int, int, void*) { return 0; }

owned_ssl_ctx new_check_context() {
  owned_ssl_ctx ctx(SSL_CTX_new(TLS_method()));
  if (ctx) {
    SSL_CTX_set_default_passwd_cb(ctx.get(), refuse_password);
  }
  return ctx;
}

/// The first queued OpenSSL error (the root cause); clears the queue.
std::string openssl_reason() {
  const char* data = nullptr;
  int flags = 0;
  const unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  std::string text = reason != nullptr ? reason : "unknown OpenSSL error";
  // The decoder's reason alone ("unsupported") says nothing; its data
  // ("No supported data to decode. Input type: PEM") names the problem.
  if (ERR_GET_LIB(code) == ERR_LIB_OSSL_DECODER && data != nullptr && *data != '\0' &&
      (flags & ERR_TXT_STRING) != 0) {
    text += ": ";
    text += data;
  }
  ERR_clear_error();  // after the copy: it frees `data`
  return text;
}

void file_error(parse_context& ctx, const file_ref& ref, const std::string& message) {
  ctx.error(ref.mark, ref.path, message);
}

bool check_readable(parse_context& ctx, const file_ref& ref) {
  std::error_code ec;
  if (std::filesystem::is_directory(ref.file, ec)) {
    file_error(ctx, ref, in_quotes(ref.file) + " is a directory, not a file");
    return false;
  }
  std::ifstream in(ref.file, std::ios::binary);
  if (!in) {
    file_error(ctx, ref, "cannot open " + in_quotes(ref.file) + ": " + std::strerror(errno));
    return false;
  }
  return true;
}

void check_cert_pair(parse_context& ctx, const cert_pair_ref& pair) {
  const bool cert_readable = check_readable(ctx, pair.cert);
  const bool key_readable = check_readable(ctx, pair.key);
  owned_ssl_ctx with_cert = new_check_context();
  owned_ssl_ctx key_only = new_check_context();
  if (!with_cert || !key_only) {
    file_error(ctx, pair.cert, "cannot create an OpenSSL context: " + openssl_reason());
    return;
  }
  ERR_clear_error();
  bool cert_ok = false;
  if (cert_readable) {
    cert_ok = SSL_CTX_use_certificate_chain_file(with_cert.get(), pair.cert.file.c_str()) == 1;
    if (!cert_ok) {
      file_error(ctx, pair.cert,
                 "cannot load certificate chain " + in_quotes(pair.cert.file) + ": " + openssl_reason());
    }
  }
  // The key is loaded alone first so that a broken key and a key of
  // another certificate get different messages.
  bool key_ok = false;
  if (key_readable) {
    key_ok = SSL_CTX_use_PrivateKey_file(key_only.get(), pair.key.file.c_str(), SSL_FILETYPE_PEM) == 1;
    if (!key_ok) {
      file_error(ctx, pair.key,
                 "cannot load private key " + in_quotes(pair.key.file) + ": " + openssl_reason());
    }
  }
  if (cert_ok && key_ok &&
      (SSL_CTX_use_PrivateKey_file(with_cert.get(), pair.key.file.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(with_cert.get()) != 1)) {
    ERR_clear_error();
    file_error(ctx, pair.key,
               "private key " + in_quotes(pair.key.file) + " does not match certificate " +
                   in_quotes(pair.cert.file));
  }
}

void check_ca_file(parse_context& ctx, const file_ref& ref) {
  if (!check_readable(ctx, ref)) {
    return;
  }
  owned_ssl_ctx ssl = new_check_context();
  ERR_clear_error();
  if (!ssl || SSL_CTX_load_verify_locations(ssl.get(), ref.file.c_str(), nullptr) != 1) {
    file_error(ctx, ref, "cannot load CA certificates " + in_quotes(ref.file) + ": " + openssl_reason());
  }
}

}  // namespace

void check_files(parse_context& ctx) {
  for (const auto& pair : ctx.cert_pairs()) {
    check_cert_pair(ctx, pair);
  }
  for (const auto& ca : ctx.ca_files()) {
    check_ca_file(ctx, ca);
  }
}

}  // namespace tether::config_yaml
