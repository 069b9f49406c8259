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
//
// A part made `GzipOnly` drops its plain text once compressed (the months of
// /api/performance: 214 MB plain, 45 MB deflated at a million trades); a
// client that does not accept gzip then gets those bytes inflated as they
// are sent, a bounded chunk at a time (ViewBodyReader).
#pragma once
#include <atomic>
#include <chrono>
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
  enum class Keep { Both, GzipOnly };
  explicit BodyPart(std::string plain, Keep keep = Keep::Both);
  // A part whose gzip form is the text as stored (uncompressed) deflate
  // blocks, made at once: for a small text made per request, so a body of
  // compressed parts plus this one still goes out gzip without compressing
  // anything per request.
  static std::shared_ptr<const BodyPart> stored(std::string plain);
  std::size_t size() const { return size_; }  // plain bytes
  Keep keep() const { return keep_; }
  // The plain text; null once a GzipOnly part is compressed. Hold the
  // pointer while using the text.
  std::shared_ptr<const std::string> plain() const { return plain_.load(); }
  std::shared_ptr<const DeflatedPart> deflated() const { return deflated_.load(); }
  // Idempotent. Returns the plain bytes it let go of (GzipOnly), 0 otherwise.
  std::size_t compress() const;

 private:
  std::size_t size_;
  Keep keep_;
  mutable std::atomic<std::shared_ptr<const std::string>> plain_;
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
  std::string text() const;  // the parts joined, inflated where need be (tests)
  // Every part still has its plain text (the body can be sent as it is).
  bool all_plain() const;
  // Set once every part is compressed (and the body is worth compressing).
  std::shared_ptr<const GzipFrame> gzip() const;

 private:
  std::vector<BodyPartPtr> parts_;
  std::size_t size_ = 0;
  mutable std::atomic<std::shared_ptr<const GzipFrame>> gzip_;
};
using ViewBodyPtr = std::shared_ptr<const ViewBody>;

// The plain body of a view, a piece at a time: a part that has its text is
// given whole (no copy), a GzipOnly part that has lost it is inflated at most
// `chunk` bytes per call. Holds what it reads from; throws std::runtime_error
// if a part's deflate bytes do not inflate to exactly its size.
class ViewBodyReader {
 public:
  static constexpr std::size_t kChunk = 256 * 1024;
  explicit ViewBodyReader(std::shared_ptr<const ViewBody> body, std::size_t chunk = kChunk);
  ~ViewBodyReader();
  ViewBodyReader(const ViewBodyReader&) = delete;
  ViewBodyReader& operator=(const ViewBodyReader&) = delete;
  // The next bytes; empty at the end. Valid until the next call.
  std::string_view next();

 private:
  struct Inflate;
  std::shared_ptr<const ViewBody> body_;
  std::size_t chunk_;
  std::size_t index_ = 0;  // the part being read
  std::shared_ptr<const std::string> text_;  // a whole part handed out
  std::unique_ptr<Inflate> inflate_;  // the GzipOnly part being inflated
};

// Parts this small are compressed by whoever makes them.
inline constexpr std::size_t kCompressInline = 64 * 1024;
// Bodies smaller than this are always sent plain.
inline constexpr std::size_t kMinGzipBody = 512;

// The thread that compresses big parts. A part that nobody holds any more
// when its turn comes is skipped; at most kMaxQueued wait (the oldest are
// dropped beyond: their bodies are sent plain). After it has let go of
// kTrimAfter plain bytes of GzipOnly parts it hands freed memory back to the
// system (malloc_trim) once its queue is empty.
class BodyCompressor {
 public:
  static constexpr std::size_t kMaxQueued = 65536;
  // submit_paced waits while this many plain bytes wait to be compressed.
  static constexpr std::size_t kPaceBytes = 32 << 20;
  static constexpr std::size_t kTrimAfter = 16 << 20;
  BodyCompressor();
  ~BodyCompressor();
  BodyCompressor(const BodyCompressor&) = delete;
  BodyCompressor& operator=(const BodyCompressor&) = delete;

  // Compresses small parts now, queues the others.
  void submit(const ViewBody& body);
  // Queues one big part, first waiting (at most `patience`) while more than
  // kPaceBytes already wait: one who renders many big parts in a row (a
  // load of the history) then never holds them all plain at once.
  void submit_paced(const BodyPartPtr& part, std::chrono::milliseconds patience);
  // Queues one part of any size for the thread (never compresses here, never
  // waits): a part made on a request's thread, kept for later requests.
  void submit_later(const BodyPartPtr& part);
  // Waits until everything submitted so far is compressed (tests, benchmarks).
  void drain();
  std::size_t dropped() const { return dropped_.load(); }

 private:
  void run();
  void enqueue_locked(const BodyPartPtr& part, std::size_t& dropped);
  void report_dropped(std::size_t dropped);
  struct Queued {
    std::weak_ptr<const BodyPart> part;
    std::size_t bytes;
  };
  std::mutex mutex_;
  std::condition_variable wake_, idle_, room_;
  std::deque<Queued> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t released_ = 0;  // GzipOnly plain bytes let go of since the last trim
  bool busy_ = false;
  bool stop_ = false;
  std::atomic<std::size_t> dropped_{0};
  std::thread thread_;
};

}  // namespace qc
