#include "cli/backend.h"

#include <fmt/format.h>

#include "cairn/client.h"
#include "cli/escape.h"

namespace cairn::cli {
namespace {

class LocalBackend final : public Backend {
 public:
  LocalBackend(const Context& ctx, std::unique_ptr<Store> store)
      : ctx_(ctx), store_(std::move(store)) {}

  Result<ObjectInfo> Put(std::string_view key, ValueSource* src) override {
    CAIRN_RETURN_IF_ERROR(store_->PutStream(key, src));
    Result<ObjectInfo> info = store_->Head(key);
    if (!info.ok()) return info.status().WithContext("head after put");
    return info;
  }
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key) override {
    return store_->OpenReader(key);
  }
  Result<ObjectInfo> Head(std::string_view key) override { return store_->Head(key); }
  Status Delete(std::string_view key) override { return store_->Delete(key); }
  Result<ScanResult> Scan(std::string_view prefix, std::string_view start_after,
                          size_t limit) override {
    return store_->Scan(prefix, start_after, limit);
  }
  Result<StoreStats> Stats(Json* extra) override {
    *extra = nullptr;
    return store_->Stats();
  }
  Outcome Close() override { return CloseStore(ctx_, store_.get()); }
  std::string Where() const override {
    return fmt::format("store:           {}", OneLine(ctx_.store_dir));
  }

 private:
  const Context& ctx_;
  std::unique_ptr<Store> store_;
};

class RemoteBackend final : public Backend {
 public:
  RemoteBackend(const Context& ctx, std::unique_ptr<Client> client)
      : ctx_(ctx), client_(std::move(client)) {
    wo_.durability = ctx_.remote_durability;
  }

  Result<ObjectInfo> Put(std::string_view key, ValueSource* src) override {
    Result<PutResult> r = client_->PutStream(key, src, wo_);
    if (!r.ok()) return Explain(r.status());
    ObjectInfo info;
    info.key.assign(key);
    info.size = r->size;
    info.crc32c = r->crc32c;
    info.sequence = r->sequence;
    return info;
  }
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key) override {
    Result<std::unique_ptr<ObjectReader>> r = client_->OpenReader(key);
    if (!r.ok()) return Explain(r.status());
    return r;
  }
  Result<ObjectInfo> Head(std::string_view key) override {
    Result<ObjectInfo> r = client_->Head(key);
    if (!r.ok()) return Explain(r.status());
    return r;
  }
  Status Delete(std::string_view key) override { return Explain(client_->Delete(key, wo_)); }
  Result<ScanResult> Scan(std::string_view prefix, std::string_view start_after,
                          size_t limit) override {
    ListOptions lo;
    lo.prefix.assign(prefix);
    lo.start_after.assign(start_after);
    lo.limit = static_cast<uint32_t>(std::min<size_t>(limit, 10000));
    if (lo.limit == 0) return ScanResult{{}, true};
    Result<ScanResult> r = client_->List(lo);
    if (!r.ok()) return Explain(r.status());
    return r;
  }
  Result<StoreStats> Stats(Json* extra) override {
    Result<std::string> text = client_->Stat();
    if (!text.ok()) return Explain(text.status());
    Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return Status::IOError("the server's statistics are not a JSON object");
    *extra = j.contains("server") ? j["server"] : Json(nullptr);
    return StatsFromJson(j);
  }
  Outcome Close() override {
    client_.reset();
    return Outcome::Ok();
  }
  std::string Where() const override {
    return fmt::format("server:          {}", OneLine(ctx_.server));
  }

 private:
  // A server that cannot be reached gets a hint; the rest speaks for itself.
  Status Explain(const Status& s) const {
    if (s.IsIOError() && s.message().starts_with("cannot connect"))
      return Status::IOError(s.message() + " (is cairnd running there? see --server)");
    return s;
  }

  const Context& ctx_;
  std::unique_ptr<Client> client_;
  WriteOptions wo_;
};

template <typename T>
Status Field(const Json& j, const char* name, T* out) {
  if (!j.contains(name)) return Status::OK();
  const Json& v = j[name];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return Status::IOError(fmt::format("stat: \"{}\" is not a boolean", name));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return Status::IOError(fmt::format("stat: \"{}\" is not a string", name));
  } else {
    if (!v.is_number_unsigned() && !v.is_number_integer())
      return Status::IOError(fmt::format("stat: \"{}\" is not a number", name));
  }
  *out = v.get<T>();
  return Status::OK();
}

}  // namespace

Result<StoreStats> StatsFromJson(const Json& j) {
  StoreStats s;
  CAIRN_RETURN_IF_ERROR(Field(j, "objects", &s.objects));
  CAIRN_RETURN_IF_ERROR(Field(j, "logical_bytes", &s.logical_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "live_bytes", &s.live_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "dead_bytes", &s.dead_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "volumes", &s.volumes));
  CAIRN_RETURN_IF_ERROR(Field(j, "volume_capacity", &s.volume_capacity));
  CAIRN_RETURN_IF_ERROR(Field(j, "allocated_bytes", &s.allocated_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_allocated_bytes", &s.index_allocated_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_memory_bytes", &s.index_memory_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "next_sequence", &s.next_sequence));
  CAIRN_RETURN_IF_ERROR(Field(j, "read_only", &s.read_only));
  CAIRN_RETURN_IF_ERROR(Field(j, "read_only_reason", &s.read_only_reason));
  CAIRN_RETURN_IF_ERROR(Field(j, "reclaimable_bytes", &s.reclaimable_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "reclaimed_bytes", &s.reclaimed_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "compactions", &s.compactions));
  if (j.contains("volume_list") && j["volume_list"].is_array()) {
    for (const Json& jv : j["volume_list"]) {
      VolumeStats v;
      CAIRN_RETURN_IF_ERROR(Field(jv, "id", &v.id));
      CAIRN_RETURN_IF_ERROR(Field(jv, "state", &v.state));
      CAIRN_RETURN_IF_ERROR(Field(jv, "capacity", &v.capacity));
      CAIRN_RETURN_IF_ERROR(Field(jv, "end", &v.end));
      CAIRN_RETURN_IF_ERROR(Field(jv, "live_bytes", &v.live_bytes));
      CAIRN_RETURN_IF_ERROR(Field(jv, "dead_bytes", &v.dead_bytes));
      CAIRN_RETURN_IF_ERROR(Field(jv, "live_records", &v.live_records));
      CAIRN_RETURN_IF_ERROR(Field(jv, "reclaimable_bytes", &v.reclaimable_bytes));
      CAIRN_RETURN_IF_ERROR(Field(jv, "reclaimed_bytes", &v.reclaimed_bytes));
      s.volume_list.push_back(std::move(v));
    }
  }
  return s;
}

Outcome OpenBackend(const Context& ctx, OpenMode mode, std::unique_ptr<Backend>* out) {
  if (ctx.server.empty()) {
    std::unique_ptr<Store> store;
    if (Outcome o = OpenStore(ctx, mode, &store); !o.ok()) return o;
    *out = std::make_unique<LocalBackend>(ctx, std::move(store));
    return Outcome::Ok();
  }
  ClientOptions co;
  if (Status s = ParseServerAddress(ctx.server, &co.host, &co.port); !s.ok())
    return Outcome::Usage(s.message() + " (--server or CAIRN_SERVER)");
  co.connections = 1;
  Result<std::unique_ptr<Client>> client = Client::Create(co);
  if (!client.ok()) return Outcome::Error(client.status().message());
  *out = std::make_unique<RemoteBackend>(ctx, std::move(*client));
  return Outcome::Ok();
}

}  // namespace cairn::cli
