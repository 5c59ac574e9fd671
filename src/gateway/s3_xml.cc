#include "gateway/s3_xml.h"

#include <fmt/format.h>

#include "util/escape.h"

namespace cairn::gateway {

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size(); i++) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\t': case '\n': case '\r':
        out += fmt::format("&#x{:X};", c);
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          // Not representable in XML 1.0: the client should ask for encoding-type=url.
          out += "\xEF\xBF\xBD";
        } else if (c >= 0x80) {
          size_t n = Utf8SequenceLength(s, i);
          if (n == 0) {
            out += "\xEF\xBF\xBD";
          } else {
            out.append(s.substr(i, n));
            i += n - 1;
          }
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

XmlWriter::XmlWriter(std::string_view root, bool with_namespace) {
  out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<";
  out_.append(root);
  if (with_namespace) out_ += " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
  out_ += ">";
  open_.emplace_back(root);
}

void XmlWriter::Open(std::string_view name) {
  out_ += "<";
  out_.append(name);
  out_ += ">";
  open_.emplace_back(name);
}

void XmlWriter::Close() {
  out_ += "</" + open_.back() + ">";
  open_.pop_back();
}

void XmlWriter::Leaf(std::string_view name, std::string_view text) {
  out_ += "<";
  out_.append(name);
  out_ += ">";
  out_ += XmlEscape(text);
  out_ += "</";
  out_.append(name);
  out_ += ">";
}

void XmlWriter::Leaf(std::string_view name, uint64_t n) { Leaf(name, std::to_string(n)); }

std::string XmlWriter::Finish() {
  while (!open_.empty()) Close();
  return std::move(out_);
}

const XmlNode* XmlNode::Child(std::string_view n) const {
  for (const auto& c : children)
    if (c->name == n) return c.get();
  return nullptr;
}

std::vector<const XmlNode*> XmlNode::Children(std::string_view n) const {
  std::vector<const XmlNode*> v;
  for (const auto& c : children)
    if (c->name == n) v.push_back(c.get());
  return v;
}

// ---- Parser --------------------------------------------------------------------------------

namespace {

class Parser {
 public:
  explicit Parser(std::string_view d) : d_(d) {}

  Result<std::unique_ptr<XmlNode>> Run() {
    SkipBom();
    SkipMisc();
    if (Eof() || d_[p_] != '<') return Bad("no root element");
    auto root = std::make_unique<XmlNode>();
    CAIRN_RETURN_IF_ERROR(Element(root.get(), 1));
    SkipMisc();
    if (!Eof()) return Bad("content after the root element");
    return root;
  }

 private:
  Status Bad(std::string_view why) const {
    return Status::InvalidArgument("MalformedXML: " + std::string(why) + " (at byte " +
                                   std::to_string(p_) + ")");
  }
  bool Eof() const { return p_ >= d_.size(); }
  bool At(std::string_view s) const { return d_.substr(p_).starts_with(s); }
  static bool Space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  void SkipSpace() {
    while (!Eof() && Space(d_[p_])) p_++;
  }
  void SkipBom() {
    if (At("\xEF\xBB\xBF")) p_ += 3;
  }
  // Whitespace, the declaration, comments and processing instructions outside the root.
  void SkipMisc() {
    for (;;) {
      SkipSpace();
      if (At("<?")) {
        size_t e = d_.find("?>", p_ + 2);
        p_ = e == std::string_view::npos ? d_.size() : e + 2;
      } else if (At("<!--")) {
        size_t e = d_.find("-->", p_ + 4);
        p_ = e == std::string_view::npos ? d_.size() : e + 3;
      } else {
        return;
      }
    }
  }
  static bool NameChar(char c) {
    return !(Space(c) || c == '<' || c == '>' || c == '/' || c == '=' || c == '"' || c == '\'' ||
             c == '&');
  }
  Status Name(std::string* out) {
    size_t s = p_;
    while (!Eof() && NameChar(d_[p_])) p_++;
    if (p_ == s) return Bad("expected a name");
    *out = std::string(d_.substr(s, p_ - s));
    return Status::OK();
  }
  static std::string Local(const std::string& qname) {
    size_t colon = qname.find(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }
  Status Text(std::string_view raw, std::string* out) {
    for (size_t i = 0; i < raw.size(); i++) {
      if (raw[i] != '&') {
        out->push_back(raw[i]);
        continue;
      }
      size_t semi = raw.find(';', i);
      if (semi == std::string_view::npos || semi - i > 12) return Bad("an unterminated entity");
      std::string_view ent = raw.substr(i + 1, semi - i - 1);
      if (ent == "lt") out->push_back('<');
      else if (ent == "gt") out->push_back('>');
      else if (ent == "amp") out->push_back('&');
      else if (ent == "quot") out->push_back('"');
      else if (ent == "apos") out->push_back('\'');
      else if (ent.size() >= 2 && ent[0] == '#') {
        uint32_t cp = 0;
        const bool hex = ent[1] == 'x';
        std::string_view digits = ent.substr(hex ? 2 : 1);
        if (digits.empty()) return Bad("an empty character reference");
        for (char c : digits) {
          int d = (c >= '0' && c <= '9') ? c - '0'
                  : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                  : -1;
          if (d < 0) return Bad("a bad character reference");
          cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
          if (cp > 0x10FFFF) return Bad("a character reference out of range");
        }
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return Bad("a bad character reference");
        AppendUtf8(cp, out);
      } else {
        return Bad("an unknown entity");
      }
      i = semi;
    }
    return Status::OK();
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // At '<' of a start tag.
  Status Element(XmlNode* node, size_t depth) {
    if (depth > kMaxXmlDepth) return Bad("nested deeper than kMaxXmlDepth (32)");
    if (++nodes_ > kMaxXmlNodes) return Bad("more than kMaxXmlNodes (100000) elements");
    p_++;  // '<'
    if (At("!")) return Bad("DOCTYPE and declarations are not accepted");
    std::string qname;
    CAIRN_RETURN_IF_ERROR(Name(&qname));
    node->name = Local(qname);
    // Attributes.
    for (;;) {
      SkipSpace();
      if (Eof()) return Bad("an unterminated start tag");
      if (At("/>")) {
        p_ += 2;
        return Status::OK();
      }
      if (d_[p_] == '>') {
        p_++;
        break;
      }
      std::string attr;
      CAIRN_RETURN_IF_ERROR(Name(&attr));
      SkipSpace();
      if (Eof() || d_[p_] != '=') return Bad("an attribute without '='");
      p_++;
      SkipSpace();
      if (Eof() || (d_[p_] != '"' && d_[p_] != '\'')) return Bad("an unquoted attribute");
      const char q = d_[p_++];
      size_t e = d_.find(q, p_);
      if (e == std::string_view::npos) return Bad("an unterminated attribute");
      p_ = e + 1;
    }
    // Content.
    for (;;) {
      if (Eof()) return Bad("element <" + qname + "> is not closed");
      if (At("</")) {
        p_ += 2;
        std::string end;
        CAIRN_RETURN_IF_ERROR(Name(&end));
        SkipSpace();
        if (Eof() || d_[p_] != '>') return Bad("a bad end tag");
        p_++;
        if (end != qname) return Bad("</" + end + "> closes <" + qname + ">");
        return Status::OK();
      }
      if (At("<!--")) {
        size_t e = d_.find("-->", p_ + 4);
        if (e == std::string_view::npos) return Bad("an unterminated comment");
        p_ = e + 3;
        continue;
      }
      if (At("<![CDATA[")) {
        size_t e = d_.find("]]>", p_ + 9);
        if (e == std::string_view::npos) return Bad("an unterminated CDATA section");
        node->text.append(d_.substr(p_ + 9, e - p_ - 9));
        p_ = e + 3;
        continue;
      }
      if (At("<?")) {
        size_t e = d_.find("?>", p_ + 2);
        if (e == std::string_view::npos) return Bad("an unterminated processing instruction");
        p_ = e + 2;
        continue;
      }
      if (d_[p_] == '<') {
        auto child = std::make_unique<XmlNode>();
        CAIRN_RETURN_IF_ERROR(Element(child.get(), depth + 1));
        node->children.push_back(std::move(child));
        continue;
      }
      size_t e = d_.find('<', p_);
      if (e == std::string_view::npos) e = d_.size();
      CAIRN_RETURN_IF_ERROR(Text(d_.substr(p_, e - p_), &node->text));
      p_ = e;
    }
  }

  std::string_view d_;
  size_t p_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

Result<std::unique_ptr<XmlNode>> ParseXml(std::string_view doc) { return Parser(doc).Run(); }

}  // namespace cairn::gateway
