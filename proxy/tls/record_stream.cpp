// The records of a TLS 1.3 session after the handoff (RFC 8446 section 5):
// application data opened in place, alerts and post-handshake messages
// (KeyUpdate both ways, session tickets from an upstream server) handled as
// RFC 8446 says, and every other record an alert that ends the connection.
#include "tls/record_stream.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include <boost/asio/ssl/error.hpp>

namespace tether {
namespace {

constexpr std::uint8_t alert_close_notify = 0;
constexpr std::uint8_t alert_unexpected_message = 10;
constexpr std::uint8_t alert_bad_record_mac = 20;
constexpr std::uint8_t alert_record_overflow = 22;
constexpr std::uint8_t alert_illegal_parameter = 47;
constexpr std::uint8_t alert_decode_error = 50;
constexpr std::uint8_t alert_internal_error = 80;
constexpr std::uint8_t alert_user_canceled = 90;
constexpr std::uint8_t no_alert = 0xff;
/// Consecutive records without application data (empty records, KeyUpdates,
/// alerts that end nothing, ticket pieces) before tether gives up: OpenSSL's
/// MAX_EMPTY_RECORDS. A peer that means well sends a few at most; a ticket
/// split into records of 512 bytes still fits with room to spare.
constexpr int max_records_without_data = 32;
constexpr std::uint8_t handshake_key_update = 24;
constexpr std::uint8_t key_update_not_requested[] = {handshake_key_update, 0, 0, 1, 0};
/// Records sealed per send: large messages leave in one syscall per 64 KiB.
constexpr std::size_t records_per_send = 4;
// The largest NewSessionTicket body RFC 8446 allows (4.6.1): lifetime, age_add,
// a nonce of up to 255 bytes, a ticket and extensions of up to 2^16 - 1 each.
constexpr std::uint32_t max_ticket = 4 + 4 + 1 + 255 + 2 + 65535 + 2 + 65535;

std::uint8_t* seal_buffer() {
  thread_local std::vector<std::uint8_t> buf(records_per_send *
                                             (tls13::max_plaintext + tls13::overhead));
  return buf.data();
}

void release(std::vector<std::uint8_t>& v) {
  v.clear();
  v.shrink_to_fit();
}

error_code tls_failure() { return error_code(net::ssl::error::unexpected_result); }

std::atomic<std::uint64_t> handoff_count{0};

}  // namespace

record_stream::record_stream(const socket_io& io, std::unique_ptr<tls13::record_layer> records,
                             bool as_client)
    : fd_stream(io), records_(std::move(records)), as_client_(as_client) {}

record_stream::~record_stream() { io_.close(); }

std::uint64_t record_stream::handoffs() { return handoff_count.load(std::memory_order_relaxed); }

void record_stream::count_handoff() { handoff_count.fetch_add(1, std::memory_order_relaxed); }

void record_stream::close() {
  send_alert(alert_close_notify);  // one non-blocking attempt
  io_.close();
}

void record_stream::shutdown_send() {
  send_alert(alert_close_notify);
  io_.shutdown_send();
}

bool record_stream::open_records(std::uint8_t* data, std::size_t size, std::size_t& plain,
                             std::size_t& used, error_code& ec) {
  plain = 0;
  used = 0;
  auto fatal = [&](std::uint8_t alert) {
    send_alert(alert);
    ec = tls_failure();
    return false;
  };
  while (size - used >= tls13::header_size && !close_notify_seen_) {
    std::uint8_t* rec = data + used;
    const std::size_t body = static_cast<std::size_t>(rec[3]) << 8 | rec[4];
    if (rec[0] != tls13::content_application_data) {
      return fatal(alert_unexpected_message);
    }
    if (body > tls13::max_body) {
      return fatal(alert_record_overflow);
    }
    if (size - used < tls13::header_size + body) {
      break;
    }
    std::uint8_t type = 0;
    std::size_t len = 0;
    if (!records_->open(rec, tls13::header_size + body, type, len)) {
      return fatal(alert_bad_record_mac);
    }
    // Padding counts (RFC 8446 5.4): content, type and zeros together.
    if (body - tls13::tag_size > tls13::max_inner_plaintext) {
      return fatal(alert_record_overflow);
    }
    used += tls13::header_size + body;
    const std::uint8_t* p = rec + tls13::header_size;
    const bool mid_handshake = hs_len_ > 0 || ticket_left_ > 0;
    bool data_carried = false;
    if (type == tls13::content_application_data) {
      if (mid_handshake) {
        return fatal(alert_unexpected_message);  // RFC 8446 5.1: no interleaving
      }
      std::memmove(data + plain, p, len);
      plain += len;
      data_carried = len > 0;
    } else if (type == tls13::content_alert) {
      // RFC 8446 5.4 (empty) and 6: one whole alert per record.
      if (mid_handshake || len == 0) {
        return fatal(alert_unexpected_message);
      }
      if (len != 2) {
        return fatal(alert_decode_error);
      }
      if (p[1] == alert_close_notify) {
        close_notify_seen_ = true;
      } else if (p[1] != alert_user_canceled) {
        // An error alert (RFC 8446 6.2): the connection ends here, and
        // nothing, not even close_notify, may answer it.
        close_notify_sent_ = true;
        ec = tls_failure();
        return false;
      }
    } else if (type == tls13::content_handshake) {
      if (len == 0) {
        return fatal(alert_unexpected_message);  // RFC 8446 5.4
      }
      if (const auto alert = open_handshake(p, len); alert != no_alert) {
        return fatal(alert);
      }
    } else {
      // Another content type, or none (the plaintext was all zeros).
      return fatal(alert_unexpected_message);
    }
    // Records that carry no application data cost tether work and, for a
    // KeyUpdate, a reply: a run of them is bounded as OpenSSL bounds empty
    // records (MAX_EMPTY_RECORDS), so a peer cannot keep tether busy with
    // them while nothing reaches the other leg. close_notify ends the reading
    // anyway, so it is not one of them (the record_stream fuzz target found
    // a 33rd record that was a close_notify answered with an alert).
    records_without_data_ = data_carried ? 0 : records_without_data_ + 1;
    if (records_without_data_ > max_records_without_data && !close_notify_seen_) {
      return fatal(alert_unexpected_message);
    }
  }
  if (close_notify_seen_) {
    used = size;  // nothing after close_notify counts
  }
  return true;
}

std::uint8_t record_stream::open_handshake(const std::uint8_t* p, std::size_t len) {
  while (len > 0) {
    if (ticket_left_ > 0) {
      // A session ticket's body, passed over as it comes (it may span records).
      const std::size_t skip = std::min<std::size_t>(len, ticket_left_);
      ticket_left_ -= static_cast<std::uint32_t>(skip);
      p += skip;
      len -= skip;
      continue;
    }
    // A message may be split across records anywhere (RFC 8446 5.1), so its
    // header, and a KeyUpdate's one body byte, gather in hs_ first: five
    // bytes are all tether ever keeps of a handshake message.
    const std::size_t want = hs_len_ >= 4 ? 5 : 4;
    const std::size_t take = std::min(len, want - hs_len_);
    std::memcpy(hs_.data() + hs_len_, p, take);
    hs_len_ += static_cast<std::uint8_t>(take);
    p += take;
    len -= take;
    if (hs_len_ < want) {
      continue;  // the rest is in the next record
    }
    const std::uint32_t body = static_cast<std::uint32_t>(hs_[1]) << 16 |
                               static_cast<std::uint32_t>(hs_[2]) << 8 | hs_[3];
    if (hs_len_ == 4) {
      if (hs_[0] == handshake_key_update) {
        if (body != 1) {
          return alert_decode_error;
        }
        continue;  // its request_update byte next
      }
      // A ticket is fine from an upstream server (tether does not resume
      // with it, so it is passed over); anything else is unexpected now.
      hs_len_ = 0;
      if (hs_[0] != SSL3_MT_NEWSESSION_TICKET || !as_client_) {
        return alert_unexpected_message;
      }
      if (body > max_ticket) {
        return alert_decode_error;
      }
      ticket_left_ = body;
      continue;
    }
    hs_len_ = 0;
    if (hs_[4] > 1) {
      return alert_illegal_parameter;
    }
    if (len > 0) {
      // The key changes after a KeyUpdate, so it must end its record (5.1).
      return alert_unexpected_message;
    }
    if (!records_->update_read()) {
      return alert_internal_error;
    }
    // update_requested: answer under the old key, then switch. One reply
    // not yet sent answers any number of requests (RFC 8446 4.6.3), so a
    // peer that never reads cannot make tether queue more than one.
    if (hs_[4] == 1 && !key_update_queued_ && !close_notify_sent_) {
      if (!queue_record(tls13::content_handshake, key_update_not_requested) ||
          !records_->update_write()) {
        return alert_internal_error;
      }
      key_update_queued_ = true;
      send_pending();
    }
  }
  return no_alert;
}

io_status record_stream::read(std::span<std::uint8_t> buf, std::size_t& n,
                                             error_code& ec) {
  auto* out = buf.data();
  const std::size_t room = buf.size();
  for (;;) {
    if (rx_plain_ > 0) {
      n = std::min(rx_plain_, room);
      std::memcpy(out, rx_.data(), n);
      rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(n));
      rx_plain_ -= n;
      if (rx_.empty()) {
        release(rx_);
      }
      return io_status::done;
    }
    if (close_notify_seen_) {
      return io_status::eof;
    }
    if (room == 0) {
      return io_status::done;
    }
    // A KeyUpdate reply the socket has not taken: read nothing more until it
    // leaves, so a peer that sends but never reads stops being read.
    if (key_update_queued_ && !send_pending()) {
      return pending_status(ec);
    }
    std::size_t got = 0;
    std::size_t plain = 0;
    std::size_t used = 0;
    if (rx_.empty()) {
      // The common case: records straight into the caller's buffer, opened
      // in place; only an incomplete record's start is kept.
      const auto st = io_.recv(out, room, got, ec);
      if (st != io_status::done) {
        return st;
      }
      if (!open_records(out, got, plain, used, ec)) {
        return io_status::error;
      }
      if (used < got) {
        rx_.assign(out + used, out + got);
      }
      if (plain > 0) {
        n = plain;
        return io_status::done;
      }
    } else {
      // An incomplete record: read up to a whole record's worth behind it.
      const std::size_t have = rx_.size();
      rx_.resize(tls13::header_size + tls13::max_body);
      const auto st = io_.recv(rx_.data() + have, rx_.size() - have, got, ec);
      if (st != io_status::done) {
        rx_.resize(have);
        if (st == io_status::eof) {
          ec = net::ssl::error::stream_truncated;
          return io_status::error;
        }
        return st;
      }
      const std::size_t size = have + got;
      if (!open_records(rx_.data(), size, plain, used, ec)) {
        return io_status::error;
      }
      std::memmove(rx_.data() + plain, rx_.data() + used, size - used);
      rx_.resize(plain + (size - used));
      rx_plain_ = plain;
      if (rx_.empty()) {
        release(rx_);
      }
      if (plain > 0) {
        continue;
      }
    }
    if (close_notify_seen_) {
      return io_status::eof;
    }
    if (io_.last_read_short) {
      return io_status::want_read;  // only part of a record (or a KeyUpdate) came
    }
  }
}

