package jobs

import (
	"math"
	"testing"
)

// fakeLimit stands for debug.SetMemoryLimit and the live heap.
type fakeLimit struct {
	limit int64
	live  int64
	sets  int
}

func (f *fakeLimit) set(l int64) int64 {
	old := f.limit
	if l >= 0 {
		f.limit = l
		f.sets++
	}
	return old
}

func newFakeLimit() (*fakeLimit, *memoryLimit) {
	f := &fakeLimit{limit: math.MaxInt64}
	return f, &memoryLimit{set: f.set, live: func() int64 { return f.live }}
}

func TestMemoryLimitIsTheSumOfTheTablesBeingPushed(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	f, m := newFakeLimit()
	f.live = 10 << 20
	r1 := m.reserve(50 << 20)
	if f.limit != 50<<20 {
		t.Fatalf("one table: limit %d, want %d", f.limit, 50<<20)
	}
	r2 := m.reserve(40 << 20)
	if f.limit != 90<<20 {
		t.Fatalf("two tables: limit %d, want %d", f.limit, 90<<20)
	}
	r1()
	r1() // a second call changes nothing
	if f.limit != 40<<20 {
		t.Fatalf("one table left: limit %d, want %d", f.limit, 40<<20)
	}
	r2()
	if f.limit != math.MaxInt64 {
		t.Fatalf("no table left: limit %d, want none (MaxInt64)", f.limit)
	}
}

func TestMemoryLimitFollowsALiveHeapLargerThanTheBudget(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	f, m := newFakeLimit()
	release := m.reserve(50 << 20)
	defer release()
	f.live = 100 << 20 // batches far larger than the budget guessed
	m.afterGC(m.gen)
	if f.limit != 150<<20 {
		t.Fatalf("after a collection with 100 MiB live: limit %d, want %d", f.limit, 150<<20)
	}
	f.live = 20 << 20
	m.afterGC(m.gen)
	if f.limit != 50<<20 {
		t.Fatalf("after a collection with 20 MiB live: limit %d, want the budget %d", f.limit, 50<<20)
	}
	sets := f.sets
	m.afterGC(m.gen - 1) // a watch from an earlier push
	if f.sets != sets {
		t.Fatal("a stale watch set the limit")
	}
}

func TestMemoryLimitLeavesSomeoneElsesLimitAlone(t *testing.T) {
	t.Run("set by the program", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "")
		f, m := newFakeLimit()
		f.limit = 1 << 30
		m.reserve(50 << 20)()
		if f.limit != 1<<30 || f.sets != 0 {
			t.Fatalf("limit %d after %d sets, want 1 GiB untouched", f.limit, f.sets)
		}
	})
	t.Run("GOMEMLIMIT=off", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "off")
		f, m := newFakeLimit()
		m.reserve(50 << 20)()
		if f.sets != 0 {
			t.Fatalf("the limit was set %d times despite GOMEMLIMIT=off", f.sets)
		}
	})
}
