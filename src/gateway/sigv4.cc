#include "gateway/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "util/check.h"

namespace cairn::gateway {

// ---- Digests -------------------------------------------------------------------------------
//
// OpenSSL 3 looks an algorithm up by name, under a lock, on every EVP_sha256() digest and every
// HMAC() call (measured here: SHA-256 of 200 bytes 1.14 us with EVP_sha256(), 0.36 us with a
// digest fetched once; HMAC() 2.2 us, a copy of a prepared context 1.5 us). A signed request
// costs one digest and, with the signing key cached (SigningKey), one HMAC: both use objects
// fetched once here and shared read-only by every thread.
//
// Each thread also keeps one digest context and one HMAC context and reuses them: creating or
// copying a context costs several mallocs and frees (an HMAC context holds three digest
// contexts), a few percent of cairnd's CPU per presigned GET (issue 13). The HMAC context
// remembers its key, so the next HMAC with the same key (the signing key of the day, the
// common case) only resets it.

namespace {
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    CAIRN_CHECK(m != nullptr);
    return m;
  }();
  return md;
}

// An HMAC-SHA256 context with its digest set and no key: each call copies it and keys the copy.
const EVP_MAC_CTX* HmacTemplate() {
  static EVP_MAC_CTX* const t = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    CAIRN_CHECK(mac != nullptr);
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context holds its own reference
    CAIRN_CHECK(c != nullptr);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    CAIRN_CHECK(EVP_MAC_CTX_set_params(c, params) == 1);
    return c;
  }();
  return t;
}
}  // namespace

namespace {
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// This thread's digest context (reinitialised by each use).
EVP_MD_CTX* ThreadDigestCtx() {
  thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxFree> c(EVP_MD_CTX_new());
  CAIRN_CHECK(c != nullptr);
  return c.get();
}

// This thread's HMAC context and the key it was last initialised with.
struct ThreadHmac {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx{EVP_MAC_CTX_dup(HmacTemplate())};
  std::string key;
  bool keyed = false;
  ~ThreadHmac() { OPENSSL_cleanse(key.data(), key.size()); }
};
}  // namespace

std::string Sha256(std::string_view data) {
  EVP_MD_CTX* c = ThreadDigestCtx();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  CAIRN_CHECK(EVP_DigestInit_ex(c, Sha256Md(), nullptr) == 1 &&
              EVP_DigestUpdate(c, data.data(), data.size()) == 1 &&
              EVP_DigestFinal_ex(c, md, &n) == 1);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  thread_local ThreadHmac h;
  CAIRN_CHECK(h.ctx != nullptr);
  bool ok;
  if (h.keyed && key == h.key) {
    // The same key as last time: a null key resets the context to its keyed initial state.
    ok = EVP_MAC_init(h.ctx.get(), nullptr, 0, nullptr) == 1;
  } else {
    h.keyed = false;
    ok = EVP_MAC_init(h.ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                      nullptr) == 1;
    if (ok) {
      OPENSSL_cleanse(h.key.data(), h.key.size());
      h.key.assign(key);
      h.keyed = true;
    }
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t n = 0;
  ok = ok &&
       EVP_MAC_update(h.ctx.get(), reinterpret_cast<const unsigned char*>(data.data()),
                      data.size()) == 1 &&
       EVP_MAC_final(h.ctx.get(), md, &n, sizeof(md)) == 1;
  if (!ok) h.keyed = false;
  CAIRN_CHECK(ok);
  return std::string(reinterpret_cast<char*>(md), n);
}

std::string Hex(std::string_view raw) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(raw.size() * 2, '\0');
  for (size_t i = 0; i < raw.size(); i++) {
    const auto b = static_cast<unsigned char>(raw[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool Unhex(std::string_view hex, std::string* raw) {
  if (hex.size() % 2 != 0) return false;
  raw->clear();
  raw->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int a = HexValue(hex[i]), b = HexValue(hex[i + 1]);
    if (a < 0 || b < 0) return false;
    raw->push_back(static_cast<char>(a * 16 + b));
  }
  return true;
}

std::string Base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()),
                          static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool Unbase64(std::string_view text, std::string* raw) {
  if (text.size() % 4 != 0) return false;
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size()) return false;
      pad++;
    } else if (pad > 0 || kAlphabet.find(c) == std::string_view::npos) {
      return false;
    }
  }
  raw->assign(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw->data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  raw->resize(static_cast<size_t>(n) - pad);
  return true;
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  CAIRN_CHECK(ctx_ != nullptr);
  CAIRN_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), Sha256Md(), nullptr) == 1);
}
Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256Stream::Update(const char* p, size_t n) {
  CAIRN_CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), p, n) == 1);
}
std::string Sha256Stream::Final() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  CAIRN_CHECK(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &n) == 1);
  CAIRN_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), Sha256Md(), nullptr) == 1);
  return std::string(reinterpret_cast<char*>(md), n);
}

