# Multi-stage build: compile with the Rust toolchain, run on a slim Debian as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin cuadra

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin cuadra \
 && mkdir -p /data && chown cuadra:cuadra /data
COPY --from=build /src/target/release/cuadra /usr/local/bin/cuadra
COPY config/cuadra.example.toml /etc/cuadra/cuadra.example.toml
USER cuadra
WORKDIR /data
# data/cuadra.db and inbox/ live under /data.
VOLUME ["/data"]
ENV CUADRA__HTTP__LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/cuadra"]
CMD ["run"]
