// Published bodies in parts and their gzip form (src/http/view_body.h), and
// Accept-Encoding negotiation (src/http/content_coding.h).
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "http/content_coding.h"
#include "http/view_body.h"

namespace {

using qc::BodyPart;
using qc::ViewBody;

// Everything a client would receive with Content-Encoding: gzip.
std::string gzip_bytes(const ViewBody& body) {
  auto frame = body.gzip();
  if (!frame) return {};
  std::string out(qc::GzipFrame::kHeader);
  for (const auto& p : body.parts()) out += p->deflated()->bytes;
  out += frame->trailer;
  return out;
}

// zlib's own gzip reader; fails on a bad CRC or length (Z_DATA_ERROR).
std::string gunzip(const std::string& in, bool* ended) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 31), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (zs.total_out == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
  }
  *ended = rc == Z_STREAM_END && zs.avail_in == 0;
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

std::string json_like(int n, char seed) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "{\"symbol\":\"AAPL\",\"pnl\":" + std::to_string(i * 37 % 1000) + seed + "},";
  return s;
}

std::shared_ptr<const BodyPart> compressed_part(std::string text) {
  auto p = std::make_shared<const BodyPart>(std::move(text));
  p->compress();
  return p;
}

TEST(ViewBody, PartsCompressedAloneMakeOneGzipStreamOfTheWhole) {
  ViewBody body({compressed_part(json_like(500, 'a')), compressed_part(","),
                 compressed_part(json_like(3000, 'b')), compressed_part("]}")});
  bool ended = false;
  EXPECT_EQ(gunzip(gzip_bytes(body), &ended), body.text());
  EXPECT_TRUE(ended);
  EXPECT_EQ(body.gzip()->size, gzip_bytes(body).size());
}

TEST(ViewBody, AnEmptyPartIsHarmless) {
  ViewBody body({compressed_part(json_like(100, 'a')), compressed_part(""), compressed_part("x")});
  bool ended = false;
  EXPECT_EQ(gunzip(gzip_bytes(body), &ended), body.text());
  EXPECT_TRUE(ended);
}

TEST(ViewBody, NoGzipFormUntilEveryPartIsCompressed) {
  auto later = std::make_shared<const BodyPart>(json_like(100, 'c'));
  ViewBody body({compressed_part(json_like(100, 'a')), later});
  EXPECT_EQ(body.gzip(), nullptr);
  later->compress();
  ASSERT_NE(body.gzip(), nullptr);
}

TEST(ViewBody, ASmallBodyIsNeverCompressed) {
  auto body = ViewBody::of(std::string(qc::kMinGzipBody - 1, 'x'));
  EXPECT_EQ(body->gzip(), nullptr);
  EXPECT_EQ(body->text(), std::string(qc::kMinGzipBody - 1, 'x'));
}

TEST(ViewBody, OfCompressesAMidSizedBodyAtOnce) {
  auto body = ViewBody::of(json_like(200, 'd'));
  ASSERT_LE(body->size(), qc::kCompressInline);
  ASSERT_NE(body->gzip(), nullptr);
}

TEST(ViewBody, ABigPartWaitsForTheCompressor) {
  auto body = ViewBody::of(json_like(20000, 'e'));
  ASSERT_GT(body->size(), qc::kCompressInline);
  EXPECT_EQ(body->gzip(), nullptr);
  qc::BodyCompressor compressor;
  compressor.submit(*body);
  compressor.drain();
  bool ended = false;
  EXPECT_EQ(gunzip(gzip_bytes(*body), &ended), body->text());
  EXPECT_TRUE(ended);
}

TEST(ViewBody, TheCompressorSkipsAPartNobodyHoldsAnyMore) {
  qc::BodyCompressor compressor;
  {
    auto body = ViewBody::of(json_like(20000, 'f'));
    compressor.submit(*body);
  }  // gone before (or while) its turn comes: nothing to do, nothing crashes
  compressor.drain();
  EXPECT_EQ(compressor.dropped(), 0u);
}

TEST(AcceptsGzip, NamesAndWildcards) {
  EXPECT_TRUE(qc::accepts_gzip("gzip"));
  EXPECT_TRUE(qc::accepts_gzip("GZip"));
  EXPECT_TRUE(qc::accepts_gzip("x-gzip"));
  EXPECT_TRUE(qc::accepts_gzip("gzip, deflate, br"));
  EXPECT_TRUE(qc::accepts_gzip(" br ;q=1 , gzip ; q=0.001"));
  EXPECT_TRUE(qc::accepts_gzip("*"));
  EXPECT_TRUE(qc::accepts_gzip("gzip;q=1.000"));
}

TEST(AcceptsGzip, RefusalsAndAbsence) {
  EXPECT_FALSE(qc::accepts_gzip(""));
  EXPECT_FALSE(qc::accepts_gzip("identity"));
  EXPECT_FALSE(qc::accepts_gzip("br, deflate"));
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=0.000"));
  EXPECT_FALSE(qc::accepts_gzip("*;q=0"));
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=0, *"));  // named beats the wildcard
  EXPECT_FALSE(qc::accepts_gzip("gzipper"));
}

TEST(AcceptsGzip, AMalformedQValueRefuses) {
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=zero"));
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=2"));
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=0.0001"));
  EXPECT_FALSE(qc::accepts_gzip("gzip;q=1.5"));
}

}  // namespace
