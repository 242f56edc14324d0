#include "aws/xml.hpp"

#include <gtest/gtest.h>

namespace ba::aws {
namespace {

TEST(Xml, ParsesAListObjectsV2Response) {
  const std::string doc = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix>a/</Prefix>
  <KeyCount>2</KeyCount>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok+/=</NextContinuationToken>
  <Contents><Key>a/1</Key><Size>10</Size><ETag>&quot;abc&quot;</ETag></Contents>
  <Contents><Key>a/2 &amp; more</Key><Size>20</Size></Contents>
</ListBucketResult>)";
  auto root = parse_xml(doc);
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_EQ(root->name(), "ListBucketResult");
  EXPECT_TRUE(root->attributes().empty());  // xmlns is dropped
  EXPECT_EQ(root->child_text("Name"), "bucket");
  EXPECT_EQ(root->child_text("NextContinuationToken"), "tok+/=");
  auto contents = root->children("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0]->child_text("Key"), "a/1");
  EXPECT_EQ(contents[0]->child_text("ETag"), "\"abc\"");
  EXPECT_EQ(contents[1]->child_text("Key"), "a/2 & more");
  EXPECT_EQ(contents[1]->child_text("Size"), "20");
  EXPECT_EQ(root->child("Missing"), nullptr);
  EXPECT_EQ(root->child_text("Missing"), "");
  EXPECT_FALSE(root->find_text("Missing"));
}

TEST(Xml, ParsesAnS3Error) {
  auto root = parse_xml(
      "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
      "<Key>x</Key><RequestId>r1</RequestId></Error>\n");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->name(), "Error");
  EXPECT_EQ(root->child_text("Code"), "NoSuchKey");
  EXPECT_EQ(root->child_text("Message"), "The specified key does not exist.");
}

TEST(Xml, QueryProtocolPathAndNamespacePrefixes) {
  auto root = parse_xml(R"(<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult><Stacks><member><StackName>s</StackName><StackStatus>CREATE_COMPLETE</StackStatus>
  <Outputs><member><OutputKey>Url</OutputKey><OutputValue>https://x/?a=1&amp;b=2</OutputValue></member></Outputs>
  </member></Stacks></DescribeStacksResult>
  <ResponseMetadata><RequestId>id-1</RequestId></ResponseMetadata>
</DescribeStacksResponse>)");
  ASSERT_TRUE(root) << root.error().message;
  const XmlNode* stacks = root->path({"DescribeStacksResult", "Stacks"});
  ASSERT_NE(stacks, nullptr);
  auto members = stacks->children("member");
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0]->child_text("StackStatus"), "CREATE_COMPLETE");
  EXPECT_EQ(members[0]->path({"Outputs", "member"})->child_text("OutputValue"), "https://x/?a=1&b=2");
  EXPECT_EQ(root->path({"ResponseMetadata", "RequestId"})->text(), "id-1");
  EXPECT_EQ(root->path({"Nope", "RequestId"}), nullptr);

  auto prefixed = parse_xml(R"(<s3:R xmlns:s3="urn:x" s3:a="1" b='2'><s3:Key>k</s3:Key></s3:R>)");
  ASSERT_TRUE(prefixed) << prefixed.error().message;
  EXPECT_EQ(prefixed->name(), "R");
  EXPECT_EQ(prefixed->child_text("Key"), "k");
  EXPECT_EQ(prefixed->attribute("a").value_or(""), "1");
  EXPECT_EQ(prefixed->attribute("b").value_or(""), "2");
  EXPECT_FALSE(prefixed->attribute("s3"));
  EXPECT_EQ(prefixed->attributes().size(), 2u);
}

TEST(Xml, DecodesEntitiesCdataAndCharacterReferences) {
  auto root = parse_xml("<a>&lt;&gt;&amp;&quot;&apos; &#65;&#x42;&#xe9;&#x20AC;&#x1F600;<![CDATA[<raw &amp;>]]></a>");
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_EQ(root->text(), "<>&\"' AB\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80<raw &amp;>");
  auto attr = parse_xml(R"(<a v="x&amp;y&#33;"/>)");
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->attribute("v").value_or(""), "x&y!");
  EXPECT_TRUE(attr->children().empty());
}

TEST(Xml, SkipsCommentsProcessingInstructionsAndBom) {
  auto root = parse_xml("\xEF\xBB\xBF<?xml version='1.0'?><!-- c --><a><!-- x --><b/><?pi y?>t</a><!-- end -->\n");
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_EQ(root->name(), "a");
  EXPECT_EQ(root->children().size(), 1u);
  EXPECT_EQ(root->text(), "t");
}

TEST(Xml, TextIsUntrimmedAndEmptyElementsAreEmpty) {
  auto root = parse_xml("<a><k>  spaced  </k><e></e><f/></a>");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->child_text("k"), "  spaced  ");
  EXPECT_EQ(root->find_text("e"), std::optional<std::string>(""));
  EXPECT_EQ(root->find_text("f"), std::optional<std::string>(""));
}

TEST(Xml, RejectsMalformedDocuments) {
  for (const char* bad : {"", "   ", "text", "<a>", "<a></b>", "<a><b></a></b>", "<a>&bogus;</a>", "<a>&amp</a>",
                          "<a>&#0;</a>", "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&#xZZ;</a>", "<a x=1/>",
                          "<a x=\"1/>", "<a x=\"<\"/>", "<a/><b/>", "<a/>trailing", "<a><!-- open</a>",
                          "<a><![CDATA[x</a>", "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", "<a", "< a/>",
                          "<a b=\"1\"c=\"2\"/>"}) {
    auto r = parse_xml(bad);
    EXPECT_FALSE(r) << "accepted: " << bad;
    if (!r) {
      EXPECT_EQ(r.error().kind, ErrorKind::invalid_input);
      EXPECT_EQ(r.error().code, "MalformedXML");
    }
  }
}

TEST(Xml, EnforcesDepthSizeAndElementLimits) {
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "<a>";
  for (int i = 0; i < 70; ++i) deep += "</a>";
  EXPECT_FALSE(parse_xml(deep));
  XmlLimits roomy;
  roomy.max_depth = 100;
  EXPECT_TRUE(parse_xml(deep, roomy));

  XmlLimits small;
  small.max_bytes = 10;
  EXPECT_FALSE(parse_xml("<a>0123456789</a>", small));
  EXPECT_TRUE(parse_xml("<a>0</a>", small));

  XmlLimits few;
  few.max_elements = 3;
  EXPECT_TRUE(parse_xml("<a><b/><c/></a>", few));
  EXPECT_FALSE(parse_xml("<a><b/><c/><d/></a>", few));
}

TEST(Xml, EscapeRoundTrips) {
  const std::string nasty = "a&b<c>d\"e'f &amp;";
  EXPECT_EQ(xml_escape(nasty), "a&amp;b&lt;c&gt;d&quot;e&apos;f &amp;amp;");
  auto root = parse_xml("<k a=\"" + xml_escape(nasty) + "\">" + xml_escape(nasty) + "</k>");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->text(), nasty);
  EXPECT_EQ(root->attribute("a").value_or(""), nasty);
}

// Found by fuzz/aws/xml_fuzz.cpp: a prefix with no local name ("x:") gave an element or attribute an
// empty name.
TEST(Xml, RejectsNamesWithoutALocalPart) {
  EXPECT_FALSE(parse_xml("<a:/>").has_value());
  EXPECT_FALSE(parse_xml("<a x:=\"1\"/>").has_value());
  EXPECT_TRUE(parse_xml("<s3:a s3:x=\"1\"/>").has_value());
}

}  // namespace
}  // namespace ba::aws
