package secretsmanagertest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// hookCount reports how many operations of s have hooks registered.
func hookCount(s *Server) int {
	hooks.Lock()
	defer hooks.Unlock()
	return len(hooks.m[s])
}

func TestOnCallRunsBeforeApply(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.CreateSecret("h", "v1")

	var (
		mu    sync.Mutex
		calls []Call
		seen  []bool // whether the new version existed when the hook ran
	)
	remove := s.OnCall("PutSecretValue", func(call Call) error {
		// Calling back into the Server proves the hook runs without its lock.
		_, exists := s.Value("h", "tok-1")
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call)
		seen = append(seen, exists)
		return nil
	})
	t.Cleanup(remove)

	_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("h"), ClientRequestToken: aws.String("tok-1"), SecretString: aws.String("v2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Value("h", "tok-1"); !ok || v != "v2" {
		t.Fatalf("value after the hook = %q, %v; want v2 stored", v, ok)
	}
	// Other operations do not run the hook.
	if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("h")}); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("hook ran %d times, want 1", len(calls))
	}
	if calls[0].Operation != "PutSecretValue" {
		t.Errorf("Operation = %q", calls[0].Operation)
	}
	var in struct{ ClientRequestToken, SecretString string }
	if err := json.Unmarshal(calls[0].Input, &in); err != nil || in.ClientRequestToken != "tok-1" || in.SecretString != "v2" {
		t.Errorf("Input = %s (%v), want the request body", calls[0].Input, err)
	}
	if seen[0] {
		t.Error("the version existed when the hook ran: the hook must run before the operation is applied")
	}
}

func TestOnCallErrorStopsOperation(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.CreateSecret("h", "v1")
	before := s.Stages("h")
	remove := s.OnCall("PutSecretValue", func(Call) error { return errors.New("the caller died") })
	t.Cleanup(remove)

	noRetry := func(o *secretsmanager.Options) { o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1) }
	_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("h"), ClientRequestToken: aws.String("tok-1"), SecretString: aws.String("v2"),
	}, noRetry)
	ise := errorAs[*types.InternalServiceError](t, err)
	if strings.Contains(ise.Error(), "the caller died") {
		t.Error("the hook's error text reached the client")
	}
	if !equalStages(s.Stages("h"), before) {
		t.Errorf("stages changed: %v", s.Stages("h"))
	}
	if _, ok := s.Value("h", "tok-1"); ok {
		t.Error("the stopped PutSecretValue stored a value")
	}
	if got := s.Calls()["PutSecretValue"]; got != 1 {
		t.Errorf("PutSecretValue calls = %d, want 1 (a stopped call is still counted)", got)
	}

	remove()
	if _, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("h"), ClientRequestToken: aws.String("tok-1"), SecretString: aws.String("v2"),
	}, noRetry); err != nil {
		t.Fatalf("after removing the hook: %v", err)
	}
}

func TestOnCallOrderRemoveAndFailNext(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	other, otherClient := newServer(t, Options{})
	s.CreateSecret("h", "v")
	other.CreateSecret("h", "v")

	var mu sync.Mutex
	var order []string
	record := func(name string) func(Call) error {
		return func(Call) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			return nil
		}
	}
	removeA := s.OnCall("GetSecretValue", record("a"))
	removeB := s.OnCall("GetSecretValue", record("b"))
	get := func(c *secretsmanager.Client) {
		t.Helper()
		if _, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("h")}); err != nil {
			t.Fatal(err)
		}
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(order)
	}

	get(c)
	if want := []string{"a", "b"}; !slices.Equal(got(), want) {
		t.Fatalf("hooks ran %v, want %v", got(), want)
	}
	// Hooks belong to one Server.
	get(otherClient)
	if len(got()) != 2 {
		t.Fatalf("a hook of another Server ran: %v", got())
	}
	// An injected fault answers first: the hooks do not run for it (the SDK
	// retries the throttled call, and the retry runs them).
	s.FailNext("GetSecretValue", 1, "ThrottlingException")
	get(c)
	if want := []string{"a", "b", "a", "b"}; !slices.Equal(got(), want) {
		t.Fatalf("after a throttled call and its retry, hooks ran %v, want %v", got(), want)
	}

	removeA()
	removeA() // harmless
	get(c)
	if want := []string{"a", "b", "a", "b", "b"}; !slices.Equal(got(), want) {
		t.Fatalf("after removing a, hooks ran %v, want %v", got(), want)
	}
	removeB()
	if n := hookCount(s); n != 0 {
		t.Errorf("registry still holds %d operations of the Server after every hook was removed", n)
	}
}

// TestOnCallHoldsRequest: a hook can hold its request back while the Server
// goes on serving others.
func TestOnCallHoldsRequest(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.CreateSecret("h", "v1")
	entered, release := make(chan struct{}), make(chan struct{})
	remove := s.OnCall("PutSecretValue", func(Call) error {
		close(entered)
		<-release
		return nil
	})
	t.Cleanup(remove)

	done := make(chan error, 1)
	go func() {
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("h"), ClientRequestToken: aws.String("tok-1"), SecretString: aws.String("v2"),
		})
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the hook did not run")
	}
	if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("h")}); err != nil {
		t.Fatalf("DescribeSecret while a PutSecretValue is held: %v", err)
	}
	if _, ok := s.Value("h", "tok-1"); ok {
		t.Fatal("the held PutSecretValue was applied before its hook returned")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Value("h", "tok-1"); !ok || v != "v2" {
		t.Fatalf("value = %q, %v after release", v, ok)
	}
}
