package main

import (
	"encoding/json"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
)

// TestVerify: exit 0 only when Clickwrap accepts the token of the stage.
func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(w *world)
		args   []string
		code   int
		stdout string
	}{
		{"accepted", (*world).configure, nil, exitOK, "accepted by Clickwrap"},
		{"rejected", func(w *world) { w.configure(); w.cw.Revoke(w.token("AWSCURRENT")) }, nil, exitUnhealthy, "REJECTED: Clickwrap rejected the token"},
		{"Clickwrap failing", func(w *world) { w.configure(); w.cw.FailNext(clickwraptest.EndpointAPI, 1000, 502) }, nil, exitError, "could not check: Clickwrap answered HTTP 502"},
		{"no token yet", func(*world) {}, nil, exitUnhealthy, "no access_token yet"},
		{"malformed", func(w *world) { w.put(w.secretJSON(map[string]any{"api_url": "http://plain.example"})) }, nil, exitUnhealthy, `"api_url" must be an https:// URL`},
		{"AWSPREVIOUS with a token", (*world).configureAndRotate, []string{"--stage", "AWSPREVIOUS"}, exitOK, "AWSPREVIOUS of clickwrap/api-token"},
		{"no AWSPENDING", (*world).configure, []string{"--stage", "AWSPENDING"}, exitUnhealthy, "no version of the secret has the stage AWSPENDING"},
		{"AWSPENDING rejected", func(w *world) { w.configure(); w.failedRotation() }, []string{"--stage", "AWSPENDING"}, exitUnhealthy, "This rotation can never pass: rotatorctl unstick"},
		{"AWSPENDING without a value", func(w *world) { w.configure(); w.failedCreate() }, []string{"--stage", "AWSPENDING"}, exitUnhealthy, "has no value yet"},
		// A stage in another case is the stage Secrets Manager spells, not a label no version has.
		{"awscurrent in lower case", (*world).configure, []string{"--stage", "awscurrent"}, exitOK, "AWSCURRENT of clickwrap/api-token (version"},
		{"AwsPrevious in mixed case", (*world).configureAndRotate, []string{"--stage=AwsPrevious"}, exitOK, "AWSPREVIOUS of clickwrap/api-token (version"},
		{"awspending rejected", func(w *world) { w.configure(); w.failedRotation() }, []string{"--stage", "awspending"}, exitUnhealthy,
			"AWSPENDING of clickwrap/api-token (version"},
		{"awspending when there is none", (*world).configure, []string{"--stage", "awspending"}, exitUnhealthy, "no version of the secret has the stage AWSPENDING"},
		{"a custom label in another case", func(w *world) {
			w.configure()
			b, err := json.Marshal(w.currentValue())
			if err != nil {
				w.t.Fatal(err)
			}
			w.putSecret(w.arn, string(b), "Blue")
		}, []string{"--stage", "BLUE"}, exitOK, "Blue of clickwrap/api-token (version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			r := w.expect(tt.code, nil, append([]string{"verify", secretName}, tt.args...)...)
			if !r.has(tt.stdout) {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r)
			}
		})
	}
}
