#include "aws/eventstream.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "support/aws_oracles.hpp"
#include "util/clock.hpp"
#include "util/encoding.hpp"

namespace ba::aws::eventstream {
namespace {

using T = HeaderValue::Type;

// bedrock-protocol.md §3, checked with botocore's decoder.
constexpr std::string_view kVectorHex =
    "0000009400000057b4ab9aee0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c74610d3a636f6e74656e74"
    "2d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e7465"
    "6e74426c6f636b496e646578223a302c2264656c7461223a7b2274657874223a224869227d7d1f944657";

std::string vector_bytes() { return test::unhex(kVectorHex); }

MessageHeader hdr(std::string name, T type, std::int64_t integer = 0, std::string data = {}) {
  return MessageHeader{std::move(name), HeaderValue{.type = type, .integer = integer, .data = std::move(data)}};
}

Message every_type_message() {
  Message m;
  m.headers = {hdr("t", T::bool_true, 1),
               hdr("f", T::bool_false, 0),
               hdr("i8", T::int8, -5),
               hdr("i16", T::int16, -30000),
               hdr("i32", T::int32, -2'000'000'000),
               hdr("i64", T::int64, -9'000'000'000'000'000'000LL),
               hdr("bytes", T::bytes, 0, std::string("\x00\x01\xff\x80", 4)),
               hdr("str", T::string, 0, "h\xc3\xa9llo"),
               hdr("ts", T::timestamp, 1'700'000'000'123LL),
               hdr("id", T::uuid, 0, test::unhex("00112233445566778899aabbccddeeff"))};
  m.payload = std::string("pay\0load", 8);
  return m;
}

void expect_same(const Message& a, const Message& b) {
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name);
    EXPECT_EQ(a.headers[i].value.type, b.headers[i].value.type) << a.headers[i].name;
    EXPECT_EQ(a.headers[i].value.integer, b.headers[i].value.integer) << a.headers[i].name;
    EXPECT_EQ(a.headers[i].value.data, b.headers[i].value.data) << a.headers[i].name;
  }
  EXPECT_EQ(a.payload, b.payload);
}

Message decode_one(std::string_view frame) {
  Decoder d;
  d.feed(frame);
  auto r = d.next();
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (!r || !*r) {
    ADD_FAILURE() << "no message";
    return {};
  }
  EXPECT_FALSE(d.has_partial());
  return std::move(**r);
}

TEST(EventStream, DecodesProtocolVector) {
  Message m = decode_one(vector_bytes());
  ASSERT_EQ(m.headers.size(), 3u);
  EXPECT_EQ(m.header(":event-type"), "contentBlockDelta");
  EXPECT_EQ(m.header(":content-type"), "application/json");
  EXPECT_EQ(m.header(":message-type"), "event");
  EXPECT_FALSE(m.header(":missing").has_value());
  EXPECT_EQ(m.payload, R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})");
}

TEST(EventStream, EncodesProtocolVectorByteExact) {
  auto frame = encode({{":event-type", "contentBlockDelta"}, {":content-type", "application/json"}, {":message-type", "event"}},
                      R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})");
  EXPECT_EQ(hex_encode(frame), kVectorHex);
  EXPECT_EQ(hex_encode(encode(decode_one(vector_bytes()))), kVectorHex);
}

TEST(EventStream, EveryHeaderTypeRoundTrips) {
  Message m = every_type_message();
  Message back = decode_one(encode(m));
  expect_same(m, back);
  // Type tags on the wire are the documented numbers.
  for (int t = 0; t <= 9; ++t) {
    bool found = false;
    for (const auto& h : back.headers) found = found || static_cast<int>(h.value.type) == t;
    EXPECT_TRUE(found) << "type " << t;
  }
}

