#include "engine/index.h"

#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_checksum.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "util/coding.h"
#include "util/crc32c.h"

namespace rocksdb {
// Exported by librocksdb (db/version_set.cc; the backup engine's way to learn the checksums of
// a DB's table files without opening it) but not declared in bookworm's 7.8 public headers.
// Replays the MANIFEST's edits: the list holds the live table files only.
Status GetFileChecksumsFromManifest(Env* src_env, const std::string& abspath,
                                    uint64_t manifest_file_size, FileChecksumList* checksum_list);
}  // namespace rocksdb

namespace cairn {
namespace {

constexpr char kEntryPrefix = 'k';
constexpr char kMetaPrefix = 'm';
constexpr char kVolumePrefix = 'v';
constexpr char kDeadPrefix = 'd';
constexpr char kTombstonePrefix = 't';
const std::string kCheckpointKey = std::string(1, kMetaPrefix) + "checkpoint";
const std::string kRebuildingKey = std::string(1, kMetaPrefix) + "rebuilding";
const std::string kReclaimKey = std::string(1, kMetaPrefix) + "reclaimed";
const std::string kHorizonKey = std::string(1, kMetaPrefix) + "horizon";

// 't' ‖ hlc (u64 BE) ‖ writer (u32 BE) ‖ user key: tombstones in version order.
std::string TombstoneKey(const Version& v, std::string_view key) {
  std::string k(13, kTombstonePrefix);
  EncodeBigEndian64(k.data() + 1, v.hlc);
  EncodeBigEndian32(k.data() + 9, v.writer);
  k.append(key);
  return k;
}

std::string DeadKey(uint32_t volume, uint64_t offset) {
  std::string k(13, kDeadPrefix);
  EncodeBigEndian32(k.data() + 1, volume);
  EncodeBigEndian64(k.data() + 5, offset);
  return k;
}

std::string EntryKey(std::string_view key) {
  std::string k;
  k.reserve(key.size() + 1);
  k.push_back(kEntryPrefix);
  k.append(key);
  return k;
}

std::string VolumeKey(uint32_t id) {
  std::string k(5, kVolumePrefix);
  EncodeBigEndian32(k.data() + 1, id);
  return k;
}

Status FromRocks(const rocksdb::Status& s, const char* what);

// The tail check of the index's table files (docs/design.md, "The index's table files").
//
// RocksDB 7.8 parses a table's properties block before it checks that block's checksum (the
// block may carry a rewritten global sequence number), and bookworm's librocksdb is built with
// its assertions: one flipped bit there aborted the process inside DB::Open
// (corruption_test --seed 626951). Every other block is checked before it is parsed. The
// properties block lies in a table file's last few KiB, after the data, filter and index
// blocks (then the meta-index block and the footer). So each table file gets a "checksum" in
// RocksDB's MANIFEST, through its file-checksum hook, that covers the file's size and the CRC32C
// of its last kTableTail bytes; Index::Open checks it for every live table before RocksDB opens
// any. A whole-file CRC32C would cover the same and more, but reads the whole index at every
// open: 716 ms warm and 879 ms cold at 10 M objects (555 MB of tables; engine_bench --op
// open_time), against 10 ms and 226 ms without it. The tail costs one read per table file.
constexpr char kTableTailFunc[] = "CairnTableTailCrc32c";
constexpr size_t kTableTail = size_t{256} << 10;  // named bound: bytes checked per table file

// Named bound: the size of one partition of a table's index or filter (RocksDB's
// metadata_block_size), so no metadata block is much larger than a data block.
constexpr uint64_t kMetadataBlockBytes = 4096;

// Encodes what the check compares: file size (8) ‖ tail length (4) ‖ CRC32C of the tail (4).
std::string EncodeTableTail(uint64_t file_size, std::string_view tail) {
  std::string out(16, '\0');
  EncodeFixed64(out.data(), file_size);
  EncodeFixed32(out.data() + 8, static_cast<uint32_t>(tail.size()));
  EncodeFixed32(out.data() + 12, crc32c::Value(tail.data(), tail.size()));
  return out;
}

class TableTailGenerator : public rocksdb::FileChecksumGenerator {
 public:
  void Update(const char* data, size_t n) override {
    size_ += n;
    tail_.append(data, n);
    if (tail_.size() > 2 * kTableTail) tail_.erase(0, tail_.size() - kTableTail);
  }
  void Finalize() override {
    std::string_view t(tail_);
    if (t.size() > kTableTail) t.remove_prefix(t.size() - kTableTail);
    sum_ = EncodeTableTail(size_, t);
    tail_.clear();
    tail_.shrink_to_fit();
  }
  std::string GetChecksum() const override { return sum_; }
  const char* Name() const override { return kTableTailFunc; }

