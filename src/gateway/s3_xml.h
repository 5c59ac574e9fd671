// XML for the S3 gateway: a writer for the responses, and a small, strict, bounded parser for
// the three request bodies S3 clients send (CreateBucketConfiguration, CompleteMultipartUpload,
// Delete). The parser keeps elements and their text; attributes (xmlns) are checked for form
// and dropped, namespace prefixes are dropped from names. It refuses DOCTYPE (no entity
// expansion), unknown entities, bad nesting, and input past kMaxXmlDepth or kMaxXmlNodes.
//
// Thread safety: pure functions and value types.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn::gateway {

inline constexpr size_t kMaxXmlDepth = 32;
inline constexpr size_t kMaxXmlNodes = 100000;

// Escapes text for an element's content or an attribute (& < > " ' and control bytes that
// XML 1.0 cannot carry, which become "&#xHH;" only where allowed; others are refused upstream
// by encoding-type=url or written as the replacement character).
std::string XmlEscape(std::string_view s);

// Builds a document: XmlWriter w("ListBucketResult"); w.Leaf("Name", b); w.Open("Contents")...
class XmlWriter {
 public:
  // Starts the document with the declaration and the root element in S3's namespace.
  explicit XmlWriter(std::string_view root, bool with_namespace = true);
  void Open(std::string_view name);
  void Close();
  void Leaf(std::string_view name, std::string_view text);
  void Leaf(std::string_view name, uint64_t n);
  void Bool(std::string_view name, bool b) { Leaf(name, b ? "true" : "false"); }
  // Closes every open element and returns the document.
  std::string Finish();

 private:
  std::string out_;
  std::vector<std::string> open_;
};

struct XmlNode {
  std::string name;  // local name (any prefix removed)
  std::string text;  // the concatenated character data directly inside it
  std::vector<std::unique_ptr<XmlNode>> children;

  // The first child named `name`, or nullptr.
  const XmlNode* Child(std::string_view name) const;
  // Every child named `name`, in order.
  std::vector<const XmlNode*> Children(std::string_view name) const;
};

// Parses a whole document. InvalidArgument ("MalformedXML: ...") naming what is wrong.
Result<std::unique_ptr<XmlNode>> ParseXml(std::string_view doc);

}  // namespace cairn::gateway