bool record_stream::send_pending() {
  while (tx_done_ < tx_.size()) {
    std::size_t sent = 0;
    error_code ec;
    if (io_.send(tx_.data() + tx_done_, tx_.size() - tx_done_, sent, ec) != io_status::done) {
      tx_failed_ = static_cast<bool>(ec);
      return false;
    }
    tx_done_ += sent;
  }
  release(tx_);
  tx_done_ = 0;
  key_update_queued_ = false;
  return true;
}

io_status record_stream::pending_status(error_code& ec) const {
  if (tx_failed_) {
    ec = error_code(net::error::broken_pipe);
    return io_status::error;
  }
  return io_status::want_write;
}

bool record_stream::queue_record(std::uint8_t type, std::span<const std::uint8_t> body) {
  const auto at = tx_.size();
  tx_.resize(at + body.size() + tls13::overhead);
  const auto size = records_->seal(type, body, tx_.data() + at);
  tx_.resize(at + size);
  return size > 0;
}

void record_stream::send_alert(std::uint8_t description) {
  if (close_notify_sent_ || io_.fd < 0) {
    return;
  }
  close_notify_sent_ = true;  // nothing may follow an alert of ours
  const std::uint8_t alert[] = {
      static_cast<std::uint8_t>(description == alert_close_notify ? 1 : 2), description};
  queue_record(tls13::content_alert, alert);
  send_pending();
}