 private:
  uint64_t size_ = 0;
  std::string tail_;
  std::string sum_;
};

class TableTailFactory : public rocksdb::FileChecksumGenFactory {
 public:
  std::unique_ptr<rocksdb::FileChecksumGenerator> CreateFileChecksumGenerator(
      const rocksdb::FileChecksumGenContext& context) override {
    if (!context.requested_checksum_func_name.empty() &&
        context.requested_checksum_func_name != kTableTailFunc)
      return nullptr;  // another function's checksum: not ours to make
    return std::make_unique<TableTailGenerator>();
  }
  const char* Name() const override { return "CairnTableTailFactory"; }
};

// Checks every live table file of the index at `dir` against the size and tail CRC its MANIFEST
// recorded. A mismatch is Corruption naming the file. What this cannot read (no CURRENT yet, a
// MANIFEST that RocksDB itself will refuse or roll back, tables written before the check
// existed) is left to DB::Open, as before.
Status CheckTableFiles(rocksdb::Env* env, const std::string& dir) {
  std::string current;
  if (!rocksdb::ReadFileToString(env, dir + "/CURRENT", &current).ok()) return Status::OK();
  while (!current.empty() && (current.back() == '\n' || current.back() == '\r')) current.pop_back();
  if (current.empty() || current.find('/') != std::string::npos) return Status::OK();
  const std::string manifest = dir + "/" + current;
  uint64_t manifest_size = 0;
  if (!env->GetFileSize(manifest, &manifest_size).ok()) return Status::OK();
  std::unique_ptr<rocksdb::FileChecksumList> sums(rocksdb::NewFileChecksumList());
  if (!rocksdb::GetFileChecksumsFromManifest(env, manifest, manifest_size, sums.get()).ok())
    return Status::OK();
  std::vector<uint64_t> numbers;
  std::vector<std::string> want, funcs;
  if (!sums->GetAllFileChecksums(&numbers, &want, &funcs).ok()) return Status::OK();
  std::string buf;
  for (size_t i = 0; i < numbers.size(); i++) {
    if (funcs[i] != kTableTailFunc || want[i].size() != 16) continue;  // not recorded
    const std::string path = dir + "/" + fmt::format("{:06}.sst", numbers[i]);
    uint64_t size = 0;
    if (!env->GetFileSize(path, &size).ok()) continue;  // missing: DB::Open says so
    const uint64_t want_size = DecodeFixed64(want[i].data());
    const uint32_t tail = DecodeFixed32(want[i].data() + 8);
    if (size != want_size || tail > size)
      return Status::Corruption(fmt::format(
          "index table file {}: {} bytes, its MANIFEST recorded {}", path, size, want_size));
    std::unique_ptr<rocksdb::RandomAccessFile> f;
    CAIRN_RETURN_IF_ERROR(
        FromRocks(env->NewRandomAccessFile(path, &f, rocksdb::EnvOptions()), "open a table file"));
    buf.resize(tail);
    rocksdb::Slice got;
    CAIRN_RETURN_IF_ERROR(FromRocks(f->Read(size - tail, tail, &got, buf.data()), "read a table file"));
    if (got.size() != tail || EncodeTableTail(size, std::string_view(got.data(), got.size())) != want[i])
      return Status::Corruption(fmt::format(
          "index table file {}: its last {} bytes do not match the CRC32C its MANIFEST recorded",
          path, tail));
  }
  return Status::OK();
}

Status FromRocks(const rocksdb::Status& s, const char* what) {
  if (s.ok()) return Status::OK();
  std::string m = std::string("index ") + what + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(m);
  if (s.IsNoSpace()) return Status::NoSpace(m);
  if (s.IsNotFound()) return Status::NotFound(m);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(m);
  return Status::IOError(m);
}

class FlushListener : public rocksdb::EventListener {
 public:
  explicit FlushListener(std::function<void()> f) : f_(std::move(f)) {}
  void OnFlushBegin(rocksdb::DB*, const rocksdb::FlushJobInfo&) override {
    if (f_) f_();
  }

