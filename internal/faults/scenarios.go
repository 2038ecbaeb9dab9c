package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// always is a fault count larger than any run uses.
const always = 1 << 20

// calls is shorthand for an expected Calls.
func calls(describe, get, put, update int) *Calls {
	return &Calls{Describe: describe, Get: get, Put: put, Update: update}
}

// Scenarios returns the matrix, in order. The expected counts assume
// ServiceRetries = 2: a scenario that keeps failing runs 3 times.
//
// A rotation that succeeds first time takes 9 Secrets Manager calls
// (4 DescribeSecret, 3 GetSecretValue, 1 PutSecretValue,
// 1 UpdateSecretVersionStage); a createSecret that fails before storing
// takes 3 (1/2/0/0). In the split form (the rows of twoApplications) every
// createSecret that mints reads the credentials secret too: one more
// GetSecretValue, so 10 (4/4/1/1) for a rotation that succeeds first time. golang.org/x/oauth2 auto-detects the client
// authentication, so every failed token request is sent twice (HTTP Basic,
// then body parameters): a mint that fails makes 2 requests per try.
func Scenarios() []Scenario {
	one := oneApplication()
	return append(one, twoApplications(one)...)
}

// oneApplication is the matrix with the secret in the inline form: one API
// application, whose client_id and client_secret are in the secret.
func oneApplication() []Scenario {
	return []Scenario{
		{
			ID: "1", Name: "Clickwrap refuses connections",
			Fault:   "token_url and api_url name a closed loopback port; fixed by listening there again (a relay to the sandbox)",
			Verdict: "ok",
			urls: func(e *env) (string, string, error) {
				addr, release, err := closedPort()
				e.closedAddr, e.releaseClosed = addr, release
				return "https://" + addr + "/oauth/token", "https://" + addr + "/v1.1", err
			},
			heal: func(_ context.Context, e *env) error {
				e.releaseClosed()
				stop, err := forward(e.closedAddr, strings.TrimPrefix(e.st.Sandbox.URL, "https://"))
				if err == nil {
					e.cleanup(stop)
				}
				return err
			},
			Want: Expect{ErrContains: "cannot reach", CurrentValid: true, FieldsKept: true, Stuck: StuckEmpty, Heal: HealClears,
				Calls: calls(3, 6, 0, 0), Mints: 0, Verifies: 0},
		},
		{
			ID: "2", Name: "untrusted TLS certificate",
			Fault:   "the function's SSL_CERT_FILE holds another CA; fixed by a new container with the sandbox CA",
			Verdict: "ok",
			fnEnv: func(e *env) ([]string, error) {
				other := clickwraptest.NewServer()
				defer other.Close()
				ca, err := other.WriteCAFile(e.dir)
				return []string{"SSL_CERT_FILE=" + ca}, err
			},
			heal: func(ctx context.Context, e *env) error {
				fn, err := e.startFunction(ctx, nil)
				if err == nil {
					e.st.Secrets.SetInvoker(invoker(fn))
				}
				return err
			},
			Want: Expect{ErrContains: "is not trusted", CurrentValid: true, FieldsKept: true, Stuck: StuckEmpty, Heal: HealClears,
				Calls: calls(3, 6, 0, 0), Mints: 0, Verifies: 0},
		},
		{
			ID: "3", Name: "5xx on every try",
			Fault:   "the sandbox answers HTTP 500 to every request",
			Verdict: "ok",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.FailNext(clickwraptest.EndpointAny, always, http.StatusInternalServerError)
				return nil
			},
			heal: func(_ context.Context, e *env) error {
				e.st.Sandbox.FailNext(clickwraptest.EndpointAny, 0, http.StatusInternalServerError)
				return nil
			},
			// 3 runs x 1 request: a mint is not retried after a 500, since
			// the token may have been issued before the failure (only 429,
			// 503 and connections never made are retried); Secrets Manager's
			// retries of the rotation are the retries.
			Want: Expect{ErrContains: "answered HTTP 500", CurrentValid: true, FieldsKept: true, Stuck: StuckEmpty,
				Heal: HealClears, Calls: calls(3, 6, 0, 0), Mints: 3, Verifies: 0},
		},
		{
			ID: "4", Name: "429, Retry-After past the deadline",
			Fault:   "the token endpoint answers 429 with Retry-After: 30; function timeout 5 s",
			Verdict: "ok",
			Timeout: 5 * time.Second,
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.RateLimitNext(clickwraptest.EndpointToken, always, 30*time.Second)
				return nil
			},
			heal: func(_ context.Context, e *env) error {
				e.st.Sandbox.RateLimitNext(clickwraptest.EndpointToken, 0, 0)
				return nil
			},
			Want: Expect{ErrContains: "not retrying: the next try is due in 30s", CurrentValid: true, FieldsKept: true, Stuck: StuckEmpty,
				Heal: HealClears, Calls: calls(3, 6, 0, 0), Mints: 3, Verifies: 0},
		},
		{
			ID: "5", Name: "token endpoint: invalid_client",
			Fault:   "the API key's secret was regenerated at Clickwrap; fixed by restoring it",
			Verdict: "ok",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.AddClient(clientID, "regenerated-elsewhere")
				return nil
			},
			heal: func(_ context.Context, e *env) error {
				e.st.Sandbox.AddClient(clientID, clientSecret)
				return nil
			},
			// 3 runs x 3 token requests: HTTP Basic, body parameters and a
			// JSON body are each refused once.
			Want: Expect{ErrContains: "invalid_client", CurrentValid: true, FieldsKept: true, Stuck: StuckEmpty, Heal: HealClears,
				Calls: calls(3, 6, 0, 0), Mints: 9, Verifies: 0},
		},
		{
			ID: "6", Name: "verify answers 401",
			Fault:   "the pending token is revoked as it is stored, so every check of it answers 401",
			Verdict: "ok: the version can never pass, so testSecret removes its AWSPENDING; the next rotation starts afresh",
			setup: func(_ context.Context, e *env) error {
				e.removeFault = e.onCall("PutSecretValue", func(c secretsmanagertest.Call) error {
					var in struct{ SecretString string }
					if err := json.Unmarshal(c.Input, &in); err == nil {
						e.st.Sandbox.Revoke(accessToken(in.SecretString))
					}
					return nil
				})
				return nil
			},
			heal: func(_ context.Context, e *env) error {
				e.removeFault()
				return nil
			},
			// One run: 4+1+2 calls and the UpdateSecretVersionStage that
			// removes AWSPENDING. The 401 is retried with jittered backoff
			// for the 5 s propagation grace (a new token may not be live
			// yet), so the number of checks varies (about 6); then, with
			// nothing pending, the service has nothing to retry.
			Want: Expect{ErrContains: "AWSPENDING was removed from it", CurrentValid: true, FieldsKept: true, Stuck: NotStuck,
				Calls: calls(3, 3, 1, 1), Mints: 1, Verifies: -1},
		},
		{
			ID: "7a", Name: "Secrets Manager throttles once per operation",
			Fault:   "ThrottlingException on the first call of each of the 4 operations",
			Verdict: "ok",
			setup: func(_ context.Context, e *env) error {
				for _, op := range []string{"DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"} {
					e.st.Secrets.FailNext(op, 1, "ThrottlingException")
				}
				return nil
			},
			Want: Expect{Succeeded: true, CurrentValid: true, FieldsKept: true, Calls: calls(5, 4, 2, 2), Mints: 1, Verifies: 1},
		},
		{
			ID: "7b", Name: "Secrets Manager throttles PutSecretValue 3×",
			Fault:   "ThrottlingException on 3 PutSecretValue calls in a row: the SDK's 3 attempts all fail",
			Verdict: "ok: the retry stores the credential minted by the first attempt, kept in memory",
			setup: func(_ context.Context, e *env) error {
				e.st.Secrets.FailNext("PutSecretValue", 3, "ThrottlingException")
				return nil
			},
			// Run 1: 1/2/3/0; the retry in the same container stores the
			// value it kept instead of minting again: 4/3/1/1.
			Want: Expect{Succeeded: true, ErrContains: "ThrottlingException", CurrentValid: true, FieldsKept: true, Orphans: 0,
				Calls: calls(5, 5, 4, 1), Mints: 1, Verifies: 1},
		},
		{
			ID: "8", Name: "killed after minting, before PutSecretValue",
			Fault:   "SIGKILL of the bootstrap when its PutSecretValue arrives (not applied); then the service's retry",
			Verdict: "limit: 1 orphan",
			setup: func(_ context.Context, e *env) error {
				e.killBeforeFirst("PutSecretValue")
				return nil
			},
			Want: Expect{Succeeded: true, ErrContains: "Runtime exited", CurrentValid: true, FieldsKept: true, Orphans: 1, Died: 1,
				Calls: calls(5, 5, 2, 1), Mints: 2, Verifies: 1},
		},
		{
			ID: "9a", Name: "two RotateSecret calls at once",
			Fault:   "two RotateSecret calls (each with its own ClientRequestToken) applied at the same moment",
			Verdict: "ok",
			setup: func(_ context.Context, e *env) error {
				e.barrier("RotateSecret", 2)
				return nil
			},
			drive: twoRotateSecrets,
			Want: Expect{Succeeded: true, ErrContains: "A previous rotation isn't complete", CurrentValid: true, FieldsKept: true,
				Calls: calls(4, 3, 1, 1), Mints: 1, Verifies: 1},
		},
		{
			ID: "9b", Name: "RetryRotation racing a running rotation",
			Fault:      "two containers run the same rotation at once; their PutSecretValue calls, then their UpdateSecretVersionStage calls, meet",
			Verdict:    "minor: 1 orphan (both containers minted; one value was stored)",
			Concurrent: true,
			setup: func(ctx context.Context, e *env) error {
				if err := e.addSecondContainer(ctx); err != nil {
					return err
				}
				e.barrier("PutSecretValue", 2)
				e.barrier("UpdateSecretVersionStage", 2)
				return nil
			},
			drive: racingRetry,
			// Each run: 4 (or 5 for the one that lost the PutSecretValue
			// race and re-read) + 1 + 2 + 2 calls; the loser did not store
			// the pending value, so its finishSecret reads AWSCURRENT and
			// AWSPENDING to check the value was made from AWSCURRENT (2
			// more); the finishSecret whose move was refused (AWSCURRENT had
			// moved) describes once more and succeeds. The loser's re-read
			// after ResourceExistsException also tells its later steps where
			// the stored value came from, so they read nothing more.
			Want: Expect{Succeeded: true, CurrentValid: true, FieldsKept: true, Orphans: 1,
				Calls: calls(9, 7, 2, 2), Mints: 2, Verifies: 2},
		},
		{
			ID: "9c", Name: "revoke-on-mint + two containers race createSecret",
			Fault: "SetRevokeOnMint(true); scenario 9b's two runs, and of the two PutSecretValue calls the one holding the " +
				"earlier (so already revoked) token is applied first",
			Verdict:    "limit: outage until the next rotation, which needs no operator (revoke-on-mint, and a race nothing can lock)",
			Concurrent: true,
			setup: func(ctx context.Context, e *env) error {
				e.st.Sandbox.SetRevokeOnMint(true)
				if err := e.addSecondContainer(ctx); err != nil {
					return err
				}
				e.storeRevokedFirst()
				return nil
			},
			drive: racingRetry,
			// Nothing to remove: the race is over. The first testSecret to
			// reject the stored (revoked) token abandons the version; the
			// other run then stops at the checks or abandons too, so the
			// call and verify counts depend on timing and are not asserted.
			// The next RotateSecret mints afresh.
			heal: func(context.Context, *env) error { return nil },
			// Which run's error comes first depends on timing too: both fail
			// in testSecret ("This version can never pass" or "no stage").
			Want: Expect{ErrContains: "testSecret", CurrentValid: false, CurrentRejected: true, NoneAccepted: true,
				FieldsKept: true, Stuck: NotStuck, Heal: HealClears, Orphans: 1, Mints: 2, Verifies: -1},
		},
		{
			ID: "10a", Name: "minting revokes the previous token",
			Fault:   "sandbox SetRevokeOnMint(true)",
			Verdict: "limit: AWSCURRENT 401 until finishSecret",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.SetRevokeOnMint(true)
				return nil
			},
			Want: Expect{Succeeded: true, CurrentValid: true, CurrentRejected: true, NoneAccepted: true, FieldsKept: true,
				Calls: calls(4, 3, 1, 1), Mints: 1, Verifies: 1},
		},
		{
			ID: "10b", Name: "revoke-on-mint + testSecret fails once",
			Fault:   "SetRevokeOnMint(true); the API answers 500 to the first 4 requests (the first testSecret)",
			Verdict: "limit: AWSCURRENT 401 until the retry",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.SetRevokeOnMint(true)
				e.st.Sandbox.FailNext(clickwraptest.EndpointAPI, 4, http.StatusInternalServerError)
				return nil
			},
			// Run 1: 4+1+2; the retry: 3+1+2+2 (no new mint).
			Want: Expect{Succeeded: true, ErrContains: "HTTP 500", CurrentValid: true, CurrentRejected: true, NoneAccepted: true,
				FieldsKept: true, Calls: calls(7, 6, 1, 1), Mints: 1, Verifies: 5},
		},
		{
			ID: "10c", Name: "revoke-on-mint + killed before PutSecretValue",
			Fault:   "SetRevokeOnMint(true) and scenario 8's kill",
			Verdict: "limit: no stored token works until the retry",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.SetRevokeOnMint(true)
				e.killBeforeFirst("PutSecretValue")
				return nil
			},
			Want: Expect{Succeeded: true, ErrContains: "Runtime exited", CurrentValid: true, CurrentRejected: true, NoneAccepted: true,
				FieldsKept: true, Orphans: 1, Died: 1, Calls: calls(5, 5, 2, 1), Mints: 2, Verifies: 1},
		},
		pageOnTheCheck("11a", "sign-in redirect on the check",
			"the first check is answered 302 to /login (a sign-in gateway), whose page is 200 text/html",
			"ok: a redirect proves nothing and condemns nothing; the retry promotes the same token",
			clickwraptest.InterceptLoginRedirect, "with a redirect to"),
		pageOnTheCheck("11b", "HTML page with 200 on the check",
			"the first check is answered 200 with a text/html sign-in page",
			"ok: only a JSON object from the API proves a token; the retry promotes the same token",
			clickwraptest.InterceptSignInPage, "with an HTML page"),
		pageOnTheCheck("11c", "CDN challenge 403 once",
			"the first check is answered 403 text/html with cf-mitigated: challenge, then normally",
			"ok: not the API's refusal, so the token is kept; the retry promotes it with no second mint",
			clickwraptest.InterceptChallenge, "HTTP 403 with an HTML page"),
		{
			ID: "11d", Name: "token answer with whitespace",
			Fault:   "the token endpoint answers form-encoded, token_type=bearer, with the token followed by %0A",
			Verdict: "ok: the newline is trimmed; the stored token is the one Clickwrap accepts",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.SetTokenAnswer(clickwraptest.TokenAnswer{Form: true, TokenType: "bearer", ExpiresIn: "3600",
					AccessToken: func(t string) string { return t + "\n" }})
				return nil
			},
			Want: Expect{Succeeded: true, CurrentValid: true, FieldsKept: true, Calls: calls(4, 3, 1, 1), Mints: 1, Verifies: 1},
		},
		{
			ID: "11e", Name: "float expires_in",
			Fault:   `the token answer's expires_in is 3600.0`,
			Verdict: "ok: read as 3600 seconds; expires_at written",
			setup: func(_ context.Context, e *env) error {
				e.st.Sandbox.SetTokenAnswer(clickwraptest.TokenAnswer{ExpiresIn: "3600.0"})
				return nil
			},
			Want: Expect{Succeeded: true, CurrentValid: true, FieldsKept: true, Calls: calls(4, 3, 1, 1), Mints: 1, Verifies: 1},
		},
		{
			ID: "11f", Name: "stale pending version after the owner's fix",
			Fault: "api_url ends in /v1, so every check gets 404 and AWSPENDING stays; the owner then fixes api_url with " +
				"put-secret-value; the service retries, then the next rotation runs",
			Verdict: "ok: the retry abandons the copy made before the fix instead of testing it again; the next rotation uses the fix",
			urls: func(e *env) (string, string, error) {
				return e.st.Sandbox.TokenURL(), e.st.Sandbox.URL + "/v1", nil
			},
			drive: ownerFixesDuringRetries,
			Want: Expect{Succeeded: true, ErrContains: "api_url in the secret is wrong", CurrentValid: true, FieldsKept: true,
				Stuck: NotStuck, Calls: calls(16, 16, 3, 2), Mints: 2, Verifies: 1},
		},
	}
}

