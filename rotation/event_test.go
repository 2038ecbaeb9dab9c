package rotation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestEventSamples reads the event of each step in testdata/, as Secrets
// Manager sends it to the function (the shape of aws-lambda-go's
// events.SecretsManagerSecretRotationEvent), and checks it as aws-lambda-go
// checks its events against its own samples: every field is decoded, and
// encoding the event again gives the same JSON. Handle then takes each one
// past its event checks to the secret's: the sample's version is not one of
// the secret's, so it answers "no stage for rotation" after one
// DescribeSecret, changing nothing and logging no RotationToken.
func TestEventSamples(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, err := w.rotate(); err != nil { // rotation on: the checks go on to the version
		t.Fatal(err)
	}
	for _, step := range rotation.Steps {
		t.Run(string(step), func(t *testing.T) {
			sample, err := os.ReadFile(filepath.Join("testdata", string(step)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var ev rotation.Event
			dec := json.NewDecoder(bytes.NewReader(sample))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				t.Fatal(err)
			}
			if ev.Step != string(step) || ev.SecretID == "" || ev.ClientRequestToken == "" || ev.RotationToken == "" {
				t.Fatalf("decoded Step %q, SecretId %q, ClientRequestToken %q, RotationToken set: %v",
					ev.Step, ev.SecretID, ev.ClientRequestToken, ev.RotationToken != "")
			}
			again, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, sample, again) {
				t.Errorf("encoded again, the event reads\n%s\nthe sample\n%s", again, sample)
			}

			// The emulator answers for the sample's secret as it does for
			// its own.
			w.useRotator(underARN{SecretsManager: w.sm.Client(), arn: ev.SecretID, emulated: w.arn}, clickwrap.NewClient(w.cw.Client()))
			before := w.sm.Stages(w.arn)
			w.sm.ResetCalls()
			err = w.handle(context.Background(), ev)
			if err == nil {
				t.Fatal("an event naming a version the secret does not have was accepted")
			}
			for _, want := range []string{string(step), ev.SecretID, ev.ClientRequestToken, "version has no stage for rotation"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if calls := w.sm.Calls(); !maps.Equal(calls, map[string]int{"DescribeSecret": 1}) {
				t.Errorf("calls %v, want one DescribeSecret", calls)
			}
			if after := w.sm.Stages(w.arn); !stagesEqual(after, before) {
				t.Errorf("stages changed: %v -> %v", before, after)
			}
		})
	}
	if !strings.Contains(w.logs.String(), `"msg":"rotation step failed"`) {
		t.Error("the refusals were not logged")
	}
	w.assertNoLeak() // the samples' RotationToken among the values
}

// underARN is a Secrets Manager that knows the emulated secret by another
// ARN too.
type underARN struct {
	rotation.SecretsManager
	arn, emulated string
}

func (u underARN) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	if aws.ToString(in.SecretId) == u.arn {
		in = &secretsmanager.DescribeSecretInput{SecretId: aws.String(u.emulated)}
	}
	return u.SecretsManager.DescribeSecret(ctx, in, opts...)
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}
