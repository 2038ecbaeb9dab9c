// Package clickwrap mints and verifies Ironclad Clickwrap REST API access
// tokens, and reads and writes the Secrets Manager secret that holds them.
//
// The pieces, each usable alone:
//
//   - [Secret] is the JSON object stored as the SecretString: the API
//     application's client_id and client_secret, the current access_token,
//     optional endpoint overrides, and any other fields a user keeps there,
//     which are carried over unchanged.
//   - [Client.Mint] obtains a new token from the OAuth 2.0 token endpoint with
//     the client-credentials grant (golang.org/x/oauth2/clientcredentials;
//     client authentication detected between HTTP Basic and body
//     parameters, and remembered).
//   - [Client.Check] proves a token works with one cheap authenticated read,
//     GET {api_url}/sites?per_page=1&no_count=true&lean=true.
//   - [Client.NewPending] and [Client.Verify] join the two to the secret
//     format; they are what the rotation package calls.
//
// The secret comes in two forms. Inline, the token secret also holds the
// API application's client_id and client_secret, so whoever may read the
// token may mint. Split (credentials_secret set), the client credentials of
// one or two API applications live in a separate credentials secret
// ([Credentials]) that only the rotation function reads; the token secret
// holds no client_secret, and its client_id names the application that
// minted the current token. With two applications each rotation mints with
// the other one, so the token consumers hold stays valid through the
// rotation even if minting revokes an application's earlier tokens: AWS's
// separate-credentials layout and alternating-users strategy for rotation.
// The split form costs one more Secrets Manager call per rotation (a
// GetSecretValue of the credentials secret, in createSecret).
//
// Every call is bounded by its context, retries 429 (honouring Retry-After)
// and 5xx or network failures with backoff while the deadline allows, reads
// response bodies with a size limit, and speaks HTTPS only with verified
// certificates. No error or log line carries a token or client secret.
package clickwrap
