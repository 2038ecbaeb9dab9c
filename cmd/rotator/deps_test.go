package main_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandInsNotLinked: the Lambda binary links none of the local
// stand-ins or test support (the README promises it).
func TestStandInsNotLinked(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list printed %d packages; expected the rotator's dependencies", len(deps))
	}
	const module = "github.com/clickwrap-rotator/clickwrap-rotator"
	for _, pkg := range deps {
		switch {
		case strings.HasPrefix(pkg, module+"/internal/"), // the emulators, the runtime-emulator runner, the harnesses
			strings.HasSuffix(pkg, "/clickwraptest"),
			strings.Contains(pkg, "aws-lambda-runtime-interface-emulator"),
			pkg == "net/http/httptest", pkg == "testing":
			t.Errorf("the Lambda binary links %s", pkg)
		}
	}
}
