package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

const (
	image = "postgres"
	tag   = "15"
	// startTimeout bounds the start of a server: a new container or cluster accepting
	// connections. The offline image answers in about two seconds, a cold Docker Hub pull
	// takes longer.
	startTimeout = 2 * time.Minute
	// containerLabel marks the containers pgtest starts, so a leftover of a killed test
	// binary can be found: docker rm -f $(docker ps -aqf label=cubesync.pgtest).
	containerLabel = "cubesync.pgtest"
)

// dockerEngine starts postgres:15 containers through ory/dockertest.
type dockerEngine struct {
	pool *dockertest.Pool
}

// newDocker connects to the Docker engine of DOCKER_HOST or the default socket.
func newDocker() (*dockerEngine, error) {
	pool, err := dockertest.NewPool("")
	if err == nil {
		err = pool.Client.Ping()
	}
	if err != nil {
		return nil, fmt.Errorf("docker is not reachable: %w", err)
	}
	pool.MaxWait = startTimeout
	return &dockerEngine{pool: pool}, nil
}

// hasImage reports whether the engine has the postgres:15 image, so starting it needs no
// registry.
func (d *dockerEngine) hasImage() (bool, error) {
	_, err := d.pool.Client.InspectImage(image + ":" + tag)
	if errors.Is(err, docker.ErrNoSuchImage) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("docker: inspect %s:%s: %w", image, tag, err)
	}
	return true, nil
}

// start runs a postgres:15 container with a random superuser password, bound to 127.0.0.1.
func (d *dockerEngine) start(ctx context.Context) (*started, error) {
	password := randomHex(16)
	resource, err := d.pool.RunWithOptions(&dockertest.RunOptions{
		Repository: image,
		Tag:        tag,
		Env:        []string{"POSTGRES_PASSWORD=" + password, "POSTGRES_USER=postgres", "POSTGRES_DB=postgres"},
		// Durability is worthless for a database that lives as long as a test binary.
		Cmd:    []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
		Labels: map[string]string{containerLabel: "1"},
		PortBindings: map[docker.Port][]docker.PortBinding{
			"5432/tcp": {{HostIP: "127.0.0.1", HostPort: ""}},
		},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
		// The data directory in memory: initdb on overlay file systems takes seconds longer.
		hc.Tmpfs = map[string]string{"/var/lib/postgresql/data": "rw"}
	})
	if err != nil {
		return nil, fmt.Errorf("start %s:%s container (on machines without a registry, build the image with .ci/postgres-image.sh): %w", image, tag, err)
	}
	purge := func() error { return d.pool.Purge(resource) }

	admin := (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", password),
		Host:     resource.GetHostPort("5432/tcp"),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}).String()
	var last error
	err = d.pool.Retry(func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		last = execSQL(ctx, admin, "SELECT 1")
		return last
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("postgres container %s did not accept connections within %s: %w", resource.Container.Name, startTimeout, errors.Join(err, last)), purge())
	}
	return &started{
		adminDSN: admin,
		fileCopy: true,
		kind:     fmt.Sprintf("%s:%s container (%s)", image, tag, resource.Container.Name),
		stop:     purge,
	}, nil
}
