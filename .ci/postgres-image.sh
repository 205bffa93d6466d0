#!/usr/bin/env bash
# Builds the postgres:15 Docker image offline, from Debian packages, when it is missing.
# No container registry is reachable on the project's machines (see docker-offline.md in the
# shared notes), so the image the dockertest-based tests start is built here under the name
# and tag a developer's machine pulls from Docker Hub: the same test code runs in both places.
# bookworm ships PostgreSQL 15, so the tag is honest. A warm machine skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

image=postgres:15
if docker image inspect "$image" >/dev/null 2>&1; then
	echo "postgres-image: $image present"
	exit 0
fi
echo "postgres-image: building $image from Debian bookworm packages"

if ! command -v mmdebstrap >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp .ci/postgres-entrypoint.sh "$work/entrypoint.sh"

# postgresql-common's postinst creates a "main" cluster; the entrypoint makes its own in
# $PGDATA, so the hook removes it. Docs and man pages are left out to keep the image small.
mmdebstrap --variant=apt --include=postgresql-15 \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook="copy-in $work/entrypoint.sh /usr/local/bin" \
	--customize-hook='chmod 755 "$1/usr/local/bin/entrypoint.sh"' \
	--customize-hook='rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"' \
	--customize-hook='rm -rf "$1/var/lib/apt/lists/"*' \
	bookworm "$work/root.tar" http://deb.debian.org/debian

docker import \
	--change 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'EXPOSE 5432' \
	"$work/root.tar" "$image"
echo "postgres-image: built $image"
