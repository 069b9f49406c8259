#include "http/events_endpoint.h"

#include <optional>
#include <string>

#include "core/json_writer.h"
#include "http/query_string.h"

namespace qc {
namespace {

HttpResponse subscribe(EventHub& hub, std::optional<std::string_view> last_event_id) {
  auto subscription = hub.subscribe(last_event_id);
  if (!subscription.stream) {
    auto r = json_error(503, subscription.refused);
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  HttpResponse r;
  r.content_type = "text/event-stream";
  r.stream = std::move(subscription.stream);
  r.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  return r;
}

}  // namespace

HttpResponse events_endpoint(EventHub* hub, const HttpRequest& request, std::string_view query) {
  if (!hub) return json_error(503, "live events are not enabled on this server");
  // The header wins: an EventSource sends it on every reconnection with the
  // id it got last, while its URL keeps the parameter it was opened with.
  // A malformed header is not an error but a resume that cannot be done
  // (the hub answers `reset`); a malformed parameter was written by the
  // page's code, and is a 422 it can see.
  std::optional<std::string_view> last_event_id;
  if (auto it = request.find("Last-Event-ID"); it != request.end()) {
    last_event_id = it->value();
  } else if (!query.empty()) {
    std::string from_query;
    bool given = false;
    for (auto& [key, value] : parse_query_string(query))
      if (key == "last_event_id") {
        from_query = std::move(value);
        given = true;
      }
    if (given && !from_query.empty() && !parse_event_id(from_query)) {
      std::string msg = "last_event_id must be an event id (a whole number from 0 to 9223372036854775807), got '" +
                        from_query.substr(0, 40) + "'";
      std::string body;
      JsonWriter w(body);
      w.begin_object().key("detail").value(msg).key("problems").begin_array().begin_object();
      w.key("loc").begin_array().value("query").value("last_event_id").end_array();
      w.key("msg").value(msg).end_object().end_array().end_object();
      HttpResponse r;
      r.status = 422;
      r.body = std::make_shared<const std::string>(std::move(body));
      return r;
    }
    if (given) return subscribe(*hub, from_query);
  }
  return subscribe(*hub, last_event_id);
}

}  // namespace qc
