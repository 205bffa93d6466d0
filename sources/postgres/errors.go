package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes this package tells apart (Postgres, appendix A).
const (
	codeInvalidAuthorization = "28000"
	codeInvalidPassword      = "28P01"
	codeInvalidCatalogName   = "3D000"
	codeQueryCanceled        = "57014"
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
)

// dsnError describes a DSN that does not parse without repeating it: pgconn redacts the
// password only on a best-effort basis, and a URL parse error quotes the whole URL.
func dsnError(err error) error {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return errors.New("invalid postgres DSN")
	}
	// pce.Error() is "cannot parse `<DSN>`: <reason>[ (<cause>)]"; keep only the reason.
	msg := pce.Error()
	if cause := errors.Unwrap(pce); cause != nil {
		msg = strings.TrimSuffix(msg, " ("+cause.Error()+")")
	}
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		msg = msg[i+3:]
	} else {
		msg = "it does not parse"
	}
	var ue *url.Error
	if errors.As(pce, &ue) {
		msg += ": " + ue.Err.Error()
	}
	return fmt.Errorf("invalid postgres DSN: %s (use postgres://user:password@host:port/database or host=... user=... dbname=...)", msg)
}

// connectError keeps pgconn's connect error, which names host, user and database but never
// the password, and says what to check.
func connectError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeInvalidPassword, codeInvalidAuthorization:
			return fmt.Errorf("%w: check the user and password in the source's DSN", err)
		case codeInvalidCatalogName:
			return fmt.Errorf("%w: check the database name in the source's DSN", err)
		}
		return err
	}
	if pgconn.Timeout(err) {
		return fmt.Errorf("%w: the server did not answer in time", err)
	}
	return fmt.Errorf("%w: check that the server runs and that the DSN's host and port are right", err)
}

// queryError describes a failed prepare or start of query, with the position of the problem.
func queryError(err error, query string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("run the query: %w", readError(err))
	}
	where := ""
	if pgErr.Position > 0 {
		line, col := position(query, int(pgErr.Position))
		where = fmt.Sprintf(" at line %d, column %d", line, col)
	}
	hint := ""
	if pgErr.Hint != "" {
		hint = " (hint: " + pgErr.Hint + ")"
	}
	return fmt.Errorf("the query failed%s: %w%s", where, err, hint)
}

// position turns Postgres's 1-based character offset into a line and column.
func position(query string, offset int) (line, col int) {
	line, col = 1, 1
	n := 1
	for _, r := range query {
		if n == offset {
			break
		}
		n++
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// readError says what a failure while the query runs or streams means for the user.
func readError(err error) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &pgErr):
		switch pgErr.Code {
		case codeQueryCanceled:
			return fmt.Errorf("%w: the server cancelled the query (statement_timeout, or pg_cancel_backend); raise the role's or DSN's statement_timeout or make the query faster", err)
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow:
			return fmt.Errorf("%w: the server ended the connection; the run can be retried", err)
		}
		return err
	case pgconn.Timeout(err):
		return fmt.Errorf("%w: the server did not answer in time", err)
	default:
		return fmt.Errorf("connection lost: %w", err)
	}
}
