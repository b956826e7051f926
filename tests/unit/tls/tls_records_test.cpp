// tether's TLS 1.3 record layer against OpenSSL's, between memory BIOs, for
// every suite it does: records each way, KeyUpdate each way, forgeries.
#include <boost/test/unit_test.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "tls/tls_records.hpp"
#include "unit_certs.hpp"

using namespace tether;

namespace {

using tether_unit::cert_path;

std::vector<std::uint8_t> client_secret;
std::vector<std::uint8_t> server_secret;

std::vector<std::uint8_t> secret_of(const char* line) {
  const char* hex = std::strrchr(line, ' ') + 1;
  std::vector<std::uint8_t> out;
  for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex, 2), nullptr, 16)));
  }
  return out;
}

void keylog(const SSL*, const char* line) {
  if (std::strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) {
    client_secret = secret_of(line);
  } else if (std::strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) {
    server_secret = secret_of(line);
  }
}

/// An OpenSSL client and server joined by a BIO pair, past the handshake;
/// the server's side is then driven by hand through `wire`.
struct pair_fixture {
  SSL_CTX* server_ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL* server = nullptr;
  SSL* client = nullptr;
  BIO* wire = nullptr;  // the server's end: what goes in reaches the client

  explicit pair_fixture(const char* suite) {
    BOOST_REQUIRE(server_ctx && client_ctx);
    for (auto* ctx : {server_ctx, client_ctx}) {
      SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
      BOOST_REQUIRE(SSL_CTX_set_ciphersuites(ctx, suite) == 1);
    }
    BOOST_REQUIRE(
        SSL_CTX_use_certificate_chain_file(server_ctx, cert_path("server-chain.crt").c_str()) == 1);
    BOOST_REQUIRE(SSL_CTX_use_PrivateKey_file(server_ctx, cert_path("server.key").c_str(),
                                              SSL_FILETYPE_PEM) == 1);
    SSL_CTX_set_num_tickets(server_ctx, 0);  // the server seals nothing after Finished
    SSL_CTX_set_keylog_callback(server_ctx, &keylog);
    server = SSL_new(server_ctx);
    client = SSL_new(client_ctx);
    BIO* client_end = nullptr;
    BOOST_REQUIRE(BIO_new_bio_pair(&client_end, 0, &wire, 0) == 1);
    SSL_set_bio(client, client_end, client_end);
    SSL_set_bio(server, wire, wire);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    for (int i = 0; i < 4; ++i) {
      SSL_do_handshake(client);
      SSL_do_handshake(server);
    }
    BOOST_REQUIRE(SSL_is_init_finished(server) && SSL_is_init_finished(client));
  }
  ~pair_fixture() {
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    ERR_clear_error();
  }

