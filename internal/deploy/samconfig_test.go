package deploy

import (
	"regexp"
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
