#include "tls/tls_records.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/tls1.h>

#include <atomic>
#include <cstring>
#include <string_view>
#include <utility>

namespace tether::tls13 {
namespace {

struct suite_info {
  const char* cipher;
  const char* hash;
  std::size_t key_size;
  std::size_t secret_size;
};

const suite_info& info(suite s) {
  static const suite_info table[] = {
      {"AES-128-GCM", "SHA256", 16, 32},
      {"AES-256-GCM", "SHA384", 32, 48},
      {"ChaCha20-Poly1305", "SHA256", 32, 32},
  };
  return table[static_cast<int>(s)];
}

/// The thread's HMAC contexts, one per hash, set up once: the one-shot
/// HMAC() builds and frees three digest contexts per call.
struct thread_hmac {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* ctx[2] = {nullptr, nullptr};  // SHA256, SHA384

  thread_hmac() {
    const char* names[2] = {"SHA256", "SHA384"};
    for (int i = 0; i < 2 && mac != nullptr; ++i) {
      ctx[i] = EVP_MAC_CTX_new(mac);
      const OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>(names[i]), 0),
          OSSL_PARAM_construct_end()};
      if (ctx[i] != nullptr && EVP_MAC_CTX_set_params(ctx[i], params) != 1) {
        EVP_MAC_CTX_free(std::exchange(ctx[i], nullptr));
      }
    }
  }
  ~thread_hmac() {
    EVP_MAC_CTX_free(ctx[0]);
    EVP_MAC_CTX_free(ctx[1]);
    EVP_MAC_free(mac);
  }
  thread_hmac(const thread_hmac&) = delete;
  thread_hmac& operator=(const thread_hmac&) = delete;
};

EVP_MAC_CTX* hmac_for(suite s) {
  thread_local thread_hmac hmac;
  return hmac.ctx[std::string_view(info(s).hash) == "SHA384" ? 1 : 0];
}

/// Fetched once: EVP_aes_128_gcm() and friends fetch again on every init.
const EVP_CIPHER* cipher_of(suite s) {
  static const EVP_CIPHER* ciphers[] = {
      EVP_CIPHER_fetch(nullptr, info(suite::aes_128_gcm_sha256).cipher, nullptr),
      EVP_CIPHER_fetch(nullptr, info(suite::aes_256_gcm_sha384).cipher, nullptr),
      EVP_CIPHER_fetch(nullptr, info(suite::chacha20_poly1305_sha256).cipher, nullptr),
  };
  return ciphers[static_cast<int>(s)];
}

std::atomic<std::uint64_t> next_key_id{1};

/// The thread's AEAD contexts, each keyed for whichever key used it last.
struct thread_aead {
  EVP_CIPHER_CTX* ctx[2] = {EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_new()};  // open, seal
  std::uint64_t keyed[2] = {0, 0};
  const EVP_CIPHER* cipher[2] = {nullptr, nullptr};
  thread_aead() = default;
  ~thread_aead() {
    EVP_CIPHER_CTX_free(ctx[0]);
    EVP_CIPHER_CTX_free(ctx[1]);
  }
  thread_aead(const thread_aead&) = delete;
  thread_aead& operator=(const thread_aead&) = delete;
};

thread_aead& thread_contexts() {
  thread_local thread_aead aead;
  return aead;
}