TEST(EventStream, OverlongHeaderValuesAreTruncatedNotCorrupted) {
  Message m;
  m.headers = {hdr(std::string(300, 'n'), T::string, 0, std::string(70'000, 'v'))};
  Message back = decode_one(encode(m));
  ASSERT_EQ(back.headers.size(), 1u);
  EXPECT_EQ(back.headers[0].name.size(), 255u);
  EXPECT_EQ(back.headers[0].value.data.size(), 65'535u);
}

TEST(EventStream, EmptyMessageRoundTrips) {
  Message m;
  auto frame = encode(m);
  EXPECT_EQ(frame.size(), 16u);
  Message back = decode_one(frame);
  EXPECT_TRUE(back.headers.empty());
  EXPECT_TRUE(back.payload.empty());
}

TEST(EventStream, CorruptPreludeCrcIsPermanentError) {
  auto frame = vector_bytes();
  frame[9] = static_cast<char>(frame[9] ^ 0x01);  // inside prelude_crc
  Decoder d;
  d.feed(frame);
  auto r = d.next();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_NE(r.error().message.find("prelude"), std::string::npos);
  d.feed(vector_bytes());  // still broken
  EXPECT_FALSE(d.next().has_value());
}

TEST(EventStream, CorruptLengthIsCaughtByPreludeCrc) {
  auto frame = vector_bytes();
  frame[3] = static_cast<char>(frame[3] + 1);
  Decoder d;
  d.feed(frame);
  EXPECT_FALSE(d.next().has_value());
}

TEST(EventStream, CorruptMessageCrcAndPayload) {
  for (std::size_t at : {std::size_t{147}, std::size_t{120}, std::size_t{20}}) {  // crc, payload, header byte
    auto frame = vector_bytes();
    frame[at] = static_cast<char>(frame[at] ^ 0x40);
    Decoder d;
    d.feed(frame);
    auto r = d.next();
    ASSERT_FALSE(r.has_value()) << at;
    EXPECT_NE(r.error().message.find("message CRC"), std::string::npos) << r.error().message;
  }
}

// Builds a frame around a raw headers block with valid CRCs.
std::string frame_with_raw_headers(const std::string& headers, std::string_view payload = "") {
  std::string out;
  auto be32 = [&](std::uint32_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  be32(static_cast<std::uint32_t>(16 + headers.size() + payload.size()));
  be32(static_cast<std::uint32_t>(headers.size()));
  be32(crc32(out));
  out += headers;
  out += payload;
  be32(crc32(out));
  return out;
}

TEST(EventStream, RejectsDuplicateAndMalformedHeaders) {
  std::string one = encode(Message{{hdr("a", T::string, 0, "x")}, ""}).substr(12, 6);
  ASSERT_EQ(one, std::string("\x01" "a\x07\x00\x01x", 6));
  std::vector<std::string> bad = {
      one + one,                              // duplicate
      std::string("\x01" "a\x0a", 3),          // unknown type 10
      std::string("\x01" "a\x07\x00\x05x", 6), // string longer than the block
      std::string("\x01" "a\x05\x00\x00", 5),  // truncated int64
      std::string("\x00", 1),                  // empty name
      std::string("\x05" "ab", 3),             // name runs past the block
  };
  for (const auto& h : bad) {
    Decoder d;
    d.feed(frame_with_raw_headers(h));
    auto r = d.next();
    EXPECT_FALSE(r.has_value()) << hex_encode(h);
  }
  Decoder ok;
  ok.feed(frame_with_raw_headers(one));
  EXPECT_TRUE(ok.next().has_value());
}

TEST(EventStream, RejectsImpossibleAndOversizeLengths) {
  auto prelude = [](std::uint32_t total, std::uint32_t hlen) {
    std::string out;
    for (std::uint32_t v : {total, hlen})
      for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    std::uint32_t c = crc32(out);
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((c >> (8 * i)) & 0xFF));
    return out;
  };
  struct Case { std::uint32_t total, hlen; const char* why; };
  for (auto c : {Case{15, 0, "total below 16"}, Case{20, 10, "headers past the end"},
                 Case{16 + 128 * 1024 + 1, 128 * 1024 + 1, "headers over 128 KiB"},
                 Case{16 + 24 * 1024 * 1024 + 1, 0, "payload over 24 MiB"}}) {
    Decoder d;
    d.feed(prelude(c.total, c.hlen));
    EXPECT_FALSE(d.next().has_value()) << c.why;
  }
  Decoder at_limit;  // exactly 24 MiB is allowed: needs more bytes, no error
  at_limit.feed(prelude(16 + 24 * 1024 * 1024, 0));
  auto r = at_limit.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST(EventStream, TruncatedFrameLeavesPartial) {
  auto frame = vector_bytes();
  Decoder d;
  d.feed(std::string_view(frame).substr(0, frame.size() - 1));
  auto r = d.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  EXPECT_TRUE(d.has_partial());
  d.feed(std::string_view(frame).substr(frame.size() - 1));
  r = d.next();
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_FALSE(d.has_partial());
  Decoder empty;
  EXPECT_FALSE(empty.has_partial());
}

TEST(EventStream, FramesSplitAtEveryByteBoundary) {
  auto a = vector_bytes();
  auto b = encode(every_type_message());
  const std::string stream = a + b;
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    Decoder d;
    std::vector<Message> got;
    for (std::string_view part : {std::string_view(stream).substr(0, cut), std::string_view(stream).substr(cut)}) {
      d.feed(part);
      while (true) {
        auto r = d.next();
        ASSERT_TRUE(r.has_value()) << cut;
        if (!*r) break;
        got.push_back(std::move(**r));
      }
    }
    ASSERT_EQ(got.size(), 2u) << cut;
    EXPECT_EQ(got[0].payload, R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})");
    expect_same(got[1], every_type_message());
    EXPECT_FALSE(d.has_partial());
  }
  // And one byte at a time.
  Decoder d;
  int count = 0;
  for (char c : stream) {
    d.feed(std::string_view(&c, 1));
    auto r = d.next();
    ASSERT_TRUE(r.has_value());
    if (*r) ++count;
  }
  EXPECT_EQ(count, 2);
}

TEST(EventStream, SeveralFramesInOneFeed) {
  std::string stream;
  for (int i = 0; i < 50; ++i) stream += encode({{":message-type", "event"}, {"n", std::to_string(i)}}, std::string(static_cast<std::size_t>(i), 'x'));
  Decoder d;
  d.feed(stream);
  for (int i = 0; i < 50; ++i) {
    auto r = d.next();
    ASSERT_TRUE(r.has_value() && r->has_value()) << i;
    EXPECT_EQ((*r)->header("n"), std::to_string(i));
    EXPECT_EQ((*r)->payload.size(), static_cast<std::size_t>(i));
  }
  auto r = d.next();
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  EXPECT_FALSE(d.has_partial());
}

// --- differential test against @smithy/eventstream-codec -------------------------------------------------

boost::json::object header_json(const MessageHeader& h) {
  boost::json::object o;
  o["name"] = h.name;
  o["type"] = static_cast<int>(h.value.type);
  o["int"] = std::to_string(h.value.integer);
  o["data_hex"] = hex_encode(h.value.data);
  return o;
}

Message random_message(SeededRandom& rng) {
  auto pick = [&](std::uint64_t n) { return rng.next_u64() % n; };
  auto random_bytes = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(pick(256)));
    return s;
  };
  Message m;
  const auto nheaders = pick(8);
  for (std::uint64_t i = 0; i < nheaders; ++i) {
    auto type = static_cast<T>(pick(10));
    std::string name = ":h" + std::to_string(i) + std::string(pick(20), 'n');
    std::int64_t v = 0;
    std::string data;
    auto r = static_cast<std::int64_t>(rng.next_u64());
    switch (type) {
      case T::bool_true: v = 1; break;
      case T::bool_false: v = 0; break;
      case T::int8: v = static_cast<std::int8_t>(r); break;
      case T::int16: v = static_cast<std::int16_t>(r); break;
      case T::int32: v = static_cast<std::int32_t>(r); break;
      case T::int64: v = r; break;
      case T::timestamp: v = r % 4'000'000'000'000LL; break;  // JS Date range, exact in a double
      case T::bytes: data = random_bytes(pick(40)); break;
      case T::string: data = "v\xc3\xa9" + std::to_string(r); break;
      case T::uuid: data = random_bytes(16); break;
    }
    m.headers.push_back(hdr(std::move(name), type, v, std::move(data)));
  }
  m.payload = random_bytes(pick(200));
  return m;
}

TEST(EventStream, MatchesSmithyCodec) {
  if (!test::node_available()) GTEST_SKIP() << "node or node_modules not available";
  SeededRandom rng(20261125);
  std::vector<Message> messages{every_type_message(), decode_one(vector_bytes()), Message{}};
  for (int i = 0; i < 200; ++i) messages.push_back(random_message(rng));
  std::ostringstream in;
  for (const auto& m : messages) {  // encode by the oracle
    boost::json::object o;
    o["op"] = "encode";
    boost::json::array hs;
    for (const auto& h : m.headers) hs.push_back(header_json(h));
    o["headers"] = hs;
    o["payload_hex"] = hex_encode(m.payload);
    in << boost::json::serialize(o) << "\n";
  }
  for (const auto& m : messages) {  // decode ours by the oracle
    boost::json::object o;
    o["op"] = "decode";
    o["frame_hex"] = hex_encode(encode(m));
    in << boost::json::serialize(o) << "\n";
  }
  auto out = test::run_node("eventstream_oracle.mjs", in.str());
  ASSERT_TRUE(out.has_value()) << "oracle failed";
  std::istringstream lines(*out);
  std::string line;
  std::size_t compared = 0;
  for (const auto& m : messages) {
    ASSERT_TRUE(std::getline(lines, line));
    EXPECT_EQ(line, hex_encode(encode(m))) << "encode #" << compared;
    ++compared;
  }
  for (const auto& m : messages) {
    ASSERT_TRUE(std::getline(lines, line));
    auto v = boost::json::parse(line).as_object();
    ASSERT_FALSE(v.contains("error")) << line;
    Message back;
    for (const auto& hv : v.at("headers").as_array()) {
      const auto& h = hv.as_object();
      auto type = static_cast<T>(h.at("type").as_int64());
      std::int64_t integer = type == T::bool_true ? 1 : 0;
      if (h.contains("int")) integer = std::stoll(std::string(h.at("int").as_string()));
      std::string data;
      if (h.contains("data_hex")) data = test::unhex(h.at("data_hex").as_string());
      back.headers.push_back(hdr(std::string(h.at("name").as_string()), type, integer, data));
    }
    back.payload = test::unhex(v.at("payload_hex").as_string());
    expect_same(m, back);
    ++compared;
  }
  EXPECT_EQ(compared, 2 * messages.size());
}

}  // namespace
}  // namespace ba::aws::eventstream
