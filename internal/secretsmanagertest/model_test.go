package secretsmanagertest

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestCreateSecret(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Region: "eu-west-1", AccountID: "111122223333", Now: func() time.Time { return fixedNow }})
	ctx := t.Context()

	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String("app/token"),
		SecretString:       aws.String("s3cr3t"),
		ClientRequestToken: aws.String("11111111-1111-4111-8111-111111111111"),
		Description:        aws.String("demo"),
		KmsKeyId:           aws.String("alias/demo"),
		Tags:               []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/token-[A-Za-z0-9]{6}$`).MatchString(aws.ToString(out.ARN)) {
		t.Errorf("ARN = %s", aws.ToString(out.ARN))
	}
	if aws.ToString(out.Name) != "app/token" || aws.ToString(out.VersionId) != "11111111-1111-4111-8111-111111111111" {
		t.Errorf("Name, VersionId = %s, %s", aws.ToString(out.Name), aws.ToString(out.VersionId))
	}
	assertStages(t, s, "app/token", map[string][]string{"11111111-1111-4111-8111-111111111111": {stageCurrent}})
	if v, ok := s.Value(aws.ToString(out.ARN), aws.ToString(out.VersionId)); !ok || v != "s3cr3t" {
		t.Errorf("Value = %q, %v", v, ok)
	}

	t.Run("binary", func(t *testing.T) {
		t.Parallel()
		if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2, 255}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.SecretBinary, []byte{0, 1, 2, 255}) || got.SecretString != nil {
			t.Errorf("SecretBinary = %v, SecretString = %v", got.SecretBinary, got.SecretString)
		}
	})
	t.Run("without value", func(t *testing.T) {
		t.Parallel()
		out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
		if err != nil {
			t.Fatal(err)
		}
		if out.VersionId != nil {
			t.Errorf("VersionId = %s, want none", *out.VersionId)
		}
		_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
		errorAs[*types.ResourceNotFoundException](t, err)
	})
	t.Run("exists", func(t *testing.T) {
		t.Parallel()
		_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/token"), SecretString: aws.String("other")})
		errorAs[*types.ResourceExistsException](t, err)
	})
	t.Run("both values", func(t *testing.T) {
		t.Parallel()
		_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("a"), SecretBinary: []byte("b")})
		errorAs[*types.InvalidParameterException](t, err)
	})
	t.Run("helper panics on duplicate", func(t *testing.T) {
		t.Parallel()
		defer func() {
			r := recover()
			if r == nil || strings.Contains(r.(string), "dup-value") {
				t.Errorf("recover() = %v", r)
			}
		}()
		s.CreateSecret("dup", "dup-value")
		s.CreateSecret("dup", "dup-value")
	})
}

func TestSecretIDForms(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	arn := s.CreateSecret("svc/api", "v")
	tests := []struct {
		name, id string
		found    bool
	}{
		{"name", "svc/api", true},
		{"full ARN", arn, true},
		{"partial ARN", arn[:len(arn)-7], true},
		{"unknown name", "svc/other", false},
		{"ARN with wrong suffix", arn[:len(arn)-6] + "ZZZZZZ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(tt.id)})
			if !tt.found {
				nf := errorAs[*types.ResourceNotFoundException](t, err)
				if nf.ErrorMessage() != "Secrets Manager can't find the specified secret." {
					t.Errorf("message = %q", nf.ErrorMessage())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.ARN) != arn {
				t.Errorf("ARN = %s, want %s", aws.ToString(out.ARN), arn)
			}
		})
	}
}

func TestUnknownSecretEveryOperation(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.SetInvoker(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return nil })
	id := aws.String("missing")
	tests := []struct {
		op   string
		call func(context.Context) error
	}{
		{"DescribeSecret", func(ctx context.Context) error {
			_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id})
			return err
		}},
		{"GetSecretValue", func(ctx context.Context) error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id})
			return err
		}},
		{"PutSecretValue", func(ctx context.Context) error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String("x")})
			return err
		}},
		{"UpdateSecretVersionStage", func(ctx context.Context) error {
			_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: id, VersionStage: aws.String("X"), MoveToVersionId: aws.String("v")})
			return err
		}},
		{"ListSecretVersionIds", func(ctx context.Context) error {
			_, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: id})
			return err
		}},
		{"RotateSecret", func(ctx context.Context) error {
			_, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: id, RotationLambdaARN: aws.String(testLambdaARN)})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			t.Parallel()
			errorAs[*types.ResourceNotFoundException](t, tt.call(t.Context()))
		})
	}
}

func TestDescribeSecret(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Now: func() time.Time { return fixedNow }})
	ctx := t.Context()
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("d"), SecretString: aws.String("v"), Description: aws.String("desc"), KmsKeyId: aws.String("alias/k"),
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("d")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ARN) != aws.ToString(out.ARN) || aws.ToString(d.Name) != "d" ||
		aws.ToString(d.Description) != "desc" || aws.ToString(d.KmsKeyId) != "alias/k" {
		t.Errorf("DescribeSecret = %+v", d)
	}
	if aws.ToBool(d.RotationEnabled) || d.RotationLambdaARN != nil || d.RotationRules != nil {
		t.Errorf("rotation fields set on a new secret: %v %v %v", d.RotationEnabled, d.RotationLambdaARN, d.RotationRules)
	}
	if !aws.ToTime(d.CreatedDate).Equal(fixedNow) || !aws.ToTime(d.LastChangedDate).Equal(fixedNow) {
		t.Errorf("CreatedDate, LastChangedDate = %v, %v, want %v", d.CreatedDate, d.LastChangedDate, fixedNow)
	}
	if d.LastRotatedDate != nil || d.NextRotationDate != nil {
		t.Errorf("LastRotatedDate, NextRotationDate = %v, %v, want unset", d.LastRotatedDate, d.NextRotationDate)
	}
	want := map[string][]string{aws.ToString(out.VersionId): {stageCurrent}}
	if !equalStages(d.VersionIdsToStages, want) || !equalStages(s.Stages("d"), want) {
		t.Errorf("VersionIdsToStages = %v, Stages = %v, want %v", d.VersionIdsToStages, s.Stages("d"), want)
	}
}

func TestSecretTags(t *testing.T) {
	t.Parallel()
	_, c := newServer(t, Options{})
	ctx := t.Context()
	tags := []types.Tag{
		{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("clickwrap-rotator")},
		{Key: aws.String("team"), Value: aws.String("payments")},
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("tagged"), SecretString: aws.String("v"), Tags: tags}); err != nil {
		t.Fatal(err)
	}
	tags[1].Value = aws.String("changed by the caller") // the emulator keeps its own copy
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tag := range d.Tags {
		got = append(got, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
	}
	if want := []string{"aws:cloudformation:stack-name=clickwrap-rotator", "team=payments"}; !slices.Equal(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}

	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("untagged"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	if d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("untagged")}); err != nil || d.Tags != nil {
		t.Errorf("DescribeSecret of an untagged secret: Tags %v, err %v", d.Tags, err)
	}

	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keyless"), Tags: []types.Tag{{Value: aws.String("v")}}})
	errorAs[*types.InvalidParameterException](t, err)
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("keyless")}); err == nil {
		t.Error("the secret with a keyless tag was created")
	}
}

// setupVersions creates secret "s" with v1 (AWSPREVIOUS), v2 (AWSCURRENT)
// and v3 (STAGING).
func setupVersions(t *testing.T, c *secretsmanager.Client) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("one"), ClientRequestToken: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("two"), ClientRequestToken: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("three"), ClientRequestToken: aws.String("v3"), VersionStages: []string{"STAGING"}}); err != nil {
		t.Fatal(err)
	}
}

func TestGetSecretValue(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Sync: true, Now: func() time.Time { return fixedNow }})
	setupVersions(t, c)
	// A failed rotation leaves pending version "p" without a value.
	s.SetInvoker(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return errors.New("boom") })
	if _, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), ClientRequestToken: aws.String("p"), RotationLambdaARN: aws.String(testLambdaARN)}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name             string
		versionID, stage string
		want             string   // value; "" means ResourceNotFoundException
		wantStages       []string // when found
		wantMsg          string   // when not found
	}{
		{name: "default is AWSCURRENT", want: "two", wantStages: []string{stageCurrent}},
		{name: "by stage", stage: stagePrevious, want: "one", wantStages: []string{stagePrevious}},
		{name: "by custom stage", stage: "STAGING", want: "three", wantStages: []string{"STAGING"}},
		{name: "by version id", versionID: "v1", want: "one", wantStages: []string{stagePrevious}},
		{name: "by version id and its stage", versionID: "v2", stage: stageCurrent, want: "two", wantStages: []string{stageCurrent}},
		{name: "stage not on version", versionID: "v1", stage: stageCurrent},
		{name: "unknown version", versionID: "nope", wantMsg: "Secrets Manager can't find the specified secret value for VersionId: nope"},
		{name: "unknown stage", stage: "NOPE", wantMsg: "Secrets Manager can't find the specified secret value for staging label: NOPE"},
		{name: "pending version has no value", versionID: "p", stage: stagePending, wantMsg: "Secrets Manager can't find the specified secret value for VersionId: p"},
		{name: "pending stage has no value", stage: stagePending, wantMsg: "Secrets Manager can't find the specified secret value for staging label: AWSPENDING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}
			if tt.versionID != "" {
				in.VersionId = aws.String(tt.versionID)
			}
			if tt.stage != "" {
				in.VersionStage = aws.String(tt.stage)
			}
			out, err := c.GetSecretValue(t.Context(), in)
			if tt.want == "" {
				nf := errorAs[*types.ResourceNotFoundException](t, err)
				if tt.wantMsg != "" && nf.ErrorMessage() != tt.wantMsg {
					t.Errorf("message = %q, want %q", nf.ErrorMessage(), tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.SecretString) != tt.want || !slices.Equal(out.VersionStages, tt.wantStages) {
				t.Errorf("got %q %v, want %q %v", aws.ToString(out.SecretString), out.VersionStages, tt.want, tt.wantStages)
			}
			if aws.ToString(out.Name) != "s" || !strings.HasPrefix(aws.ToString(out.ARN), "arn:aws:secretsmanager:") || !aws.ToTime(out.CreatedDate).Equal(fixedNow) {
				t.Errorf("ARN, Name, CreatedDate = %s, %s, %v", aws.ToString(out.ARN), aws.ToString(out.Name), out.CreatedDate)
			}
		})
	}
}

func TestPutSecretValue(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	ctx := t.Context()
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("p"), SecretString: aws.String("one"), ClientRequestToken: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	put := func(token, value string, stages ...string) (*secretsmanager.PutSecretValueOutput, error) {
		return c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("p"), ClientRequestToken: aws.String(token), SecretString: aws.String(value), VersionStages: stages,
		})
	}

	out, err := put("v2", "two")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.VersionId) != "v2" || !slices.Equal(out.VersionStages, []string{stageCurrent}) || aws.ToString(out.Name) != "p" {
		t.Errorf("PutSecretValue = %s %v", aws.ToString(out.VersionId), out.VersionStages)
	}
	assertStages(t, s, "p", map[string][]string{"v1": {stagePrevious}, "v2": {stageCurrent}})

	// Idempotent retry: same token and value succeeds and changes nothing.
	if out, err = put("v2", "two"); err != nil {
		t.Fatalf("retry with the same value: %v", err)
	}
	if !slices.Equal(out.VersionStages, []string{stageCurrent}) {
		t.Errorf("retry VersionStages = %v", out.VersionStages)
	}
	// Same token, different value.
	_, err = put("v2", "different")
	re := errorAs[*types.ResourceExistsException](t, err)
	if re.ErrorMessage() != "You can't modify an existing version, you can only create a new version." || strings.Contains(re.ErrorMessage(), "different") {
		t.Errorf("message = %q", re.ErrorMessage())
	}
	if v, _ := s.Value("p", "v2"); v != "two" {
		t.Errorf("value changed to %q", v)
	}

	// A custom stage does not move AWSCURRENT.
	if _, err := put("v3", "three", "STAGING"); err != nil {
		t.Fatal(err)
	}
	assertStages(t, s, "p", map[string][]string{"v1": {stagePrevious}, "v2": {stageCurrent}, "v3": {"STAGING"}})

	// Moving AWSCURRENT again moves AWSPREVIOUS; v1 is left without labels.
	if _, err := put("v4", "four", stageCurrent, "EXTRA"); err != nil {
		t.Fatal(err)
	}
	assertStages(t, s, "p", map[string][]string{"v2": {stagePrevious}, "v3": {"STAGING"}, "v4": {stageCurrent, "EXTRA"}})
	if v, ok := s.Value("p", "v1"); !ok || v != "one" {
		t.Errorf("deprecated version value = %q, %v", v, ok)
	}

	for _, tt := range []struct {
		name string
		in   secretsmanager.PutSecretValueInput
	}{
		{"no value", secretsmanager.PutSecretValueInput{SecretId: aws.String("p")}},
		{"both values", secretsmanager.PutSecretValueInput{SecretId: aws.String("p"), SecretString: aws.String("a"), SecretBinary: []byte("b")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.PutSecretValue(ctx, &tt.in)
			errorAs[*types.InvalidParameterException](t, err)
		})
	}
}

func TestListSecretVersionIds(t *testing.T) {
	t.Parallel()
	_, c := newServer(t, Options{Now: func() time.Time { return fixedNow }})
	ctx := t.Context()
	setupVersions(t, c)
	// v4 becomes current: v1 loses AWSPREVIOUS and is deprecated.
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("four"), ClientRequestToken: aws.String("v4")}); err != nil {
		t.Fatal(err)
	}
	ids := func(include bool) []string {
		out, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(include)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Name) != "s" || aws.ToString(out.ARN) == "" {
			t.Errorf("ARN, Name = %s, %s", aws.ToString(out.ARN), aws.ToString(out.Name))
		}
		var got []string
		for _, v := range out.Versions {
			if !aws.ToTime(v.CreatedDate).Equal(fixedNow) {
				t.Errorf("CreatedDate = %v", v.CreatedDate)
			}
			got = append(got, aws.ToString(v.VersionId)+"="+strings.Join(v.VersionStages, ","))
		}
		return got
	}
	if got, want := ids(false), []string{"v2=AWSPREVIOUS", "v3=STAGING", "v4=AWSCURRENT"}; !slices.Equal(got, want) {
		t.Errorf("versions = %v, want %v", got, want)
	}
	if got, want := ids(true), []string{"v1=", "v2=AWSPREVIOUS", "v3=STAGING", "v4=AWSCURRENT"}; !slices.Equal(got, want) {
		t.Errorf("versions with deprecated = %v, want %v", got, want)
	}
}

func TestUpdateSecretVersionStageErrors(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	setupVersions(t, c)
	before := s.Stages("s")

	type in = secretsmanager.UpdateSecretVersionStageInput
	tests := []struct {
		name  string
		in    in
		check func(*testing.T, error)
	}{
		{"move AWSCURRENT without RemoveFromVersionId", in{VersionStage: aws.String(stageCurrent), MoveToVersionId: aws.String("v1")},
			func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"move AWSCURRENT removing from the wrong version", in{VersionStage: aws.String(stageCurrent), MoveToVersionId: aws.String("v1"), RemoveFromVersionId: aws.String("v3")},
			func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"remove AWSCURRENT without moving it", in{VersionStage: aws.String(stageCurrent), RemoveFromVersionId: aws.String("v2")},
			func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"remove a stage the version lacks", in{VersionStage: aws.String("STAGING"), RemoveFromVersionId: aws.String("v1")},
			func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"neither version given", in{VersionStage: aws.String("STAGING")},
			func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"unknown MoveToVersionId", in{VersionStage: aws.String("STAGING"), MoveToVersionId: aws.String("nope")},
			func(t *testing.T, err error) { errorAs[*types.ResourceNotFoundException](t, err) }},
		{"unknown RemoveFromVersionId", in{VersionStage: aws.String("STAGING"), RemoveFromVersionId: aws.String("nope")},
			func(t *testing.T, err error) { errorAs[*types.ResourceNotFoundException](t, err) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.in.SecretId = aws.String("s")
			_, err := c.UpdateSecretVersionStage(t.Context(), &tt.in)
			tt.check(t, err)
		})
	}
	t.Cleanup(func() {
		if !equalStages(s.Stages("s"), before) {
			t.Errorf("failed calls changed stages: %v, before %v", s.Stages("s"), before)
		}
	})
}

func TestUpdateSecretVersionStageMoves(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	ctx := t.Context()
	setupVersions(t, c)
	update := func(stage, moveTo, removeFrom string) {
		t.Helper()
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"), VersionStage: aws.String(stage)}
		if moveTo != "" {
			in.MoveToVersionId = aws.String(moveTo)
		}
		if removeFrom != "" {
			in.RemoveFromVersionId = aws.String(removeFrom)
		}
		out, err := c.UpdateSecretVersionStage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Name) != "s" || aws.ToString(out.ARN) == "" {
			t.Errorf("ARN, Name = %s, %s", aws.ToString(out.ARN), aws.ToString(out.Name))
		}
	}

	// Moving AWSCURRENT gives the old current version AWSPREVIOUS, taken from v1.
	update(stageCurrent, "v3", "v2")
	assertStages(t, s, "s", map[string][]string{"v2": {stagePrevious}, "v3": {"STAGING", stageCurrent}})
	// Removing a label.
	update("STAGING", "", "v3")
	assertStages(t, s, "s", map[string][]string{"v2": {stagePrevious}, "v3": {stageCurrent}})
	// Attaching a label nobody holds needs no RemoveFromVersionId.
	update(stagePending, "v1", "")
	assertStages(t, s, "s", map[string][]string{"v1": {stagePending}, "v2": {stagePrevious}, "v3": {stageCurrent}})
	// Moving AWSCURRENT back to the AWSPREVIOUS version swaps the two.
	update(stageCurrent, "v2", "v3")
	assertStages(t, s, "s", map[string][]string{"v1": {stagePending}, "v2": {stageCurrent}, "v3": {stagePrevious}})
	// Moving to the version that already holds the label is a no-op.
	update(stageCurrent, "v2", "v2")
	assertStages(t, s, "s", map[string][]string{"v1": {stagePending}, "v2": {stageCurrent}, "v3": {stagePrevious}})
}

func TestSecretValueClone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    *secretValue
	}{
		{"nil", nil},
		{"string", &secretValue{str: aws.String("some-string")}},
		{"empty string", &secretValue{str: aws.String("")}},
		{"binary", &secretValue{bin: []byte{0, 1, 2, 255}}},
		{"empty binary", &secretValue{bin: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.v.clone()
			if tt.v == nil {
				if c != nil {
					t.Fatal("clone of nil is not nil")
				}
				return
			}
			if !c.equal(tt.v) || (c.str == nil) != (tt.v.str == nil) || (c.bin == nil) != (tt.v.bin == nil) {
				t.Fatal("the clone differs from the original")
			}
			if sharesMemory(c, tt.v) {
				t.Fatal("the clone shares memory with the original")
			}
			// Changing the clone leaves the original alone.
			want := &secretValue{}
			if tt.v.str != nil {
				want.str = aws.String(*tt.v.str)
				*c.str += "-changed"
			}
			if tt.v.bin != nil {
				want.bin = slices.Clone(tt.v.bin)
				for i := range c.bin {
					c.bin[i] ^= 0xff
				}
				c.bin = append(c.bin, 7)
			}
			if !tt.v.equal(want) {
				t.Error("changing the clone changed the original")
			}
		})
	}
}
