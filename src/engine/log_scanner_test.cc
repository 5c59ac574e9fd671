// One test per scanner rule (docs/format.md 3.5): valid records, zero space, a torn tail, a
// corrupt record in the middle, and resync after it.
#include "engine/log_scanner.h"

#include <gtest/gtest.h>

#include <vector>

#include "io/mem_env.h"

namespace cairn {
namespace {

constexpr uint64_t kSalt = 42;
constexpr uint64_t kStart = 4096;

class LogScannerTest : public ::testing::Test {
 protected:
  // In memory (io/mem_env.h): the scanner only needs positioned reads and InHole.
  void SetUp() override {
    auto f = env_.OpenFile("/v", Env::OpenMode::kCreate);
    ASSERT_TRUE(f.ok());
    file_ = std::move(*f);
    ASSERT_TRUE(file_->PWrite(0, std::string(kCap, '\0')).ok());
  }

  // Appends a record at the current end; returns its offset.
  uint64_t Add(const std::string& key, const std::string& value,
               uint8_t fmt = format::kRecordFormat, RecordType type = RecordType::kValue,
               const std::string& meta = "") {
    RecordHeader h;
    h.format = fmt;
    h.type = type;
    h.sequence = ++seq_;
    if (type != RecordType::kChunk) h.version = Version{seq_ << 16, 1};
    std::string rec;
    AppendRecord(h, key, meta, value, kSalt, end_, &rec);
    EXPECT_TRUE(file_->PWrite(end_, rec).ok());
    uint64_t at = end_;
    end_ += rec.size();
    return at;
  }

  std::vector<ScanEvent> ScanAll(LogScanner* s, std::vector<std::string>* keys) {
    std::vector<ScanEvent> evs;
    ScanEvent ev;
    for (;;) {
      auto more = s->Next(&ev);
      EXPECT_TRUE(more.ok());
      if (!more.ok() || !*more) break;
      if (ev.kind == ScanEvent::Kind::kRecord) keys->push_back(std::string(ev.key));
      evs.push_back(ev);
    }
    return evs;
  }

  static constexpr uint64_t kCap = 8 << 20;
  MemEnv env_;
  std::unique_ptr<File> file_;
  uint64_t end_ = kStart;
  uint64_t seq_ = 0;
};

TEST_F(LogScannerTest, ValidRecordsThenZeroTail) {
  Add("a", "1");
  Add("b", std::string(5000, 'x'));
  Add("c", "");
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "b", "c"}), keys);
  EXPECT_EQ(3u, evs.size());
  EXPECT_EQ(end_, s.last_valid_end());
  EXPECT_EQ(0u, s.tail_garbage_bytes());  // a zero-filled preallocated tail is not torn
}

TEST_F(LogScannerTest, TornHeaderAtTailIsCountedNotReturned) {
  Add("a", "1");
  uint64_t good_end = end_;
  // Half a header: magic and a few bytes, the rest zero.
  const std::string torn("\xc3\xa1\x52\x4e\x01\x01\x01\x00\x09", 9);
  ASSERT_TRUE(file_->PWrite(end_, torn).ok());
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ(1u, keys.size());
  EXPECT_EQ(good_end, s.last_valid_end());
  EXPECT_EQ(8u + 8u, s.tail_garbage_bytes());  // two 8-byte steps held non-zero bytes
}

TEST_F(LogScannerTest, TornBodyAtTail) {
  Add("a", "1");
  uint64_t good_end = end_;
  uint64_t at = Add("b", std::string(3000, 'y'));
  // Lose the last 1000 bytes of the value (as if those sectors never reached the disk).
  ASSERT_TRUE(file_->PWrite(end_ - 1000, std::string(1000, '\0')).ok());
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  ScanAll(&s, &keys);
  EXPECT_EQ(std::vector<std::string>{"a"}, keys);
  EXPECT_EQ(good_end, s.last_valid_end());
  EXPECT_GT(s.tail_garbage_bytes(), 1000u);
  EXPECT_EQ(at, good_end);
}

// Hole punching (docs/design.md, "Reclamation") releases a dead record's whole blocks and keeps
// its head: the scanner steps over it as a punched record. The same bytes zeroed without a hole
// (a torn write) are not punched: they are a bad region.
TEST_F(LogScannerTest, APunchedRecordIsSteppedOverAndZerosWithoutAHoleAreNot) {
  Add("a", "1");
  const uint64_t dead = Add("b", std::string(3 * 4096, 'p'));
  const uint64_t dead_len = end_ - dead;
  Add("c", "3");
  const uint64_t head = RecordHeaderSize(format::kRecordFormat) + 1;
  const PunchRange r = PunchableRange(dead, head, dead_len);
  ASSERT_GT(r.bytes(), 0u);
  ASSERT_TRUE(file_->PunchHole(r.begin, r.bytes()).ok());
  {
    LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
    std::vector<std::string> keys;
    auto evs = ScanAll(&s, &keys);
    EXPECT_EQ((std::vector<std::string>{"a", "c"}), keys);
    ASSERT_EQ(3u, evs.size());
    EXPECT_EQ(ScanEvent::Kind::kPunched, evs[1].kind);
    EXPECT_EQ(dead, evs[1].offset);
    EXPECT_EQ(dead_len, evs[1].length);
    EXPECT_EQ("b", evs[1].key);
  }
  // Written back as zeros (allocated again): no hole, so a damaged record in the middle.
  ASSERT_TRUE(file_->PWrite(r.begin, std::string(r.bytes(), '\0')).ok());
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "c"}), keys);
  ASSERT_EQ(3u, evs.size());
  EXPECT_EQ(ScanEvent::Kind::kBadRegion, evs[1].kind);
}