// twoApplications are rows 9c and 10a-10c again with the secret in the split
// form and two API applications (Scenario.Split): the same faults, the
// sandbox revoking an application's earlier tokens when it mints for that
// application (SetRevokeOnMint is per client). AWSCURRENT's token was
// minted by the first application and every rotation mints with the
// second, so no mint can revoke the token consumers hold: AWSCURRENT stays
// accepted throughout, whatever the fault.
func twoApplications(one []Scenario) []Scenario {
	const split = "; the secret in the split form: two API applications registered in the sandbox, " +
		"AWSCURRENT's token minted by the first, so the rotation mints with the second"
	variant := func(base, id, verdict string, want Expect) Scenario {
		i := slices.IndexFunc(one, func(sc Scenario) bool { return sc.ID == base })
		if i < 0 {
			panic("faults: no scenario " + base)
		}
		sc := one[i]
		sc.ID, sc.Name, sc.Fault, sc.Verdict, sc.Want, sc.Split = id, "two applications: "+sc.Name, sc.Fault+split, verdict, want, true
		return sc
	}
	return []Scenario{
		// Both runs mint with the second application, so the second mint
		// revokes the first run's token, and that one is stored: the
		// version can never pass and testSecret abandons it, as in 9c. But
		// AWSCURRENT's token is the first application's, which nothing
		// minted for: it is accepted throughout, and nothing needs healing.
		// As in 9c the call and verify counts depend on timing.
		variant("9c", "12a", "ok: AWSCURRENT never rejected (9c: outage until the next rotation); the rotation still fails, as the race cannot be locked, and leaves nothing stuck",
			Expect{ErrContains: "testSecret", CurrentValid: true, FieldsKept: true, Stuck: NotStuck, Orphans: 1, Mints: 2, Verifies: -1}),
		// 4 DescribeSecret, 3 GetSecretValue of the token secret and 1 of
		// the credentials secret, 1 PutSecretValue, 1 UpdateSecretVersionStage.
		variant("10a", "12b", "ok: AWSCURRENT never rejected (10a had a 401 window until finishSecret)",
			Expect{Succeeded: true, CurrentValid: true, FieldsKept: true, Calls: calls(4, 4, 1, 1), Mints: 1, Verifies: 1}),
		// Run 1: 10b's 4+1+2 and the credentials read; the retry: 3+1+2+2
		// (the pending value is there: no mint, no credentials read).
		variant("10b", "12c", "ok: AWSCURRENT never rejected while the retry waits (10b: rejected until the retry)",
			Expect{Succeeded: true, ErrContains: "HTTP 500", CurrentValid: true, FieldsKept: true,
				Calls: calls(7, 7, 1, 1), Mints: 1, Verifies: 5}),
		// Both createSecret runs read the credentials secret and mint with
		// the second application: the retry's mint revokes the orphan.
		variant("10c", "12d", "ok: AWSCURRENT never rejected; the orphan is revoked by the retry's mint (10c: no stored token worked until the retry)",
			Expect{Succeeded: true, ErrContains: "Runtime exited", CurrentValid: true, FieldsKept: true, Orphans: 1, Died: 1,
				Calls: calls(5, 7, 2, 1), Mints: 2, Verifies: 1}),
	}
}

