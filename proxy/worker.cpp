#include "worker.hpp"

#include "session.hpp"

namespace tether {

void worker::add(session& s) {
  s.prev_in_worker = nullptr;
  s.next_in_worker = sessions_;
  if (sessions_ != nullptr) {
    sessions_->prev_in_worker = &s;
  }
  sessions_ = &s;
  ++session_count_;
}

void worker::remove(session& s) {
  if (s.prev_in_worker != nullptr) {
    s.prev_in_worker->next_in_worker = s.next_in_worker;
  } else if (sessions_ == &s) {
    sessions_ = s.next_in_worker;
  }
  if (s.next_in_worker != nullptr) {
    s.next_in_worker->prev_in_worker = s.prev_in_worker;
  }
  s.prev_in_worker = s.next_in_worker = nullptr;
  --session_count_;
}

}  // namespace tether
