# syntax=docker/dockerfile:1
# One image with all of AIgateway's binaries; docker-compose.yml picks the command per service.

# ---- build: the release binaries ----
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
        -p aig-controlplane -p aig-dataplane -p aig-tests \
    && mkdir -p /out \
    && cp target/release/aig-controlplane target/release/aig-dataplane \
          target/release/aig-mock-providers target/release/aig-dev-seed /out/

# ---- runtime: a small Debian with the binaries ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin aig
COPY --from=build /out/ /usr/local/bin/
USER aig
# Inside a container the planes listen on every interface; compose publishes them on loopback.
ENV AIG_DATAPLANE_ADDR=0.0.0.0:8080 \
    AIG_CONTROLPLANE_ADDR=0.0.0.0:8081 \
    AIG_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 8080 8081 8090
CMD ["aig-dataplane"]