 private:
  std::function<void()> f_;
};

}  // namespace

IndexBatch::IndexBatch() : rep_(new rocksdb::WriteBatch()) {}
IndexBatch::~IndexBatch() = default;
void IndexBatch::PutEntry(std::string_view key, const format::IndexEntry& e) {
  (void)rep_->Put(EntryKey(key), format::EncodeIndexEntry(e));
  if (e.tombstone()) (void)rep_->Put(TombstoneKey(e.version, key), rocksdb::Slice());
  entries_.emplace_back(std::string(key), e);
}
void IndexBatch::DeleteTombstoneListing(const TombstoneRef& t) {
  (void)rep_->Delete(TombstoneKey(t.version, t.key));
}
void IndexBatch::PutHorizon(const Version& v) { (void)rep_->Put(kHorizonKey, format::EncodeHorizon(v)); }
void IndexBatch::DeleteEntry(std::string_view key) {
  (void)rep_->Delete(EntryKey(key));
  entries_.emplace_back(std::string(key), std::nullopt);
}
void IndexBatch::PutVolume(uint32_t id, const format::VolumeAccount& v) {
  (void)rep_->Put(VolumeKey(id), format::EncodeVolumeAccount(v));
}
void IndexBatch::PutCheckpoint(const format::Checkpoint& c) {
  (void)rep_->Put(kCheckpointKey, format::EncodeCheckpoint(c));
}
void IndexBatch::PutDead(const DeadRecord& d) {
  char v[16];
  EncodeFixed64(v, d.punch_begin);
  EncodeFixed64(v + 8, d.punch_end);
  (void)rep_->Put(DeadKey(d.volume, d.offset), rocksdb::Slice(v, sizeof(v)));
}
void IndexBatch::DeleteDead(uint32_t volume, uint64_t offset) {
  (void)rep_->Delete(DeadKey(volume, offset));
}
void IndexBatch::DeleteDeadInVolume(uint32_t volume) {
  (void)rep_->DeleteRange(DeadKey(volume, 0), DeadKey(volume + 1, 0));
}
void IndexBatch::DeleteVolume(uint32_t id) { (void)rep_->Delete(VolumeKey(id)); }
void IndexBatch::SetRebuilding(bool on) {
  if (on) {
    (void)rep_->Put(kRebuildingKey, "1");
  } else {
    (void)rep_->Delete(kRebuildingKey);
  }
}
void IndexBatch::PutReclaimTotals(uint64_t reclaimed_bytes, uint64_t compactions) {
  char v[16];
  EncodeFixed64(v, reclaimed_bytes);
  EncodeFixed64(v + 8, compactions);
  (void)rep_->Put(kReclaimKey, rocksdb::Slice(v, sizeof(v)));
}
void IndexBatch::Clear() {
  rep_->Clear();
  entries_.clear();
}
size_t IndexBatch::count() const { return static_cast<size_t>(rep_->Count()); }

Index::~Index() {
  if (db_) (void)db_->Close();
}

Result<std::unique_ptr<Index>> Index::Open(const std::string& dir, const StoreOptions& o,
                                           rocksdb::Env* env, std::function<void()> before_flush,
                                           bool defer_compactions) {
  std::unique_ptr<Index> idx(new Index());
  rocksdb::Options opts;
  opts.create_if_missing = true;
  opts.paranoid_checks = true;
  opts.write_buffer_size = o.index_write_buffer_bytes;
  opts.max_write_buffer_number = 2;
  opts.max_background_jobs = 2;
  // Bounded table-reader memory: files are opened on demand, their index and filter blocks
  // live in (and are evicted from) the block cache.
  opts.max_open_files = 512;
  // Never flush implicitly when closing: the store flushes explicitly when it closes healthy.
  // A store that failed to open, or turned read-only, must drop its memtable like a crash
  // would, rather than make state that points at unsynced log bytes durable.
  opts.avoid_flush_during_shutdown = true;
  opts.compression = rocksdb::kLZ4Compression;
  opts.info_log_level = rocksdb::WARN_LEVEL;
  opts.keep_log_file_num = 2;
  if (env != nullptr) opts.env = env;
  opts.listeners.push_back(std::make_shared<FlushListener>(std::move(before_flush)));
  idx->auto_cache_ = o.index_cache_bytes == 0;
  idx->cache_ = rocksdb::NewLRUCache(idx->auto_cache_ ? kMinAutoIndexCacheBytes : o.index_cache_bytes);
  idx->hot_ = std::make_unique<EntryCache>(o.index_hot_bytes);
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = idx->cache_;
  t.cache_index_and_filter_blocks = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Partitioned index and filters (docs/design.md, "Cold reads"): a table's index and filter
  // are cut into blocks of about kMetadataBlockBytes, cached one by one like data blocks, and
  // only their small top level is pinned. Unpartitioned, RocksDB pins (pin_l0_...) the index
  // and filter of tables of about a memtable's size or less, but a larger compacted table has
  // one index block and one filter block of up to megabytes, larger than a shard of the block
  // cache (64 MiB is 64 shards of 1 MiB), so they never stayed cached: every lookup in that
  // table read and parsed them again, from the page cache or, cold, from the disk. In a store
  // of 2 M objects (a 69 MB table) that was 950 KiB of blocks per lookup, and a cold GET ran at
  // 0.12-0.18x fio's random reads (bench/engine/cold_get.sh).
  t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  t.partition_filters = true;
  t.metadata_block_size = kMetadataBlockBytes;
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  // Each table file's size and tail CRC, kept in the MANIFEST and checked before each open.
  opts.file_checksum_gen_factory = std::make_shared<TableTailFactory>();
  CAIRN_RETURN_IF_ERROR(CheckTableFiles(opts.env, dir));
  rocksdb::DB* db = nullptr;
  opts.disable_auto_compactions = defer_compactions;
  CAIRN_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(opts, dir, &db), "open"));
  idx->db_.reset(db);
  idx->ResizeCache();
  idx->compactions_deferred_ = defer_compactions;
  if (defer_compactions) {
    uint64_t l0 = 0;
    if (!db->GetIntProperty("rocksdb.num-files-at-level0", &l0) || l0 >= kDeferCompactionsBelowL0)
      CAIRN_RETURN_IF_ERROR(idx->StartCompactions());
  }
  return idx;
}