// ---- Encoding ------------------------------------------------------------------------------

namespace {

// UriEncode, appended to `out` (the canonical request is built in one string, issue 13).
void AppendUriEncoded(std::string* out, std::string_view s, bool keep_slash) {
  static const char* kDigits = "0123456789ABCDEF";
  // The unreserved bytes: A-Z a-z 0-9 - . _ ~
  static constexpr std::array<bool, 256> kUnreserved = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; c++)
      t[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '.' || c == '_' || c == '~';
    return t;
  }();
  auto kept = [keep_slash](unsigned char c) { return kUnreserved[c] || (c == '/' && keep_slash); };
  // Runs of kept bytes are appended whole.
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && kept(static_cast<unsigned char>(s[j]))) j++;
    out->append(s.data() + i, j - i);
    if (j == s.size()) break;
    const auto c = static_cast<unsigned char>(s[j]);
    const char esc[3] = {'%', kDigits[c >> 4], kDigits[c & 15]};
    out->append(esc, 3);
    i = j + 1;
  }
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  AppendUriEncoded(&out, s, keep_slash);
  return out;
}

bool UriDecode(std::string_view s, std::string* out) {
  out->clear();
  out->reserve(s.size());
  // The runs between escapes are copied whole (a presigned URL's query is mostly such runs).
  while (!s.empty()) {
    const size_t pct = s.find('%');
    out->append(s.substr(0, pct));
    if (pct == std::string_view::npos) break;
    if (pct + 2 >= s.size()) return false;
    int a = HexValue(s[pct + 1]), b = HexValue(s[pct + 2]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<char>(a * 16 + b));
    s.remove_prefix(pct + 3);
  }
  return true;
}

bool ParseQuery(std::string_view query, std::vector<std::pair<std::string, std::string>>* out) {
  out->clear();
  out->reserve(static_cast<size_t>(std::count(query.begin(), query.end(), '&')) + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string name, value;
    if (!UriDecode(part.substr(0, eq), &name)) return false;
    if (eq != std::string_view::npos && !UriDecode(part.substr(eq + 1), &value)) return false;
    out->emplace_back(std::move(name), std::move(value));
  }
  return true;
}

// ---- Canonical request ---------------------------------------------------------------------

namespace {

// Appends `v` trimmed, with runs of spaces collapsed (SigV4's "Trimall").
void AppendTrimAll(std::string* out, std::string_view v) {
  bool space = false;
  bool any = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = any;
      continue;
    }
    if (space) out->push_back(' ');
    space = false;
    any = true;
    out->push_back(c);
  }
}

char LowerAscii(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Header names compared as their lowercase forms (the order of the canonical headers).
bool LessLower(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return static_cast<unsigned char>(LowerAscii(x)) < static_cast<unsigned char>(LowerAscii(y));
  });
}

}  // namespace

