#include "cluster/hint_log.h"

#include <algorithm>
#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::cluster {
namespace {

constexpr char kSegmentMagic[8] = {'C', 'A', 'I', 'R', 'N', 'H', 'N', 'T'};
constexpr uint32_t kHintFormat = 1;
constexpr size_t kSegmentHeader = 32;
constexpr size_t kRecordHead = 8;      // u32 payload length, u32 crc32c(payload)
constexpr size_t kPayloadFixed = 24;   // kind, reserved, key_len, hlc, writer, enqueued_us
constexpr size_t kCursorBytes = 24;
// Named bound: bytes read from a segment per Read call.
constexpr size_t kReadChunk = 1 << 20;

std::string SegmentName(uint64_t seq) {
  char b[32];
  std::snprintf(b, sizeof(b), "%016llx.hint", static_cast<unsigned long long>(seq));
  return b;
}

bool ParseSegmentName(const std::string& n, uint64_t* seq) {
  if (n.size() != 21 || n.substr(16) != ".hint") return false;
  uint64_t v = 0;
  for (char c : n.substr(0, 16)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *seq = v;
  return true;
}

std::string SegmentHeader(NodeId target, uint64_t seq) {
  std::string h(kSegmentHeader, '\0');
  std::memcpy(h.data(), kSegmentMagic, 8);
  EncodeFixed32(h.data() + 8, kHintFormat);
  EncodeFixed32(h.data() + 12, target);
  EncodeFixed64(h.data() + 16, seq);
  EncodeFixed32(h.data() + 28, crc32c::Value(h.data(), 28));
  return h;
}

// Decodes the record at buf[0..n); returns its total length, 0 if it is not a whole valid
// record (the end of the valid data).
size_t DecodeRecord(const char* buf, size_t n, Hint* h) {
  if (n < kRecordHead) return 0;
  const uint32_t len = DecodeFixed32(buf);
  if (len < kPayloadFixed || len > kPayloadFixed + kMaxKeyBytes || n < kRecordHead + len) return 0;
  const char* p = buf + kRecordHead;
  if (crc32c::Value(p, len) != DecodeFixed32(buf + 4)) return 0;
  const uint8_t kind = static_cast<uint8_t>(p[0]);
  const uint16_t key_len = DecodeFixed16(p + 2);
  if ((kind != 1 && kind != 2) || kPayloadFixed + key_len != len || key_len == 0) return 0;
  h->deleted = kind == 2;
  h->version.hlc = DecodeFixed64(p + 4);
  h->version.writer = DecodeFixed32(p + 12);
  h->enqueued_us = DecodeFixed64(p + 16);
  h->key.assign(p + kPayloadFixed, key_len);
  return kRecordHead + len;
}

}  // namespace

std::string EncodeHintRecord(const Hint& h) {
  std::string r(kRecordHead + kPayloadFixed + h.key.size(), '\0');
  char* p = r.data() + kRecordHead;
  p[0] = static_cast<char>(h.deleted ? 2 : 1);
  EncodeFixed16(p + 2, static_cast<uint16_t>(h.key.size()));
  EncodeFixed64(p + 4, h.version.hlc);
  EncodeFixed32(p + 12, h.version.writer);
  EncodeFixed64(p + 16, h.enqueued_us);
  std::memcpy(p + kPayloadFixed, h.key.data(), h.key.size());
  const uint32_t len = static_cast<uint32_t>(kPayloadFixed + h.key.size());
  EncodeFixed32(r.data(), len);
  EncodeFixed32(r.data() + 4, crc32c::Value(p, len));
  return r;
}

struct HintLog::Queue {
  std::map<uint64_t, uint64_t> segments;  // seq -> bytes written (durable end for the active)
  std::shared_ptr<File> active;           // nullptr until the first append of this session
  uint64_t active_seq = 0;
  uint64_t active_end = 0;                // next append offset (staged records included)
  std::string staged;                     // records waiting for the next group
  uint64_t staged_at = 0;                 // active_end where `staged` starts
  HintCursor acked;
  HintQueueStats stats;
};

HintLog::HintLog(std::string dir, HintLogOptions o)
    : dir_(std::move(dir)), o_(o), env_(o.env != nullptr ? o.env : Env::Default()) {}
HintLog::~HintLog() = default;

std::string HintLog::QueueDir(NodeId target) const { return dir_ + "/" + std::to_string(target); }

Result<std::unique_ptr<HintLog>> HintLog::Open(const std::string& dir, const HintLogOptions& o) {
  std::unique_ptr<HintLog> h(new HintLog(dir, o));
  CAIRN_RETURN_IF_ERROR(h->env_->CreateDir(dir));
  CAIRN_ASSIGN_OR_RETURN(auto names, h->env_->ListDir(dir));
  std::lock_guard<std::mutex> l(h->mu_);
  for (const std::string& n : names) {
    if (n.empty() || n.size() > 5 || !std::all_of(n.begin(), n.end(), ::isdigit)) continue;
    unsigned long id = std::stoul(n);
    if (id == 0 || id >= kNoNode) continue;
    CAIRN_RETURN_IF_ERROR(h->QueueFor(static_cast<NodeId>(id)).status());
  }
  return h;
}

Result<HintLog::Queue*> HintLog::QueueFor(NodeId target) {
  auto it = queues_.find(target);
  if (it != queues_.end()) return it->second.get();
  auto q = std::make_unique<Queue>();
  CAIRN_RETURN_IF_ERROR(OpenQueue(target, q.get()));
  Queue* raw = q.get();
  queues_[target] = std::move(q);
  return raw;
}

Status HintLog::OpenQueue(NodeId target, Queue* q) {
  const std::string qd = QueueDir(target);
  CAIRN_RETURN_IF_ERROR(env_->CreateDir(qd));
  CAIRN_ASSIGN_OR_RETURN(auto names, env_->ListDir(qd));
  for (const std::string& n : names) {
    uint64_t seq;
    if (ParseSegmentName(n, &seq)) {
      CAIRN_ASSIGN_OR_RETURN(auto f, env_->OpenFile(qd + "/" + n, Env::OpenMode::kExisting));
      CAIRN_ASSIGN_OR_RETURN(uint64_t size, f->Size());
      q->segments[seq] = size;
    } else if (n.size() > 4 && n.substr(n.size() - 4) == ".tmp") {
      (void)env_->RemoveFile(qd + "/" + n);
    }
  }
  q->acked = HintCursor{q->segments.empty() ? 1 : q->segments.begin()->first, kSegmentHeader};
  if (env_->Exists(qd + "/offset")) {
    CAIRN_ASSIGN_OR_RETURN(auto f, env_->OpenFile(qd + "/offset", Env::OpenMode::kExisting));
    char b[kCursorBytes];
    size_t got = 0;
    CAIRN_RETURN_IF_ERROR(f->PRead(0, sizeof(b), b, &got));
    if (got == kCursorBytes && crc32c::Value(b, 20) == DecodeFixed32(b + 20)) {
      q->acked = HintCursor{DecodeFixed64(b), DecodeFixed64(b + 8)};
    }
    // A damaged cursor replays from the oldest segment: hints are idempotent.
  }
  for (const auto& [seq, size] : q->segments) {
    if (seq < q->acked.segment) continue;
    q->stats.bytes += size - std::min<uint64_t>(size, seq == q->acked.segment ? q->acked.offset : 0);
  }
  return Status::OK();
}

Status HintLog::NewSegment(NodeId target, Queue* q) {
  const uint64_t seq = q->segments.empty() ? std::max<uint64_t>(1, q->acked.segment)
                                           : q->segments.rbegin()->first + 1;
  const std::string path = QueueDir(target) + "/" + SegmentName(seq);
  CAIRN_ASSIGN_OR_RETURN(auto f, env_->OpenFile(path, Env::OpenMode::kCreateNew));
  CAIRN_RETURN_IF_ERROR(f->PWrite(0, SegmentHeader(target, seq)));
  CAIRN_RETURN_IF_ERROR(f->DataSync());
  CAIRN_RETURN_IF_ERROR(env_->SyncDir(QueueDir(target)));
  q->active = std::shared_ptr<File>(std::move(f));
  q->active_seq = seq;
  q->active_end = kSegmentHeader;
  q->segments[seq] = kSegmentHeader;
  if (q->segments.size() == 1 && q->acked.segment < seq) q->acked = HintCursor{seq, kSegmentHeader};
  return Status::OK();
}

void HintLog::DropOverBound(NodeId target, Queue* q) {
  // Whole old segments go first; the one being appended to is kept.
  while (q->stats.bytes > o_.max_bytes_per_target && q->segments.size() > 1 &&
         q->segments.begin()->first != q->active_seq) {
    auto [seq, size] = *q->segments.begin();
    const uint64_t queued = seq == q->acked.segment ? size - std::min(size, q->acked.offset) : size;
    q->stats.bytes -= std::min(q->stats.bytes, queued);
    q->stats.dropped += queued;
    (void)env_->RemoveFile(QueueDir(target) + "/" + SegmentName(seq));
    q->segments.erase(q->segments.begin());
    q->acked = HintCursor{q->segments.begin()->first, kSegmentHeader};
    (void)WriteCursor(target, q->acked);
  }
}

Status HintLog::Append(NodeId target, const std::vector<Hint>& hints) {
  if (target == kNoNode || target == 0) return Status::InvalidArgument("hint for no node");
  std::unique_lock<std::mutex> l(mu_);
  CAIRN_ASSIGN_OR_RETURN(Queue * q, QueueFor(target));
  if (q->active == nullptr || q->active_end >= o_.segment_bytes) {
    if (!q->staged.empty()) {
      // Records staged for the old segment go out with the next group first.
      cv_.wait(l, [&] { return q->staged.empty(); });
    }
    CAIRN_RETURN_IF_ERROR(NewSegment(target, q));
  }
  const uint64_t now = env_->NowMicros();
  if (q->staged.empty()) q->staged_at = q->active_end;
  for (Hint h : hints) {
    if (h.enqueued_us == 0) h.enqueued_us = now;
    if (h.key.empty() || h.key.size() > kMaxKeyBytes) return Status::InvalidArgument("hint key size");
    std::string rec = EncodeHintRecord(h);
    q->staged += rec;
    q->active_end += rec.size();
    q->stats.bytes += rec.size();
    q->stats.appended++;
    if (q->stats.oldest_us == 0) q->stats.oldest_us = h.enqueued_us;
  }
  const uint64_t mine = staged_group_;
  while (synced_group_ < mine) {
    if (leader_) {
      cv_.wait(l);
      continue;
    }
    leader_ = true;
    const uint64_t group = staged_group_++;
    struct Write {
      std::shared_ptr<File> file;
      uint64_t at;
      std::string bytes;
      Queue* q;
      uint64_t seq;
    };
    std::vector<Write> writes;
    for (auto& [t, qq] : queues_) {
      if (qq->staged.empty()) continue;
      writes.push_back({qq->active, qq->staged_at, std::move(qq->staged), qq.get(), qq->active_seq});
      qq->staged.clear();
    }
    l.unlock();
    Status s;
    for (Write& w : writes)
      if (s.ok()) s = w.file->PWrite(w.at, w.bytes);
    for (Write& w : writes)
      if (s.ok()) s = w.file->DataSync();
    l.lock();
    for (Write& w : writes)
      if (s.ok()) w.q->segments[w.seq] = std::max(w.q->segments[w.seq], w.at + w.bytes.size());
    results_[group] = s;
    while (results_.size() > 64) results_.erase(results_.begin());
    synced_group_ = group;
    leader_ = false;
    cv_.notify_all();
  }
  auto r = results_.find(mine);
  Status s = r != results_.end() ? r->second : Status::OK();
  DropOverBound(target, q);
  return s.ok() ? s : s.WithContext("hints not durable");
}

Result<HintBatch> HintLog::Read(NodeId target, size_t max) {
  HintBatch b;
  std::shared_ptr<File> f;
  std::string path;
  uint64_t readable_end = 0;
  bool last_segment = false;
  HintCursor at;
  {
    std::lock_guard<std::mutex> l(mu_);
    CAIRN_ASSIGN_OR_RETURN(Queue * q, QueueFor(target));
    at = q->acked;
    // Skip to the first segment that exists at or after the cursor.
    auto it = q->segments.lower_bound(at.segment);
    if (it == q->segments.end()) {
      b.next = at;
      b.end = true;
      return b;
    }
    if (it->first != at.segment) at = HintCursor{it->first, kSegmentHeader};
    readable_end = it->second;
    last_segment = std::next(it) == q->segments.end();
    path = QueueDir(target) + "/" + SegmentName(at.segment);
    if (at.segment == q->active_seq) f = q->active;
  }
  if (f == nullptr) {
    CAIRN_ASSIGN_OR_RETURN(auto opened, env_->OpenFile(path, Env::OpenMode::kExisting));
    f = std::shared_ptr<File>(std::move(opened));
  }
  const uint64_t cutoff = env_->NowMicros() - std::min(env_->NowMicros(), o_.max_age_ms * 1000);
  std::string buf;
  uint64_t pos = at.offset;
  bool segment_done = false;
  while (b.hints.size() < max && pos < readable_end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunk, readable_end - pos));
    buf.resize(want);
    size_t got = 0;
    CAIRN_RETURN_IF_ERROR(f->PRead(pos, want, buf.data(), &got));
    size_t off = 0;
    while (off < got && b.hints.size() < max) {
      Hint h;
      size_t n = DecodeRecord(buf.data() + off, got - off, &h);
      if (n == 0) break;
      off += n;
      if (h.enqueued_us < cutoff) {
        b.expired++;
        continue;
      }
      b.hints.push_back(std::move(h));
    }
    if (off == 0) {
      segment_done = true;  // a torn or damaged tail: the rest of this segment is unreadable
      break;
    }
    pos += off;
  }
  if (pos >= readable_end || segment_done) {
    if (last_segment) {
      b.next = HintCursor{at.segment, pos};
      b.end = true;
    } else {
      b.next = HintCursor{at.segment + 1, kSegmentHeader};  // Read skips to the next that exists
    }
  } else {
    b.next = HintCursor{at.segment, pos};
  }
  return b;
}

