# syntax=docker/dockerfile:1
#
# seaf-backup: one image for both roles (`primary` beside Seafile, `backup` on the backup host).
#
#   docker build -t seaf-backup .
#   docker run --rm seaf-backup --help
#   docker run -v ./primary.toml:/etc/seaf-backup/primary.toml:ro ... seaf-backup primary -c /etc/seaf-backup/primary.toml
#
# compose/docker-compose.yml builds and runs it with Apache Kafka, MariaDB, Seafile, Prometheus
# and Grafana.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- build -----------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
# rdkafka-sys builds librdkafka from source (its ./configure needs a C toolchain, make, perl,
# python3; `ssl` links OpenSSL, `libz` zlib, `zstd` builds zstd with cc). aws-lc-sys (rustls)
# may use cmake. sqlx's SQLite is bundled and built with cc.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libssl-dev zlib1g-dev perl python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build directory between image builds; the binary is
# copied out because the cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_TARGET_DIR=/src/target cargo build --release --locked -p seaf-backup \
 && install -D -m 0755 /src/target/release/seaf-backup /out/seaf-backup

# --- runtime ---------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
# libssl3: librdkafka's TLS (SASL_SSL/SSL listeners); ca-certificates: TLS to brokers, schema
# registry and the primary; curl: container health checks against /healthz.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 zlib1g curl \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so volume ownership is predictable across hosts. The state and backup
# directories exist in the image, owned by that user, so an empty named volume mounted there
# inherits the ownership.
RUN groupadd --system --gid 10001 seaf-backup \
 && useradd --system --uid 10001 --gid seaf-backup --home-dir /var/lib/seaf-backup --shell /usr/sbin/nologin seaf-backup \
 && install -d -o seaf-backup -g seaf-backup -m 0750 /var/lib/seaf-backup \
 && install -d -o seaf-backup -g seaf-backup -m 0755 /backup /backup/seafile-data \
 && install -d -m 0755 /etc/seaf-backup
COPY --from=build /out/seaf-backup /usr/local/bin/seaf-backup
USER seaf-backup:seaf-backup
WORKDIR /var/lib/seaf-backup
# 8083: the primary's object API; 9108 / 9109: /metrics and /healthz of primary / backup
# (set metrics_listen = "0.0.0.0:PORT" in a container: the default binds 127.0.0.1 only).
EXPOSE 8083 9108 9109
ENTRYPOINT ["/usr/local/bin/seaf-backup"]
CMD ["--help"]