std::string CanonicalRequest(const CanonicalInput& in) {
  // Built in one string: every request authenticates, and the temporaries of each encoded
  // query pair and each header cost a good part of SigV4's CPU (issue 13).
  std::string out;
  out.reserve(512);
  out.append(in.method);
  out.push_back('\n');
  AppendUriEncoded(&out, in.path.empty() ? std::string_view("/") : in.path, /*keep_slash=*/true);
  out.push_back('\n');
  // Query: the pairs encoded into one buffer, then sorted by encoded name, then value.
  std::string enc;
  size_t need = 0;
  for (const auto& [n, v] : in.query) need += n.size() + v.size();
  enc.reserve(need + need / 2);
  std::vector<size_t> ends;  // per pair: end of its name, end of its value, in `enc`
  ends.reserve(2 * in.query.size());
  for (const auto& [n, v] : in.query) {
    AppendUriEncoded(&enc, n, false);
    ends.push_back(enc.size());
    AppendUriEncoded(&enc, v, false);
    ends.push_back(enc.size());
  }
  std::vector<std::pair<std::string_view, std::string_view>> q;
  q.reserve(in.query.size());
  for (size_t i = 0, at = 0; i < in.query.size(); i++) {
    q.emplace_back(std::string_view(enc).substr(at, ends[2 * i] - at),
                   std::string_view(enc).substr(ends[2 * i], ends[2 * i + 1] - ends[2 * i]));
    at = ends[2 * i + 1];
  }
  std::sort(q.begin(), q.end());
  for (size_t i = 0; i < q.size(); i++) {
    if (i > 0) out.push_back('&');
    out.append(q[i].first);
    out.push_back('=');
    out.append(q[i].second);
  }
  out.push_back('\n');
  // Headers: lowercase names in order, values of repeated headers joined by ',' in the order
  // received.
  struct Header {
    std::string_view name, value;
    size_t index;  // in the input: the order of a repeated header's values
  };
  std::vector<Header> h;
  h.reserve(in.headers.size());
  for (const auto& [n, v] : in.headers) h.push_back({n, v, h.size()});
  std::sort(h.begin(), h.end(), [](const Header& a, const Header& b) {
    if (LessLower(a.name, b.name)) return true;
    if (LessLower(b.name, a.name)) return false;
    return a.index < b.index;
  });
  auto same = [](std::string_view a, std::string_view b) {
    return !LessLower(a, b) && !LessLower(b, a);
  };
  for (size_t i = 0; i < h.size(); i++) {
    if (i > 0 && same(h[i - 1].name, h[i].name)) {
      out.back() = ',';  // replaces the previous value's '\n'
    } else {
      for (char c : h[i].name) out.push_back(LowerAscii(c));
      out.push_back(':');
    }
    AppendTrimAll(&out, h[i].value);
    out.push_back('\n');
  }
  out.push_back('\n');
  for (size_t i = 0; i < h.size(); i++) {
    if (i > 0 && same(h[i - 1].name, h[i].name)) continue;
    if (i > 0) out.push_back(';');
    for (char c : h[i].name) out.push_back(LowerAscii(c));
  }
  out.push_back('\n');
  out.append(in.payload_hash);
  return out;
}

std::string SigningScope(std::string_view date, std::string_view region,
                         std::string_view service) {
  std::string s;
  s.append(date).append("/").append(region).append("/").append(service).append("/aws4_request");
  return s;
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  std::string s;
  s.reserve(kSigV4Algorithm.size() + amz_date.size() + scope.size() + 3 + 64);
  s.append(kSigV4Algorithm).append("\n").append(amz_date).append("\n").append(scope).append("\n");
  s += Hex(Sha256(canonical_request));
  return s;
}

std::string SigningKey(std::string_view secret, std::string_view date, std::string_view region,
                       std::string_view service) {
  // The key changes once a day per access key: four HMACs a request saved by a small cache per
  // thread (named bound: kCachedKeys entries, replaced in turn). An entry holds the secret it
  // was derived from, so a changed secret never meets a stale key.
  constexpr size_t kCachedKeys = 8;
  struct Entry {
    std::string secret, date, region, service, key;
  };
  thread_local std::vector<Entry> cache;
  thread_local size_t next = 0;
  for (const Entry& e : cache)
    if (e.date == date && e.region == region && e.service == service && e.secret == secret)
      return e.key;
  std::string k = HmacSha256("AWS4" + std::string(secret), date);
  k = HmacSha256(k, region);
  k = HmacSha256(k, service);
  k = HmacSha256(k, "aws4_request");
  Entry e{std::string(secret), std::string(date), std::string(region), std::string(service), k};
  if (cache.size() < kCachedKeys) {
    cache.push_back(std::move(e));
  } else {
    cache[next] = std::move(e);
    next = (next + 1) % kCachedKeys;
  }
  return k;
}

std::string Signature(std::string_view signing_key, std::string_view string_to_sign) {
  return Hex(HmacSha256(signing_key, string_to_sign));
}

std::string ChunkStringToSign(std::string_view amz_date, std::string_view scope,
                              std::string_view previous_signature,
                              std::string_view chunk_sha256_hex) {
  std::string s = "AWS4-HMAC-SHA256-PAYLOAD\n";
  s.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  s.append("\n").append(kEmptySha256).append("\n").append(chunk_sha256_hex);
  return s;
}