// pageOnTheCheck is a scenario in which something in front of the API
// answers the first check with kind. The rotation must fail with AWSPENDING
// kept, and the service's retry promote the same token: run 1 makes 4+1+2
// calls, the retry 3+1+2+2, and there is no second mint.
func pageOnTheCheck(id, name, fault, verdict string, kind clickwraptest.Intercept, errContains string) Scenario {
	return Scenario{
		ID: id, Name: name, Fault: fault, Verdict: verdict,
		setup: func(_ context.Context, e *env) error {
			e.st.Sandbox.InterceptNext(clickwraptest.EndpointAPI, 1, kind)
			return nil
		},
		Want: Expect{Succeeded: true, ErrContains: errContains, CurrentValid: true, FieldsKept: true,
			Calls: calls(7, 6, 1, 1), Mints: 1, Verifies: 2},
	}
}

// ownerFixesDuringRetries is scenario 11f: the rotation fails as the service
// runs and retries it; the owner puts a fixed api_url; the service retries
// once more; then the next rotation (the schedule's, or "Rotate secret
// immediately") runs.
func ownerFixesDuringRetries(ctx context.Context, e *env) driven {
	d := e.rotateAndRetry(ctx)
	fixed := strings.Replace(e.original, quote(e.apiURL), quote(e.st.Sandbox.APIURL()), 1)
	if _, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(e.arn), SecretString: aws.String(fixed)}); err != nil {
		e.harnessErr(fmt.Errorf("the owner's put-secret-value: %w", err))
		return d
	}
	e.mu.Lock()
	e.edits = append(e.edits, fixed)
	e.mu.Unlock()
	d.attempts = append(d.attempts, e.st.Secrets.RetryRotation(ctx, e.arn))
	d.attempts = append(d.attempts, e.rotateSecret(ctx))
	d.note = "the owner fixed api_url after the service's retries; then one more retry and the next rotation"
	return d
}

