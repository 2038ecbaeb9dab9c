package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// samconfig mirrors the keys samconfig.toml may hold; any other key (a typo,
// or a region that belongs in the user's profile) fails the test.
type samconfig struct {
	Version float64 `toml:"version"`
	Default struct {
		Global struct {
			Parameters struct {
				StackName string `toml:"stack_name"`
			} `toml:"parameters"`
		} `toml:"global"`
		Build struct {
			Parameters struct {
				Cached   bool `toml:"cached"`
				Parallel bool `toml:"parallel"`
			} `toml:"parameters"`
		} `toml:"build"`
		Validate struct {
			Parameters struct {
				Lint bool `toml:"lint"`
			} `toml:"parameters"`
		} `toml:"validate"`
		Deploy struct {
			Parameters struct {
				Capabilities       any    `toml:"capabilities"` // a string or a list
				ConfirmChangeset   bool   `toml:"confirm_changeset"`
				ResolveS3          bool   `toml:"resolve_s3"`
				S3Prefix           string `toml:"s3_prefix"`
				ParameterOverrides any    `toml:"parameter_overrides"`
			} `toml:"parameters"`
		} `toml:"deploy"`
	} `toml:"default"`
}

func TestSamconfig(t *testing.T) {
	t.Parallel()
	var cfg samconfig
	md, err := toml.DecodeFile(rootPath(t, SamconfigFile), &cfg)
	if err != nil {
		t.Fatalf("%s does not parse: %v", SamconfigFile, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		t.Errorf("unexpected keys in %s: %v", SamconfigFile, undecoded)
	}
	deploy := cfg.Default.Deploy.Parameters

	var caps []string
	switch c := deploy.Capabilities.(type) {
	case string:
		caps = strings.Fields(c)
	case []any:
		for _, x := range c {
			s, _ := x.(string)
			caps = append(caps, s)
		}
	}
	stack := cfg.Default.Global.Parameters.StackName
	tests := []struct {
		what string
		ok   bool
	}{
		{"version = 0.1", cfg.Version == 0.1},
		// CloudFormation stack names; the function is named <stack>-rotator,
		// and function names have at most 64 characters.
		{"stack_name is a valid stack name of at most 56 characters", regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,55}$`).MatchString(stack)},
		{`capabilities = "CAPABILITY_IAM"`, equal(caps, []string{"CAPABILITY_IAM"})},
		{"confirm_changeset = true", deploy.ConfirmChangeset},
		{"resolve_s3 = true", deploy.ResolveS3},
		{"no region: the user's profile decides", !md.IsDefined("default", "deploy", "parameters", "region") && !md.IsDefined("default", "global", "parameters", "region")},
		{"no parameter_overrides: the template's defaults and --guided decide", deploy.ParameterOverrides == nil},
	}
	for _, tc := range tests {
		if !tc.ok {
			t.Errorf("%s: want %s", SamconfigFile, tc.what)
		}
	}
	t.Logf("stack %q, capabilities %v", stack, caps)
}

// TestNoNamedIAM: CAPABILITY_IAM is enough only while no IAM resource has a
// custom name.
func TestNoNamedIAM(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	names := []string{"RoleName", "UserName", "GroupName", "ManagedPolicyName", "InstanceProfileName"}
	for id, r := range tp.Resources {
		typ, _ := r["Type"].(string)
		if !strings.HasPrefix(typ, "AWS::IAM::") {
			continue
		}
		for _, n := range names {
			if get(r, "Properties", n) != nil {
				t.Errorf("%s sets %s: that needs CAPABILITY_NAMED_IAM in %s", id, n, SamconfigFile)
			}
		}
	}
}

// samconfigInputs are the SAM CLI options (as samconfig.toml keys) whose
// value is a file or folder that must exist before the command runs: the
// template, a manifest, environment or event files, a base folder. Output
// paths (build_dir, cache_dir, output_template_file, log_file...) need not.
var samconfigInputs = map[string]bool{
	"template_file": true, "template": true, "manifest": true, "base_dir": true,
	"container_env_var_file": true, "env_vars": true, "event": true, "event_file": true,
	"debugger_path": true, "docker_volume_basedir": true, "static_dir": true, "config_file": true,
}

// samDefaultTemplates are the names sam looks for when no template is given.
var samDefaultTemplates = []string{"template.yaml", "template.yml", "template.json"}

// mentionedPath finds, in the file's text (comments included), what reads
// as a relative path to a file: words with a file extension, such as
// template.yaml or docs/deploy.md, not inside a URL.
var mentionedPath = regexp.MustCompile("(?:^|[\\s\"'(`=])((?:\\.{1,2}/)?(?:[\\w.-]+/)*[\\w-][\\w.-]*\\.(?:md|ya?ml|json|toml|env|txt|sh|zip))\\b")

// TestSamconfigNamesNoMissingFile: every file or folder samconfig.toml
// names exists, relative to the folder holding it (the module root), in its
// settings (any environment and command) and in its comments; a template
// it names is the one these tests check, and without one sam finds that.
func TestSamconfigNamesNoMissingFile(t *testing.T) {
	t.Parallel()
	path := rootPath(t, SamconfigFile)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if _, err := toml.Decode(string(text), &cfg); err != nil {
		t.Fatalf("%s does not parse: %v", SamconfigFile, err)
	}
	dir := filepath.Dir(path)
	exists := func(p string) bool {
		p = strings.TrimPrefix(p, "file://")
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, filepath.FromSlash(p))
		}
		_, err := os.Stat(p)
		return err == nil
	}

	var templates []string
	var walk func(where string, v any)
	walk = func(where string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			at := strings.TrimPrefix(where+"."+k, ".")
			if s, isStr := m[k].(string); isStr && samconfigInputs[k] {
				if !exists(s) {
					t.Errorf("%s: %s = %q, which does not exist", SamconfigFile, at, s)
				}
				if k == "template_file" || k == "template" {
					templates = append(templates, s)
				}
			}
			walk(at, m[k])
		}
	}
	walk("", cfg)

	for _, m := range mentionedPath.FindAllStringSubmatch(string(text), -1) {
		if !exists(m[1]) {
			t.Errorf("%s names %s, which does not exist", SamconfigFile, m[1])
		}
	}

	for _, tpl := range templates {
		if filepath.Clean(filepath.FromSlash(strings.TrimPrefix(tpl, "./"))) != filepath.FromSlash(TemplateFile) {
			t.Errorf("%s points sam at template %q, not %s, the template these tests check", SamconfigFile, tpl, TemplateFile)
		}
	}
	if len(templates) == 0 && !slices.Contains(samDefaultTemplates, TemplateFile) {
		t.Errorf("%s names no template and sam looks for %v, not %s", SamconfigFile, samDefaultTemplates, TemplateFile)
	}
}
