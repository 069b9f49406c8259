// GET /api/events (SPEC §4.9): the HTTP side of the event hub. Reads where
// the client resumes from (the Last-Event-ID header, else the
// `last_event_id` query parameter) and answers with the hub's stream as
// text/event-stream, or with the error that stops it (422 malformed
// last_event_id parameter, 503 no room for another subscriber).
#pragma once
#include <string_view>

#include "http/event_hub.h"
#include "http/server.h"

namespace qc {

// `hub` null: 503 (live events not enabled).
HttpResponse events_endpoint(EventHub* hub, const HttpRequest& request, std::string_view query);

}  // namespace qc
