#pragma once
// TLS 1.3 application records (RFC 8446 section 5) done by tether once a
// leg's handshake is over (client legs, and wss:// upstream legs). OpenSSL's SSL object keeps about 13 KiB per
// connection (record-layer arrays, session, key shares, handshake hash) that
// an established TLS 1.3 session never needs again, and SSL_read/SSL_write
// cost more than the AEAD they wrap. After the handoff a session keeps only
// its traffic secrets, keys, IVs and sequence numbers; the AEAD contexts
// belong to the thread and are re-keyed when a record of another session
// comes along.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace tether::tls13 {

enum class suite : std::uint8_t {
  aes_128_gcm_sha256,
  aes_256_gcm_sha384,
  chacha20_poly1305_sha256
};

/// The suite of an OpenSSL cipher id (SSL_CIPHER_get_id), if tether does it.
bool suite_of(std::uint32_t cipher_id, suite& out);
/// Length of the suite's hash, which is the length of its traffic secrets.
std::size_t secret_size(suite s);

constexpr std::uint8_t content_alert = 21;
constexpr std::uint8_t content_handshake = 22;
constexpr std::uint8_t content_application_data = 23;
constexpr std::size_t header_size = 5;
constexpr std::size_t tag_size = 16;
constexpr std::size_t max_plaintext = 16384;
/// Largest TLSInnerPlaintext: content, content type and padding (RFC 8446 5.2).
constexpr std::size_t max_inner_plaintext = max_plaintext + 1;
/// Largest record body a peer may send (plaintext, content type, padding, tag).
constexpr std::size_t max_body = max_plaintext + 256;
/// Record bytes beyond the plaintext: header, content type, tag.
constexpr std::size_t overhead = header_size + 1 + tag_size;
/// tether replaces its write key after this many records (below every suite's limit).
constexpr std::uint64_t max_records_per_key = std::uint64_t{1} << 24;

/// One direction's keys.
struct traffic_keys {
  std::array<std::uint8_t, 48> secret{};
  std::array<std::uint8_t, 32> key{};
  std::array<std::uint8_t, 12> iv{};
  std::uint64_t seq = 0;
  std::uint64_t id = 0;  // unique per key, so a thread's context knows whose key it holds
};

class record_layer {
 public:
  /// Secrets are secret_size(s) bytes; `*_seq` are the records already sent
  /// under them (by OpenSSL, before the handoff).
  record_layer(suite s, std::span<const std::uint8_t> read_secret, std::uint64_t read_seq,
               std::span<const std::uint8_t> write_secret, std::uint64_t write_seq);
  /// False if key derivation failed: the layer must not be used.
  bool ok() const { return ok_; }
  /// Wipes the secrets, keys and IVs, and the key schedule of this thread's
  /// AEAD contexts if they still hold one of this layer's keys.
  ~record_layer();
  record_layer(const record_layer&) = delete;
  record_layer& operator=(const record_layer&) = delete;

  /// Seals `plain` (at most max_plaintext bytes) as one record of inner
  /// content `type` at `out`, which has room for plain.size() + overhead.
  /// Returns the record's size, or 0 if the cipher failed.
  std::size_t seal(std::uint8_t type, std::span<const std::uint8_t> plain, std::uint8_t* out);
  /// Takes back the last `records` seals, which never left the process.
  void unseal(std::uint64_t records) { write_.seq -= records; }

  /// Opens the whole record at `rec` in place: on success the plaintext is at
  /// rec + header_size, `len` bytes, of inner content `type`; `type` is 0
  /// when the plaintext is all zeros (no content type: unexpected_message).
  /// False: the record is not authentic (bad_record_mac).
  bool open(std::uint8_t* rec, std::size_t size, std::uint8_t& type, std::size_t& len);

  /// The write key has sealed enough records that it must be replaced
  /// (RFC 8446 section 5.5 limits AES-GCM to 2^24.5 records per key).
  bool write_key_worn() const { return write_.seq >= max_records_per_key; }

  /// KeyUpdate (RFC 8446 section 4.6.3): the next generation of secrets.
  /// False if derivation failed; the session must then end.
  [[nodiscard]] bool update_read() { return next_generation(read_); }
  [[nodiscard]] bool update_write() { return next_generation(write_); }

 private:
  bool install(traffic_keys& k, std::span<const std::uint8_t> secret, std::uint64_t seq);
  bool next_generation(traffic_keys& k);

  suite suite_;
  bool ok_ = false;
  traffic_keys read_;
  traffic_keys write_;
};

/// AEAD contexts of the calling thread that hold a key (0, 1 or 2): for
/// tests, which check that a finished session leaves no key schedule behind.
int thread_keyed_contexts();

}  // namespace tether::tls13
