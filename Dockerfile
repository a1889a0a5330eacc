# Lead Inbox: a multi-stage image running as a non-root user.
#   docker build -t lead-inbox .
#   docker run -p 8080:8080 -v lead-inbox-data:/var/lib/lead-inbox \
#     -e LEAD_INBOX_WEBHOOK_TOKENS=... -e LEAD_INBOX_API_KEYS=... lead-inbox
# (Not built in this project's CI: its machines have no Docker engine.)

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lead-inbox-server \
 && install -D target/release/lead-inbox /out/lead-inbox

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/lead-inbox --create-home lead-inbox
COPY --from=build /out/lead-inbox /usr/local/bin/lead-inbox
USER lead-inbox
WORKDIR /var/lib/lead-inbox
# MALLOC_ARENA_MAX=2: glibc otherwise keeps a malloc arena per thread that ever
# allocated (tokio's workers, one thread per SQLite connection), and memory freed in
# them is rarely returned; docs/benchmarks.md ("Memory") has the measurement.
ENV MALLOC_ARENA_MAX=2 \
    LEAD_INBOX_BIND=0.0.0.0:8080 \
    LEAD_INBOX_DATABASE_URL=sqlite:///var/lib/lead-inbox/lead-inbox.db \
    LEAD_INBOX_LOG_FORMAT=json
VOLUME ["/var/lib/lead-inbox"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/lead-inbox"]
CMD ["serve"]