TEST_F(LogScannerTest, CorruptRecordInMiddleIsReportedAndSkipped) {
  Add("a", "1");
  uint64_t bad = Add("b", std::string(100, 'z'));
  uint64_t bad_end = end_;
  Add("c", "3");
  // Flip one value byte of "b".
  char byte;
  size_t got;
  ASSERT_TRUE(file_->PRead(bad + 60, 1, &byte, &got).ok());
  byte ^= 0x40;
  ASSERT_TRUE(file_->PWrite(bad + 60, std::string_view(&byte, 1)).ok());
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "c"}), keys);
  ASSERT_EQ(3u, evs.size());
  EXPECT_EQ(ScanEvent::Kind::kBadRegion, evs[1].kind);
  EXPECT_EQ(bad, evs[1].offset);
  EXPECT_EQ(bad_end - bad, evs[1].length);
  EXPECT_FALSE(evs[1].zero);
}

TEST_F(LogScannerTest, ZeroGapBetweenRecordsIsAnUnfinishedWrite) {
  Add("a", "1");
  uint64_t gap = end_;
  end_ += 4096;  // a reservation whose writer never wrote
  Add("b", "2");
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "b"}), keys);
  ASSERT_EQ(3u, evs.size());
  EXPECT_TRUE(evs[1].zero);
  EXPECT_EQ(gap, evs[1].offset);
  EXPECT_EQ(4096u, evs[1].length);
}

TEST_F(LogScannerTest, GapLimitStopsTheScan) {
  Add("a", "1");
  end_ += 200 << 10;  // further than the gap limit
  Add("far", "2");
  LogScanner s(file_.get(), kSalt, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  ScanAll(&s, &keys);
  EXPECT_EQ(std::vector<std::string>{"a"}, keys);
  LogScanner all(file_.get(), kSalt, kStart, kCap, LogScanner::kNoGapLimit);
  keys.clear();
  ScanAll(&all, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "far"}), keys);
}

// Issue 15: a volume of an upgraded store holds format-1 records, then format-2 ones.
TEST_F(LogScannerTest, Issue15Format1AndFormat2RecordsInOneVolume) {
  Add("old", "one", format::kRecordFormat1);
  Add("old-tomb", "", format::kRecordFormat1, RecordType::kTombstone);
  Add("new", "two", format::kRecordFormat2, RecordType::kValue, std::string("\x01\x01\x00\x01\x00t", 6));
  Add("x", "", format::kRecordFormat1);  // a 48-byte record at the very end of the region
  LogScanner s(file_.get(), kSalt, kStart, end_, LogScanner::kNoGapLimit);
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ((std::vector<std::string>{"old", "old-tomb", "new", "x"}), keys);
  ASSERT_EQ(4u, evs.size());
  EXPECT_EQ(format::kRecordFormat1, evs[0].header.format);
  EXPECT_EQ(format::kRecordFormat2, evs[2].header.format);
  EXPECT_EQ(6u, evs[2].meta.size());
  EXPECT_EQ(end_, s.last_valid_end());
}

// The change feed's mode: chunks are returned from their head, their values not read, even one
// whose value is torn (the feed lists objects, and a chunk's length is in its head).
TEST_F(LogScannerTest, Issue15SkipChunksStepsOverChunksWithoutReadingThem) {
  Add("a", "1");
  Add("big", std::string(2 << 20, 'c'), format::kRecordFormat, RecordType::kChunk);
  uint64_t torn = Add("big", std::string(2 << 20, 'd'), format::kRecordFormat, RecordType::kChunk);
  ASSERT_TRUE(file_->PWrite(torn + 100000, std::string(1000, '\0')).ok());
  Add("big", std::string(2 << 20, 'e'), format::kRecordFormat, RecordType::kChunk);
  Add("b", "2");
  LogScanner s(file_.get(), kSalt, kStart, end_, LogScanner::kNoGapLimit);
  s.SkipChunks();
  std::vector<std::string> keys;
  auto evs = ScanAll(&s, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "big", "big", "big", "b"}), keys);
  ASSERT_EQ(5u, evs.size());
  for (int i = 1; i <= 3; i++) {
    EXPECT_EQ(RecordType::kChunk, evs[i].header.type);
    EXPECT_TRUE(evs[i].value.empty());
    EXPECT_EQ(2u << 20, evs[i].header.value_len);
  }
  EXPECT_EQ(end_, s.last_valid_end());
  // The first read window (1 MiB) and the heads: not the 6 MiB of chunk values.
  EXPECT_LT(s.bytes_read(), 2u << 20) << "the chunks' values were read";
  // Without the mode, the torn chunk is a bad region and the others are records.
  LogScanner all(file_.get(), kSalt, kStart, end_, LogScanner::kNoGapLimit);
  keys.clear();
  evs = ScanAll(&all, &keys);
  EXPECT_EQ((std::vector<std::string>{"a", "big", "big", "b"}), keys);
  EXPECT_EQ(ScanEvent::Kind::kBadRegion, evs[2].kind);
}

TEST_F(LogScannerTest, RecordFromAnotherVolumeNeverValidates) {
  Add("a", "1");
  LogScanner s(file_.get(), kSalt + 1, kStart, kCap, 64 << 10);
  std::vector<std::string> keys;
  ScanAll(&s, &keys);
  EXPECT_TRUE(keys.empty());
  EXPECT_GT(s.tail_garbage_bytes(), 0u);
}

}  // namespace
}  // namespace cairn
