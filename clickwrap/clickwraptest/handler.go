package clickwraptest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	tokenPath = "/oauth/token"
	apiPrefix = "/v1.1"

	// tokenBytes is the number of random bytes in an access token.
	tokenBytes = 32
	// maxTokenRequestBody bounds the form body of a token request.
	maxTokenRequestBody = 64 << 10
	// defaultPerPage is the page size of collections when per_page is absent.
	// Ironclad does not document it; this is an assumption.
	defaultPerPage = 10
	// realm is the realm of WWW-Authenticate challenges.
	realm = "clickwrap"
)

// site is a Clickwrap site as listed by the REST API.
type site struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// sandboxSite is the one site the sandbox account can see.
var sandboxSite = site{ID: 1, Name: "Sandbox Site"}

// apiError is the error object of the REST API, as in the documented
// RateLimitExceededError body.
type apiError struct {
	Message string `json:"message"`
	Status  int    `json:"status"`
	Name    string `json:"name"`
	Code    int    `json:"code,omitempty"`
}

type apiErrorBody struct {
	Error apiError `json:"error"`
}

// collection is a page of a REST API list.
type collection struct {
	Count      int    `json:"count"`
	HasMore    bool   `json:"has_more"`
	Page       int    `json:"page"`
	PerPage    int    `json:"per_page"`
	TotalCount *int   `json:"total_count,omitempty"`
	Data       []site `json:"data"`
}

type item struct {
	Data site `json:"data"`
}

// serveHTTP is the sandbox's root handler: it routes the request to an
// endpoint, applies the fault-injection switches (delay, then intercepts,
// then rate limits and failures) and then the endpoint's own logic.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		return
	}
	defer s.leave()

	var e Endpoint
	switch p := r.URL.Path; {
	case p == tokenPath:
		e = EndpointToken
	case p == apiPrefix || strings.HasPrefix(p, apiPrefix+"/"):
		e = EndpointAPI
	case p == loginPath:
		serveLogin(w, r)
		return
	default:
		writeAPIError(w, http.StatusNotFound, "Not found.", "NotFoundError")
		return
	}

	s.mu.Lock()
	if e == EndpointToken {
		s.stats.TokenRequests++
	} else {
		s.stats.APIRequests++
	}
	delay := s.delay[e]
	s.mu.Unlock()

	if delay > 0 && !s.wait(r.Context(), delay) {
		// The client gave up or the server is closing. Abort rather than
		// return: a plain return would send an empty 200 to a client that
		// is still there.
		panic(http.ErrAbortHandler)
	}

	if s.injectIntercept(w, r, e) || s.injectFault(w, e) {
		return
	}
	if e == EndpointToken {
		s.handleToken(w, r)
	} else {
		s.handleAPI(w, r)
	}
}

// enter registers a running handler; it reports false once Close has begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.active++
	return true
}

// leave unregisters a running handler and wakes Close when it was the last.
func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active == 0 {
		s.cond.Broadcast()
	}
}

// wait sleeps for d; it reports false if ctx ended or the server began
// closing first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// injectFault consumes a pending RateLimitNext or FailNext rule for e, if
// any, and writes its answer. It reports whether it answered.
func (s *Server) injectFault(w http.ResponseWriter, e Endpoint) bool {
	s.mu.Lock()
	var (
		limited    bool
		retryAfter time.Duration
		failStatus int
	)
	switch {
	case s.rateLimit[e].n > 0:
		s.rateLimit[e].n--
		limited, retryAfter = true, s.rateLimit[e].retryAfter
	case s.rateLimit[EndpointAny].n > 0:
		s.rateLimit[EndpointAny].n--
		limited, retryAfter = true, s.rateLimit[EndpointAny].retryAfter
	case s.fail[e].n > 0:
		s.fail[e].n--
		failStatus = s.fail[e].status
	case s.fail[EndpointAny].n > 0:
		s.fail[EndpointAny].n--
		failStatus = s.fail[EndpointAny].status
	}
	s.mu.Unlock()

	switch {
	case limited:
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeJSON(w, http.StatusTooManyRequests, apiErrorBody{Error: apiError{
			Message: "Request limit has been reached for the current rate limit period.",
			Status:  http.StatusTooManyRequests,
			Name:    "RateLimitExceededError",
			Code:    http.StatusTooManyRequests,
		}})
		return true
	case failStatus != 0:
		text := http.StatusText(failStatus)
		name := strings.ReplaceAll(text, " ", "")
		if name == "" {
			name, text = "Server", "Server Error"
		}
		if !strings.HasSuffix(name, "Error") {
			name += "Error"
		}
		writeAPIError(w, failStatus, text+".", name)
		return true
	}
	return false
}

