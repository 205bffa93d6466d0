package jobs

import (
	"slices"
	"strconv"
	"strings"
)

// Scrubber removes from text the values that ${VAR} references of the jobs file expanded
// to, putting the reference back in their place: a variable may hold a secret put under a
// key that is not one (a dataset name, a path, a URL), and such a value reaches messages
// through errors. The zero Scrubber and a nil one change nothing.
type Scrubber struct {
	values []envValue // longest first, so a value that contains another is replaced whole
}

// envValue is the value a ${NAME} reference expanded to.
type envValue struct{ name, value string }

// add remembers that ${name} expanded to value.
func (s *Scrubber) add(name, value string) {
	if value == "" || slices.Contains(s.values, envValue{name, value}) {
		return
	}
	s.values = append(s.values, envValue{name, value})
	slices.SortStableFunc(s.values, func(a, b envValue) int { return len(b.value) - len(a.value) })
}

// Scrub replaces every expanded value in msg, plain or as %q escapes it, by its ${NAME}.
// Values shorter than 4 bytes are left: they are no secret and would mangle words and
// numbers. So are values made only of ASCII digits: ${CHUNK} = 1000000 would otherwise turn
// every row count and id holding those digits into ${CHUNK}; a digits-only value shown
// where its key is printed is quoted as written by Config.Shown and the config problems.
func (s *Scrubber) Scrub(msg string) string {
	if s == nil {
		return msg
	}
	for _, v := range s.values {
		if len(v.value) < 4 || onlyDigits(v.value) {
			continue
		}
		ref := "${" + v.name + "}"
		msg = strings.ReplaceAll(msg, v.value, ref)
		if q := strconv.Quote(v.value); q[1:len(q)-1] != v.value {
			msg = strings.ReplaceAll(msg, q[1:len(q)-1], ref)
		}
	}
	return msg
}

func onlyDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