// secondContainer marks the context of the runs scenarios 9b and 9c send
// to the second container.
type secondContainer struct{}

// addSecondContainer starts a second container of the rotator: the runs
// whose context is marked secondContainer go to it, the others to the first.
func (e *env) addSecondContainer(ctx context.Context) error {
	fn, err := e.startFunction(ctx, nil)
	if err != nil {
		return err
	}
	second := invoker(fn)
	e.st.Secrets.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ctx.Value(secondContainer{}) != nil {
			return second(ctx, ev)
		}
		return e.st.Invoke(ctx, ev)
	})
	return nil
}

// twoRotateSecrets sends two RotateSecret calls at once (a barrier in setup
// makes them meet) and waits for the rotation that started.
func twoRotateSecrets(ctx context.Context, e *env) driven {
	var (
		wg       sync.WaitGroup
		errs     [2]error
		versions [2]string
	)
	for i := range 2 {
		wg.Go(func() {
			out, err := e.sm.RotateSecret(ctx, localrun.RotateSecretInput(e.arn))
			errs[i] = err
			if err == nil {
				versions[i] = aws.ToString(out.VersionId)
			}
		})
	}
	wg.Wait()
	if err := e.st.Secrets.Wait(ctx); err != nil {
		e.harnessErr(err)
	}
	var d driven
	for i := range 2 {
		if errs[i] != nil {
			d.other = append(d.other, fmt.Errorf("the other call: %w", errs[i]))
			continue
		}
		d.attempts = append(d.attempts, e.rotationErr(versions[i]))
	}
	d.note = fmt.Sprintf("%d of 2 RotateSecret calls started a rotation", len(d.attempts))
	return d
}

// racingRetry starts a rotation in the first container and, while it runs,
// the service's RetryRotation of the same version in the second.
func racingRetry(ctx context.Context, e *env) driven {
	out, err := e.sm.RotateSecret(ctx, localrun.RotateSecretInput(e.arn))
	if err != nil {
		return driven{attempts: []error{fmt.Errorf("RotateSecret: %w", err)}}
	}
	errRetry := e.st.Secrets.RetryRotation(context.WithValue(ctx, secondContainer{}, true), e.arn)
	if err := e.st.Secrets.Wait(ctx); err != nil {
		e.harnessErr(err)
	}
	rs := e.st.Secrets.Rotations(e.arn)
	if len(rs) != 2 || rs[0].VersionID != aws.ToString(out.VersionId) {
		e.harnessErr(errors.New("expected two runs of the same rotation"))
		return driven{}
	}
	d := driven{attempts: []error{rs[0].Err, errRetry}}
	switch {
	case rs[0].Err != nil && errRetry == nil:
		d.note = "the first run failed, the concurrent retry succeeded"
	case rs[0].Err == nil && errRetry != nil:
		d.note = "the first run succeeded, the concurrent retry failed"
	}
	return d
}
