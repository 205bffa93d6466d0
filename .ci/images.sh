#!/usr/bin/env bash
# Builds the project's Docker image and runs it once: `validate`, `run-job demo` and a short
# `serve` that must answer /readyz, run its job and stop cleanly on SIGTERM.
#
# No container registry is reachable on the project's machines (docker-offline.md in the
# shared notes), so the two base images the Dockerfile names are first built here from
# Debian packages, under the names a developer's machine pulls, and only when missing:
#   golang:1.26-bookworm                       bookworm with this machine's Go (go.mod's
#                                              version) in /usr/local/go, and this machine's
#                                              CA bundle: the network path to the module
#                                              proxy may re-sign TLS with a local CA
#   gcr.io/distroless/static-debian12:nonroot  what distroless static holds: CA certificates,
#                                              zone data, /etc/passwd with nonroot (65532),
#                                              /tmp; no shell, no package manager
# `docker build --network=host` lets the build reach the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

go_version=$(go env GOVERSION)          # go1.26.8
go_minor=${go_version#go}
go_minor=${go_minor%.*}                 # 1.26
go_image=golang:${go_minor}-bookworm
base_image=gcr.io/distroless/static-debian12:nonroot
image=cubesync:ci
mirror=http://deb.debian.org/debian

work=$(mktemp -d)
cleanup() {
	docker rm -f cubesync-ci-serve cubesync-ci-default >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

need_mmdebstrap() {
	if ! command -v mmdebstrap >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
	fi
}

# curl checks serve's endpoints in the container below.
if ! command -v curl >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi

if docker image inspect "$go_image" >/dev/null 2>&1; then
	echo "images: $go_image present"
else
	echo "images: building $go_image from Debian bookworm and $(go env GOROOT) ($go_version)"
	need_mmdebstrap
	goroot=$(go env GOROOT)
	mmdebstrap --variant=apt --include=ca-certificates,git \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook="mkdir -p \"\$1/usr/local/go\" && tar -C '$goroot' -cf - . | tar -C \"\$1/usr/local/go\" -xf -" \
		--customize-hook='mkdir -p "$1/go/bin" "$1/go/src" && chmod -R 1777 "$1/go"' \
		--customize-hook="copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs" \
		--customize-hook='rm -rf "$1/var/lib/apt/lists/"*' \
		bookworm "$work/go.tar" "$mirror"
	docker import \
		--change 'ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV GOLANG_VERSION='"${go_version#go}" \
		--change 'ENV GOPATH=/go' \
		--change 'WORKDIR /go' \
		"$work/go.tar" "$go_image"
	rm -f "$work/go.tar"
fi

if docker image inspect "$base_image" >/dev/null 2>&1; then
	echo "images: $base_image present"
else
	echo "images: building $base_image from Debian bookworm packages"
	need_mmdebstrap
	mmdebstrap --variant=apt --include=ca-certificates,tzdata,netbase \
		bookworm "$work/full.tar" "$mirror"
	mkdir -p "$work/full" "$work/static"
	tar -C "$work/full" -xf "$work/full.tar" ./etc ./usr/share/zoneinfo ./usr/lib/os-release
	s=$work/static
	mkdir -p "$s/etc/ssl/certs" "$s/usr/share" "$s/usr/lib" "$s/tmp" "$s/home/nonroot" "$s/root" "$s/var/lib"
	cp "$work/full/etc/ssl/certs/ca-certificates.crt" "$s/etc/ssl/certs/"
	cp -a "$work/full/usr/share/zoneinfo" "$s/usr/share/"
	cp "$work/full/etc/services" "$work/full/etc/protocols" "$s/etc/"
	cp "$work/full/usr/lib/os-release" "$s/usr/lib/" && ln -s ../usr/lib/os-release "$s/etc/os-release"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$s/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$s/etc/group"
	echo 'hosts: files dns' >"$s/etc/nsswitch.conf"
	chmod 1777 "$s/tmp"
	chmod 700 "$s/root"
	tar -C "$s" --numeric-owner --owner=0 --group=0 --exclude=./home/nonroot -cf "$work/static.tar" .
	# The nonroot home belongs to its user, as in distroless.
	tar -C "$s" --numeric-owner --owner=65532 --group=65532 --no-recursion -rf "$work/static.tar" ./home/nonroot
	docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
		--change 'USER 65532' \
		--change 'WORKDIR /home/nonroot' \
		"$work/static.tar" "$base_image"
fi

echo "images: building $image"
start=$SECONDS
# This Docker has no BuildKit (buildx): the classic builder, whose layer cache keeps the
# downloaded modules and compiled dependencies while go.mod does not change. The build stage
# is tagged too, so that the stages older builds left behind can be removed without losing
# that cache.
version="ci-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
goproxy=$(go env GOPROXY)
build() {
	DOCKER_BUILDKIT=0 docker build --network=host \
		--build-arg GOPROXY="$goproxy" --build-arg VERSION="$version" \
		"$@" . >>"$work/build.log" 2>&1
}
if ! build --target build -t cubesync-build:ci || ! build -t "$image"; then
	echo "images: docker build failed:" >&2
	cat "$work/build.log" >&2
	exit 1
fi
docker image prune -f --filter label=org.cubesync.stage=build >/dev/null
docker image prune -f --filter label=org.opencontainers.image.title=cubesync >/dev/null
echo "images: built $image in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"

echo "images: checking $image"
user=$(docker image inspect -f '{{.Config.User}}' "$image")
entry=$(docker image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$image")
if [ "$user" != "65532:65532" ] || [ "$entry" != '["cubesync"] ["serve"]' ]; then
	echo "images: $image runs as user '$user' with entrypoint/cmd $entry; want 65532:65532 and [\"cubesync\"] [\"serve\"]" >&2
	exit 1
fi
docker run --rm "$image" version
docker run --rm "$image" validate
docker run --rm "$image" run-job demo --progress plain --log-format json >"$work/demo.out" 2>"$work/demo.log" || {
	echo "images: run-job demo failed in the container:" >&2
	cat "$work/demo.out" "$work/demo.log" >&2
	exit 1
}
grep -q 'job demo: published' "$work/demo.out" || {
	echo "images: run-job demo did not publish:" >&2
	cat "$work/demo.out" >&2
	exit 1
}
echo "images: run-job demo published in the container"

# stop_cleanly CONTAINER WHAT stops CONTAINER with SIGTERM (docker stop) and fails, with its
# logs, unless it exits 0; WHAT names it in the error.
stop_cleanly() {
	docker stop -t 30 "$1" >/dev/null
	code=$(docker inspect -f '{{.State.ExitCode}}' "$1")
	if [ "$code" != 0 ]; then
		echo "images: $2 exited $code on SIGTERM, want 0:" >&2
		docker logs "$1" >&2
		exit 1
	fi
}

# serve as the image's CMD: a job every second, /readyz answered, SIGTERM (docker stop) exits 0.
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/config"
cat >"$work/config/jobs.toml" <<'TOML'
[targets.demo]
base_url = "embedded"
project_id = "B7CA92F04B9FAE8D941C3E9B7E0CD754"
username = "demo"
password = "demo"

[serve]
shutdown_grace = "10s"

[jobs.tick]
schedule = "CRON_TZ=Europe/Berlin * * * * * *"
target = "demo"
dataset = { name = "Tick" }
[[jobs.tick.tables]]
name = "stores"
policy = "replace"
parquet = "/app/testdata/demo/stores.parquet"
TOML
chmod -R a+rX "$work/config"
docker run -d --name cubesync-ci-serve --network=host \
	-v "$work/config:/config:ro" -e CUBESYNC_CONFIG=/config/jobs.toml -e CUBESYNC_LISTEN="127.0.0.1:$port" \
	"$image" >/dev/null
ok=""
for _ in $(seq 1 60); do
	if curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | grep -q '^cubesync_runs_total{job="tick",status="succeeded"}'; then
		ok=1
		break
	fi
	sleep 0.5
done
if [ -z "$ok" ] || ! curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; then
	echo "images: serve in the container did not become ready and run its job:" >&2
	docker logs cubesync-ci-serve >&2
	exit 1
fi
stop_cleanly cubesync-ci-serve "serve"
echo "images: serve ran its job, answered /readyz and stopped cleanly on SIGTERM"

# The image as it ships: its default command (serve) on the shipped jobs.toml, whose demo
# job has a schedule, must start and answer /readyz, and stop cleanly on SIGTERM.
port=$((20000 + RANDOM % 20000))
docker run -d --name cubesync-ci-default --network=host -e CUBESYNC_LISTEN="127.0.0.1:$port" "$image" >/dev/null
ok=""
for _ in $(seq 1 60); do
	if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
		ok=1
		break
	fi
	sleep 0.5
done
if [ -z "$ok" ]; then
	echo "images: the default command (serve on the shipped jobs.toml) did not answer /readyz:" >&2
	docker logs cubesync-ci-default >&2
	exit 1
fi
stop_cleanly cubesync-ci-default "serve on the shipped jobs.toml"
echo "images: the default command serves the shipped jobs.toml, answered /readyz and stopped cleanly"
