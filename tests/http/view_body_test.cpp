// Published bodies in parts and their gzip form (src/http/view_body.h), and
// Accept-Encoding negotiation (src/http/content_coding.h).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

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

// Stored parts: the text as uncompressed deflate blocks (per-request pieces
// of a body whose other parts are compressed once).
TEST(StoredPart, HasItsGzipFormAtOnceAndKeepsItsText) {
  auto p = BodyPart::stored("{\"open\":1}");
  ASSERT_NE(p->deflated(), nullptr);
  EXPECT_EQ(*p->plain(), "{\"open\":1}");
  EXPECT_EQ(p->compress(), 0u);  // nothing more to do
}

TEST(StoredPart, AfterCompressedPartsMakesOneGzipStreamOfTheWhole) {
  ViewBody body({compressed_part(json_like(500, 'a')), BodyPart::stored("],\"open\":{}}")});
  bool ended = false;
  EXPECT_EQ(gunzip(gzip_bytes(body), &ended), body.text());
  EXPECT_TRUE(ended);
}

TEST(StoredPart, EmptyAndOverOneBlockOf65535Bytes) {
  // Edges: an empty text (one empty block), exactly 65,535 (one full
  // block), 65,536 and 150,000 (several blocks).
  for (std::size_t n : {0u, 65535u, 65536u, 150000u}) {
    std::string text(n, 'q');
    for (std::size_t i = 0; i < n; i += 7) text[i] = static_cast<char>('a' + i % 26);
    ViewBody body({compressed_part(json_like(100, 'z')), BodyPart::stored(text)});
    bool ended = false;
    EXPECT_EQ(gunzip(gzip_bytes(body), &ended), body.text()) << n;
    EXPECT_TRUE(ended) << n;
  }
}

TEST(BodyCompressor, APartSubmittedForLaterIsCompressedOnItsThread) {
  qc::BodyCompressor compressor;
  auto part = std::make_shared<const BodyPart>(json_like(50, 'k'));  // small: still queued
  compressor.submit_later(part);
  compressor.drain();
  EXPECT_NE(part->deflated(), nullptr);
}

std::shared_ptr<const BodyPart> gzip_only_part(std::string text) {
  return std::make_shared<const BodyPart>(std::move(text), BodyPart::Keep::GzipOnly);
}

// Everything a reader gives, and the biggest piece it gave.
std::string read_all(qc::ViewBodyReader& reader, std::size_t* biggest = nullptr) {
  std::string out;
  for (auto piece = reader.next(); !piece.empty(); piece = reader.next()) {
    if (biggest) *biggest = std::max(*biggest, piece.size());
    out += piece;
  }
  return out;
}

TEST(GzipOnlyPart, LetsGoOfItsTextOnceCompressedAndKeepsItsSize) {
  std::string text = json_like(3000, 'g');
  auto part = gzip_only_part(text);
  ASSERT_NE(part->plain(), nullptr);
  EXPECT_EQ(part->compress(), text.size());
  EXPECT_EQ(part->plain(), nullptr);
  EXPECT_EQ(part->size(), text.size());
  EXPECT_EQ(part->compress(), 0u);  // again: nothing more to let go of
}

TEST(GzipOnlyPart, AnOrdinaryPartKeepsItsText) {
  auto part = std::make_shared<const BodyPart>(json_like(3000, 'h'));
  EXPECT_EQ(part->compress(), 0u);
  ASSERT_NE(part->plain(), nullptr);
  EXPECT_EQ(*part->plain(), json_like(3000, 'h'));
}

TEST(GzipOnlyPart, TextHeldByAReaderOutlivesTheCompression) {
  auto part = gzip_only_part(json_like(3000, 'i'));
  auto held = part->plain();
  part->compress();
  EXPECT_EQ(part->plain(), nullptr);
  EXPECT_EQ(*held, json_like(3000, 'i'));
}

TEST(ViewBodyReader, InflatesGzipOnlyPartsBetweenPlainOnesToExactlyTheText) {
  std::string a = json_like(20, 'a'), b = json_like(4000, 'b'), c = json_like(7000, 'c');
  auto pb = gzip_only_part(b), pc = gzip_only_part(c);
  pb->compress();
  pc->compress();
  auto body = std::make_shared<const ViewBody>(std::vector<qc::BodyPartPtr>{
      compressed_part(a), pb, compressed_part(""), pc, std::make_shared<const BodyPart>("]}")});
  EXPECT_FALSE(body->all_plain());
  qc::ViewBodyReader reader(body, 1000);
  std::size_t biggest = 0;
  EXPECT_EQ(read_all(reader, &biggest), a + b + c + "]}");
  EXPECT_EQ(body->text(), a + b + c + "]}");
  EXPECT_TRUE(reader.next().empty());  // the end stays the end
  // Inflated pieces are at most a chunk (the plain parts are smaller).
  ASSERT_LT(a.size(), 1000u);
  EXPECT_EQ(biggest, 1000u);
}

TEST(ViewBodyReader, GivesAPartWithItsTextWholeWithoutCopying) {
  auto part = std::make_shared<const BodyPart>(json_like(5000, 'k'));
  auto body = std::make_shared<const ViewBody>(std::vector<qc::BodyPartPtr>{part});
  EXPECT_TRUE(body->all_plain());
  qc::ViewBodyReader reader(body, 10);
  auto piece = reader.next();
  EXPECT_EQ(piece.data(), part->plain()->data());
  EXPECT_EQ(piece.size(), part->size());
}

TEST(ViewBodyReader, AnEmptyBodyGivesNothing) {
  auto body = std::make_shared<const ViewBody>(std::vector<qc::BodyPartPtr>{});
  qc::ViewBodyReader reader(body);
  EXPECT_TRUE(reader.next().empty());
}

TEST(ViewBody, GzipOfABodyWithGzipOnlyPartsIsStillTheWholeText) {
  std::string a = json_like(4000, 'm'), b = json_like(100, 'n');
  auto pa = gzip_only_part(a);
  pa->compress();
  ViewBody body({pa, compressed_part(b)});
  bool ended = false;
  EXPECT_EQ(gunzip(gzip_bytes(body), &ended), a + b);
  EXPECT_TRUE(ended);
}

TEST(BodyCompressor, PacedPartsAreAllCompressedAndGzipOnlyOnesLetGo) {
  qc::BodyCompressor compressor;
  std::vector<qc::BodyPartPtr> parts;
  for (int i = 0; i < 20; ++i) {
    parts.push_back(gzip_only_part(json_like(20000, static_cast<char>('a' + i))));
    ASSERT_GT(parts.back()->size(), qc::kCompressInline);
    compressor.submit_paced(parts.back(), std::chrono::milliseconds(2000));
  }
  compressor.drain();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(parts[i]->plain(), nullptr) << i;
    ViewBody body({parts[i]});
    EXPECT_EQ(body.text(), json_like(20000, static_cast<char>('a' + i))) << i;
  }
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
