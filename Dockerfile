# cubesync: one static binary on a distroless base, running as a non-root user.
#
#   docker build -t cubesync .
#   docker run --rm cubesync run-job demo          # the shipped demo, into the built-in emulator
#   docker run -v $PWD/jobs.toml:/app/jobs.toml -p 9746:9746 cubesync   # serve your jobs
#
# CI builds it offline from stand-ins for the two base images (.ci/images.sh).
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
# Marks the build stage's images, so CI can remove the ones a newer build replaced.
LABEL org.cubesync.stage=build
ARG GOPROXY=https://proxy.golang.org,direct
WORKDIR /src
# Modules, and the third-party packages compiled once, in layers that change only with
# go.mod: a code change recompiles cubesync's own packages, not Arrow's. The list names the
# packages cubesync imports (their dependencies follow); one missing from it is compiled in
# the build below, so the list is a speed-up, not a requirement.
COPY go.mod go.sum ./
RUN go mod download && CGO_ENABLED=0 go build -trimpath \
        github.com/apache/arrow-go/v18/parquet/pqarrow \
        github.com/apache/arrow-go/v18/parquet/file \
        github.com/apache/arrow-go/v18/arrow/array \
        github.com/jackc/pgx/v5/pgxpool \
        github.com/jackc/pgx/v5/stdlib \
        github.com/pressly/goose/v3 \
        github.com/pressly/goose/v3/lock \
        github.com/prometheus/client_golang/prometheus/promhttp \
        github.com/prometheus/client_golang/prometheus/collectors \
        github.com/robfig/cron/v3 \
        github.com/BurntSushi/toml \
        github.com/vbauerster/mpb/v8/decor \
        golang.org/x/sync/errgroup \
        golang.org/x/term
COPY . .
# Declared here, not above: a new VERSION must not invalidate the dependency layer.
ARG VERSION=dev
# CGO off: a static binary that needs no libc in the runtime image. Zone data is embedded
# in the binary as well (time/tzdata), so CRON_TZ works even without the base's tzdata.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X main.version=${VERSION}" \
        -o /out/cubesync ./cmd/cubesync
# /app holds the shipped jobs.toml and its demo data, and the local state (./.cubesync),
# so it belongs to the non-root user.
RUN mkdir -p /out/app/.cubesync /out/app/testdata \
    && cp jobs.toml /out/app/ \
    && cp -r testdata/demo /out/app/testdata/

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title=cubesync \
      org.opencontainers.image.description="Scheduled ETL jobs from Postgres and Parquet into MicroStrategy datasets"
COPY --from=build /out/cubesync /usr/local/bin/cubesync
COPY --from=build --chown=65532:65532 /out/app /app
WORKDIR /app
USER 65532:65532
# Inside a container serve must be reachable from outside it: all interfaces.
ENV CUBESYNC_LISTEN=0.0.0.0:9746
EXPOSE 9746
ENTRYPOINT ["cubesync"]
CMD ["serve"]
