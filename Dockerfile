# syntax=docker/dockerfile:1
# Both binaries in one minimal, non-root image:
#   docker build -t gridshift:dev .
#   docker run --rm gridshift:dev --help                                  # gridshift-hub
#   docker run --rm --entrypoint /usr/local/bin/gridshift-agent gridshift:dev --help
# The charts run /usr/local/bin/gridshift-hub or /usr/local/bin/gridshift-agent.

# ---- build ------------------------------------------------------------------
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and target/ between builds, so a
# source edit recompiles only the workspace crates. protox compiles the
# .proto files in Rust: no protoc needed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gridshift-hub -p gridshift-agent \
 && mkdir -p /out/state \
 && cp target/release/gridshift-hub target/release/gridshift-agent /out/

# ---- runtime ----------------------------------------------------------------
# distroless/cc: glibc and libgcc only; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="gridshift" \
      org.opencontainers.image.description="Gridshift hub and agent: a carbon-aware Kubernetes fleet" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/gridshift-hub /out/gridshift-agent /usr/local/bin/
# The openly licensed 2022 traces (attribution inside) for the replay provider,
# the hub chart's default (carbon.replay.dir).
COPY e2e/data/carbon-intensity-open /usr/share/gridshift/carbon-intensity-open
# Where the hub keeps its forecast state (the chart mounts an emptyDir here).
COPY --from=build --chown=65532:65532 /out/state /var/lib/gridshift
USER 65532:65532
EXPOSE 7443 8080 8081
ENTRYPOINT ["/usr/local/bin/gridshift-hub"]