  tls13::suite suite() const {
    tls13::suite s{};
    BOOST_REQUIRE(tls13::suite_of(SSL_CIPHER_get_id(SSL_get_current_cipher(server)), s));
    return s;
  }
  void to_client(const std::vector<std::uint8_t>& bytes) {
    BOOST_REQUIRE_EQUAL(BIO_write(wire, bytes.data(), static_cast<int>(bytes.size())),
                        static_cast<int>(bytes.size()));
  }
  std::string client_reads() {
    char buf[256];
    const int n = SSL_read(client, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  std::vector<std::uint8_t> from_client() {
    std::vector<std::uint8_t> out(4096);
    const int n = BIO_read(wire, out.data(), static_cast<int>(out.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }
};

std::vector<std::uint8_t> seal(tls13::record_layer& rl, std::uint8_t type,
                               const std::string& text) {
  std::vector<std::uint8_t> out(text.size() + tls13::overhead);
  const auto n =
      rl.seal(type, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, out.data());
  BOOST_REQUIRE_EQUAL(n, out.size());
  return out;
}

/// Opens the first record of `bytes`, removing it: its content type and text.
std::pair<std::uint8_t, std::string> open_first(tls13::record_layer& rl,
                                                std::vector<std::uint8_t>& bytes) {
  BOOST_REQUIRE(bytes.size() >= tls13::header_size);
  const std::size_t size =
      tls13::header_size + (static_cast<std::size_t>(bytes[3]) << 8 | bytes[4]);
  BOOST_REQUIRE(bytes.size() >= size);
  std::uint8_t type = 0;
  std::size_t len = 0;
  BOOST_REQUIRE(rl.open(bytes.data(), size, type, len));
  std::string text(reinterpret_cast<const char*>(bytes.data()) + tls13::header_size, len);
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
  return {type, text};
}

const std::uint8_t key_update_requested[] = {24, 0, 0, 1, 1};

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_records_test)

BOOST_AUTO_TEST_CASE(records_and_key_updates_interoperate_with_openssl) {
  for (const char* name :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    BOOST_TEST_CONTEXT("suite " << name) {
      pair_fixture p(name);
      tls13::record_layer rl(p.suite(), client_secret, 0, server_secret, 0);
      BOOST_REQUIRE(rl.ok());

      p.to_client(seal(rl, tls13::content_application_data, "from tether"));
      BOOST_CHECK_EQUAL(p.client_reads(), "from tether");
      // A record sealed but never sent gives its sequence number back.
      seal(rl, tls13::content_application_data, "never sent");
      rl.unseal(1);
      p.to_client(seal(rl, tls13::content_application_data, "sent instead"));
      BOOST_CHECK_EQUAL(p.client_reads(), "sent instead");

      BOOST_REQUIRE_EQUAL(SSL_write(p.client, "from client", 11), 11);
      auto wire = p.from_client();
      auto [type, text] = open_first(rl, wire);
      BOOST_CHECK_EQUAL(type, tls13::content_application_data);
      BOOST_CHECK_EQUAL(text, "from client");
      BOOST_CHECK(wire.empty());

      // tether's KeyUpdate under the old key, then data under the new one.
      p.to_client(seal(rl, tls13::content_handshake, std::string("\x18\x00\x00\x01\x00", 5)));
      BOOST_REQUIRE(rl.update_write());
      p.to_client(seal(rl, tls13::content_application_data, "new key"));
      BOOST_CHECK_EQUAL(p.client_reads(), "new key");

      // The client's KeyUpdate: the next record is under its next key.
      BOOST_REQUIRE_EQUAL(SSL_key_update(p.client, SSL_KEY_UPDATE_REQUESTED), 1);
      BOOST_REQUIRE_EQUAL(SSL_write(p.client, "after", 5), 5);
      wire = p.from_client();
      auto [t1, m1] = open_first(rl, wire);
      BOOST_CHECK_EQUAL(t1, tls13::content_handshake);
      BOOST_CHECK(m1 == std::string(reinterpret_cast<const char*>(key_update_requested), 5));
      BOOST_REQUIRE(rl.update_read());
      auto [t2, m2] = open_first(rl, wire);
      BOOST_CHECK_EQUAL(t2, tls13::content_application_data);
      BOOST_CHECK_EQUAL(m2, "after");

      // Forgeries: one flipped bit and the record does not open.
      BOOST_REQUIRE_EQUAL(SSL_write(p.client, "y", 1), 1);
      wire = p.from_client();
      wire[tls13::header_size] ^= 1;
      std::uint8_t t = 0;
      std::size_t len = 0;
      BOOST_CHECK(!rl.open(wire.data(), wire.size(), t, len));
      auto forged = seal(rl, tls13::content_application_data, "z");
      forged.back() ^= 0x80;
      p.to_client(forged);
      BOOST_CHECK_EQUAL(p.client_reads(), "");
      BOOST_CHECK_EQUAL(SSL_get_error(p.client, -1), SSL_ERROR_SSL);
    }
  }
}

BOOST_AUTO_TEST_CASE(all_zero_plaintext_opens_with_no_content_type) {
  pair_fixture p("TLS_AES_128_GCM_SHA256");
  tls13::record_layer sender(p.suite(), server_secret, 0, client_secret, 0);
  tls13::record_layer receiver(p.suite(), client_secret, 0, server_secret, 0);
  // Sealed as "type 0" after seven zero bytes: the plaintext is all zeros.
  auto rec = seal(sender, 0, std::string(7, '\0'));
  std::uint8_t type = 0xff;
  std::size_t len = 1;
  BOOST_REQUIRE(receiver.open(rec.data(), rec.size(), type, len));
  BOOST_CHECK_EQUAL(type, 0);
  BOOST_CHECK_EQUAL(len, 0U);
}

BOOST_AUTO_TEST_CASE(a_finished_layer_leaves_no_key_behind) {
  pair_fixture p("TLS_AES_256_GCM_SHA384");
  alignas(tls13::record_layer) unsigned char storage[sizeof(tls13::record_layer)];
  auto* rl = new (storage) tls13::record_layer(p.suite(), client_secret, 0, server_secret, 0);
  BOOST_REQUIRE(rl->ok());
  // One record each way: this thread's contexts now hold both keys.
  p.to_client(seal(*rl, tls13::content_application_data, "out"));
  BOOST_CHECK_EQUAL(p.client_reads(), "out");
  BOOST_REQUIRE_EQUAL(SSL_write(p.client, "in", 2), 2);
  auto wire = p.from_client();
  BOOST_CHECK_EQUAL(open_first(*rl, wire).second, "in");
  BOOST_CHECK_EQUAL(tls13::thread_keyed_contexts(), 2);
  rl->~record_layer();
  // The contexts forget the key schedule, and the layer its secrets.
  BOOST_CHECK_EQUAL(tls13::thread_keyed_contexts(), 0);
  const std::string bytes(reinterpret_cast<const char*>(storage), sizeof storage);
  for (const auto* secret : {&client_secret, &server_secret}) {
    const std::string s(secret->begin(), secret->begin() + 16);
    BOOST_CHECK(bytes.find(s) == std::string::npos);
  }
  // A KeyUpdate drops the old generation from the contexts too.
  tls13::record_layer next(p.suite(), client_secret, 0, server_secret, 0);
  seal(next, tls13::content_application_data, "x");
  BOOST_CHECK_EQUAL(tls13::thread_keyed_contexts(), 1);
  BOOST_REQUIRE(next.update_write());
  BOOST_CHECK_EQUAL(tls13::thread_keyed_contexts(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
