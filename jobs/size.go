package jobs

import (
	"fmt"
	"math/big"
	"strings"
)

// sizeUnits are the units ParseSize accepts, matched case-insensitively.
var sizeUnits = []struct {
	name string
	mult int64
}{
	{"B", 1},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
}

// ParseSize reads a byte size: a number with a decimal unit (KB, MB, GB = 1000-based), a
// binary unit (KiB, MiB, GiB = 1024-based) or B, or a bare number of bytes. "100MB" is
// 100,000,000 and "16MiB" is 16,777,216; a fraction is allowed when the result is whole
// bytes ("1.5GB").
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult := int64(1)
	if unit != "" {
		mult = 0
		for _, u := range sizeUnits {
			if strings.EqualFold(unit, u.name) {
				mult = u.mult
				break
			}
		}
	}
	n, ok := new(big.Rat).SetString(num)
	if num == "" || !ok || mult == 0 {
		return 0, fmt.Errorf("invalid size %q (want a number and a unit: KB, MB, GB (1000-based), KiB, MiB, GiB (1024-based) or B, e.g. \"100MB\")", s)
	}
	n.Mul(n, new(big.Rat).SetInt64(mult))
	if !n.IsInt() {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	if !n.Num().IsInt64() {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n.Num().Int64(), nil
}

// formatSize renders a byte count the way a user would write it, for messages: in the
// unit that divides it exactly with the smallest number.
func formatSize(n int64) string {
	best := fmt.Sprintf("%dB", n)
	bestN := n
	for _, u := range sizeUnits[1:] {
		if n >= u.mult && n%u.mult == 0 && n/u.mult < bestN {
			best, bestN = fmt.Sprintf("%d%s", n/u.mult, u.name), n/u.mult
		}
	}
	return best
}
