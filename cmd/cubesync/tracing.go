package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingSettings is what the standard OpenTelemetry environment variables say about
// exporting traces. The exporter and the SDK read the rest themselves (headers, timeout,
// TLS, compression, sampler, batch sizes, resource attributes).
type tracingSettings struct {
	on       bool
	endpoint string // as set, for the log line
	protocol string // http/protobuf or grpc
}

// tracingFromEnv reads the settings: tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. A protocol the exporter does not speak is an error naming the
// variable.
func tracingFromEnv(e *env) (tracingSettings, error) {
	get := func(k string) string { v, _ := lookupEnv(e, k); return strings.TrimSpace(v) }
	s := tracingSettings{endpoint: cmp.Or(get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT"))}
	if s.endpoint == "" || strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return s, nil
	}
	switch exp := get("OTEL_TRACES_EXPORTER"); exp {
	case "", "otlp":
	case "none":
		return s, nil
	default:
		return s, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: cubesync exports traces with OTLP only (want otlp, or none to turn tracing off)", exp)
	}
	name := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	s.protocol = get(name)
	if s.protocol == "" {
		name = "OTEL_EXPORTER_OTLP_PROTOCOL"
		s.protocol = get(name)
	}
	switch s.protocol {
	case "", "http/protobuf":
		s.protocol = "http/protobuf"
	case "grpc":
	default:
		return s, fmt.Errorf("%s=%q: not supported (want http/protobuf, the default, or grpc)", name, s.protocol)
	}
	s.on = true
	return s, nil
}

// tracing is the process's tracer provider; off (nil provider, nil tracer) unless the
// environment asks for traces, so an untraced process builds no exporter and its runs use
// the no-op tracer.
type tracing struct {
	provider *sdktrace.TracerProvider
	log      *slog.Logger
}

// newTracing sets up OTLP trace export per the environment. Export failures are logged as
// warnings; they never fail a run.
func newTracing(ctx context.Context, e *env, log *slog.Logger) (*tracing, error) {
	s, err := tracingFromEnv(e)
	if err != nil || !s.on {
		return &tracing{log: log}, err
	}
	var exp sdktrace.SpanExporter
	if s.protocol == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		var hc *http.Client
		if hc, err = otlpHTTPClient(e, s.endpoint, log); err == nil {
			exp, err = otlptracehttp.New(ctx, otlptracehttp.WithHTTPClient(hc))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry trace exporter (%s to %s): %w", s.protocol, redactURL(s.endpoint), err)
	}
	// Later sources win: cubesync's name and version, then OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES, then the SDK's own description and the host.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "cubesync"), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil {
		log.Warn("OpenTelemetry resource: some attributes could not be detected", "err", err)
	}
	// The SDK's error handler is process-wide; main owns the process, so it sets it here.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("trace export failed", "err", err)
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info("tracing on", "protocol", s.protocol, "endpoint", redactURL(s.endpoint))
	return &tracing{provider: tp, log: log}, nil
}

// tracer is the runner's tracer; nil when tracing is off.
func (t *tracing) tracer() trace.Tracer {
	if t.provider == nil {
		return nil
	}
	return t.provider.Tracer("github.com/cubesync/cubesync")
}

// shutdown exports the spans still buffered, for at most 10s: a run-job process ends right
// after its runs.
func (t *tracing) shutdown() {
	if t.provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		t.log.Warn("export the last traces", "err", err)
	}
}

// redactURL drops the user and password from an endpoint for a log line or an error.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an endpoint that is not a URL)"
	}
	if u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// otlpHTTPClient is the HTTP exporter's client. The exporter's own follows any redirect with
// OTEL_EXPORTER_OTLP_HEADERS (often an API key) to wherever it points, http included; this
// one follows a redirect only to the endpoint's scheme, host and port. Giving the exporter a
// client makes it ignore the variables for the client's TLS and timeout, so they are read
// here: OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY and
// _TIMEOUT (milliseconds, default 10s).
func otlpHTTPClient(e *env, endpoint string, log *slog.Logger) (*http.Client, error) {
	get := func(suffix string) (string, string) {
		for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix} {
			if v, _ := lookupEnv(e, k); strings.TrimSpace(v) != "" {
				return k, strings.TrimSpace(v)
			}
		}
		return "", ""
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if k, ca := get("CERTIFICATE"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", k, ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	kc, cert := get("CLIENT_CERTIFICATE")
	kk, key := get("CLIENT_KEY")
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s and %s: %w", cmp.Or(kc, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"), cmp.Or(kk, "OTEL_EXPORTER_OTLP_CLIENT_KEY"), err)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	}
	timeout := 10 * time.Second
	if k, ms := get("TIMEOUT"); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive number of milliseconds", k, ms)
		}
		timeout = time.Duration(n) * time.Millisecond
	}
	origin := func(u *url.URL) string {
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
		}
		return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
	}
	want := ""
	if u, err := url.Parse(endpoint); err == nil {
		want = origin(u)
	}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if origin(req.URL) != want || len(via) >= 10 {
			to := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}
			log.Warn("trace export: redirect not followed: the OTLP headers go to the configured endpoint only; set OTEL_EXPORTER_OTLP_ENDPOINT to the collector's real address",
				"endpoint", redactURL(endpoint), "redirected_to", to.String())
			return http.ErrUseLastResponse // the export fails with the redirect's status
		}
		return nil
	}}, nil
}
