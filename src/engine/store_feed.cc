// The change feed (IterateLog) and the tombstone horizon (docs/design.md, "The change feed" and
// "Tombstones and the horizon").
//
// The feed reads the log itself, never the index: volumes in id order, each from where the last
// batch stopped up to where its committed log ends (a sealed volume: its account's end; the
// volume of the committed end: that position). Everything before the committed end took effect
// when its group committed (conditions are judged before a record is written, so no record in
// the log was refused), or was replayed by recovery. A record is listed only if it is valid: its
// head checks and, for a value or a manifest, its value too, or its body was released by hole
// punching (its head stays) — so a torn record that recovery skipped is never listed. Chunks are
// stepped over from their heads, unread.
#include <algorithm>

#include "engine/log_scanner.h"
#include "engine/store_impl.h"
#include "util/coding.h"

namespace cairn {

Result<LogBatch> StoreImpl::IterateLog(LogPosition from, size_t limit) {
  if (limit == 0) limit = kDefaultLogBatchRecords;
  if (limit > kMaxLogBatchRecords)
    return Status::LimitExceeded("max_log_batch_records: a batch of " + std::to_string(limit) +
                                 " records was asked for, limit " +
                                 std::to_string(kMaxLogBatchRecords));
  LogPosition end;
  {
    MutexLock l(&mu_);
    end = queue_.committed_end(&mu_);
  }
  // The volumes that hold committed log, and how far.
  struct Span {
    uint32_t id;
    uint64_t end;
  };
  std::vector<Span> spans;
  {
    for (const auto& [id, a] : accounts_.snapshot().accounts) {
      if (id > end.volume()) break;
      if (a.retired || id < from.volume()) continue;  // retired: its live records were copied
      spans.push_back(Span{id, id == end.volume() ? end.offset() : a.end});
    }
  }
  LogBatch b;
  b.next = from;
  uint64_t key_bytes = 0;
  uint64_t read = 0;
  for (const Span& span : spans) {
    std::shared_ptr<Volume> vol = VolumeFor(span.id);
    if (vol == nullptr) continue;  // removed since: a retired volume
    uint64_t start = vol->data_offset();
    if (span.id == b.next.volume())
      start = std::max<uint64_t>(start, (b.next.offset() + format::kRecordAlign - 1) /
                                            format::kRecordAlign * format::kRecordAlign);
    if (start >= span.end) {
      b.next = LogPosition(span.id, std::max(start, span.end));
      continue;
    }
    LogScanner scanner(vol->file(), vol->salt(), start, span.end, LogScanner::kNoGapLimit);
    scanner.SkipChunks();
    uint64_t pos = start;
    bool stopped = false;
    ScanEvent ev;
    for (;;) {
      if (b.records.size() >= limit || key_bytes >= kMaxLogBatchBytes ||
          read + scanner.bytes_read() >= kMaxLogScanBytes) {
        stopped = true;
        break;
      }
      CAIRN_ASSIGN_OR_RETURN(bool more, scanner.Next(&ev));
      if (!more) break;
      pos = ev.offset + ev.length;
      if (ev.kind == ScanEvent::Kind::kBadRegion || ev.header.type == RecordType::kChunk) continue;
      LogRecord r;
      r.key.assign(ev.key);
      r.version = ev.header.version;
      r.kind = ev.header.type == RecordType::kTombstone ? LogRecordKind::kDelete : LogRecordKind::kPut;
      if (ev.header.type == RecordType::kValue) {
        r.size = ev.header.value_len;
      } else if (ev.header.type == RecordType::kManifest && ev.kind == ScanEvent::Kind::kRecord &&
                 ev.value.size() >= format::kManifestHeaderSize) {
        r.size = DecodeFixed64(ev.value.data());  // the object's size
      }
      r.position = LogPosition(span.id, ev.offset);
      r.relocated = ev.header.relocated;
      key_bytes += r.key.size();
      b.records.push_back(std::move(r));
    }
    read += scanner.bytes_read();
    if (stopped) {
      b.next = LogPosition(span.id, pos);
      break;
    }
    b.next = LogPosition(span.id, span.end);  // all of it, zeros and torn bytes included
  }
  b.end = !(b.next < end);
  return b;
}

Status StoreImpl::SetTombstoneHorizon(Version horizon) {
  {
    MutexLock l(&mu_);
    if (!bg_error_.ok()) return bg_error_;
    if (horizon <= explicit_horizon_) return Status::OK();  // it only moves forward
  }
  {
    MutexLock iwl(&index_write_mu_);
    IndexBatch b;
    b.PutHorizon(horizon);
    CAIRN_RETURN_IF_ERROR(index_->Write(&b));
  }
  CAIRN_RETURN_IF_ERROR(index_->Flush(/*wait=*/true));
  {
    MutexLock l(&mu_);
    if (explicit_horizon_ < horizon) explicit_horizon_ = horizon;
  }
  reclaimer_.Wake();  // tombstones may be due now
  return Status::OK();
}

}  // namespace cairn
