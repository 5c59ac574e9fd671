#include "gateway/s3_xml.h"

#include <gtest/gtest.h>

namespace cairn::gateway {
namespace {

TEST(S3Xml, ParsesWhatClientsSend) {
  // s3cmd: no xmlns, unquoted ETags; rclone: &#34; entities; boto3: the namespace.
  auto doc = ParseXml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><ETag>&#34;abc&#34;</ETag>"
      "<PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>def</ETag></Part>"
      "</CompleteMultipartUpload>");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ((*doc)->name, "CompleteMultipartUpload");
  auto parts = (*doc)->Children("Part");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->Child("ETag")->text, "\"abc\"");
  EXPECT_EQ(parts[1]->Child("PartNumber")->text, "2");
  auto d2 = ParseXml("<Delete><Object><Key>a &amp; b &lt;c&gt; &#x263A;</Key></Object></Delete>");
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ((*d2)->Child("Object")->Child("Key")->text, "a & b <c> \xE2\x98\xBA");
  auto d3 = ParseXml("<s3:CreateBucketConfiguration xmlns:s3=\"x\"><s3:LocationConstraint>eu"
                     "</s3:LocationConstraint></s3:CreateBucketConfiguration>");
  ASSERT_TRUE(d3.ok());
  EXPECT_EQ((*d3)->Child("LocationConstraint")->text, "eu");
}

TEST(S3Xml, RefusesMalformed) {
  for (const char* bad : {"", "<a>", "<a></b>", "<a>&foo;</a>", "<!DOCTYPE a><a/>",
                          "<a b=c/>", "<a/><b/>", "<a>&#0;</a>", "<a>&#xD800;</a>", "text"}) {
    auto d = ParseXml(bad);
    EXPECT_FALSE(d.ok()) << bad;
    if (!d.ok()) {
      EXPECT_NE(d.status().message().find("MalformedXML"), std::string::npos);
    }
  }
  std::string deep;
  for (int i = 0; i < 100; i++) deep += "<a>";
  EXPECT_FALSE(ParseXml(deep).ok());
}

TEST(S3Xml, WriterEscapes) {
  XmlWriter w("R");
  w.Leaf("K", "a<&>\"' \n\x01");
  std::string s = w.Finish();
  EXPECT_NE(s.find("<K>a&lt;&amp;&gt;&quot;&apos; &#xA;\xEF\xBF\xBD</K>"), std::string::npos) << s;
  auto back = ParseXml(s);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->Child("K")->text, "a<&>\"' \n\xEF\xBF\xBD");
}

}  // namespace
}  // namespace cairn::gateway
