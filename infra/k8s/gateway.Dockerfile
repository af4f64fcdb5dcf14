# The gateway image: the `carehub` binary and spin.toml (its route table).
# It runs no components in proxy mode, so no .wasm goes in.
#   docker build -f infra/k8s/gateway.Dockerfile -t registry.example.jp/carehub/gateway:0.1.0 .
FROM rust:1.90-bookworm AS build
WORKDIR /src
# The workspace, without target/ (cargo needs every member's manifest).
COPY Cargo.toml Cargo.lock spin.toml ./
COPY shared shared
COPY functions functions
COPY infra infra
COPY tests tests
RUN cargo build --locked --release -p carehub --bin carehub

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/carehub /usr/local/bin/carehub
COPY --from=build /src/spin.toml /app/spin.toml
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/carehub"]
CMD ["up", "--manifest=/app/spin.toml", "--listen=0.0.0.0:8443", "--proxy=/etc/carehub/proxy/proxy.toml"]
