// Command consumer calls the Clickwrap API with the token the rotator keeps
// in AWS Secrets Manager, as the Python and Node examples beside it do, with
// the clickwrap package:
//
//   - clickwrap.NewTokenSource reads the secret's AWSCURRENT version and
//     keeps its access_token for at most MaxAge (5 minutes by default), never
//     past the secret's expires_at;
//   - clickwrap.Transport sends it as "Authorization: Bearer" only over HTTPS
//     and only to the host of the secret's api_url, and when Clickwrap answers
//     401 (a rotation replaced the token since it was read) reads the secret
//     again and retries.
//
// In an application the whole of it is:
//
//	cfg, err := config.LoadDefaultConfig(ctx)
//	ts := clickwrap.NewTokenSource(secretsmanager.NewFromConfig(cfg), "clickwrap/api-token",
//		clickwrap.TokenSourceOptions{MaxAge: 5 * time.Minute})
//	api := &http.Client{Transport: &clickwrap.Transport{Source: ts}}
//	resp, err := api.Get("https://api.pactsafe.com/v1.1/sites?per_page=1")
//
// The rest of this file counts, for the summary, the reads of the secret and
// the 401 answers that the transport hides.
//
// Configuration, flags first, then environment:
//
//	--secret-id   CLICKWRAP_SECRET_ID  the token secret's name or ARN (clickwrap/api-token)
//	--requests    CONSUMER_REQUESTS    how many requests to make (10 when no --duration)
//	--duration    CONSUMER_DURATION    or for how long (500ms, 30s, 5m; a bare number is seconds)
//	--interval    CONSUMER_INTERVAL    pause between requests (1s)
//	--max-age     CLICKWRAP_MAX_AGE    how long a token is used before the secret is read again (5m)
//
// AWS_REGION and the usual AWS credentials; AWS_ENDPOINT_URL_SECRETS_MANAGER
// to talk to another Secrets Manager endpoint, which the SDK reads itself.
// Another CA for the API, such as a test server's: SSL_CERT_FILE=ca.pem (it
// replaces the system's CAs for this process).
//
// It prints one line per request (its status, never the token) and a summary
// line, and exits 0 when every request succeeded, 1 otherwise, 2 on a usage
// error. Run it with `go run ./examples/go`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

type flags struct {
	secretID                   string
	requests                   int
	duration, interval, maxAge time.Duration
}

func run(args []string) int {
	f, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer: AWS configuration:", err)
		return 1
	}
	sm := &countingReader{SecretReader: secretsmanager.NewFromConfig(cfg)}
	ts := clickwrap.NewTokenSource(sm, f.secretID, clickwrap.TokenSourceOptions{MaxAge: f.maxAge})
	attempts := &countingTransport{base: http.DefaultTransport, secrets: sm}
	api := &http.Client{
		Transport: &clickwrap.Transport{Source: ts, Base: attempts},
		Timeout:   30 * time.Second,
	}

	var n, ok, failed, rejected, rereads int
	var deadline time.Time
	if f.duration > 0 {
		deadline = time.Now().Add(f.duration)
	}
	more := func() bool {
		return ctx.Err() == nil && (f.requests == 0 || n < f.requests) && (deadline.IsZero() || time.Now().Before(deadline))
	}
	apiURL := ""
	for more() {
		if n > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(f.interval):
			}
			if !more() {
				break
			}
		}
		n++
		if apiURL == "" {
			// The secret's api_url, which the transport sends the token to
			// alone. An application knows its API's address; this example
			// takes it from the secret, as the Python and Node ones do.
			if apiURL, err = readAPIURL(ctx, sm, f.secretID); err != nil {
				failed++
				fmt.Printf("request %d: FAILED: could not read the token: %v\n", n, err)
				continue
			}
		}
		attempts.reset()
		what, success := get(ctx, api, apiURL+"/sites?per_page=1")
		r401, rr := attempts.counts()
		rejected += r401
		rereads += rr
		if prior := r401; prior > 0 {
			if !success && strings.HasPrefix(what, "401") {
				prior-- // the answer shown is the last 401
			}
			if prior > 0 {
				what += fmt.Sprintf(" after %s and %s of the secret", count(prior, "a 401", "401s"), count(rr, "a re-read", "re-reads"))
			} else {
				what += ", and a re-read of the secret found no newer token"
			}
		}
		if success {
			ok++
			fmt.Printf("request %d: %s\n", n, what)
		} else {
			failed++
			fmt.Printf("request %d: FAILED: %s\n", n, what)
		}
	}
	fmt.Printf("summary: requests=%d ok=%d failed=%d rejected=%d rereads=%d secret_reads=%d\n",
		n, ok, failed, rejected, rereads, sm.reads.Load())
	if n > 0 && failed == 0 {
		return 0
	}
	return 1
}

