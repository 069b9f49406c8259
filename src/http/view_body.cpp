#include "http/view_body.h"

#include <malloc.h>
#include <zlib.h>

#include <algorithm>
#include <stdexcept>

#include "log/log.h"

namespace qc {

DeflatedPart deflate_part(std::string_view plain) {
  z_stream zs{};
  if (deflateInit2(&zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib: deflateInit2 failed");
  DeflatedPart out;
  out.bytes.resize(deflateBound(&zs, static_cast<uLong>(plain.size())) + 16);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  zs.avail_in = static_cast<uInt>(plain.size());
  int rc = Z_OK;
  do {
    if (zs.total_out == out.bytes.size()) out.bytes.resize(out.bytes.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.bytes.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.bytes.size() - zs.total_out);
    rc = deflate(&zs, Z_SYNC_FLUSH);
  } while (rc == Z_OK && (zs.avail_in > 0 || zs.avail_out == 0));
  out.bytes.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("zlib: deflate failed");
  out.bytes.shrink_to_fit();
  out.crc = static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(plain.data()), static_cast<uInt>(plain.size())));
  return out;
}

BodyPart::BodyPart(std::string plain, Keep keep)
    : size_(plain.size()), keep_(keep), plain_(std::make_shared<const std::string>(std::move(plain))) {}

std::shared_ptr<const BodyPart> BodyPart::stored(std::string plain) {
  auto d = std::make_shared<DeflatedPart>();
  // Stored blocks (RFC 1951 3.2.4): BFINAL 0, BTYPE 00, then byte-aligned
  // LEN and its complement NLEN (little-endian) and LEN bytes. Each ends
  // byte-aligned, like a sync-flushed part.
  constexpr std::size_t kMaxStored = 65535;
  d->bytes.reserve(plain.size() + 5 * (plain.size() / kMaxStored + 1));
  std::size_t at = 0;
  do {
    std::size_t n = std::min(kMaxStored, plain.size() - at);
    const char header[5] = {0, static_cast<char>(n & 0xff), static_cast<char>(n >> 8),
                            static_cast<char>(~n & 0xff), static_cast<char>((~n >> 8) & 0xff)};
    d->bytes.append(header, sizeof header);
    d->bytes.append(plain, at, n);
    at += n;
  } while (at < plain.size());
  d->crc = static_cast<std::uint32_t>(
      crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(plain.data()), static_cast<uInt>(plain.size())));
  auto part = std::make_shared<BodyPart>(std::move(plain));
  part->deflated_.store(std::move(d));
  return part;
}

std::size_t BodyPart::compress() const {
  if (deflated_.load()) return 0;
  auto text = plain_.load();
  if (!text) return 0;  // another thread compressed it and let the text go
  deflated_.store(std::make_shared<const DeflatedPart>(deflate_part(*text)));
  if (keep_ != Keep::GzipOnly) return 0;
  plain_.store(nullptr);  // readers still holding it keep it alive
  return size_;
}

ViewBody::ViewBody(std::vector<BodyPartPtr> parts) : parts_(std::move(parts)) {
  for (const auto& p : parts_) size_ += p->size();
}

std::shared_ptr<const ViewBody> ViewBody::of(std::string text) {
  auto part = std::make_shared<const BodyPart>(std::move(text));
  if (part->size() >= kMinGzipBody && part->size() <= kCompressInline) part->compress();
  return std::make_shared<const ViewBody>(std::vector<BodyPartPtr>{std::move(part)});
}

bool ViewBody::all_plain() const {
  for (const auto& p : parts_)
    if (!p->plain()) return false;
  return true;
}

std::string ViewBody::text() const {
  std::string out;
  out.reserve(size_);
  // A reader needs an owner; this body outlives the call, so a non-owning one.
  ViewBodyReader reader(std::shared_ptr<const ViewBody>(std::shared_ptr<const ViewBody>(), this));
  for (auto piece = reader.next(); !piece.empty(); piece = reader.next()) out += piece;
  return out;
}