Status Index::StartCompactions() {
  if (!compactions_deferred_) return Status::OK();
  CAIRN_RETURN_IF_ERROR(
      FromRocks(db_->SetOptions({{"disable_auto_compactions", "false"}}), "start compactions"));
  compactions_deferred_ = false;
  return Status::OK();
}

Result<format::IndexEntry> Index::Get(std::string_view key, bool with_tombstones) {
  bool in_memory = true;
  return Lookup(key, with_tombstones, /*cached_only=*/false, &in_memory);
}

Result<format::IndexEntry> Index::GetCached(std::string_view key, bool* in_memory,
                                            bool with_tombstones) {
  return Lookup(key, with_tombstones, /*cached_only=*/true, in_memory);
}

Result<format::IndexEntry> Index::Lookup(std::string_view key, bool with_tombstones,
                                         bool cached_only, bool* in_memory) {
  *in_memory = true;
  // A hit is never a tombstone entry: only live ones are cached.
  if (std::optional<format::IndexEntry> hit = hot_->Lookup(key)) return *hit;
  const uint64_t ticket = hot_->Ticket(key);
  std::string v;
  rocksdb::ReadOptions ro;
  if (cached_only) ro.read_tier = rocksdb::kBlockCacheTier;  // Incomplete instead of a disk read
  rocksdb::Status s = db_->Get(ro, EntryKey(key), &v);
  if (s.IsIncomplete()) {
    *in_memory = false;
    return Status::NotFound("no such key");
  }
  if (s.IsNotFound()) return Status::NotFound("no such key");
  CAIRN_RETURN_IF_ERROR(FromRocks(s, "get"));
  format::IndexEntry e;
  CAIRN_RETURN_IF_ERROR(format::DecodeIndexEntry(v, &e));
  if (e.tombstone()) {
    if (with_tombstones) return e;
    return Status::NotFound("no such key");
  }
  hot_->Fill(key, e, ticket);
  return e;
}