/// A context ready for one record under `k`: keyed, and its nonce set.
EVP_CIPHER_CTX* context_for(suite s, const traffic_keys& k, int enc) {
  thread_aead& aead = thread_contexts();
  EVP_CIPHER_CTX* ctx = aead.ctx[enc];
  if (ctx == nullptr) {
    return nullptr;  // out of memory at the thread's first record: the record fails
  }
  std::array<std::uint8_t, 12> nonce = k.iv;
  for (int i = 0; i < 8; ++i) {
    nonce[11 - i] ^= static_cast<std::uint8_t>(k.seq >> (8 * i));
  }
  if (aead.keyed[enc] != k.id) {
    // Naming the cipher again would free and rebuild the provider's context:
    // a malloc and a free per record when sessions take turns.
    const EVP_CIPHER* cipher = cipher_of(s);
    const bool same = aead.cipher[enc] == cipher;
    aead.keyed[enc] = 0;
    aead.cipher[enc] = nullptr;
    if (EVP_CipherInit_ex2(ctx, same ? nullptr : cipher, k.key.data(), nonce.data(), enc,
                           nullptr) != 1) {
      return nullptr;
    }
    aead.keyed[enc] = k.id;
    aead.cipher[enc] = cipher;
    OPENSSL_cleanse(nonce.data(), nonce.size());
    return ctx;
  }
  const bool ok = EVP_CipherInit_ex2(ctx, nullptr, nullptr, nonce.data(), enc, nullptr) == 1;
  OPENSSL_cleanse(nonce.data(), nonce.size());
  return ok ? ctx : nullptr;
}

/// Drops the key schedule from a thread context that holds key `id`: the
/// provider frees its cipher state with OPENSSL_clear_free, so a session's
/// key does not outlive it in a context that may idle for hours. The next
/// record costs one allocation to set the cipher up again, once per session.
void forget_key(std::uint64_t id) {
  thread_aead& aead = thread_contexts();
  for (int i = 0; i < 2; ++i) {
    if (aead.ctx[i] != nullptr && aead.keyed[i] == id) {
      EVP_CIPHER_CTX_reset(aead.ctx[i]);
      aead.keyed[i] = 0;
      aead.cipher[i] = nullptr;
    }
  }
}

/// HKDF-Expand-Label(secret, label, "", out.size()) for outputs no longer
/// than the hash (RFC 8446 section 7.1), which is all TLS 1.3 asks here.
bool expand_label(suite s, std::span<const std::uint8_t> secret, const char* label,
                  std::span<std::uint8_t> out) {
  std::uint8_t hkdf_label[2 + 1 + 255 + 1 + 1];
  const auto label_len = std::strlen(label);
  std::size_t n = 0;
  hkdf_label[n++] = static_cast<std::uint8_t>(out.size() >> 8);
  hkdf_label[n++] = static_cast<std::uint8_t>(out.size());
  hkdf_label[n++] = static_cast<std::uint8_t>(6 + label_len);
  std::memcpy(hkdf_label + n, "tls13 ", 6);
  n += 6;
  std::memcpy(hkdf_label + n, label, label_len);
  n += label_len;
  hkdf_label[n++] = 0;  // empty context
  hkdf_label[n++] = 1;  // HKDF-Expand's block counter: one block is enough
  std::uint8_t block[EVP_MAX_MD_SIZE];
  std::size_t block_len = 0;
  EVP_MAC_CTX* ctx = hmac_for(s);
  const bool ok = ctx != nullptr && EVP_MAC_init(ctx, secret.data(), secret.size(), nullptr) == 1 &&
                  EVP_MAC_update(ctx, hkdf_label, n) == 1 &&
                  EVP_MAC_final(ctx, block, &block_len, sizeof block) == 1 &&
                  block_len >= out.size();
  if (ok) {
    std::memcpy(out.data(), block, out.size());
  }
  OPENSSL_cleanse(block, sizeof block);
  return ok;
}

}  // namespace

bool suite_of(std::uint32_t cipher_id, suite& out) {
  switch (cipher_id) {
    case TLS1_3_CK_AES_128_GCM_SHA256:
      out = suite::aes_128_gcm_sha256;
      break;
    case TLS1_3_CK_AES_256_GCM_SHA384:
      out = suite::aes_256_gcm_sha384;
      break;
    case TLS1_3_CK_CHACHA20_POLY1305_SHA256:
      out = suite::chacha20_poly1305_sha256;
      break;
    default:
      return false;
  }
  return cipher_of(out) != nullptr && hmac_for(out) != nullptr;
}

std::size_t secret_size(suite s) { return info(s).secret_size; }

