// The body of a published GET answer (SPEC §4, issue 9 "big answers"): a
// list of immutable parts sent as they are, never joined into one string.
// Successive views share the parts that did not change (a month of
// /api/performance, a block of the /api/stats equity curve), so publishing
// after a close renders and compresses only what the close touched.
//
// Each part gets its gzip form once: a raw deflate stream of the part alone
// that ends with a sync flush (byte-aligned, no final block). Such streams
// concatenate into one valid deflate stream, so a gzip body is
//   10-byte header, every part's deflate bytes, an empty final block,
//   CRC-32 of the whole (crc32_combine of the parts'), length mod 2^32.
// A part is compressed when it is made if it is small, otherwise by the
// BodyCompressor's thread soon after; until every part of a body has its
// form, that body is sent plain.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace qc {

struct DeflatedPart {
  std::string bytes;  // raw deflate, sync-flushed
  std::uint32_t crc = 0;  // CRC-32 of the plain bytes
};

// Compresses `plain` as described above (zlib level 1: views are published
// often and big; level 6 gains ~20 % for 2.4x the time).
DeflatedPart deflate_part(std::string_view plain);

class BodyPart {
 public:
  explicit BodyPart(std::string plain) : plain_(std::move(plain)) {}
  const std::string& plain() const { return plain_; }
  std::shared_ptr<const DeflatedPart> deflated() const { return deflated_.load(); }
  void compress() const;  // idempotent

 private:
  std::string plain_;
  mutable std::atomic<std::shared_ptr<const DeflatedPart>> deflated_;
};
using BodyPartPtr = std::shared_ptr<const BodyPart>;

// What frames the parts' deflate bytes into a gzip member.
struct GzipFrame {
  static constexpr std::string_view kHeader{"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10};
  std::string trailer;  // empty final block, CRC-32, ISIZE
  std::size_t size = 0;  // the whole gzip body
};

class ViewBody {
 public:
  explicit ViewBody(std::vector<BodyPartPtr> parts);
  // One part; compressed at once when small.
  static std::shared_ptr<const ViewBody> of(std::string text);

  const std::vector<BodyPartPtr>& parts() const { return parts_; }
  std::size_t size() const { return size_; }  // plain bytes
  std::string text() const;  // the parts joined (tests, the cache)
  // Set once every part is compressed (and the body is worth compressing).
  std::shared_ptr<const GzipFrame> gzip() const;

 private:
  std::vector<BodyPartPtr> parts_;
  std::size_t size_ = 0;
  mutable std::atomic<std::shared_ptr<const GzipFrame>> gzip_;
};
using ViewBodyPtr = std::shared_ptr<const ViewBody>;

// Parts this small are compressed by whoever makes them.
inline constexpr std::size_t kCompressInline = 64 * 1024;
// Bodies smaller than this are always sent plain.
inline constexpr std::size_t kMinGzipBody = 512;

// The thread that compresses big parts. A part that nobody holds any more
// when its turn comes is skipped; at most kMaxQueued wait (the oldest are
// dropped beyond: their bodies are sent plain).
class BodyCompressor {
 public:
  static constexpr std::size_t kMaxQueued = 65536;
  BodyCompressor();
  ~BodyCompressor();
  BodyCompressor(const BodyCompressor&) = delete;
  BodyCompressor& operator=(const BodyCompressor&) = delete;

  // Compresses small parts now, queues the others.
  void submit(const ViewBody& body);
  // Waits until everything submitted so far is compressed (tests, benchmarks).
  void drain();
  std::size_t dropped() const { return dropped_.load(); }

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<std::weak_ptr<const BodyPart>> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::atomic<std::size_t> dropped_{0};
  std::thread thread_;
};

}  // namespace qc
