package secretsmanagertest

import (
	"cmp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// The read-lag tests use secret lagSecret, created with version "c"
// (AWSCURRENT); every version id stores lagValue(id).
const lagSecret = "lag"

func lagValue(id string) string { return "value-" + id }

// lagStep is one action of a read-lag scenario.
type lagStep struct {
	gets int // GetSecretValue requests the step sends
	run  func(t *testing.T, s *Server, c *secretsmanager.Client)
}

func lagSet(n int) lagStep {
	return lagStep{run: func(t *testing.T, s *Server, _ *secretsmanager.Client) { s.SetReadLagAfterPut(n) }}
}

// lagPut stores lagValue(id) as version id with stages (none: AWSCURRENT).
func lagPut(id string, stages ...string) lagStep {
	return lagStep{run: func(t *testing.T, _ *Server, c *secretsmanager.Client) {
		t.Helper()
		if _, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(lagSecret), ClientRequestToken: aws.String(id), SecretString: aws.String(lagValue(id)), VersionStages: stages,
		}); err != nil {
			t.Fatalf("PutSecretValue %s: %v", id, err)
		}
	}}
}

// lagPutConflict stores another value under an existing version id: refused.
func lagPutConflict(id string) lagStep {
	return lagStep{run: func(t *testing.T, _ *Server, c *secretsmanager.Client) {
		t.Helper()
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(lagSecret), ClientRequestToken: aws.String(id), SecretString: aws.String("another-value"),
		})
		errorAs[*types.ResourceExistsException](t, err)
	}}
}

func getInput(id, stage string) *secretsmanager.GetSecretValueInput {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(lagSecret)}
	if id != "" {
		in.VersionId = aws.String(id)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	return in
}

// lagFresh reads by id and/or stage and expects version want's value.
func lagFresh(id, stage, want string) lagStep {
	return lagStep{gets: 1, run: func(t *testing.T, _ *Server, c *secretsmanager.Client) {
		t.Helper()
		out, err := c.GetSecretValue(t.Context(), getInput(id, stage))
		if err != nil {
			t.Fatalf("GetSecretValue(id %q, stage %q): %v, want version %s", id, stage, err, want)
		}
		if aws.ToString(out.VersionId) != want || aws.ToString(out.SecretString) != lagValue(want) {
			t.Fatalf("GetSecretValue(id %q, stage %q) = version %s, want %s with its value", id, stage, aws.ToString(out.VersionId), want)
		}
	}}
}

// lagStale reads by id and/or stage and expects the answer a version
// without a value gets.
func lagStale(id, stage string) lagStep {
	return lagStep{gets: 1, run: func(t *testing.T, _ *Server, c *secretsmanager.Client) {
		t.Helper()
		_, err := c.GetSecretValue(t.Context(), getInput(id, stage))
		if err == nil {
			t.Fatalf("GetSecretValue(id %q, stage %q) answered a value, want a stale read", id, stage)
		}
		nf := errorAs[*types.ResourceNotFoundException](t, err)
		want := "Secrets Manager can't find the specified secret value for VersionId: " + id
		if id == "" {
			want = "Secrets Manager can't find the specified secret value for staging label: " + cmp.Or(stage, stageCurrent)
		}
		if nf.ErrorMessage() != want {
			t.Fatalf("message = %q, want %q", nf.ErrorMessage(), want)
		}
	}}
}

// lagFails reads and expects an error of type E (a read that fails for a
// reason other than the lag).
func lagFails[E error](id, stage string) lagStep {
	return lagStep{gets: 1, run: func(t *testing.T, _ *Server, c *secretsmanager.Client) {
		t.Helper()
		_, err := c.GetSecretValue(t.Context(), getInput(id, stage))
		errorAs[E](t, err)
	}}
}

// lagFailNext injects one fault into the next GetSecretValue.
func lagFailNext(code string) lagStep {
	return lagStep{run: func(t *testing.T, s *Server, _ *secretsmanager.Client) { s.FailNext("GetSecretValue", 1, code) }}
}

// lagListed checks that DescribeSecret and ListSecretVersionIds show version
// id with stages, whatever the lag.
func lagListed(id string, stages ...string) lagStep {
	return lagStep{run: func(t *testing.T, _ *Server, c *secretsmanager.Client) {
		t.Helper()
		d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(lagSecret)})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.VersionIdsToStages[id]; !equalStages(map[string][]string{id: got}, map[string][]string{id: stages}) {
			t.Fatalf("DescribeSecret: version %s stages = %v, want %v", id, got, stages)
		}
		lv, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(lagSecret)})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range lv.Versions {
			if aws.ToString(v.VersionId) == id {
				if !equalStages(map[string][]string{id: v.VersionStages}, map[string][]string{id: stages}) {
					t.Fatalf("ListSecretVersionIds: version %s stages = %v, want %v", id, v.VersionStages, stages)
				}
				return
			}
		}
		t.Fatalf("ListSecretVersionIds does not list version %s", id)
	}}
}