io_status record_stream::write(std::span<const std::uint8_t> buf, std::size_t& n,
                                              error_code& ec) {
  n = 0;
  if (close_notify_sent_) {
    ec = error_code(net::error::broken_pipe);
    return io_status::error;
  }
  if (tx_done_ < tx_.size() && !send_pending()) {
    return pending_status(ec);
  }
  if (tx_plain_ > 0) {
    // The caller's retry: the record it was told to wait for is out (sent
    // here, or by a read that had to send a KeyUpdate reply behind it).
    n = std::exchange(tx_plain_, 0);
    return io_status::done;
  }
  if (buf.size() == 0) {
    return io_status::done;
  }
  if (records_->write_key_worn()) {
    // A long-lived session: move to a fresh key, telling the peer first.
    if (!queue_record(tls13::content_handshake, key_update_not_requested) ||
        !records_->update_write()) {
      ec = tls_failure();
      return io_status::error;
    }
    if (!send_pending()) {
      return pending_status(ec);
    }
  }
  const auto* in = buf.data();
  const std::size_t take = std::min(buf.size(), records_per_send * tls13::max_plaintext);
  std::uint8_t* sealed = seal_buffer();
  std::size_t size = 0;
  std::uint64_t records = 0;
  for (std::size_t off = 0; off < take; off += tls13::max_plaintext) {
    const std::size_t len = std::min(tls13::max_plaintext, take - off);
    const std::size_t r =
        records_->seal(tls13::content_application_data, {in + off, len}, sealed + size);
    if (r == 0) {
      records_->unseal(records);
      ec = tls_failure();
      return io_status::error;
    }
    size += r;
    ++records;
  }
  std::size_t sent = 0;
  if (const auto st = io_.send(sealed, size, sent, ec); st != io_status::done) {
    records_->unseal(records);
    return st;
  }
  // Records that went out whole are written; one that went out in part must
  // be finished byte for byte; records the socket did not touch are taken
  // back (they never left the process, so their sequence numbers are free).
  std::size_t at = 0;
  std::uint64_t kept = 0;
  for (std::size_t off = 0; off < take && at < sent; off += tls13::max_plaintext) {
    const std::size_t len = std::min(tls13::max_plaintext, take - off);
    const std::size_t rec = len + tls13::overhead;
    ++kept;
    if (at + rec <= sent) {
      n += len;
    } else {
      tx_.assign(sealed + sent, sealed + at + rec);
      tx_done_ = 0;
      tx_plain_ = len;
    }
    at += rec;
  }
  records_->unseal(records - kept);
  return n > 0 ? io_status::done : io_status::want_write;
}

}  // namespace tether