std::string TrailerStringToSign(std::string_view amz_date, std::string_view scope,
                                std::string_view previous_signature,
                                std::string_view trailer_sha256_hex) {
  std::string s = "AWS4-HMAC-SHA256-TRAILER\n";
  s.append(amz_date).append("\n").append(scope).append("\n").append(previous_signature);
  s.append("\n").append(trailer_sha256_hex);
  return s;
}

// ---- Parsing -------------------------------------------------------------------------------

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Status ParseCredential(std::string_view text, Credential* out) {
  // The access key may not contain '/', the other four fields are fixed: split from the end.
  std::array<std::string_view, 4> parts;
  size_t end = text.size();
  for (std::string_view& part : parts) {
    size_t slash = text.rfind('/', end == 0 ? 0 : end - 1);
    if (slash == std::string_view::npos || end == 0)
      return Status::InvalidArgument("the credential is not ACCESS_KEY/DATE/REGION/s3/aws4_request");
    part = text.substr(slash + 1, end - slash - 1);
    end = slash;
  }
  out->access_key = std::string(text.substr(0, end));
  out->terminal = std::string(parts[0]);
  out->service = std::string(parts[1]);
  out->region = std::string(parts[2]);
  out->date = std::string(parts[3]);
  if (out->access_key.empty()) return Status::InvalidArgument("the credential has no access key");
  if (out->date.size() != 8 || !AllDigits(out->date))
    return Status::InvalidArgument("the credential's date is not YYYYMMDD");
  if (out->region.empty()) return Status::InvalidArgument("the credential has no region");
  if (out->service != "s3")
    return Status::InvalidArgument("the credential's service is '" + out->service.substr(0, 32) +
                                   "', not s3");
  if (out->terminal != "aws4_request")
    return Status::InvalidArgument("the credential does not end in aws4_request");
  return Status::OK();
}

Status ParseSignedHeaders(std::string_view text, std::vector<std::string>* out) {
  out->clear();
  if (text.empty()) return Status::InvalidArgument("SignedHeaders is empty");
  while (!text.empty()) {
    size_t semi = text.find(';');
    std::string_view name = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    if (name.empty()) return Status::InvalidArgument("SignedHeaders has an empty name");
    for (char c : name)
      if (c <= ' ' || c >= 0x7f || (c >= 'A' && c <= 'Z') || c == ':')
        return Status::InvalidArgument("SignedHeaders names must be lowercase tokens");
    if (!out->empty() && name <= out->back())
      return Status::InvalidArgument("SignedHeaders is not sorted, or repeats a name");
    out->emplace_back(name);
  }
  return Status::OK();
}

Status ParseAuthorizationHeader(std::string_view value, SignedRequestAuth* out) {
  value = Trim(value);
  if (!value.starts_with(kSigV4Algorithm) ||
      (value.size() > kSigV4Algorithm.size() && value[kSigV4Algorithm.size()] != ' '))
    return Status::InvalidArgument("the Authorization header is not AWS4-HMAC-SHA256");
  value.remove_prefix(kSigV4Algorithm.size());
  bool have_cred = false, have_signed = false, have_sig = false;
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view part = Trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos)
      return Status::InvalidArgument("the Authorization header has a part without '='");
    std::string_view name = part.substr(0, eq), v = part.substr(eq + 1);
    if (name == "Credential") {
      if (have_cred) return Status::InvalidArgument("Credential appears twice");
      CAIRN_RETURN_IF_ERROR(ParseCredential(v, &out->credential));
      have_cred = true;
    } else if (name == "SignedHeaders") {
      if (have_signed) return Status::InvalidArgument("SignedHeaders appears twice");
      CAIRN_RETURN_IF_ERROR(ParseSignedHeaders(v, &out->signed_headers));
      have_signed = true;
    } else if (name == "Signature") {
      if (have_sig) return Status::InvalidArgument("Signature appears twice");
      if (v.size() != 64 || !IsLowerHex(v))
        return Status::InvalidArgument("the Signature is not 64 lowercase hex digits");
      out->signature = std::string(v);
      have_sig = true;
    } else {
      return Status::InvalidArgument("the Authorization header has an unknown part '" +
                                     std::string(name.substr(0, 32)) + "'");
    }
  }
  if (!have_cred) return Status::InvalidArgument("the Authorization header has no Credential");
  if (!have_signed)
    return Status::InvalidArgument("the Authorization header has no SignedHeaders");
  if (!have_sig) return Status::InvalidArgument("the Authorization header has no Signature");
  return Status::OK();
}

