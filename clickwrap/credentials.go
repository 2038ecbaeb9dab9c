package clickwrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// The credentials secret: the split form's second secret (see [Secret]),
// which holds the API applications' client credentials and which only the
// rotation function reads. Consumers are given read access to the token
// secret alone, so reading the token does not let them mint.
//
// This is AWS's multi-user rotation layout (the credentials that make
// credentials kept in a separate secret) with its alternating-users
// strategy: with two applications, each rotation mints with the one that did
// not mint the current token, so the token consumers hold stays valid even
// if minting revokes the minting application's earlier tokens.

// The credentials secret's member names. They are part of the user-facing
// contract documented in the README.
const (
	// CredentialsFieldApplications is the credentials secret's one required
	// member: a JSON array of one or two applications, each a JSON object
	// with client_id and client_secret.
	CredentialsFieldApplications = "applications"
)

// maxApplications is how many applications a credentials secret may list:
// alternating needs two, and a third would never be used.
const maxApplications = 2

// Application is one Clickwrap API application's client credentials, as the
// credentials secret lists it. It redacts itself when formatted with fmt or
// logged with log/slog, and its ClientSecret is never marshalled to JSON
// (the credentials secret is written by its owner, never by this package).
type Application struct {
	// ClientID is the application's client_id. It is not a secret: the
	// token secret records which application minted its token.
	ClientID string `json:"client_id"`
	// ClientSecret is the application's client_secret: sent to the token
	// endpoint to mint, and nowhere else.
	ClientSecret string `json:"-"`
}

// Credentials is the SecretString of a credentials secret, as
// [ParseCredentials] reads it:
//
//	{"applications": [{"client_id": "…", "client_secret": "…"}, {"client_id": "…", "client_secret": "…"}]}
//
// with one application, or two different ones (client_id differs) to
// alternate between. Members other than applications, and members of an
// application other than client_id and client_secret, are allowed and
// ignored. Credentials redacts itself when formatted with fmt or logged with
// log/slog.
type Credentials struct {
	// TokenURL is the credentials secret's optional token_url: the token
	// endpoint the applications' credentials may be sent to (empty means
	// [DefaultTokenURL]). In the split form it is the credentials secret,
	// not the token secret, that says where the client secrets go, so
	// whoever can write the token secret cannot have them sent elsewhere.
	TokenURL string
	// Applications holds one or two applications, in the secret's order.
	Applications []Application `json:"applications"`
}

// ReadCredentials reads the AWSCURRENT version of the credentials secret id
// with one GetSecretValue and parses it with [ParseCredentials]. It is the
// one reader of a credentials secret: the rotation function's createSecret
// and rotatorctl's status both use it, each adding its own advice to the
// error.
//
// Every error is a [*CredentialsError] with Secret set to id, never holding
// a value. Its Reason says why: [CredentialsNotFound] (no such secret, or no
// AWSCURRENT version), [CredentialsUndecryptable] (a DecryptionFailure or a
// KMS error), [CredentialsAccessDenied] (AccessDeniedException for the
// caller's AWS credentials), [CredentialsReadFailed] (any other read error:
// throttling, a 5xx, the network, or a nil reader; Err holds the read's
// error), or [CredentialsMalformed] (read, but no SecretString, or one that
// is not usable: Field names the member at fault, empty when the value as a
// whole is).
func ReadCredentials(ctx context.Context, r SecretReader, id string) (*Credentials, error) {
	if r == nil {
		return nil, &CredentialsError{Secret: id, Reason: CredentialsReadFailed, Problem: "cannot be read: no Secrets Manager reader was given"}
	}
	out, err := r.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(id),
		VersionStage: aws.String("AWSCURRENT"),
	})
	if err == nil && out == nil {
		err = errors.New("GetSecretValue returned no output and no error")
	}
	if err != nil {
		reason, problem := credentialsReadReason(err)
		return nil, &CredentialsError{Secret: id, Reason: reason, Problem: problem, Err: err}
	}
	if out.SecretString == nil {
		return nil, &CredentialsError{Secret: id, Problem: `has no SecretString (a binary secret?): store {"applications": [{"client_id": "...", "client_secret": "..."}]} ` +
			"as its SecretString"}
	}
	creds, err := ParseCredentials(*out.SecretString)
	if err != nil {
		var ce *CredentialsError
		if errors.As(err, &ce) {
			ce.Secret = id
		}
		return nil, err
	}
	return creds, nil
}

// credentialsReadReason classifies a failed GetSecretValue of a credentials
// secret, with a Problem that holds for any reader.
func credentialsReadReason(err error) (CredentialsReason, string) {
	var nf *types.ResourceNotFoundException
	var df *types.DecryptionFailure
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case errors.As(err, &nf):
		return CredentialsNotFound, "was not found, or has no AWSCURRENT value"
	case errors.As(err, &df), strings.HasPrefix(code, "KMS"):
		return CredentialsUndecryptable, "cannot be decrypted"
	case code == "AccessDeniedException":
		return CredentialsAccessDenied, "cannot be read with these AWS credentials"
	}
	return CredentialsReadFailed, "could not be read"
}