record_layer::record_layer(suite s, std::span<const std::uint8_t> read_secret,
                           std::uint64_t read_seq, std::span<const std::uint8_t> write_secret,
                           std::uint64_t write_seq)
    : suite_(s) {
  ok_ = install(read_, read_secret, read_seq) && install(write_, write_secret, write_seq);
}

record_layer::~record_layer() {
  forget_key(read_.id);
  forget_key(write_.id);
  OPENSSL_cleanse(&read_, sizeof read_);
  OPENSSL_cleanse(&write_, sizeof write_);
}

bool record_layer::install(traffic_keys& k, std::span<const std::uint8_t> secret,
                           std::uint64_t seq) {
  const auto& i = info(suite_);
  std::memcpy(k.secret.data(), secret.data(), i.secret_size);
  k.seq = seq;
  k.id = next_key_id.fetch_add(1, std::memory_order_relaxed);
  return expand_label(suite_, secret.first(i.secret_size), "key",
                      std::span(k.key).first(i.key_size)) &&
         expand_label(suite_, secret.first(i.secret_size), "iv", k.iv);
}

bool record_layer::next_generation(traffic_keys& k) {
  const auto size = info(suite_).secret_size;
  std::array<std::uint8_t, 48> next{};
  forget_key(k.id);  // the old generation must not linger in a context either
  const bool ok = expand_label(suite_, std::span(k.secret).first(size), "traffic upd",
                               std::span(next).first(size)) &&
                  install(k, std::span(next).first(size), 0);
  OPENSSL_cleanse(next.data(), next.size());
  return ok;
}

std::size_t record_layer::seal(std::uint8_t type, std::span<const std::uint8_t> plain,
                               std::uint8_t* out) {
  const std::size_t body = plain.size() + 1 + tag_size;
  out[0] = content_application_data;
  out[1] = 0x03;
  out[2] = 0x03;
  out[3] = static_cast<std::uint8_t>(body >> 8);
  out[4] = static_cast<std::uint8_t>(body);
  EVP_CIPHER_CTX* ctx = context_for(suite_, write_, 1);
  int n = 0;
  int last = 0;
  if (ctx == nullptr || EVP_CipherUpdate(ctx, nullptr, &n, out, header_size) != 1 ||
      EVP_CipherUpdate(ctx, out + header_size, &n, plain.data(), static_cast<int>(plain.size())) !=
          1 ||
      EVP_CipherUpdate(ctx, out + header_size + plain.size(), &last, &type, 1) != 1 ||
      EVP_CipherFinal_ex(ctx, out + header_size + plain.size() + 1, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, tag_size,
                          out + header_size + plain.size() + 1) != 1) {
    return 0;
  }
  ++write_.seq;
  return header_size + body;
}

bool record_layer::open(std::uint8_t* rec, std::size_t size, std::uint8_t& type, std::size_t& len) {
  if (size < header_size + 1 + tag_size) {
    return false;
  }
  std::uint8_t* body = rec + header_size;
  const std::size_t sealed = size - header_size - tag_size;
  EVP_CIPHER_CTX* ctx = context_for(suite_, read_, 0);
  int n = 0;
  if (ctx == nullptr ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, tag_size, body + sealed) != 1 ||
      EVP_CipherUpdate(ctx, nullptr, &n, rec, header_size) != 1 ||
      EVP_CipherUpdate(ctx, body, &n, body, static_cast<int>(sealed)) != 1 ||
      EVP_CipherFinal_ex(ctx, body + sealed, &n) != 1) {
    return false;
  }
  ++read_.seq;
  // The content type is the last non-zero byte; zeros after it are padding.
  std::size_t end = sealed;
  while (end > 0 && body[end - 1] == 0) {
    --end;
  }
  if (end == 0) {
    type = 0;
    len = 0;
    return true;
  }
  type = body[end - 1];
  len = end - 1;
  return true;
}

int thread_keyed_contexts() {
  const thread_aead& aead = thread_contexts();
  return (aead.keyed[0] != 0 ? 1 : 0) + (aead.keyed[1] != 0 ? 1 : 0);
}

}  // namespace tether::tls13