// get sends one request through the transport and describes its outcome
// without the token: clickwrap's errors never carry it.
func get(ctx context.Context, api *http.Client, url string) (string, bool) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, url, nil)
	if err != nil {
		return err.Error(), false
	}
	req.Header.Set("Accept", "application/json")
	resp, err := api.Do(req)
	if err != nil {
		return "could not call the API: " + err.Error(), false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Status, resp.StatusCode == http.StatusOK
}

// readAPIURL reads the secret's api_url, clickwrap.DefaultAPIURL when it has
// none.
func readAPIURL(ctx context.Context, sm clickwrap.SecretReader, secretID string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", secretID, err)
	}
	var v struct {
		APIURL string `json:"api_url"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		return "", fmt.Errorf("secret %s is not a JSON object", secretID)
	}
	if v.APIURL == "" {
		return clickwrap.DefaultAPIURL, nil
	}
	return strings.TrimRight(v.APIURL, "/"), nil
}

// countingReader counts GetSecretValue calls.
type countingReader struct {
	clickwrap.SecretReader
	reads atomic.Int64
}

func (c *countingReader) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.reads.Add(1)
	return c.SecretReader.GetSecretValue(ctx, in, opts...)
}

// countingTransport counts, for one request at a time, the 401 answers that
// clickwrap.Transport retries and the reads of the secret made after the
// first attempt (the re-reads those 401s caused).
type countingTransport struct {
	base               http.RoundTripper
	secrets            *countingReader
	attempts, rejected atomic.Int64
	readsAtFirst       atomic.Int64
}

func (c *countingTransport) reset() {
	c.attempts.Store(0)
	c.rejected.Store(0)
}

// counts returns the 401 answers and the re-reads of the last request.
func (c *countingTransport) counts() (rejected, rereads int) {
	if c.attempts.Load() == 0 {
		return 0, 0
	}
	return int(c.rejected.Load()), int(c.secrets.reads.Load() - c.readsAtFirst.Load())
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.attempts.Add(1) == 1 {
		c.readsAtFirst.Store(c.secrets.reads.Load())
	}
	resp, err := c.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		c.rejected.Add(1)
	}
	return resp, err
}

func parseFlags(args []string) (flags, error) {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	var f flags
	var requests, dur, interval, maxAge string
	fs.StringVar(&f.secretID, "secret-id", env("CLICKWRAP_SECRET_ID", "clickwrap/api-token"), "the token secret's name or ARN")
	fs.StringVar(&requests, "requests", env("CONSUMER_REQUESTS", "0"), "how many requests to make (10 when no --duration)")
	fs.StringVar(&dur, "duration", env("CONSUMER_DURATION", ""), "or for how long (500ms, 30s, 5m)")
	fs.StringVar(&interval, "interval", env("CONSUMER_INTERVAL", "1s"), "pause between requests")
	fs.StringVar(&maxAge, "max-age", env("CLICKWRAP_MAX_AGE", "5m"), "how long a token is used before the secret is read again")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if f.requests, err = strconv.Atoi(requests); err != nil || f.requests < 0 {
		return f, fmt.Errorf("--requests: %q is not a count", requests)
	}
	if dur != "" {
		if f.duration, err = parseDuration("--duration", dur); err != nil {
			return f, err
		}
	}
	if f.interval, err = parseDuration("--interval", interval); err != nil {
		return f, err
	}
	if f.maxAge, err = parseDuration("--max-age", maxAge); err != nil {
		return f, err
	}
	if f.maxAge <= 0 {
		return f, errors.New("--max-age must be more than 0")
	}
	if f.requests == 0 && f.duration == 0 {
		f.requests = 10
	}
	return f, nil
}

// parseDuration takes time.ParseDuration's forms (500ms, 30s, 5m) or a bare
// number of seconds.
func parseDuration(name, s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a duration such as 500ms, 30s or 5m", name, s)
	}
	return d, nil
}

func count(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return strconv.Itoa(n) + " " + many
}
