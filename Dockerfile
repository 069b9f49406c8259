# QuantCrunch server image: build on Debian 12 with the project's own scripts,
# run on debian:12-slim with only the shared libraries the binary links.
#
#   docker build -t quantcrunch .
#   docker run --rm -p 5050:5050 quantcrunch      # embedded default: SQLite, simulated feed
#
# docs/deploy.md covers docker compose (API + Redis) and Heroku (container stack).

# ---- build ---------------------------------------------------------------------
FROM debian:12 AS build

# Parallel compile jobs (scripts/build.sh reads QC_JOBS; its default is 2).
ARG QC_JOBS=2

WORKDIR /src

# Dependencies first, so that a source change does not reinstall them:
# scripts/setup.sh installs the Debian packages (apt-get, we are root here) and
# the Swagger UI assets with `npm ci` from package-lock.json.
COPY scripts/setup.sh scripts/setup.sh
COPY package.json package-lock.json ./
RUN scripts/setup.sh \
 && rm -rf /var/lib/apt/lists/* /root/.npm

COPY . .
RUN scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DQC_BUILD_TESTS=OFF -DQC_BUILD_BENCH=OFF \
 && install -D -m 0755 -s build/quantcrunch /out/quantcrunch \
 && mkdir -p /out/docs \
 && cp build/docs/* /out/docs/ \
 && test -f /out/docs/openapi.json \
 && test -f /out/docs/swagger-ui-bundle.js

# ---- runtime ---------------------------------------------------------------------
FROM debian:12-slim AS runtime

# Runtime libraries only. Each one is the Debian 12 package that ships a library
# `readelf -d quantcrunch` lists as NEEDED (their own dependencies -- libicu72,
# libmongocrypt0, libsasl2-2, libsnappy1v5, libzstd1, zlib1g -- come with them):
#   libdate-tz.so.3 -> libdate-tz3        libsqlite3.so.0   -> libsqlite3-0
#   libsimdjson.so.14 -> libsimdjson14    libmongoc-1.0.so.0 -> libmongoc-1.0-0
#   libbson-1.0.so.0 -> libbson-1.0-0     libboost_url.so.1.81.0 -> libboost-url1.81.0
#   libssl.so.3, libcrypto.so.3 -> libssl3
#   libhiredis.so.0.14 -> libhiredis0.14 (the Redis cache, src/cache/redis; CMake
#   links it through pkg-config hiredis)
#   libspdlog.so.1.10 -> libspdlog1.10, libfmt.so.9 -> libfmt9 (src/log)
# libstdc++6, libgcc-s1 and libc6 are already in debian:12-slim.
# tzdata: America/New_York rules for libdate-tz (SPEC 6.1).
# ca-certificates: TLS to Polygon (https/wss) and to MongoDB Atlas.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libboost-url1.81.0 \
      libbson-1.0-0 \
      libdate-tz3 \
      libfmt9 \
      libhiredis0.14 \
      libmongoc-1.0-0 \
      libsimdjson14 \
      libspdlog1.10 \
      libsqlite3-0 \
      libssl3 \
      tzdata \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Binary and docs belong to root (read-only for the server); only data/ is
# writable, by the unprivileged user the server runs as.
COPY --from=build /out/ /app/
RUN groupadd --system --gid 10001 quantcrunch \
 && useradd --system --uid 10001 --gid quantcrunch --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin quantcrunch \
 && mkdir -p /app/data \
 && chown quantcrunch:quantcrunch /app/data \
 && chmod 0750 /app/data

# MONGOC_DISABLE_SHM: no per-process counters file in /dev/shm (docs/decisions.md).
ENV QC_DOCS_DIR=/app/docs \
    QC_DATA_DIR=/app/data \
    MONGOC_DISABLE_SHM=1
# SQLite file (embedded default) and local state. Unused when MONGO_ATLAS_URI is set.
VOLUME ["/app/data"]

USER quantcrunch
# The server listens on $PORT (default 5050); Heroku sets PORT itself.
EXPOSE 5050

# GET /healthz over bash's /dev/tcp: debian:12-slim has neither curl nor wget,
# and bash is part of the base image, so no package is added for this.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-5050} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]

# SIGTERM: stop accepting, commit everything queued, exit 0 (well within 30 s).
STOPSIGNAL SIGTERM
CMD ["/app/quantcrunch", "serve"]
