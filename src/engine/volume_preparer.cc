#include "engine/volume_preparer.h"

#include <algorithm>

#include "util/thread_name.h"

namespace cairn {

void VolumePreparer::SetOptions(Options o) {
  MutexLock l(&mu_);
  options_ = std::move(o);
}

void VolumePreparer::IdsAbove(uint32_t id) {
  MutexLock l(&mu_);
  next_id_ = std::max(next_id_, id + 1);
}

uint32_t VolumePreparer::TakeId() {
  MutexLock l(&mu_);
  return next_id_++;
}

void VolumePreparer::AddPrepared(std::shared_ptr<Volume> v) {
  MutexLock l(&mu_);
  prepared_.push_back(std::move(v));
}

void VolumePreparer::Start() {
  thread_ = std::thread([this] {
    SetThreadName("cairn-prepare");
    Loop();
  });
}

std::shared_ptr<Volume> VolumePreparer::TryTake() {
  MutexLock l(&mu_);
  if (prepared_.empty()) return nullptr;
  std::shared_ptr<Volume> v = std::move(prepared_.front());
  prepared_.pop_front();
  return v;
}

void VolumePreparer::Want() {
  MutexLock l(&mu_);
  wanted_ = true;
  work_cv_.Signal();
}

void VolumePreparer::WantAhead() {
  MutexLock l(&mu_);
  if (wanted_ || !prepared_.empty()) return;
  wanted_ = true;
  work_cv_.Signal();
}

std::vector<uint32_t> VolumePreparer::PreparedIds() const {
  MutexLock l(&mu_);
  std::vector<uint32_t> ids;
  for (const auto& v : prepared_) ids.push_back(v->id());
  return ids;
}

Status VolumePreparer::WaitForVolume() {
  MutexLock l(&mu_);
  const auto deadline = std::chrono::steady_clock::now() + kMaxWait;
  while (prepared_.empty()) {
    wanted_ = true;
    if (halted_) return Status::OK();
    if (!error_.ok()) {
      work_cv_.Signal();  // ask for another attempt
      return error_;
    }
    work_cv_.Signal();
    if (hurry_.load()) {
      ready_cv_.Wait(&mu_);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      hurry_ = true;  // the volume being zeroed is finished by allocation
      continue;
    }
    ready_cv_.WaitFor(&mu_, deadline - now);
  }
  return Status::OK();
}

uint64_t VolumePreparer::hurried() const {
  MutexLock l(&mu_);
  return hurried_;
}

bool VolumePreparer::short_of_space() const {
  MutexLock l(&mu_);
  return error_.IsNoSpace();
}

void VolumePreparer::Halt() {
  MutexLock l(&mu_);
  halted_ = true;
  ready_cv_.SignalAll();
}

void VolumePreparer::Stop() {
  {
    MutexLock l(&mu_);
    halted_ = true;
    stop_ = true;
    work_cv_.SignalAll();
    ready_cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void VolumePreparer::Loop() {
  MutexLock l(&mu_);
  while (!stop_) {
    if (!wanted_ || !prepared_.empty() || halted_) {
      work_cv_.Wait(&mu_);
      continue;
    }
    const uint32_t id = next_id_++;
    l.Unlock();
    Result<std::shared_ptr<Volume>> v =
        Volume::Create(options_.env, options_.dir, id, options_.capacity, options_.store_id,
                       options_.preparation, &stop_, options_.test_point, &hurry_);
    // Readers find the volume before any writer can append to it.
    if (v.ok() && !stop_) options_.volumes->Add(*v);
    l.Lock();
    if (stop_) break;
    const bool hurried = hurry_.exchange(false);
    if (v.ok()) {
      wanted_ = false;
      prepared_.push_back(*v);
      error_ = Status::OK();
      if (hurried && options_.preparation == VolumePreparation::kWriteZeros) hurried_++;
      ready_cv_.SignalAll();
      continue;
    }
    next_id_ = id;  // reuse the id; the temporary file was removed
    const bool first = error_.ok();
    error_ = v.status();
    ready_cv_.SignalAll();
    if (first && options_.log) {
      l.Unlock();
      options_.log("WARNING: " + v.status().ToString());
      l.Lock();
    }
    // Back off, then retry: writes resume by themselves once space is freed.
    if (!stop_) work_cv_.WaitFor(&mu_, kRetryDelay);
  }
}

}  // namespace cairn
