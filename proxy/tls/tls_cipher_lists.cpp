#include "tls/tls_cipher_lists.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <memory>

namespace tether {
namespace {

struct ctx_deleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using scratch_ctx = std::unique_ptr<SSL_CTX, ctx_deleter>;

scratch_ctx scratch() { return scratch_ctx(SSL_CTX_new(TLS_method())); }

/// Ciphers below TLS 1.3 in the context's list.
int tls12_ciphers_in(SSL_CTX* ctx) {
  int n = 0;
  STACK_OF(SSL_CIPHER)* all = SSL_CTX_get_ciphers(ctx);
  for (int i = 0; i < sk_SSL_CIPHER_num(all); ++i) {
    if (std::strcmp(SSL_CIPHER_get_version(sk_SSL_CIPHER_value(all, i)), "TLSv1.3") != 0) {
      ++n;
    }
  }
  return n;
}

/// Calls `f` on each ':'-separated element of `list`; stops at the first
/// error it returns.
template <class F>
std::string each_element(std::string_view list, F f) {
  if (list.empty()) {
    return "must not be empty";
  }
  std::size_t at = 0;
  for (;;) {
    const auto end = list.find(':', at);
    const auto element = list.substr(at, end == std::string_view::npos ? end : end - at);
    if (element.empty()) {
      return "empty element in the list";
    }
    if (auto error = f(element); !error.empty()) {
      return error;
    }
    if (end == std::string_view::npos) {
      return {};
    }
    at = end + 1;
  }
}

}  // namespace

std::string check_tls12_ciphers(std::string_view list) {
  auto error = each_element(list, [](std::string_view element) -> std::string {
    // "!X", "-X", "+X" name X too; "@STRENGTH" and "@SECLEVEL=n" are commands.
    std::string_view name = element;
    if (name.front() == '!' || name.front() == '-' || name.front() == '+') {
      name.remove_prefix(1);
    }
    if (name.empty() || name.front() == '@') {
      return {};
    }
    auto ctx = scratch();
    const std::string one(name);
    if (!ctx || SSL_CTX_set_cipher_list(ctx.get(), one.c_str()) != 1) {
      ERR_clear_error();
      return "unknown cipher \"" + one + "\"";
    }
    return {};
  });
  if (!error.empty()) {
    return error;
  }
  auto ctx = scratch();
  const std::string whole(list);
  if (!ctx || SSL_CTX_set_cipher_list(ctx.get(), whole.c_str()) != 1 ||
      tls12_ciphers_in(ctx.get()) == 0) {
    ERR_clear_error();
    return "leaves no TLS 1.2 cipher";
  }
  return {};
}

std::string check_tls13_ciphersuites(std::string_view list) {
  return each_element(list, [](std::string_view element) -> std::string {
    auto ctx = scratch();
    const std::string one(element);
    // OpenSSL skips names it does not know: one known name leaves one suite.
    if (!ctx || SSL_CTX_set_ciphersuites(ctx.get(), one.c_str()) != 1 ||
        sk_SSL_CIPHER_num(SSL_CTX_get_ciphers(ctx.get())) - tls12_ciphers_in(ctx.get()) != 1) {
      ERR_clear_error();
      return "unknown TLS 1.3 cipher suite \"" + one + "\"";
    }
    return {};
  });
}

}  // namespace tether
