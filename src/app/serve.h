// `quantcrunch serve`: wires the adapters chosen by the configuration to the
// ledger and the HTTP API, logs one line per startup piece, and shuts down
// cleanly on SIGINT/SIGTERM.
#pragma once
#include "app/config.h"

namespace qc {
int run_serve(const ServeConfig& config);
}