func TestSetReadLagAfterPut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps []lagStep
	}{
		{"lag 2: two stale reads by id and by AWSPENDING, then the value", []lagStep{
			lagSet(2), lagPut("p", stagePending),
			lagListed("p", stagePending),
			lagFresh("", stageCurrent, "c"), // other versions are not affected
			lagStale("p", ""),
			lagFresh("c", "", "c"),
			lagListed("p", stagePending),
			lagStale("", stagePending),
			lagFresh("p", "", "p"),
			lagFresh("", stagePending, "p"),
			lagFresh("p", stagePending, "p"),
		}},
		{"lag 2: by AWSPENDING, then by VersionId and AWSPENDING", []lagStep{
			lagSet(2), lagPut("p", stagePending),
			lagStale("", stagePending), lagStale("p", stagePending), lagFresh("", stagePending, "p"),
		}},
		{"lag 1", []lagStep{lagSet(1), lagPut("p", stagePending), lagStale("p", ""), lagFresh("p", "", "p")}},
		{"off by default", []lagStep{lagPut("p", stagePending), lagFresh("p", "", "p"), lagFresh("", stagePending, "p")}},
		{"lag 0 is off", []lagStep{lagSet(0), lagPut("p", stagePending), lagFresh("p", "", "p"), lagFresh("", stagePending, "p")}},
		{"negative lag is off", []lagStep{lagSet(-3), lagPut("p", stagePending), lagFresh("p", "", "p")}},
		{"turning it off drops armed stale reads", []lagStep{
			lagSet(3), lagPut("p", stagePending), lagStale("p", ""), lagSet(0), lagFresh("p", "", "p"),
			lagPut("q", "STAGING"), lagFresh("q", "", "q"),
		}},
		{"only later Puts are affected", []lagStep{
			lagPut("p", stagePending), lagSet(1), lagFresh("p", "", "p"),
			lagPut("q", "STAGING"), lagStale("q", ""), lagFresh("q", "", "q"),
		}},
		{"each Put arms its own version", []lagStep{
			lagSet(1), lagPut("p", stagePending), lagPut("q", "STAGING"),
			lagStale("", "STAGING"), lagStale("p", ""), lagFresh("q", "", "q"), lagFresh("p", "", "p"),
		}},
		{"a Put to AWSCURRENT lags the default read", []lagStep{
			lagSet(1), lagPut("n"),
			lagListed("n", stageCurrent), lagListed("c", stagePrevious),
			lagStale("", ""), lagFresh("", "", "n"), lagFresh("", stagePrevious, "c"),
		}},
		{"an idempotent retry of a Put arms it again", []lagStep{
			lagSet(1), lagPut("p", stagePending), lagStale("p", ""), lagPut("p", stagePending), lagStale("p", ""), lagFresh("p", "", "p"),
		}},
		{"a refused Put does not arm", []lagStep{
			lagSet(1), lagPut("p", stagePending), lagStale("p", ""), lagPutConflict("p"), lagFresh("p", "", "p"),
		}},
		{"a read refused for another reason does not use one up", []lagStep{
			lagSet(1), lagPut("p", stagePending),
			lagFails[*types.ResourceNotFoundException]("p", stageCurrent), // p does not hold AWSCURRENT
			lagStale("p", ""), lagFresh("p", "", "p"),
		}},
		{"an injected fault does not use one up", []lagStep{
			lagSet(1), lagPut("p", stagePending),
			lagFailNext("InvalidRequestException"), lagFails[*types.InvalidRequestException]("p", ""),
			lagStale("p", ""), lagFresh("p", "", "p"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{})
			if _, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
				Name: aws.String(lagSecret), ClientRequestToken: aws.String("c"), SecretString: aws.String(lagValue("c")),
			}); err != nil {
				t.Fatal(err)
			}
			gets := 0
			for _, st := range tt.steps {
				st.run(t, s, c)
				gets += st.gets
			}
			// Stale reads are counted like any other request.
			if got := s.Calls()["GetSecretValue"]; got != gets {
				t.Errorf("GetSecretValue calls = %d, want %d", got, gets)
			}
		})
	}
}
