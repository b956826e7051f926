#include "server/worker.hpp"

#include <vector>

#include "session/session.hpp"

namespace tether {

worker::~worker() {
  // Relaying sessions own themselves until they finish; a worker that stops
  // without draining lets go of them here, while the poller still exists.
  std::vector<std::shared_ptr<session>> owned;
  for (session* s = sessions_; s != nullptr; s = s->next_in_worker) {
    if (auto self = s->release_self()) {
      owned.push_back(std::move(self));
    }
  }
  owned.clear();
  poller_.stop();
}

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
