package rotation

import (
	"slices"
	"sync"
)

// versionMemo is a small per-process memory about pending versions, keyed
// by secret ARN and version id, bounded: the oldest entries go first. The
// Rotator keeps four (see its fields): which versions passed Verify here,
// which AWSCURRENT version each was made from, a minted value PutSecretValue
// did not take, and when a version's credential was minted here.
type versionMemo[V any] struct {
	mu    sync.Mutex
	limit int
	keys  []versionKey // oldest first
	vals  map[versionKey]V
}

type versionKey struct{ arn, version string }

// unstoredValue is a pending value minted here that PutSecretValue did not
// take, and the AWSCURRENT version it was made from.
type unstoredValue struct{ source, value string }

func newVersionMemo[V any](limit int) *versionMemo[V] {
	return &versionMemo[V]{limit: limit, vals: map[versionKey]V{}}
}

func (m *versionMemo[V]) set(arn, version string, value V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := versionKey{arn, version}
	if _, ok := m.vals[k]; !ok {
		if len(m.keys) >= m.limit {
			delete(m.vals, m.keys[0])
			m.keys = m.keys[1:]
		}
		m.keys = append(m.keys, k)
	}
	m.vals[k] = value
}

func (m *versionMemo[V]) get(arn, version string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[versionKey{arn, version}]
	return v, ok
}

func (m *versionMemo[V]) remove(arn, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := versionKey{arn, version}
	delete(m.vals, k)
	m.keys = slices.DeleteFunc(m.keys, func(x versionKey) bool { return x == k })
}