// handleToken implements POST /oauth/token, an OAuth 2.0 client-credentials
// token endpoint (RFC 6749 sections 4.4, 2.3.1, 5.1 and 5.2). Checks run in
// this order: method (405), body media type under AuthJSONBody (415),
// malformed request (400 invalid_request: body not parseable, repeated
// parameter, both client-authentication methods at once, missing
// grant_type), grant type (400 unsupported_grant_type), client
// authentication (401 invalid_client). Answers are shaped by the
// TokenAnswer set with SetTokenAnswer.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	style, decodeBasic, answer := s.authStyle, !s.basicRaw, s.tokenAnswer
	s.mu.Unlock()

	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	fail := func(status int, code, description string) {
		writeTokenError(w, answer, status, code, description)
	}

	if r.Method != http.MethodPost {
		h.Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts only POST.")
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBody)
	var params tokenParams
	if style == AuthJSONBody {
		p, status, desc := jsonParams(r)
		if status != 0 {
			if status == http.StatusUnsupportedMediaType {
				h.Set("Accept", "application/json") // RFC 9110 section 15.5.16
			}
			fail(status, "invalid_request", desc)
			return
		}
		params = p
	} else {
		p, desc := formParams(r)
		if desc != "" {
			fail(http.StatusBadRequest, "invalid_request", desc)
			return
		}
		params = p
	}

	authz := r.Header.Values("Authorization")
	if len(authz) > 1 {
		fail(http.StatusBadRequest, "invalid_request", "The Authorization header is repeated.")
		return
	}
	headerUsed := len(authz) == 1
	bodyUsed := params.bodyCreds
	if headerUsed && bodyUsed {
		fail(http.StatusBadRequest, "invalid_request", "The request uses more than one client authentication method.")
		return
	}
	switch params.grantType {
	case "client_credentials":
	case "":
		fail(http.StatusBadRequest, "invalid_request", "The grant_type parameter is missing.")
		return
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "The grant type is not supported.")
		return
	}

	var (
		id, secret string
		haveCreds  bool
	)
	switch {
	case headerUsed && style != AuthBodyOnly:
		id, secret, haveCreds = basicCredentials(r, decodeBasic)
	case bodyUsed && style != AuthBasicOnly:
		id, secret = params.clientID, params.clientSecret
		haveCreds = id != ""
	}

	var (
		token     string
		expiresIn time.Duration
		minted    bool
	)
	if haveCreds {
		token, expiresIn, minted = s.mint(id, secret)
	}
	if !minted {
		// RFC 6749 section 5.2: 401 with a challenge for the scheme the
		// client used, or could have used.
		if headerUsed || style != AuthBodyOnly {
			h.Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		}
		fail(http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}

	written := token
	if answer.AccessToken != nil {
		written = answer.AccessToken(token)
	}
	tokenType := "Bearer"
	if answer.TokenType != "" {
		tokenType = answer.TokenType
	}
	fields := []answerField{
		{key: "access_token", value: written},
		{key: "token_type", value: tokenType},
	}
	switch {
	case answer.ExpiresIn != "":
		fields = append(fields, answerField{key: "expires_in", value: answer.ExpiresIn, raw: true})
	case expiresIn > 0:
		secs := int64((expiresIn + time.Second - 1) / time.Second)
		fields = append(fields, answerField{key: "expires_in", value: strconv.FormatInt(secs, 10), raw: true})
	}
	writeTokenAnswer(w, answer, http.StatusOK, fields)
}

// basicCredentials reads HTTP Basic client credentials. RFC 6749 section
// 2.3.1 has the client form-url-encode the ID and the secret before Basic
// encoding them, so with decode they are decoded the same way; without it
// (SetBasicDecoding(false)) they are taken as sent.
func basicCredentials(r *http.Request, decode bool) (id, secret string, ok bool) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	if !decode {
		return rawID, rawSecret, rawID != ""
	}
	id, err := url.QueryUnescape(rawID)
	if err != nil {
		return "", "", false
	}
	secret, err = url.QueryUnescape(rawSecret)
	if err != nil {
		return "", "", false
	}
	return id, secret, id != ""
}

