package jobs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/cubesync/cubesync/sink"
)

// ClientConfig turns the target into the settings of its Push API client. It is the one
// place a target's keys become sink.Config, used by the commands and the tests alike; the
// defaults were applied when the config was loaded. A target with tls_ca_file or
// insecure_skip_verify gets an HTTP client of its own. For the embedded emulator the
// caller replaces BaseURL with the emulator's address. log may be nil.
func (t *Target) ClientConfig(log *slog.Logger) (sink.Config, error) {
	cfg := sink.Config{
		BaseURL:        t.BaseURL,
		ProjectID:      t.ProjectID,
		Username:       t.Username,
		Password:       t.Password,
		LoginMode:      t.LoginMode,
		RequestTimeout: t.RequestTimeout,
		CallRetries:    t.CallRetries,
		CallBackoff:    t.CallBackoff,
		Logger:         log,
		Names:          clientFieldKeys,
	}
	if !t.Embedded() && (t.TLSCAFile != "" || t.InsecureSkipVerify) {
		hc, err := t.tlsClient(log)
		if err != nil {
			return sink.Config{}, err
		}
		cfg.HTTPClient = hc
	}
	return cfg, nil
}

// clientFieldKeys are the jobs.toml keys of a target that set the sink.Config fields: the
// client's messages name them so.
var clientFieldKeys = map[string]string{
	"BaseURL": "base_url", "ProjectID": "project_id", "Username": "username", "Password": "password",
	"LoginMode": "login_mode", "RequestTimeout": "request_timeout", "CallRetries": "call_retries", "CallBackoff": "call_backoff",
}

// tlsClient builds an HTTP client trusting tls_ca_file, or skipping verification when the
// user asked for it (and says so loudly).
func (t *Target) tlsClient(log *slog.Logger) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.TLSCAFile != "" {
		pem, err := os.ReadFile(t.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("targets.%s.tls_ca_file: %w", t.Name, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("targets.%s.tls_ca_file: %s holds no PEM certificate", t.Name, t.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if t.InsecureSkipVerify {
		if log != nil {
			log.Warn("TLS certificate verification is OFF for this target: anyone on the network path can read the credentials and data", "target", t.Name)
		}
		tc.InsecureSkipVerify = true
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}
