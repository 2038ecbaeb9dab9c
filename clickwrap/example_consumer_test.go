package clickwrap_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/oauth2"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// A consumer reads the token with a TokenSource. As an oauth2.TokenSource
// it plugs into oauth2.NewClient, which reuses each token until shortly
// before its Expiry (at most MaxAge after the read) and then asks again,
// so a rotation is picked up within MaxAge. Mind that oauth2's client sends
// the token to any host a request names and does not re-read on 401:
// prefer clickwrap.Transport (see the Transport example).
func ExampleNewTokenSource() {
	local := startStandIns() // the Clickwrap sandbox and Secrets Manager, rotated once
	defer local.Close()
	sm := local.Secrets // production: secretsmanager.NewFromConfig(cfg)

	ts := clickwrap.NewTokenSource(sm, "clickwrap/api-token", clickwrap.TokenSourceOptions{MaxAge: 5 * time.Minute})
	tok, err := ts.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), "token, expires within MaxAge:", time.Until(tok.Expiry) <= 5*time.Minute)

	// The context's client trusts the sandbox's CA; production needs none.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, local.Sandbox.Client())
	api := oauth2.NewClient(ctx, ts)
	resp, err := api.Get(local.Sandbox.APIURL() + "/sites?per_page=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("GET /sites:", resp.Status)
	// Output:
	// Bearer token, expires within MaxAge: true
	// GET /sites: 200 OK
}

// A consumer calls Clickwrap through a Transport: it sets the Bearer header,
// sends the token only over HTTPS to the host of the secret's api_url, and
// when Clickwrap answers 401 (a rotation revoked the cached token) re-reads
// the secret and sends the request again.
func ExampleTransport() {
	local := startStandIns()
	defer local.Close()
	sm := local.Secrets // production: secretsmanager.NewFromConfig(cfg)

	ts := clickwrap.NewTokenSource(sm, "clickwrap/api-token", clickwrap.TokenSourceOptions{MaxAge: 5 * time.Minute})
	// Base trusts the sandbox's CA; production leaves it nil.
	api := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: local.Sandbox.Client().Transport}}
	get := func(url string) {
		resp, err := api.Get(url)
		if err != nil {
			// The error names the API host, here the sandbox's random port.
			fmt.Println(strings.ReplaceAll(err.Error(), strings.TrimPrefix(local.Sandbox.URL, "https://"), "API-HOST"))
			return
		}
		resp.Body.Close()
		fmt.Println("GET", strings.TrimPrefix(url, local.Sandbox.URL)+":", resp.Status)
	}

	get(local.Sandbox.APIURL() + "/sites")

	// A rotation replaces the token, and the old one is revoked (done by
	// hand here: the sandbox keeps old tokens valid by default).
	old, _ := ts.AccessToken(context.Background())
	local.Rotate()
	local.Sandbox.Revoke(old)
	get(local.Sandbox.APIURL() + "/sites") // 401, re-read, retried
	fmt.Println("401s retried by the transport:", local.Sandbox.Stats().APIRejected)

	get("https://example.com/v1.1/sites") // never sent
	// Output:
	// GET /v1.1/sites: 200 OK
	// GET /v1.1/sites: 200 OK
	// 401s retried by the transport: 1
	// Get "https://example.com/v1.1/sites": clickwrap transport: refusing to send the Clickwrap token to https://example.com: only https://API-HOST (the secret's api_url) gets it
}

// standIns are what the examples run against: the Clickwrap sandbox with one
// API client, and the Secrets Manager emulator holding the secret
// clickwrap/api-token, which the real rotator rotates.
type standIns struct {
	Sandbox *clickwraptest.Server
	Secrets *secretsmanager.Client
	emu     *secretsmanagertest.Server
}

// startStandIns starts the stand-ins and rotates the secret once, so that it
// holds a token. It panics if it cannot.
func startStandIns() *standIns {
	l := &standIns{Sandbox: clickwraptest.NewServer()}
	l.Sandbox.AddClient("api-app-1", "example-client-secret")
	l.emu = secretsmanagertest.New(secretsmanagertest.Options{Sync: true})
	l.Secrets = l.emu.Client()
	rot := rotation.New(l.Secrets, clickwrap.NewClient(l.Sandbox.Client()), slog.New(slog.DiscardHandler))
	l.emu.SetInvoker(rot.Handle)
	l.emu.CreateSecret("clickwrap/api-token", fmt.Sprintf(
		`{"client_id":"api-app-1","client_secret":"example-client-secret","token_url":%q,"api_url":%q}`,
		l.Sandbox.TokenURL(), l.Sandbox.APIURL()))
	l.Rotate()
	return l
}

// Rotate runs one rotation, as Secrets Manager does on schedule, and resets
// the sandbox's counters.
func (l *standIns) Rotate() {
	_, err := l.Secrets.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String("clickwrap/api-token"),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:clickwrap-rotator"),
	})
	if rs := l.emu.Rotations("clickwrap/api-token"); err == nil && rs[len(rs)-1].Err != nil {
		err = rs[len(rs)-1].Err
	}
	if err != nil {
		panic(err)
	}
	l.Sandbox.ResetStats()
}

func (l *standIns) Close() {
	l.emu.Close()
	l.Sandbox.Close()
}
