//go:build !unix

package pgtest

import (
	"context"
	"errors"
)

// findBinaries reports that throwaway clusters need a Unix system (the server's socket and
// its OS user are set up the Unix way).
func findBinaries() (string, error) {
	return "", errors.New("a throwaway PostgreSQL cluster for the tests needs Linux or another Unix")
}

func templateCache() string { return "" }

func startLocal(context.Context, string, string) (*started, error) {
	_, err := findBinaries()
	return nil, err
}
