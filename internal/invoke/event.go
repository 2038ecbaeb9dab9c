package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// event is a rotation event as read from a file: a JSON object whose
// members keep their order and their values as written, so that what is
// sent is the file but for the members set with set.
type event struct {
	keys []string
	vals map[string]json.RawMessage
}

// parseEvent reads b as one JSON object.
func parseEvent(b []byte) (*event, error) {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object: a rotation event is an object such as {\"Step\": \"createSecret\", \"SecretId\": …, \"ClientRequestToken\": …}")
	}
	e := &event{vals: map[string]json.RawMessage{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := t.(string) // json.Valid: an object's member starts with its name
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if _, dup := e.vals[key]; !dup {
			e.keys = append(e.keys, key)
		}
		e.vals[key] = raw // the last of duplicates, as encoding/json reads it
	}
	return e, nil // json.Valid: the closing brace, and nothing after it
}

// has reports whether the event has member key.
func (e *event) has(key string) bool {
	_, ok := e.vals[key]
	return ok
}

// str returns member key as written (JSON text), or "(none)".
func (e *event) str(key string) string {
	raw, ok := e.vals[key]
	if !ok {
		return "(none)"
	}
	return string(raw)
}

// stringValue returns member key if it is a JSON string.
func (e *event) stringValue(key string) (string, bool) {
	var s string
	if raw, ok := e.vals[key]; !ok || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// set gives member key the string value v, adding it at the end if absent.
func (e *event) set(key, v string) {
	raw, _ := json.Marshal(v)
	if !e.has(key) {
		e.keys = append(e.keys, key)
	}
	e.vals[key] = raw
}

// clone returns a copy that set does not share.
func (e *event) clone() *event {
	return &event{keys: slices.Clone(e.keys), vals: maps.Clone(e.vals)}
}

// MarshalJSON writes the members in their order.
func (e *event) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range e.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(k)
		b.Write(name)
		b.WriteByte(':')
		b.Write(e.vals[k])
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Compact(&out, b.Bytes()); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
