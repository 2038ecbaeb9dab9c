package deploy

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Size budgets of the Lambda artifact. Measured with go1.26.8 (see
// docs/deploying.md): bootstrap 9,240,702 bytes, zipped as zipSize does
// 3,607,543 bytes. The binary budget leaves about a third for growth; the zip
// target is the project's (Lambda itself allows 50 MB zipped).
const (
	bootstrapBudget = 12 << 20  // bytes, the bootstrap binary
	zipBudget       = 6_000_000 // bytes, bootstrap alone in a deflate zip, as sam deploy uploads it
)

// makeEnv is the test's environment without the variables of a make that
// may be running `go test` (its jobserver and flags are not for this make),
// nor a GOOS/GOARCH/GOFLAGS that would change what is built.
func makeEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GOOS", "GOARCH", "GOFLAGS":
			return true
		}
		return false
	})
}

func requireMake(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed: sam build needs it too (BuildMethod: makefile)")
	}
	return path
}

// TestBuildTarget runs what `sam build` runs for RotatorFunction and checks
// the artifact it leaves in ARTIFACTS_DIR.
func TestBuildTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda binary; skipped with -short")
	}
	t.Parallel()
	mk := requireMake(t)
	root := rootPath(t, ".")
	artifacts := t.TempDir()

	cmd := exec.Command(mk, "build-"+functionID, "ARTIFACTS_DIR="+artifacts)
	cmd.Dir = root
	cmd.Env = makeEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-%s: %v\n%s", functionID, err, out)
	}

	// sam build zips the whole ARTIFACTS_DIR: it must hold the bootstrap only.
	entries, err := os.ReadDir(artifacts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !equal(names, []string{"bootstrap"}) {
		t.Fatalf("ARTIFACTS_DIR holds %v, want [bootstrap]", names)
	}
	bootstrap := filepath.Join(artifacts, "bootstrap")
	info, err := os.Stat(bootstrap)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ELF", func(t *testing.T) {
		f, err := elf.Open(bootstrap)
		if err != nil {
			t.Fatalf("bootstrap is not an ELF file: %v", err)
		}
		defer f.Close()
		checks := []struct {
			what      string
			got, want any
		}{
			{"class", f.Class, elf.ELFCLASS64},
			{"machine", f.Machine, elf.EM_AARCH64},
			{"type (static executable)", f.Type, elf.ET_EXEC},
			{"byte order", f.ByteOrder.String(), "LittleEndian"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
			}
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("program header %v: the binary is dynamically linked; provided.al2023 needs CGO_ENABLED=0", p.Type)
			}
		}
		// -ldflags "-s -w": no symbol table, no DWARF.
		for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
			if f.Section(name) != nil {
				t.Errorf("section %s present: the binary is not stripped (-ldflags \"-s -w\")", name)
			}
		}
	})

	t.Run("build settings", func(t *testing.T) {
		bi, err := buildinfo.ReadFile(bootstrap)
		if err != nil {
			t.Fatal(err)
		}
		if want := "github.com/clickwrap-rotator/clickwrap-rotator/cmd/rotator"; bi.Path != want {
			t.Errorf("main package = %s, want %s", bi.Path, want)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		for key, want := range map[string]string{
			"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true",
		} {
			if settings[key] != want {
				t.Errorf("build setting %s = %q, want %q", key, settings[key], want)
			}
		}
		if tags := strings.Split(settings["-tags"], ","); !slices.Contains(tags, "lambda.norpc") {
			t.Errorf("build tags %q lack lambda.norpc", settings["-tags"])
		}
	})

	t.Run("size", func(t *testing.T) {
		if info.Mode().Perm()&0o111 == 0 {
			t.Errorf("bootstrap mode %v is not executable", info.Mode())
		}
		zipped := zipSize(t, bootstrap, info)
		t.Logf("bootstrap: %d bytes (budget %d); zipped with deflate: %d bytes (budget %d)",
			info.Size(), bootstrapBudget, zipped, zipBudget)
		if info.Size() > bootstrapBudget {
			t.Errorf("bootstrap is %d bytes, over the %d-byte budget: look at what grew (go version -m), then raise the budget and docs/deploying.md together", info.Size(), bootstrapBudget)
		}
		if zipped > zipBudget {
			t.Errorf("zipped bootstrap is %d bytes, over the %d-byte target", zipped, zipBudget)
		}
	})
}

// zipSize is the size of a zip holding the file alone as "bootstrap",
// deflated and executable: the shape of the package sam deploy uploads.
func zipSize(t *testing.T, path string, info os.FileInfo) int64 {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr, err := zip.FileInfoHeader(info)
	if err != nil {
		t.Fatal(err)
	}
	hdr.Name, hdr.Method = "bootstrap", zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return int64(buf.Len())
}

// TestBuildTargetNeedsArtifactsDir: outside sam build, the target refuses to
// run rather than build into the filesystem root.
func TestBuildTargetNeedsArtifactsDir(t *testing.T) {
	t.Parallel()
	mk := requireMake(t)
	cmd := exec.Command(mk, "--no-print-directory", "build-"+functionID)
	cmd.Dir = rootPath(t, ".")
	cmd.Env = append(makeEnv(), "ARTIFACTS_DIR=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("make build-%s without ARTIFACTS_DIR succeeded:\n%s", functionID, out)
	}
	if !strings.Contains(string(out), "ARTIFACTS_DIR") {
		t.Errorf("the error does not name ARTIFACTS_DIR:\n%s", out)
	}
}