Status Index::FlushAndListDead(size_t limit, uint32_t before_volume,
                               std::vector<DeadRecord>* out) {
  out->clear();
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  Status s = Flush(/*wait=*/true);
  if (s.ok()) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->Seek(std::string(1, kDeadPrefix)); it->Valid() && out->size() < limit; it->Next()) {
      rocksdb::Slice k = it->key();
      if (k.size() != 13 || k[0] != kDeadPrefix) break;
      if (it->value().size() != 16) {
        s = Status::Corruption("index: malformed dead-record entry");
        break;
      }
      DeadRecord d;
      d.volume = DecodeBigEndian32(k.data() + 1);
      if (d.volume >= before_volume) break;  // keys sort by volume
      d.offset = DecodeBigEndian64(k.data() + 5);
      d.punch_begin = DecodeFixed64(it->value().data());
      d.punch_end = DecodeFixed64(it->value().data() + 8);
      out->push_back(d);
    }
    if (s.ok()) s = FromRocks(it->status(), "scan dead records");
  }
  db_->ReleaseSnapshot(snap);
  return s;
}

Result<std::pair<uint64_t, uint64_t>> Index::ReadReclaimTotals() {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kReclaimKey, &v);
  if (s.IsNotFound()) return std::pair<uint64_t, uint64_t>(0, 0);
  CAIRN_RETURN_IF_ERROR(FromRocks(s, "get reclaim totals"));
  if (v.size() != 16) return Status::Corruption("index: malformed reclaim totals");
  return std::pair<uint64_t, uint64_t>(DecodeFixed64(v.data()), DecodeFixed64(v.data() + 8));
}

Result<bool> Index::Rebuilding() {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kRebuildingKey, &v);
  if (s.IsNotFound()) return false;
  CAIRN_RETURN_IF_ERROR(FromRocks(s, "get rebuilding flag"));
  return true;
}

Status Index::ListTombstones(const Version& upto, size_t limit, std::vector<TombstoneRef>* out) {
  out->clear();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(std::string(1, kTombstonePrefix)); it->Valid() && out->size() < limit; it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.empty() || k[0] != kTombstonePrefix) break;
    if (k.size() < 14) return Status::Corruption("index: malformed tombstone listing");
    TombstoneRef t;
    t.version.hlc = DecodeBigEndian64(k.data() + 1);
    t.version.writer = DecodeBigEndian32(k.data() + 9);
    if (upto < t.version) break;  // listed in version order
    t.key.assign(k.data() + 13, k.size() - 13);
    out->push_back(std::move(t));
  }
  return FromRocks(it->status(), "scan tombstone listings");
}

Result<Version> Index::ReadHorizon() {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kHorizonKey, &v);
  if (s.IsNotFound()) return Version();
  CAIRN_RETURN_IF_ERROR(FromRocks(s, "get tombstone horizon"));
  Version h;
  CAIRN_RETURN_IF_ERROR(format::DecodeHorizon(v, &h));
  return h;
}

Status Index::MultiGet(const std::vector<std::string>& keys,
                       std::vector<std::optional<format::IndexEntry>>* out, size_t max_threads) {
  out->assign(keys.size(), std::nullopt);
  // Keys found in the hot cache are answered from it; the others (misses[]) go to RocksDB.
  std::vector<size_t> misses;
  misses.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); i++) {
    if (std::optional<format::IndexEntry> hit = hot_->Lookup(keys[i])) {
      (*out)[i] = *hit;
    } else {
      misses.push_back(i);
    }
  }
  // Looks up keys[misses[begin, end)] with one RocksDB MultiGet.
  auto lookup = [&](size_t begin, size_t end) -> Status {
    std::vector<std::string> ek;
    ek.reserve(end - begin);
    for (size_t i = begin; i < end; i++) ek.push_back(EntryKey(keys[misses[i]]));
    std::vector<rocksdb::Slice> slices(ek.begin(), ek.end());
    std::vector<rocksdb::PinnableSlice> values(ek.size());
    std::vector<rocksdb::Status> statuses(ek.size());
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), slices.size(),
                  slices.data(), values.data(), statuses.data(), /*sorted_input=*/false);
    for (size_t i = 0; i < ek.size(); i++) {
      if (statuses[i].IsNotFound()) continue;
      CAIRN_RETURN_IF_ERROR(FromRocks(statuses[i], "multiget"));
      format::IndexEntry e;
      CAIRN_RETURN_IF_ERROR(
          format::DecodeIndexEntry(std::string_view(values[i].data(), values[i].size()), &e));
      (*out)[misses[begin + i]] = e;
    }
    return Status::OK();
  };
  // Debian's RocksDB is built without io_uring, so one MultiGet reads cold blocks one at a
  // time (queue depth 1: ~31k IOPS here, against ~100k at depth 32). Slices of a large batch
  // are looked up from several threads, keeping several reads in flight: replay after a crash
  // of a large, cold store is bound by these reads (bench/engine open_time).
  constexpr size_t kMinPerThread = 256;
  size_t parts = std::min(max_threads, misses.size() / kMinPerThread);
  if (misses.empty()) return Status::OK();
  if (parts <= 1) return lookup(0, misses.size());
  std::vector<Status> results(parts);
  std::vector<std::thread> threads;
  for (size_t p = 0; p < parts; p++) {
    size_t b = misses.size() * p / parts, e = misses.size() * (p + 1) / parts;
    threads.emplace_back([&, p, b, e] { results[p] = lookup(b, e); });
  }
  for (auto& t : threads) t.join();
  for (const Status& st : results) CAIRN_RETURN_IF_ERROR(st);
  return Status::OK();
}