Status HintLog::WriteCursor(NodeId target, const HintCursor& c) {
  char b[kCursorBytes];
  EncodeFixed64(b, c.segment);
  EncodeFixed64(b + 8, c.offset);
  EncodeFixed32(b + 16, 0);
  EncodeFixed32(b + 20, crc32c::Value(b, 20));
  const std::string qd = QueueDir(target);
  CAIRN_ASSIGN_OR_RETURN(auto f, env_->OpenFile(qd + "/offset.tmp", Env::OpenMode::kCreate));
  CAIRN_RETURN_IF_ERROR(f->PWrite(0, std::string_view(b, sizeof(b))));
  CAIRN_RETURN_IF_ERROR(f->DataSync());
  f.reset();
  CAIRN_RETURN_IF_ERROR(env_->Rename(qd + "/offset.tmp", qd + "/offset"));
  return env_->SyncDir(qd);
}

Status HintLog::Ack(NodeId target, HintCursor next) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_ASSIGN_OR_RETURN(Queue * q, QueueFor(target));
  return AckLocked(target, q, next);
}

Result<uint64_t> HintLog::Discard(NodeId target) {
  std::unique_lock<std::mutex> l(mu_);
  auto it = queues_.find(target);
  if (it == queues_.end()) return uint64_t{0};
  Queue* q = it->second.get();
  // Records staged for the next group are not durable yet: their appender's group writes them.
  cv_.wait(l, [&] { return q->staged.empty(); });
  if (q->segments.empty()) return uint64_t{0};
  const uint64_t bytes = q->stats.bytes;
  const auto [seq, end] = *q->segments.rbegin();
  CAIRN_RETURN_IF_ERROR(AckLocked(target, q, HintCursor{seq, end}));
  q->stats.bytes = 0;
  q->stats.oldest_us = 0;
  q->stats.dropped += bytes;
  return bytes;
}

