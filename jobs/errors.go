package jobs

import (
	"errors"
	"strings"
)

// InputError marks a failure caused by the job's input or configuration (a column type
// that cannot be pushed, a key rule violation, an empty replace, a dataset that no longer
// matches): running the job again would fail the same way, so it is not retried.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputError(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// IsInputError reports whether err was caused by the job's input.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// joinErrors joins several problems into one error whose text lists them all on one line.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}