Status Index::Write(IndexBatch* batch) {
  rocksdb::WriteOptions wo;
  wo.disableWAL = true;  // the volume log is the write-ahead log
  // Before: no lookup hits an entry this write replaces once RocksDB may hold the new one.
  // After: drops entries filled from the old state meanwhile (engine/entry_cache.h).
  // After a successful write, what was just written is cached (Replace), tombstone entries
  // excepted: the next overwrite of the key finds its previous version without RocksDB.
  for (const auto& [k, e] : batch->entries()) hot_->Invalidate(k);
  Status s = FromRocks(db_->Write(wo, batch->rep()), "write");
  for (const auto& [k, e] : batch->entries()) {
    if (s.ok() && e.has_value() && !e->tombstone()) {
      hot_->Replace(k, *e);
    } else {
      hot_->Invalidate(k);
    }
  }
  return s;
}

Result<format::Checkpoint> Index::ReadCheckpoint() {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kCheckpointKey, &v);
  if (s.IsNotFound()) return Status::NotFound("index has no checkpoint");
  CAIRN_RETURN_IF_ERROR(FromRocks(s, "get checkpoint"));
  format::Checkpoint c;
  CAIRN_RETURN_IF_ERROR(format::DecodeCheckpoint(v, &c));
  return c;
}

Result<std::map<uint32_t, format::VolumeAccount>> Index::ReadVolumes() {
  std::map<uint32_t, format::VolumeAccount> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(std::string(1, kVolumePrefix)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 5 || k[0] != kVolumePrefix) break;
    format::VolumeAccount a;
    CAIRN_RETURN_IF_ERROR(format::DecodeVolumeAccount(
        std::string_view(it->value().data(), it->value().size()), &a));
    out[DecodeBigEndian32(k.data() + 1)] = a;
  }
  CAIRN_RETURN_IF_ERROR(FromRocks(it->status(), "scan volumes"));
  return out;
}

Status Index::Scan(std::string_view prefix, std::string_view start_after, size_t limit,
                   std::vector<std::pair<std::string, format::IndexEntry>>* out, bool* truncated,
                   bool with_tombstones) {
  *truncated = false;
  const std::string p = EntryKey(prefix);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::string seek = p;
  if (!start_after.empty() && EntryKey(start_after) > p) seek = EntryKey(start_after);
  for (it->Seek(seek); it->Valid(); it->Next()) {
    std::string_view k(it->key().data(), it->key().size());
    if (k.substr(0, p.size()) != p) break;
    std::string_view user = k.substr(1);
    if (!start_after.empty() && user <= start_after) continue;
    format::IndexEntry e;
    CAIRN_RETURN_IF_ERROR(
        format::DecodeIndexEntry(std::string_view(it->value().data(), it->value().size()), &e));
    if (e.tombstone() && !with_tombstones) continue;
    if (out->size() == limit) {
      *truncated = true;
      break;
    }
    out->emplace_back(std::string(user), std::move(e));
  }
  return FromRocks(it->status(), "scan");
}

