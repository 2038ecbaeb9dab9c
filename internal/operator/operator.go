package operator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// SecretsManager is the part of the Secrets Manager API the operator uses.
// *secretsmanager.Client satisfies it. Only UpdateSecretVersionStage (in
// Unstick) and RotateSecret (in Rotate) change anything.
type SecretsManager interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	ListSecretVersionIds(ctx context.Context, in *secretsmanager.ListSecretVersionIdsInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// Checker proves a Clickwrap access token. *clickwrap.Client satisfies it.
type Checker interface {
	Check(ctx context.Context, apiURL, accessToken string) error
}

// Operator runs the operator commands against one Secrets Manager client and
// one Clickwrap client.
type Operator struct {
	Secrets   SecretsManager
	Clickwrap Checker
	// Now is the clock dates are judged by (expiry, the age of a pending
	// version); nil means time.Now. Waiting always uses the real clock.
	Now func() time.Time
	// Conn says where the Secrets Manager calls go; errors about the
	// connection or the credentials name it ([HintOf]).
	Conn Connection
}

func (o *Operator) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// InspectOptions choose what Inspect does beyond reading.
type InspectOptions struct {
	// VerifyCurrent and VerifyPending make the Bearer check with the
	// AWSCURRENT token and with the AWSPENDING one (when that is another
	// version with a token).
	VerifyCurrent, VerifyPending bool
	// StuckAfter is passed to Diagnose (zero: its default).
	StuckAfter time.Duration
}

// Inspect reads everything about a secret that says whether its rotation is
// healthy: DescribeSecret, ListSecretVersionIds, the AWSCURRENT value and the
// AWSPENDING one (parsed, never shown), in the split form the credentials
// secret the AWSCURRENT value names (one GetSecretValue, checked as
// createSecret reads it, never shown), and optionally the Bearer checks,
// then diagnoses it. It never mints.
//
// Only a failing DescribeSecret is an error: without it nothing can be said.
// Other failures are reported in the Report (warnings, a check-failed
// finding).
func (o *Operator) Inspect(ctx context.Context, secretID string, opts InspectOptions) (*Report, error) {
	desc, err := o.describe(ctx, secretID)
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(desc.ARN)
	r := &Report{
		Secret:    SecretInfo{Name: aws.ToString(desc.Name), ARN: arn},
		Rotation:  rotationInfo(desc),
		CheckedAt: o.now().UTC(),
	}
	versions, err := o.listVersions(ctx, arn)
	if err != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("could not list the versions (their creation dates are unknown): %v", err))
	}
	r.Versions = versionInfos(desc, versions)

	facts := Facts{Secret: desc, Versions: versions, Now: o.now(), StuckAfter: opts.StuckAfter}
	current := VersionWithStage(desc.VersionIdsToStages, rotation.StageCurrent)
	if current != "" {
		tok, v, s := o.readToken(ctx, arn, current, rotation.StageCurrent, opts.VerifyCurrent)
		r.Current, facts.Current = &tok, v
		if s != nil {
			r.Credentials = o.credentials(ctx, s)
			facts.Credentials = r.Credentials
		}
	}
	if p := VersionWithStage(desc.VersionIdsToStages, rotation.StagePending); p != "" && p != current {
		tok, v, _ := o.readToken(ctx, arn, p, rotation.StagePending, opts.VerifyPending)
		r.Pending, facts.Pending = &tok, v
	}
	r.Diagnosis = Diagnose(facts)
	r.desc = desc
	return r, nil
}

func (o *Operator) describe(ctx context.Context, secretID string) (*secretsmanager.DescribeSecretOutput, error) {
	desc, err := o.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		if notFound(err) {
			where := ""
			if w := o.Conn.Where(); w != "" {
				where = " (" + w + ")"
			}
			return nil, fmt.Errorf("secret %q not found%s: check the name, and the region (AWS_REGION, or the profile's region): %w",
				secretID, where, err)
		}
		return nil, o.explain(fmt.Errorf("describing secret %q: %w", secretID, err))
	}
	return desc, nil
}

func (o *Operator) listVersions(ctx context.Context, arn string) ([]types.SecretVersionsListEntry, error) {
	var out []types.SecretVersionsListEntry
	p := secretsmanager.NewListSecretVersionIdsPaginator(o.Secrets, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, page.Versions...)
	}
	return out, nil
}

