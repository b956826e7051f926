// A listener's cipher lists (tls.ciphers, tls.ciphersuites) and
// tls.record_offload, against clients that offer one suite each.
#include <boost/test/unit_test.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "test_support.hpp"
#include "tls/record_stream.hpp"

using namespace tt;

namespace {

/// A TLS handshake with tether offering only `tls12` (a TLS 1.2 cipher
/// list) or `tls13` (TLS 1.3 suites): the negotiated cipher's name, or ""
/// when the handshake failed.
std::string handshake_with(std::uint16_t port, const char* tls12, const char* tls13) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (tls12 != nullptr) {
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    BOOST_REQUIRE(SSL_CTX_set_cipher_list(ctx, tls12) == 1);
  } else {
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    BOOST_REQUIRE(SSL_CTX_set_ciphersuites(ctx, tls13) == 1);
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  std::string out;
  if (SSL_connect(ssl) == 1) {
    out = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return out;
}

std::string tls_listener(const std::string& extra) {
  return listener_yaml(true) + extra;
}

std::string route_to(const test_backend& b) {
  return "routes:\n  - name: r\n    upstream:\n      url: \"" + b.url() + "\"\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_ciphers_test)

BOOST_AUTO_TEST_CASE(tls12_default_is_ecdhe_with_aead_only) {
  test_backend backend;
  tether_instance t(tls_listener("") + route_to(backend));
  // CBC suites (with forward secrecy or without) and static RSA: refused.
  // (The dev certificate is ECDSA, so the static-RSA ones could never be
  // chosen; the CBC ones with ECDHE-ECDSA could, and were, by OpenSSL's default.)
  for (const char* weak : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                           "AES128-SHA", "AES128-GCM-SHA256"}) {
    BOOST_TEST_CONTEXT(weak) { BOOST_CHECK_EQUAL(handshake_with(t.port(), weak, nullptr), ""); }
  }
  for (const char* good : {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                           "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    BOOST_TEST_CONTEXT(good) { BOOST_CHECK_EQUAL(handshake_with(t.port(), good, nullptr), good); }
  }
  // TLS 1.3: OpenSSL's three suites.
  for (const char* suite :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    BOOST_TEST_CONTEXT(suite) { BOOST_CHECK_EQUAL(handshake_with(t.port(), nullptr, suite), suite); }
  }
}

BOOST_AUTO_TEST_CASE(configured_lists_are_honoured) {
  test_backend backend;
  tether_instance t(tls_listener("      ciphers: \"ECDHE-ECDSA-AES256-GCM-SHA384\"\n"
                                 "      ciphersuites: \"TLS_CHACHA20_POLY1305_SHA256\"\n") +
                    route_to(backend));
  BOOST_CHECK_EQUAL(handshake_with(t.port(), "ECDHE-ECDSA-AES128-GCM-SHA256", nullptr), "");
  BOOST_CHECK_EQUAL(handshake_with(t.port(), "ECDHE-ECDSA-AES256-GCM-SHA384", nullptr),
                    "ECDHE-ECDSA-AES256-GCM-SHA384");
  BOOST_CHECK_EQUAL(handshake_with(t.port(), nullptr, "TLS_AES_128_GCM_SHA256"), "");
  BOOST_CHECK_EQUAL(handshake_with(t.port(), nullptr, "TLS_CHACHA20_POLY1305_SHA256"),
                    "TLS_CHACHA20_POLY1305_SHA256");
  // A CBC suite named on purpose is the operator's choice.
  tether_instance cbc(tls_listener("      ciphers: \"ECDHE-ECDSA-AES128-SHA\"\n") +
                      route_to(backend));
  BOOST_CHECK_EQUAL(handshake_with(cbc.port(), "ECDHE-ECDSA-AES128-SHA", nullptr),
                    "ECDHE-ECDSA-AES128-SHA");
}

BOOST_AUTO_TEST_CASE(record_offload_false_keeps_both_legs_with_openssl) {
  backend_options b;
  b.tls = true;
  test_backend backend(b);
  tether_instance t(tls_listener("      record_offload: false\n") +
                    "routes:\n  - name: r\n    upstream:\n      url: \"" + backend.url() +
                    "\"\n      tls: {ca: " + cert_path("ca.crt") + "}\n");
  const auto before = tether::record_stream::handoffs();
  client_options o;
  o.tls = true;
  o.host = "localhost";
  auto c = ws_client::connect(t.port(), o);
  for (const char* text : {"one", "two"}) {
    BOOST_REQUIRE(!c->send_text(text));
    auto m = c->read();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, text);
  }
  BOOST_CHECK_EQUAL(tether::record_stream::handoffs(), before);
}

BOOST_AUTO_TEST_SUITE_END()