// ---- Signing -------------------------------------------------------------------------------

std::string SignRequest(const SignerKey& key, int64_t now_s, std::string_view method,
                        std::string_view path,
                        const std::vector<std::pair<std::string, std::string>>& query,
                        std::vector<std::pair<std::string, std::string>>* headers,
                        std::string_view payload_hash) {
  const std::string date = FormatAmzDate(now_s);
  headers->emplace_back("x-amz-date", date);
  headers->emplace_back("x-amz-content-sha256", std::string(payload_hash));
  CanonicalInput in;
  in.method = method;
  in.path = path;
  in.query = query;
  in.headers = *headers;
  in.payload_hash = payload_hash;
  std::vector<std::string> names;
  for (const auto& [n, v] : *headers) {
    std::string l = n;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(l);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_list;
  for (const std::string& n : names) signed_list += (signed_list.empty() ? "" : ";") + n;
  const std::string scope = SigningScope(date.substr(0, 8), key.region, "s3");
  const std::string sig =
      Signature(SigningKey(key.secret, date.substr(0, 8), key.region, "s3"),
                StringToSign(date, scope, CanonicalRequest(in)));
  return std::string(kSigV4Algorithm) + " Credential=" + key.access_key + "/" + scope +
         ", SignedHeaders=" + signed_list + ", Signature=" + sig;
}

std::string PresignQuery(const SignerKey& key, int64_t now_s, int64_t expires_s,
                         std::string_view method, std::string_view path, std::string_view host) {
  const std::string date = FormatAmzDate(now_s);
  const std::string scope = SigningScope(date.substr(0, 8), key.region, "s3");
  CanonicalInput in;
  in.method = method;
  in.path = path;
  in.query = {{"X-Amz-Algorithm", std::string(kSigV4Algorithm)},
              {"X-Amz-Credential", key.access_key + "/" + scope},
              {"X-Amz-Date", date},
              {"X-Amz-Expires", std::to_string(expires_s)},
              {"X-Amz-SignedHeaders", "host"}};
  in.headers = {{"host", std::string(host)}};
  in.payload_hash = kUnsignedPayload;
  const std::string sig = Signature(SigningKey(key.secret, date.substr(0, 8), key.region, "s3"),
                                    StringToSign(date, scope, CanonicalRequest(in)));
  std::string q;
  for (const auto& [n, v] : in.query) q += UriEncode(n, false) + "=" + UriEncode(v, false) + "&";
  return q + "X-Amz-Signature=" + sig;
}

// ---- Dates ---------------------------------------------------------------------------------

namespace {

bool Digits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool ToEpoch(int year, int mon, int day, int h, int m, int s, int64_t* out) {
  if (year < 1970 || year > 9999 || mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 ||
      m > 59 || s > 60)
    return false;
  // As timegm normalises (31 Feb is 3 Mar; second 60 the next minute's first), without its
  // time-zone lock: every signed request parses its date (issue 13).
  namespace chrono = std::chrono;
  const chrono::sys_days d = chrono::year(year) / chrono::month(static_cast<unsigned>(mon)) /
                             chrono::day(static_cast<unsigned>(day));
  *out = static_cast<int64_t>(d.time_since_epoch().count()) * 86400 + h * 3600 + m * 60 + s;
  return true;
}

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

int MonthIndex(std::string_view m) {
  for (int i = 0; i < 12; i++)
    if (m == kMonths[i]) return i + 1;
  return 0;
}

}  // namespace

bool ParseAmzDate(std::string_view t, int64_t* seconds) {
  int y, mo, d, h, mi, s;
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z') return false;
  if (!Digits(t, 0, 4, &y) || !Digits(t, 4, 2, &mo) || !Digits(t, 6, 2, &d) ||
      !Digits(t, 9, 2, &h) || !Digits(t, 11, 2, &mi) || !Digits(t, 13, 2, &s))
    return false;
  return ToEpoch(y, mo, d, h, mi, s, seconds);
}

bool ParseHttpDate(std::string_view t, int64_t* seconds) {
  int d, y, h, mi, s;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (t.size() == 29 && t[3] == ',' && t.substr(26) == "GMT") {
    int mo = MonthIndex(t.substr(8, 3));
    if (mo == 0 || !Digits(t, 5, 2, &d) || !Digits(t, 12, 4, &y) || !Digits(t, 17, 2, &h) ||
        !Digits(t, 20, 2, &mi) || !Digits(t, 23, 2, &s) || t[19] != ':' || t[22] != ':')
      return false;
    return ToEpoch(y, mo, d, h, mi, s, seconds);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  size_t comma = t.find(", ");
  if (comma != std::string_view::npos && t.size() == comma + 24 && t.ends_with(" GMT")) {
    std::string_view r = t.substr(comma + 2);
    int mo = MonthIndex(r.substr(3, 3));
    int yy;
    if (mo == 0 || !Digits(r, 0, 2, &d) || !Digits(r, 7, 2, &yy) || !Digits(r, 10, 2, &h) ||
        !Digits(r, 13, 2, &mi) || !Digits(r, 16, 2, &s))
      return false;
    return ToEpoch(yy < 70 ? 2000 + yy : 1900 + yy, mo, d, h, mi, s, seconds);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (t.size() == 24) {
    int mo = MonthIndex(t.substr(4, 3));
    std::string day(t.substr(8, 2));
    if (day[0] == ' ') day[0] = '0';
    if (mo == 0 || !Digits(day, 0, 2, &d) || !Digits(t, 11, 2, &h) || !Digits(t, 14, 2, &mi) ||
        !Digits(t, 17, 2, &s) || !Digits(t, 20, 4, &y))
      return false;
    return ToEpoch(y, mo, d, h, mi, s, seconds);
  }
  return false;
}

std::string FormatHttpDate(int64_t seconds) {
  // Every response carries two of these (Date, Last-Modified on a GET): formatted from the
  // civil date by hand, as gmtime_r takes glibc's time-zone lock and snprintf parses its format
  // on every call (together about 2 % of cairnd's CPU per presigned GET, issue 13).
  namespace chrono = std::chrono;
  const chrono::sys_seconds at{chrono::seconds(seconds)};
  const chrono::sys_days day = chrono::floor<chrono::days>(at);
  const chrono::year_month_day ymd(day);
  const int year = static_cast<int>(ymd.year());
  if (year >= 0 && year <= 9999) {
    const int64_t in_day = (at - day).count();
    char b[29];
    auto two = [](char* p, int v) {
      p[0] = static_cast<char>('0' + v / 10);
      p[1] = static_cast<char>('0' + v % 10);
    };
    std::memcpy(b, kDays[chrono::weekday(day).c_encoding()], 3);
    b[3] = ',';
    b[4] = ' ';
    two(b + 5, static_cast<int>(static_cast<unsigned>(ymd.day())));
    b[7] = ' ';
    std::memcpy(b + 8, kMonths[static_cast<unsigned>(ymd.month()) - 1], 3);
    b[11] = ' ';
    two(b + 12, year / 100);
    two(b + 14, year % 100);
    b[16] = ' ';
    two(b + 17, static_cast<int>(in_day / 3600));
    b[19] = ':';
    two(b + 20, static_cast<int>(in_day / 60 % 60));
    b[22] = ':';
    two(b + 23, static_cast<int>(in_day % 60));
    std::memcpy(b + 25, " GMT", 4);
    return std::string(b, sizeof(b));
  }
  time_t tt = static_cast<time_t>(seconds);
  struct tm t {};
  gmtime_r(&tt, &t);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[t.tm_wday],
                t.tm_mday, kMonths[t.tm_mon], t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
  return buf;
}

std::string FormatIso8601(int64_t micros) {
  time_t tt = static_cast<time_t>(micros / 1000000);
  struct tm t {};
  gmtime_r(&tt, &t);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<int>((micros / 1000) % 1000));
  return buf;
}

std::string FormatAmzDate(int64_t seconds) {
  time_t tt = static_cast<time_t>(seconds);
  struct tm t {};
  gmtime_r(&tt, &t);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", t.tm_year + 1900, t.tm_mon + 1,
                t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
  return buf;
}

}  // namespace cairn::gateway