Status Index::Flush(bool wait) {
  rocksdb::FlushOptions fo;
  fo.wait = wait;
  // Not while a flush is running: with at most two memtables (max_write_buffer_number), another
  // immutable one would stall writes, so RocksDB first waits for the running flush to finish.
  // (Were the switch allowed, the next write would stall instead.) Either way nothing is written
  // past an asked-for flush before the flush asked for ahead of it is done: the store's replay
  // bound rests on the two memtables.
  fo.allow_write_stall = false;
  Status s = FromRocks(db_->Flush(fo), "flush");
  // The tables just written count from now (a flush not waited for: from the next one).
  ResizeCache();
  return s;
}

Status Index::CompactForTesting() {
  return FromRocks(db_->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr), "compact");
}

uint64_t AutoIndexCacheBytes(uint64_t footprint, uint64_t memory) {
  const uint64_t want = footprint + footprint / 8 + (uint64_t{8} << 20);
  const uint64_t cap = std::max(kMinAutoIndexCacheBytes, memory / 4);
  return std::clamp(want, kMinAutoIndexCacheBytes, cap);
}

std::vector<std::string> CgroupMemoryLimitFiles(std::string_view proc_self_cgroup) {
  // Every cgroup from the process's own up to the root: a limit set on a parent (a systemd
  // slice) binds too, and in a container whose cgroup namespace is the host's the own path may
  // not exist here.
  std::vector<std::string> files;
  while (!proc_self_cgroup.empty()) {
    const size_t nl = proc_self_cgroup.find('\n');
    const std::string_view line = proc_self_cgroup.substr(0, nl);
    proc_self_cgroup.remove_prefix(nl == std::string_view::npos ? proc_self_cgroup.size() : nl + 1);
    const size_t a = line.find(':'), b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(a + 1, b - a - 1);
    if (!controllers.empty() && controllers != "memory") continue;
    std::string path(line.substr(b + 1));
    for (;;) {
      if (!path.empty() && path.back() == '/') path.pop_back();
      if (controllers.empty()) {
        files.push_back("/sys/fs/cgroup" + path + "/memory.max");
        files.push_back("/sys/fs/cgroup/unified" + path + "/memory.max");
      } else {
        files.push_back("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes");
      }
      const size_t up = path.rfind('/');
      if (path.empty() || up == std::string::npos) break;
      path.resize(up);
    }
  }
  return files;
}

uint64_t AvailableMemoryBytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  uint64_t mem = pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : uint64_t{1} << 30;
  std::ifstream cg("/proc/self/cgroup");
  const std::string text((std::istreambuf_iterator<char>(cg)), std::istreambuf_iterator<char>());
  // "max", no limit or an unreadable file: none.
  for (const std::string& f : CgroupMemoryLimitFiles(text)) {
    std::ifstream in(f);
    uint64_t limit = 0;
    if (in >> limit && limit > 0) mem = std::min(mem, limit);
  }
  return mem;
}

uint64_t Index::FootprintBytes() {
  std::map<std::string, std::string> props;
  if (!db_->GetMapProperty(rocksdb::DB::Properties::kAggregatedTableProperties, &props)) return 0;
  uint64_t total = 0;
  for (const char* k : {"raw_key_size", "raw_value_size", "index_size", "filter_size"}) {
    auto it = props.find(k);
    if (it != props.end()) total += std::strtoull(it->second.c_str(), nullptr, 10);
  }
  return total;
}

void Index::ResizeCache() {
  if (!auto_cache_) return;
  // The tables' size on disk is kept in memory by RocksDB; the aggregated table properties are
  // every table's, some read from disk, and reclamation flushes up to a thousand times a pass
  // (FlushAndListDead): they are asked for only when the size moved by more than a sixteenth.
  uint64_t sst = 0;
  (void)db_->GetIntProperty("rocksdb.total-sst-files-size", &sst);
  MutexLock l(&resize_mu_);
  if (sized_ && sst <= sized_sst_bytes_ + sized_sst_bytes_ / 16 &&
      sst + sst / 16 >= sized_sst_bytes_)
    return;
  sized_ = true;
  sized_sst_bytes_ = sst;
  static const uint64_t memory = AvailableMemoryBytes();
  const uint64_t want = AutoIndexCacheBytes(FootprintBytes(), memory);
  if (want != cache_->GetCapacity()) cache_->SetCapacity(want);
}

uint64_t Index::CacheCapacity() const { return cache_->GetCapacity(); }

uint64_t Index::MemoryBytes() {
  uint64_t mem = 0;
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  return mem + cache_->GetUsage() + hot_->bytes();
}

}  // namespace cairn