Status HintLog::AckLocked(NodeId target, Queue* q, HintCursor next) {
  if (next <= q->acked) return Status::OK();
  CAIRN_RETURN_IF_ERROR(WriteCursor(target, next));
  // Bytes acknowledged, and segments entirely before the cursor removed.
  for (auto it = q->segments.begin(); it != q->segments.end();) {
    const auto [seq, size] = *it;
    if (seq > next.segment) break;
    const uint64_t from = seq == q->acked.segment ? q->acked.offset : (seq < q->acked.segment ? size : kSegmentHeader);
    const uint64_t to = seq < next.segment ? size : std::min(size, next.offset);
    if (to > from) {
      q->stats.bytes -= std::min(q->stats.bytes, to - from);
    }
    if (seq < next.segment && seq != q->active_seq) {
      (void)env_->RemoveFile(QueueDir(target) + "/" + SegmentName(seq));
      it = q->segments.erase(it);
      continue;
    }
    ++it;
  }
  q->acked = next;
  if (q->stats.bytes == 0) q->stats.oldest_us = 0;
  return Status::OK();
}

std::vector<NodeId> HintLog::Targets() {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<NodeId> v;
  for (const auto& [t, q] : queues_) v.push_back(t);
  return v;
}

HintQueueStats HintLog::Stats(NodeId target) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = queues_.find(target);
  return it == queues_.end() ? HintQueueStats() : it->second->stats;
}

}  // namespace cairn::cluster
