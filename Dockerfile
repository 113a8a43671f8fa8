# syntax=docker/dockerfile:1
#
# portcullis in a container: `docker build -t portcullis .`, then
#   docker run -p 8080:8080 -v portcullis-data:/var/lib/portcullis \
#     -e PORTCULLIS_ISSUER=https://auth.example.com \
#     -e PORTCULLIS_MASTER_KEY="$(cat master.key)" portcullis
# Settings come from PORTCULLIS_* variables (or a file mounted and named by
# PORTCULLIS_CONFIG); see deploy/config.example.toml and the README's
# "Production" section.

# --- build -----------------------------------------------------------------
# The Rust image carries what the build needs beyond cargo: a C compiler
# (SQLite, libpq and aws-lc are built from source), pkg-config and the
# OpenSSL headers libpq links against.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target between builds; the binary is
# copied out of the cached target before the layer is made.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin portcullis \
    && install -m 0755 target/release/portcullis /usr/local/bin/portcullis

# --- run -------------------------------------------------------------------
# debian-slim rather than distroless: the health check needs a shell (bash's
# /dev/tcp speaks enough HTTP for /readyz, so no curl is installed), and
# libpq needs libssl3 and CA certificates for sslmode=verify-full.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/portcullis --shell /usr/sbin/nologin portcullis \
    && install -d -o portcullis -g portcullis -m 0700 /var/lib/portcullis
COPY --from=build /usr/local/bin/portcullis /usr/local/bin/portcullis
COPY deploy/healthcheck.sh /usr/local/bin/portcullis-healthcheck

# Listen on every interface of the container; data (SQLite, and a
# development master key when the issuer is http) on the volume. JSON logs
# for the container runtime's log pipeline.
ENV PORTCULLIS_BIND=0.0.0.0:8080 \
    PORTCULLIS_DATA_DIR=/var/lib/portcullis \
    PORTCULLIS_DATABASE_URL=sqlite:///var/lib/portcullis/portcullis.db \
    PORTCULLIS_LOG_FORMAT=json
VOLUME /var/lib/portcullis
WORKDIR /var/lib/portcullis
USER portcullis:portcullis
EXPOSE 8080

# Ready: the database (and Redis, when it must answer) responds.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/portcullis-healthcheck"]

# SIGTERM (docker stop) ends the server gracefully: in-flight requests get
# up to 10 s, so keep docker's stop timeout above that (its default is 10 s:
# `docker stop -t 15`). Migrations are applied on start.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