struct ViewBodyReader::Inflate {
  z_stream zs{};
  std::shared_ptr<const DeflatedPart> source;
  std::string out;
  std::size_t expected = 0;  // the part's plain size
  std::size_t produced = 0;
  Inflate(std::shared_ptr<const DeflatedPart> d, std::size_t size, std::size_t chunk)
      : source(std::move(d)), out(chunk, '\0'), expected(size) {
    if (inflateInit2(&zs, -15) != Z_OK) throw std::runtime_error("zlib: inflateInit2 failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(source->bytes.data()));
    zs.avail_in = static_cast<uInt>(source->bytes.size());
  }
  ~Inflate() { inflateEnd(&zs); }
  Inflate(const Inflate&) = delete;
  Inflate& operator=(const Inflate&) = delete;
  // The next inflated bytes of the part; empty when it is all out.
  std::string_view next() {
    if (produced == expected) return {};  // (what is left is the sync flush's empty block)
    std::size_t want = std::min(out.size(), expected - produced);
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(want);
    int rc = inflate(&zs, Z_SYNC_FLUSH);
    std::size_t got = want - zs.avail_out;
    if ((rc != Z_OK && rc != Z_BUF_ERROR && rc != Z_STREAM_END) || got == 0)
      throw std::runtime_error("a compressed part does not inflate to its text");
    produced += got;
    return {out.data(), got};
  }
};

ViewBodyReader::ViewBodyReader(std::shared_ptr<const ViewBody> body, std::size_t chunk)
    : body_(std::move(body)), chunk_(std::max<std::size_t>(chunk, 1)) {}

ViewBodyReader::~ViewBodyReader() = default;

std::string_view ViewBodyReader::next() {
  text_.reset();
  const auto& parts = body_->parts();
  while (index_ < parts.size()) {
    if (inflate_) {
      auto piece = inflate_->next();
      if (!piece.empty()) return piece;
      inflate_.reset();
      ++index_;
      continue;
    }
    const auto& part = parts[index_];
    if (part->size() == 0) {
      ++index_;
      continue;
    }
    // The text first: a part drops it only after its deflated form is set.
    if (auto text = part->plain()) {
      text_ = std::move(text);
      ++index_;
      return *text_;
    }
    auto deflated = part->deflated();
    if (!deflated) throw std::runtime_error("a part has neither its text nor its compressed form");
    inflate_ = std::make_unique<Inflate>(std::move(deflated), part->size(), chunk_);
  }
  return {};
}

std::shared_ptr<const GzipFrame> ViewBody::gzip() const {
  if (auto g = gzip_.load()) return g;
  if (size_ < kMinGzipBody) return nullptr;
  uLong crc = crc32(0, nullptr, 0);
  std::size_t deflated = 0;
  for (const auto& p : parts_) {
    auto d = p->deflated();
    if (!d) return nullptr;
    crc = crc32_combine(crc, d->crc, static_cast<z_off_t>(p->size()));
    deflated += d->bytes.size();
  }
  auto frame = std::make_shared<GzipFrame>();
  auto le32 = [&frame](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) frame->trailer.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  frame->trailer.assign("\x03\x00", 2);  // an empty final block (fixed Huffman)
  le32(static_cast<std::uint32_t>(crc));
  le32(static_cast<std::uint32_t>(size_ & 0xffffffffu));
  frame->size = GzipFrame::kHeader.size() + deflated + frame->trailer.size();
  std::shared_ptr<const GzipFrame> done = std::move(frame);
  gzip_.store(done);
  return done;
}

BodyCompressor::BodyCompressor() : thread_([this] { run(); }) {}

BodyCompressor::~BodyCompressor() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  room_.notify_all();
  thread_.join();
}

void BodyCompressor::enqueue_locked(const BodyPartPtr& part, std::size_t& dropped) {
  if (queue_.size() >= kMaxQueued) {
    queued_bytes_ -= queue_.front().bytes;
    queue_.pop_front();
    ++dropped;
  }
  queue_.push_back({part, part->size()});
  queued_bytes_ += part->size();
}

void BodyCompressor::report_dropped(std::size_t dropped) {
  if (!dropped) return;
  dropped_ += dropped;
  log::error("http", "compression queue full: " + std::to_string(dropped) +
                         " parts of published views or kept answers will be sent uncompressed");
}

void BodyCompressor::submit(const ViewBody& body) {
  if (body.size() < kMinGzipBody) return;
  std::size_t dropped = 0;
  bool queued = false;
  for (const auto& p : body.parts()) {
    if (p->deflated()) continue;
    if (p->size() <= kCompressInline) {
      p->compress();  // small: here, outside the queue's lock
      continue;
    }
    std::lock_guard lock(mutex_);
    enqueue_locked(p, dropped);
    queued = true;
  }
  report_dropped(dropped);
  if (queued) wake_.notify_one();
}

void BodyCompressor::submit_paced(const BodyPartPtr& part, std::chrono::milliseconds patience) {
  if (part->deflated()) return;
  if (part->size() <= kCompressInline) {
    part->compress();
    return;
  }
  std::size_t dropped = 0;
  {
    std::unique_lock lock(mutex_);
    room_.wait_for(lock, patience, [this] { return stop_ || queued_bytes_ <= kPaceBytes; });
    enqueue_locked(part, dropped);
  }
  report_dropped(dropped);
  wake_.notify_one();
}

void BodyCompressor::submit_later(const BodyPartPtr& part) {
  if (part->deflated() || part->size() < kMinGzipBody) return;
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    enqueue_locked(part, dropped);
  }
  report_dropped(dropped);
  wake_.notify_one();
}

void BodyCompressor::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void BodyCompressor::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto part = queue_.front().part.lock();
    queued_bytes_ -= queue_.front().bytes;
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    room_.notify_all();
    std::size_t released = 0;
    if (part) {
      try {
        released = part->compress();
      } catch (const std::exception& e) {
        log::error("http", std::string("cannot compress a view: ") + e.what() + "; it is sent uncompressed");
      }
    }
    part.reset();  // the text goes now, unless a reader still holds it
    lock.lock();
    released_ += released;
    bool trim = queue_.empty() && released_ >= kTrimAfter;
    if (trim) {
      released_ = 0;
      lock.unlock();
      // Big texts let go of in the middle of the heap stay counted in RSS
      // until trimmed (the load's months: ~200 MB at a million trades).
      malloc_trim(0);
      lock.lock();
    }
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace qc