// mint authenticates the client and, if that succeeds, issues a new token.
func (s *Server) mint(clientID, clientSecret string) (token string, expiresIn time.Duration, ok bool) {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	token = base64.RawURLEncoding.EncodeToString(b[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	want, known := s.clients[clientID]
	if !known {
		want = "\x00unknown client" // compare anyway, to take the same time
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(clientSecret)) != 1 || !known {
		return "", 0, false
	}

	now := time.Now()
	info := tokenInfo{clientID: clientID}
	if s.expiresIn > 0 {
		info.expires = now.Add(s.expiresIn)
	}
	if s.activationDelay > 0 {
		info.active = now.Add(s.activationDelay)
	}
	// Drop this client's revoked-on-mint and expired tokens, so a long
	// benchmark does not accumulate dead tokens. Tokens not yet active
	// (SetActivationDelay) are kept.
	live := s.byClient[clientID][:0]
	for _, t := range s.byClient[clientID] {
		if info, ok := s.tokens[t]; s.revokeOld || !ok || info.expiredAt(now) {
			delete(s.tokens, t)
			continue
		}
		live = append(live, t)
	}
	s.tokens[token] = info
	s.byClient[clientID] = append(live, token)
	s.stats.Minted++
	return token, s.expiresIn, true
}

// handleAPI implements the REST API under /v1.1: bearer authentication, then
// GET /v1.1/sites and GET /v1.1/sites/{id}.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	token, present := bearerToken(r)
	s.mu.Lock()
	ok := present && s.validLocked(token, time.Now())
	if !ok {
		s.stats.APIRejected++
	}
	s.mu.Unlock()
	if !ok {
		challenge := `Bearer realm="` + realm + `"`
		if present {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeAPIError(w, http.StatusUnauthorized, "The requester is unauthorized.", "UnauthorizedError")
		return
	}

	path := strings.TrimPrefix(r.URL.Path, apiPrefix)
	switch {
	case path == "/sites":
		if !allowGet(w, r) {
			return
		}
		listSites(w, r)
	case strings.HasPrefix(path, "/sites/") && !strings.Contains(path[len("/sites/"):], "/"):
		if !allowGet(w, r) {
			return
		}
		id, err := strconv.Atoi(path[len("/sites/"):])
		if err != nil || id != sandboxSite.ID {
			writeAPIError(w, http.StatusNotFound, "Site not found.", "NotFoundError")
			return
		}
		writeJSON(w, http.StatusOK, item{Data: sandboxSite})
	default:
		writeAPIError(w, http.StatusNotFound, "Not found.", "NotFoundError")
	}
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive). Only the header is accepted, not
// an access_token query or form parameter.
func bearerToken(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, found := strings.Cut(values[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// allowGet answers 405 unless the method is GET or HEAD.
func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeAPIError(w, http.StatusMethodNotAllowed, "Method not allowed.", "MethodNotAllowedError")
	return false
}

// listSites answers GET /v1.1/sites. It honours page, per_page, no_count
// and lean; fields, filter, sort and expand are accepted and ignored.
func listSites(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, ok1 := positiveParam(q, "page", 1)
	perPage, ok2 := positiveParam(q, "per_page", defaultPerPage)
	noCount, ok3 := boolParam(q, "no_count")
	_, ok4 := boolParam(q, "lean") // the site object is already minimal
	if !ok1 || !ok2 || !ok3 || !ok4 {
		writeAPIError(w, http.StatusBadRequest, "Invalid query parameter.", "BadRequestError")
		return
	}

	const total = 1
	c := collection{Page: page, PerPage: perPage, Data: []site{}}
	if page == 1 {
		c.Data = append(c.Data, sandboxSite)
	}
	c.Count = len(c.Data)
	// HasMore stays false: with one site and per_page >= 1, no page follows
	// the one that holds it.
	if !noCount {
		n := total
		c.TotalCount = &n
	}
	writeJSON(w, http.StatusOK, c)
}

// positiveParam parses an optional positive integer query parameter.
func positiveParam(q url.Values, name string, def int) (int, bool) {
	if !q.Has(name) {
		return def, true
	}
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

// boolParam parses an optional boolean query parameter.
func boolParam(q url.Values, name string) (bool, bool) {
	if !q.Has(name) {
		return false, true
	}
	b, err := strconv.ParseBool(q.Get(name))
	return b, err == nil
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeAPIError writes a REST API error body.
func writeAPIError(w http.ResponseWriter, status int, message, name string) {
	writeJSON(w, status, apiErrorBody{Error: apiError{Message: message, Status: status, Name: name}})
}