// ParseCredentials parses and checks the SecretString of a credentials
// secret (see [Credentials]). Its error is a [*CredentialsError] naming the
// member at fault (applications, applications[1].client_secret, ...), never
// a value, with Secret left empty for the caller to fill: a value that is
// not a JSON object; applications missing, not an array, empty, or listing
// more than two; an application that is not an object; a client_id or
// client_secret missing, empty, not a string, or with surrounding
// whitespace or a control character; a duplicated member; two applications
// with the same client_id; a token_url that is not https://; a token
// secret's field (credentials_secret, access_token), which means
// credentials_secret names the token secret itself.
func ParseCredentials(secretString string) (*Credentials, error) {
	top, err := decodeMembers(secretString)
	if err != nil {
		return nil, &CredentialsError{Problem: `is not a JSON object: store {"applications": [{"client_id": "...", "client_secret": "..."}]} as its SecretString`}
	}
	if top.dup[CredentialsFieldApplications] {
		return nil, &CredentialsError{Field: CredentialsFieldApplications, Problem: "appears more than once: keep one"}
	}
	raw, ok := top.members[CredentialsFieldApplications]
	if !ok || string(raw) == "null" {
		return nil, &CredentialsError{Field: CredentialsFieldApplications,
			Problem: `is missing: list the API applications as {"applications": [{"client_id": "...", "client_secret": "..."}]}, one or two of them`}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &CredentialsError{Field: CredentialsFieldApplications, Problem: "must be a JSON array of one or two applications, each {\"client_id\": \"...\", \"client_secret\": \"...\"}"}
	}
	switch {
	case len(list) == 0:
		return nil, &CredentialsError{Field: CredentialsFieldApplications, Problem: "is empty: list one API application, or two to alternate between"}
	case len(list) > maxApplications:
		return nil, &CredentialsError{Field: CredentialsFieldApplications,
			Problem: fmt.Sprintf("lists %d applications; at most %d are used (each rotation mints with the one that did not mint the current token): keep two", len(list), maxApplications)}
	}
	c := &Credentials{}
	for _, name := range []string{FieldCredentialsSecret, FieldAccessToken} {
		if _, ok := top.members[name]; ok {
			return nil, &CredentialsError{Field: name, Problem: "is a token secret's field: credentials_secret must name a separate secret " +
				"that holds the applications (and optionally token_url) alone, not the token secret"}
		}
	}
	if raw, ok := top.members[FieldTokenURL]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &c.TokenURL) != nil || checkHTTPS(FieldTokenURL, c.TokenURL) != nil {
			return nil, &CredentialsError{Field: FieldTokenURL, Problem: "must be an https:// URL with a host and no user info: the token endpoint the client secrets are sent to"}
		}
	}
	for i, raw := range list {
		app, err := parseApplication(i, raw)
		if err != nil {
			return nil, err
		}
		for j, other := range c.Applications {
			if other.ClientID == app.ClientID {
				return nil, &CredentialsError{Field: fmt.Sprintf("%s[%d].%s", CredentialsFieldApplications, i, FieldClientID),
					Problem: fmt.Sprintf("is the same as applications[%d].client_id: two applications must be two different API applications "+
						"(register a second one in Clickwrap), or list one", j)}
			}
		}
		c.Applications = append(c.Applications, app)
	}
	return c, nil
}

// parseApplication reads applications[i].
func parseApplication(i int, raw json.RawMessage) (Application, error) {
	at := fmt.Sprintf("%s[%d]", CredentialsFieldApplications, i)
	obj, err := decodeMembers(string(raw))
	if err != nil {
		return Application{}, &CredentialsError{Field: at, Problem: `must be a JSON object: {"client_id": "...", "client_secret": "..."}`}
	}
	var app Application
	for _, f := range []struct {
		name string
		dst  *string
	}{{FieldClientID, &app.ClientID}, {FieldClientSecret, &app.ClientSecret}} {
		field := at + "." + f.name
		if obj.dup[f.name] {
			return Application{}, &CredentialsError{Field: field, Problem: "appears more than once: keep one"}
		}
		v, ok := obj.members[f.name]
		if ok && string(v) != "null" && json.Unmarshal(v, f.dst) != nil {
			return Application{}, &CredentialsError{Field: field, Problem: "must be a JSON string"}
		}
		if *f.dst == "" {
			return Application{}, &CredentialsError{Field: field, Problem: "is missing or empty: put the Clickwrap API application's " + f.name + " there"}
		}
		if strings.TrimSpace(*f.dst) != *f.dst || strings.IndexFunc(*f.dst, unicode.IsControl) >= 0 {
			return Application{}, &CredentialsError{Field: field, Problem: "has surrounding whitespace or a control character: " +
				"copy the value exactly as Clickwrap shows it"}
		}
	}
	return app, nil
}

// members is a JSON object's members by key, and which keys appear more
// than once (the value kept is the last).
type members struct {
	members map[string]json.RawMessage
	dup     map[string]bool
}

// decodeMembers reads text as exactly one JSON object. Its error carries
// nothing of the text.
func decodeMembers(text string) (members, error) {
	errNot := fmt.Errorf("not a JSON object")
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return members{}, errNot
	}
	m := members{members: map[string]json.RawMessage{}, dup: map[string]bool{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return members{}, errNot
		}
		key := tok.(string) // inside an object the decoder only yields string keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return members{}, errNot
		}
		if _, seen := m.members[key]; seen {
			m.dup[key] = true
		}
		m.members[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return members{}, errNot
	}
	if _, err := dec.Token(); err != io.EOF {
		return members{}, errNot
	}
	return m, nil
}

// Next is the application the next rotation mints with, given the client_id
// of the application that minted the current token (the token secret's
// client_id; empty before the first rotation). With two applications it is
// the one whose client_id differs from currentClientID, or the first when
// currentClientID names neither; with one, that one. c must come from
// [ParseCredentials] (the zero Credentials gives the zero Application).
func (c *Credentials) Next(currentClientID string) Application {
	switch len(c.Applications) {
	case 0:
		return Application{}
	case 1:
		return c.Applications[0]
	}
	if c.Applications[0].ClientID == currentClientID {
		return c.Applications[1]
	}
	return c.Applications[0]
}
