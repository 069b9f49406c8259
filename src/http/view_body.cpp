#include "http/view_body.h"

#include <zlib.h>

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

void BodyPart::compress() const {
  if (deflated_.load()) return;
  deflated_.store(std::make_shared<const DeflatedPart>(deflate_part(plain_)));
}

ViewBody::ViewBody(std::vector<BodyPartPtr> parts) : parts_(std::move(parts)) {
  for (const auto& p : parts_) size_ += p->plain().size();
}

std::shared_ptr<const ViewBody> ViewBody::of(std::string text) {
  auto part = std::make_shared<const BodyPart>(std::move(text));
  if (part->plain().size() >= kMinGzipBody && part->plain().size() <= kCompressInline) part->compress();
  return std::make_shared<const ViewBody>(std::vector<BodyPartPtr>{std::move(part)});
}

std::string ViewBody::text() const {
  std::string out;
  out.reserve(size_);
  for (const auto& p : parts_) out += p->plain();
  return out;
}

std::shared_ptr<const GzipFrame> ViewBody::gzip() const {
  if (auto g = gzip_.load()) return g;
  if (size_ < kMinGzipBody) return nullptr;
  uLong crc = crc32(0, nullptr, 0);
  std::size_t deflated = 0;
  for (const auto& p : parts_) {
    auto d = p->deflated();
    if (!d) return nullptr;
    crc = crc32_combine(crc, d->crc, static_cast<z_off_t>(p->plain().size()));
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
  thread_.join();
}

void BodyCompressor::submit(const ViewBody& body) {
  if (body.size() < kMinGzipBody) return;
  std::size_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& p : body.parts()) {
      if (p->deflated()) continue;
      if (p->plain().size() <= kCompressInline) {
        p->compress();
        continue;
      }
      if (queue_.size() >= kMaxQueued) {
        queue_.pop_front();
        ++dropped;
      }
      queue_.push_back(p);
    }
  }
  if (dropped) {
    dropped_ += dropped;
    log::error("http", "compression queue full: " + std::to_string(dropped) +
                           " parts of published views will be sent uncompressed");
  }
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
    auto part = queue_.front().lock();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    if (part) {
      try {
        part->compress();
      } catch (const std::exception& e) {
        log::error("http", std::string("cannot compress a view: ") + e.what() + "; it is sent uncompressed");
      }
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace qc