// readSecret reads the value of version, which holds stage, and parses it:
// the one read of a value that status, rotate and verify share. A version
// with no value yet (a pending one before createSecret stores it) gives
// GetSecretValue's ResourceNotFoundException, which [notFound] tells; a value
// that is not a usable secret gives a [*malformedError], which names the
// field, never its value; any other error means the value could not be read.
// A well-formed secret may hold no access_token yet.
func (o *Operator) readSecret(ctx context.Context, arn, version, stage string) (*clickwrap.Secret, error) {
	out, err := o.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(arn), VersionId: aws.String(version), VersionStage: aws.String(stage),
	})
	if err != nil {
		return nil, err
	}
	if out.SecretString == nil {
		return nil, &malformedError{errors.New("the version has no SecretString (binary secrets are not supported)")}
	}
	s, err := clickwrap.ParseSecret(*out.SecretString)
	if err != nil {
		return nil, &malformedError{err}
	}
	return s, nil
}

// malformedError is a value that is not a usable secret: it can never pass
// testSecret.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// notFound reports whether err is Secrets Manager's
// ResourceNotFoundException: from DescribeSecret, no such secret; from
// GetSecretValue of a version that DescribeSecret lists, no value yet.
func notFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// readToken reads one version's value and describes it without its secrets:
// fields as present or absent, the token as its fingerprint. With verify it
// also makes the Bearer check. It returns the parsed secret too, nil when
// the value is not a well-formed secret.
func (o *Operator) readToken(ctx context.Context, arn, version, stage string, verify bool) (TokenInfo, Value, *clickwrap.Secret) {
	info := TokenInfo{Stage: stage, VersionID: version}
	s, err := o.readSecret(ctx, arn, version, stage)
	var bad *malformedError
	switch {
	case notFound(err) && stage == rotation.StagePending:
		info.Value = ValueNoValue
		info.Problem = "no value yet: createSecret has not stored one"
		return info, Value{Kind: ValueNoValue}, nil
	case errors.As(err, &bad):
		info.Value = ValueMalformed
		info.Problem = bad.Error()
		return info, Value{Kind: ValueMalformed, Err: bad.err}, nil
	case err != nil:
		info.Value = ValueUnreadable
		info.Problem = err.Error()
		return info, Value{Kind: ValueUnreadable, Err: err}, nil
	}
	info.describe(s)
	if s.AccessToken == "" {
		info.Value = ValueNoToken
		return info, Value{Kind: ValueNoToken}, s
	}
	info.Value = ValueOK
	v := Value{Kind: ValueOK, ExpiresAt: s.ExpiresAt}
	if verify {
		info.Check = o.check(ctx, s)
		v.Checked, v.CheckErr = true, info.Check.err
	}
	return info, v, s
}

// check makes the Bearer check with the secret's token at its api_url.
func (o *Operator) check(ctx context.Context, s *clickwrap.Secret) *CheckInfo {
	c := &CheckInfo{Endpoint: clickwrap.RedactURL(s.APIEndpoint())}
	if u, err := clickwrap.CheckURL(s.APIEndpoint()); err == nil {
		c.Endpoint = clickwrap.RedactURL(u)
	}
	c.err = o.Clickwrap.Check(ctx, s.APIEndpoint(), s.AccessToken)
	switch {
	case c.err == nil:
		c.Result = CheckAccepted
	case rotation.IsPermanent(c.err):
		c.Result = CheckRejected
		c.Detail = c.err.Error()
	default:
		c.Result = CheckError
		c.Detail = c.err.Error()
	}
	return c
}

func rotationInfo(desc *secretsmanager.DescribeSecretOutput) RotationInfo {
	ri := RotationInfo{Enabled: aws.ToBool(desc.RotationEnabled), LambdaARN: aws.ToString(desc.RotationLambdaARN)}
	if r := desc.RotationRules; r != nil {
		switch {
		case r.ScheduleExpression != nil:
			ri.Schedule = *r.ScheduleExpression
		case r.AutomaticallyAfterDays != nil:
			ri.Schedule = fmt.Sprintf("rate(%d days)", *r.AutomaticallyAfterDays)
		}
		ri.Window = aws.ToString(r.Duration)
	}
	if desc.LastRotatedDate != nil {
		ri.LastRotated = desc.LastRotatedDate.UTC()
	}
	if desc.NextRotationDate != nil {
		ri.NextRotation = desc.NextRotationDate.UTC()
	}
	return ri
}
