// ObjectService without a transport: its checks, the PUT path it chooses, and the GET bodies it
// hands out, over a LocalObjectStore (pins) and over a store that cannot pin (readers, ranges
// in memory or read twice).
#include "service/object_service.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "cairn/local_object_store.h"
#include "util/crc32c.h"

namespace cairn::service {
namespace {

// An ObjectStore in memory that cannot pin: the ObjectService must stream from its readers.
class MemoryStore final : public ObjectStore {
 public:
  Result<WriteResult> Put(std::string_view key, std::string_view value,
                          const WriteOptions&) override {
    ObjectInfo& i = objects_[std::string(key)].first;
    i.key = key;
    i.size = value.size();
    i.crc32c = crc32c::Value(value);
    i.version = Version{++clock_, 1};
    objects_[std::string(key)].second = value;
    return WriteResult{i.version, clock_, i.size, i.crc32c};
  }
  Result<WriteResult> PutStream(std::string_view, ValueSource*, const WriteOptions&) override {
    return Status::NotSupported("test");
  }
  Result<GetResult> Get(std::string_view key, const ByteRange& range) override {
    gets++;
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return Status::NotFound("no such key");
    if (range.offset > it->second.first.size) return Status::InvalidArgument("past the end");
    GetResult g;
    g.info = it->second.first;
    g.range_offset = range.offset;
    g.data = it->second.second.substr(range.offset, range.length);
    return g;
  }
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key,
                                                   const ByteRange& range) override {
    readers++;
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return Status::NotFound("no such key");
    if (range.offset > it->second.first.size) return Status::InvalidArgument("past the end");
    struct Reader final : ObjectReader {
      ObjectInfo i;
      std::string bytes;
      size_t pos = 0;
      const ObjectInfo& info() const override { return i; }
      Result<size_t> Read(char* buf, size_t n) override {
        n = std::min(n, bytes.size() - pos);
        std::memcpy(buf, bytes.data() + pos, n);
        pos += n;
        return n;
      }
    };
    auto r = std::make_unique<Reader>();
    r->i = it->second.first;
    r->bytes = it->second.second.substr(range.offset, range.length);
    return std::unique_ptr<ObjectReader>(std::move(r));
  }
  Result<ObjectInfo> Head(std::string_view key) override {
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return Status::NotFound("no such key");
    return it->second.first;
  }
  Result<WriteResult> Delete(std::string_view, const WriteOptions&) override {
    return Status::NotSupported("test");
  }
  Result<ListResult> List(const ListOptions& lo) override {
    last_limit = lo.limit;
    return ListResult();
  }
  Result<StoreStats> Stats() override { return StoreStats(); }

  int gets = 0;
  int readers = 0;
  uint32_t last_limit = 0;

 private:
  std::map<std::string, std::pair<ObjectInfo, std::string>> objects_;
  uint64_t clock_ = 0;
};

std::string ReadAll(ObjectReader* r) {
  std::string out, buf(1000, '\0');
  for (;;) {
    Result<size_t> n = r->Read(buf.data(), buf.size());
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) return out;
    out.append(buf.data(), *n);
  }
}

TEST(ObjectService, ChecksBeforeTheBody) {
  MemoryStore m;
  ServiceLimits l;
  l.max_key_bytes = 10;
  l.max_meta_bytes = 64;
  l.max_object_bytes = 1000;
  ObjectService s(&m, l);
  WriteOptions wo;
  EXPECT_TRUE(s.CheckPut("k", wo, 10).ok());
  EXPECT_TRUE(s.CheckPut("", wo, 10).IsInvalidArgument());
  Status k = s.CheckPut("0123456789a", wo, 10);
  EXPECT_TRUE(k.IsLimitExceeded());
  EXPECT_NE(k.message().find("max_key_bytes"), std::string::npos);
  Status big = s.CheckPut("k", wo, 1001);
  EXPECT_TRUE(big.IsLimitExceeded());
  EXPECT_NE(big.message().find("max_object_bytes"), std::string::npos);
  EXPECT_TRUE(s.CheckPut("k", wo, std::nullopt).ok());  // a chunked body: known at its end
  wo.metadata.user["a"] = std::string(100, 'x');
  Status meta = s.CheckPut("k", wo, 10);
  EXPECT_TRUE(meta.IsLimitExceeded());
  EXPECT_NE(meta.message().find("max_meta_bytes"), std::string::npos);
  WriteOptions cond;
  cond.condition = WriteCondition::kIfMatch;
  EXPECT_TRUE(s.CheckPut("k", cond, 1).IsInvalidArgument());  // if-match needs a version
  cond.condition = WriteCondition::kIfNewer;
  EXPECT_TRUE(s.CheckDelete("k", cond).IsInvalidArgument());
  cond.version = Version{1, 1};
  EXPECT_TRUE(s.CheckDelete("k", cond).ok());
}

