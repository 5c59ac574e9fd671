// The commit queue and the leader election of group commit (see commit_queue.h).
#include "engine/commit_queue.h"

#include "util/check.h"
#include "util/thread_name.h"

namespace cairn {

void CommitQueue::SetCommittedEnd(Mutex* held, LogPosition end) {
  Held(held);
  committed_end_ = end;
}

void CommitQueue::Start() {
  committer_ = std::thread([this] {
    SetThreadName("cairn-commit");
    CommitterLoop();
  });
}

void CommitQueue::Wait(Mutex* held) {
  Held(held);
  space_cv_.Wait(&mu_);
}

void CommitQueue::Wake(Mutex* held) {
  Held(held);
  space_cv_.SignalAll();
}

bool CommitQueue::empty(Mutex* held) const {
  Held(held);
  return queue_.empty();
}

LogPosition CommitQueue::committed_end(Mutex* held) const {
  Held(held);
  return committed_end_;
}

void CommitQueue::FinishAsync(Entry* e, Status write_status) {
  MutexLock l(&mu_);
  e->done = true;
  e->write_status = std::move(write_status);
}

void CommitQueue::StartCommit() {
  MutexLock l(&mu_);
  // A leader that is active now checks the queue's front when it finishes (LeadCommit).
  if (FrontReady()) commit_cv_.Signal();
}

void CommitQueue::CommitterLoop() {
  MutexLock l(&mu_);
  while (!stopping_) {
    if (FrontReady()) {
      LeadCommit();
      continue;
    }
    commit_cv_.Wait(&mu_);
  }
}

void CommitQueue::FinishAndWait(Entry* e, Status write_status) {
  MutexLock l(&mu_);
  e->done = true;
  e->write_status = std::move(write_status);
  while (!e->committed) {
    if (FrontReady()) {
      LeadCommit();
      continue;
    }
    e->cv.Wait(&mu_);
  }
}

void CommitQueue::LeadCommit() {
  leader_active_ = true;
  Group group;
  for (Entry* e : queue_) {
    if (!e->done || group.size() == kMaxGroupWriters) break;
    group.push_back(e);
  }
  mu_.Unlock();
  Status s = callbacks_.commit(group);
  mu_.Lock();
  if (s.ok()) committed_end_ = group.back()->end;
  // Lookups made before this commit are stale now (the store's conditional writes).
  generation_.fetch_add(1, std::memory_order_release);
  Group async_done;
  for (Entry* e : group) {
    CAIRN_CHECK(queue_.front() == e);
    queue_.pop_front();
    unfinished_bytes_ -= e->len;
    e->result = !e->write_status.ok() ? e->write_status : s;
    e->committed = true;
    if (e->no_wait) {
      async_done.push_back(e);
    } else {
      e->cv.Signal();
    }
  }
  leader_active_ = false;
  space_cv_.SignalAll();
  if (!queue_.empty() && queue_.front()->done) {
    if (queue_.front()->no_wait) {
      commit_cv_.Signal();
    } else {
      queue_.front()->cv.Signal();
    }
  }
  if (async_done.empty()) return;
  // Acknowledge no_wait entries without holding the lock: their callbacks post replies.
  mu_.Unlock();
  for (Entry* e : async_done) callbacks_.acknowledge(e);
  mu_.Lock();
}

void CommitQueue::Drain(Mutex* held) {
  Held(held);
  space_cv_.SignalAll();
  commit_cv_.Signal();  // no_wait entries not yet started by a StartCommit
  while (!queue_.empty()) space_cv_.Wait(&mu_);
  stopping_ = true;
  commit_cv_.SignalAll();
}

void CommitQueue::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    commit_cv_.SignalAll();
  }
  if (committer_.joinable()) committer_.join();
}

}  // namespace cairn
