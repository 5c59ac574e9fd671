// An object of more than 4 GiB goes in and comes out through the streaming API, every byte
// checked, with memory that does not grow with the object (issue 2: "values 0 bytes up to at
// least 4 GiB ... no whole large value is ever held in RAM").
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "cairn/store.h"
#include "test_util.h"

namespace cairn {
namespace {

// The byte stream under test: 8-byte words that depend on their position only, so any window
// can be regenerated without keeping the object.
uint64_t WordAt(uint64_t index) {
  uint64_t z = index + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
void Fill(uint64_t offset, char* buf, size_t n) {
  size_t i = 0;
  for (; i < n && (offset + i) % 8 != 0; i++)
    buf[i] = static_cast<char>(WordAt((offset + i) / 8) >> (8 * ((offset + i) % 8)));
  for (; i + 8 <= n; i += 8) {
    uint64_t w = WordAt((offset + i) / 8);
    std::memcpy(buf + i, &w, 8);  // little-endian: byte k of the word is byte pos%8 == k
  }
  for (; i < n; i++)
    buf[i] = static_cast<char>(WordAt((offset + i) / 8) >> (8 * ((offset + i) % 8)));
}

uint64_t RssKiB() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

class Generator : public ValueSource {
 public:
  explicit Generator(uint64_t size) : size_(size) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
    Fill(pos_, buf, k);
    pos_ += k;
    return k;
  }

 private:
  uint64_t size_, pos_ = 0;
};

TEST(LargeObject, MoreThanFourGiBStreamsInAndOutWithBoundedMemory) {
  const uint64_t size = (uint64_t{4} << 30) + 1;
  test::TempDir d;
  StoreOptions o;  // default 1 GiB volumes: the object spans five of them
  o.durability = Durability::kNone;  // one sync at the end; this test is about size, not sync
  o.info_log = [](const std::string&) {};
  auto s = Store::Open(d.path(), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const uint64_t rss_before = RssKiB();
  Generator gen(size);
  ASSERT_TRUE((*s)->PutStream("huge", &gen).ok());
  ASSERT_TRUE((*s)->Sync().ok());
  auto head = (*s)->Head("huge");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(size, head->size);

  auto r = (*s)->OpenReader("huge");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string got(1 << 20, '\0'), want(1 << 20, '\0');
  uint64_t pos = 0;
  for (;;) {
    auto n = (*r)->Read(got.data(), got.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    Fill(pos, want.data(), *n);
    ASSERT_EQ(0, std::memcmp(got.data(), want.data(), *n)) << "at byte " << pos;
    pos += *n;
  }
  EXPECT_EQ(size, pos);
  // Memory: a chunk or two (4 MiB each) plus buffers, not gigabytes.
  EXPECT_LT(RssKiB(), rss_before + 64 * 1024) << "RSS grew with the object";
  auto st = (*s)->Stats();
  EXPECT_GE(st->volumes, 5u);
}

}  // namespace
}  // namespace cairn