TEST(ObjectService, OneDecisionForThePutPath) {
  MemoryStore m;
  ServiceLimits l;
  l.max_buffered_body_bytes = 100;
  ObjectService s(&m, l);
  EXPECT_EQ(s.ChoosePutPath(0), PutPath::kLoop);
  EXPECT_EQ(s.ChoosePutPath(100), PutPath::kLoop);
  EXPECT_EQ(s.ChoosePutPath(101), PutPath::kStream);
  EXPECT_EQ(s.ChoosePutPath(std::nullopt), PutPath::kStream);
  // A store that cannot write without blocking says Busy: the transport uses Put instead.
  Status st = s.PutOnLoop("k", "v", WriteOptions(), [](Result<WriteResult>) { std::abort(); });
  EXPECT_TRUE(st.IsBusy());
  EXPECT_TRUE(s.Put("k", "v", WriteOptions()).ok());
}

TEST(ObjectService, ListLimitsAreTheServersAndZeroMeansTheDefault) {
  MemoryStore m;
  ServiceLimits l;
  l.max_list_limit = 50;
  ObjectService s(&m, l);
  Status over = s.List(ListOptions{.limit = 51}).status();
  EXPECT_TRUE(over.IsLimitExceeded());
  EXPECT_NE(over.message().find("max_list_limit"), std::string::npos);
  ASSERT_TRUE(s.List(ListOptions{}).ok());
  EXPECT_EQ(m.last_limit, 50u);  // the default (1000) capped by max_list_limit
  EXPECT_TRUE(s.List(ListOptions{.prefix = std::string(kMaxKeyBytes + 1, 'p')})
                  .status()
                  .IsLimitExceeded());
}

TEST(ObjectService, AStoreThatCannotPinStreamsFromReaders) {
  MemoryStore m;
  ServiceLimits l;
  l.max_buffered_body_bytes = 100;
  ObjectService s(&m, l);
  std::string v(1000, '\0');
  for (size_t i = 0; i < v.size(); i++) v[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(m.Put("k", v, WriteOptions()).ok());
  EXPECT_FALSE(s.TryGetOnLoop("k", ByteRange()).has_value());  // no pin without waiting

  // The whole object: a reader, with the stored CRC.
  GetOutcome whole = s.Get("k", ByteRange());
  ASSERT_TRUE(whole.status.ok()) << whole.status.ToString();
  ASSERT_NE(whole.reader, nullptr);
  EXPECT_EQ(whole.length, 1000u);
  EXPECT_EQ(whole.crc, crc32c::Value(v));
  EXPECT_EQ(ReadAll(whole.reader.get()), v);

  // A small range: in memory, with its own CRC.
  GetOutcome small = s.Get("k", ByteRange{10, 50});
  ASSERT_TRUE(small.status.ok());
  ASSERT_NE(small.bytes, nullptr);
  EXPECT_EQ(small.bytes->data, v.substr(10, 50));
  EXPECT_EQ(small.crc, crc32c::Value(v.substr(10, 50)));
  EXPECT_EQ(small.info().size, 1000u);

  // A range over max_buffered_body_bytes: read twice (CRC first), streamed the second time.
  const int readers = m.readers;
  GetOutcome large = s.Get("k", ByteRange{200, 700});
  ASSERT_TRUE(large.status.ok());
  ASSERT_NE(large.reader, nullptr);
  EXPECT_EQ(m.readers - readers, 2);
  EXPECT_EQ(large.offset, 200u);
  EXPECT_EQ(large.length, 700u);
  EXPECT_EQ(large.crc, crc32c::Value(v.substr(200, 700)));
  EXPECT_EQ(ReadAll(large.reader.get()), v.substr(200, 700));

  EXPECT_TRUE(s.Get("k", ByteRange{1001, 1}).status.IsInvalidArgument());
  EXPECT_TRUE(s.Get("missing", ByteRange()).status.IsNotFound());
  EXPECT_TRUE(s.Get("", ByteRange()).status.IsInvalidArgument());
}

TEST(ObjectService, ALocalStorePinsAndChecksRanges) {
  char tmpl[] = "/tmp/cairn-service-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  {
    StoreOptions so;
    so.volume_capacity = 16 << 20;
    so.background_reclaim = false;
    Result<std::unique_ptr<LocalObjectStore>> local = LocalObjectStore::Open(dir, so);
    ASSERT_TRUE(local.ok()) << local.status().ToString();
    ObjectService s(local->get(), ServiceLimits());
    const std::string v(10000, 'v');
    ASSERT_TRUE(s.Put("k", v, WriteOptions()).ok());
    GetOutcome o = s.Get("k", ByteRange{100, 50});
    ASSERT_TRUE(o.status.ok()) << o.status.ToString();
    ASSERT_NE(o.pin, nullptr);
    EXPECT_EQ(o.crc, crc32c::Value(v.substr(100, 50)));
    GetOutcome whole = s.Get("k", ByteRange());
    ASSERT_NE(whole.pin, nullptr);
    EXPECT_EQ(whole.crc, crc32c::Value(v));
    Status past = s.Get("k", ByteRange{10001, 1}).status;
    EXPECT_TRUE(past.IsInvalidArgument());
    EXPECT_NE(past.message().find("past the end"), std::string::npos);
    // On the loop: a range is never served there, a missing key is certain.
    EXPECT_FALSE(s.TryGetOnLoop("k", ByteRange{1, 2}).has_value());
    std::optional<GetOutcome> nf = s.TryGetOnLoop("missing", ByteRange());
    if (nf.has_value()) {
      EXPECT_TRUE(nf->status.IsNotFound());
    }
    ASSERT_TRUE((*local)->Close().ok());
  }
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace cairn::service
