package jobs

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in s with the variable's value; the
// default is used when VAR is unset or empty. Nothing else is special: a bare $, $1 or $$
// is kept, so SQL parameters and dollar quoting survive. It returns one message per bad
// reference, and apart the names of the variables that are unset with no default (each
// expands to ""; unsetMessage words the problem). With secret set, messages never quote
// the text around a reference (a default may be a password).
func expandEnv(s string, getenv func(string) (string, bool), secret bool) (out string, problems, unset []string) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), problems, unset
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			problems = append(problems, `unterminated "${" (want ${VAR} or ${VAR:-default})`)
			b.WriteString(s)
			return b.String(), problems, unset
		}
		ref, inner := s[:end+1], s[2:end]
		s = s[end+1:]
		name, def, hasDef := inner, "", false
		if n := strings.Index(inner, ":-"); n >= 0 {
			name, def, hasDef = inner[:n], inner[n+2:], true
		}
		if !isEnvName(name) {
			if secret {
				problems = append(problems, "bad variable reference (want ${VAR} or ${VAR:-default}, VAR made of letters, digits and _)")
			} else {
				problems = append(problems, fmt.Sprintf("bad variable reference %q (want ${VAR} or ${VAR:-default}, VAR made of letters, digits and _)", ref))
			}
			continue
		}
		v, ok := getenv(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			unset = append(unset, name)
		}
		b.WriteString(v)
	}
}

// unsetMessage is the problem of a reference to the unset variable name.
func unsetMessage(name string) string {
	return fmt.Sprintf("environment variable %s is not set (set it, or give a default: ${%s:-default})", name, name)
}

func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}
