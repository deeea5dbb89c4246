package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ocireg/ociregistry"
)

// tokenPath is where the token service answers, on the registry's own
// address.
const tokenPath = "/token"

// maxTokenFormBytes bounds the body of a POST to the token endpoint.
const maxTokenFormBytes = 64 << 10

// ServeHTTP answers token requests: a GET with Basic credentials and
// scope parameters (docker's token protocol), or a POST of an OAuth2
// password grant (the form fields username, password and scope).
// Credentials that are missing or wrong get 401; a refresh-token grant,
// which ocireg does not issue, gets 400 unsupported_grant_type.
func (ts *tokenService) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	var (
		user, password string
		ok             bool
		params         = req.URL.Query()
		scopes         []string
		oauth          = req.Method == http.MethodPost
	)
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		user, password, ok = req.BasicAuth()
		for _, s := range params["scope"] {
			scopes = append(scopes, strings.Fields(s)...)
		}
	case http.MethodPost:
		req.Body = http.MaxBytesReader(w, req.Body, maxTokenFormBytes)
		if err := req.ParseForm(); err != nil {
			writeTokenError(w, req, http.StatusBadRequest, "invalid_request", "cannot read the form: "+err.Error())
			return
		}
		params = req.PostForm
		switch gt := params.Get("grant_type"); gt {
		case "password":
		case "":
			writeTokenError(w, req, http.StatusBadRequest, "invalid_request", "no grant_type")
			return
		default:
			writeTokenError(w, req, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported; use password", gt))
			return
		}
		user, password = params.Get("username"), params.Get("password")
		ok = user != "" || password != ""
		scopes = strings.Fields(params.Get("scope"))
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeTokenError(w, req, http.StatusMethodNotAllowed, "invalid_request", "method "+req.Method+" not allowed")
		return
	}
	if s := params.Get("service"); s != "" && s != ts.cfg.service {
		writeTokenError(w, req, http.StatusBadRequest, "invalid_request", fmt.Sprintf("unknown service %q; this is %q", s, ts.cfg.service))
		return
	}
	given := ok
	var notAfter time.Time
	if ok {
		user, notAfter, ok = ts.auth.identify(req.Context(), user, password)
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="ocireg"`)
		msg := "credentials required"
		if given {
			msg = "wrong user name or password"
		}
		if oauth {
			writeTokenError(w, req, http.StatusUnauthorized, "invalid_grant", msg)
		} else {
			writeTokenError(w, req, http.StatusUnauthorized, "", msg)
		}
		return
	}
	setRequestUser(req.Context(), user)
	granted := ts.grant(user, scopes)
	token, issued, expires, err := ts.issue(user, granted, notAfter)
	if err != nil {
		writeTokenError(w, req, http.StatusInternalServerError, "server_error", "cannot sign the token")
		return
	}
	resp := struct {
		Token       string `json:"token,omitempty"`
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope,omitempty"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}{
		AccessToken: token,
		ExpiresIn:   int(expires.Sub(issued) / time.Second),
		IssuedAt:    issued.UTC().Format(time.RFC3339),
	}
	if oauth {
		var given []string
		for _, a := range granted {
			given = append(given, tokenScope{typ: a.Type, name: a.Name, actions: a.Actions}.String())
		}
		resp.Scope = strings.Join(given, " ")
	} else {
		resp.Token = token
	}
	writeTokenJSON(w, req, http.StatusOK, resp)
}

// writeTokenError answers a token request that failed: with an OAuth2
// error body when code is set, else with the registry's error body.
func writeTokenError(w http.ResponseWriter, req *http.Request, status int, code, msg string) {
	if code == "" {
		body, _ := ociregistry.MarshalError(fmt.Errorf("%s: %w", msg, ociregistry.ErrUnauthorized))
		writeJSONBody(w, req, status, body)
		return
	}
	writeTokenJSON(w, req, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, msg})
}

func writeTokenJSON(w http.ResponseWriter, req *http.Request, status int, v any) {
	body, _ := json.Marshal(v)
	writeJSONBody(w, req, status, body)
}

// writeJSONBody answers with status and body, JSON; a HEAD gets the
// headers of the GET's answer without the body, as ociserver's error
// answers do.
func writeJSONBody(w http.ResponseWriter, req *http.Request, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		w.Write(body)
	}
}
