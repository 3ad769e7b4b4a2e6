package fleet

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Response is a decoded GraphQL answer with its status and headers.
type Response struct {
	Status int
	Header http.Header
	Data   map[string]json.RawMessage
	Errors []struct {
		Message    string
		Extensions map[string]any
	}
}

// Code is the first error's extensions.code, "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	code, _ := r.Errors[0].Extensions["code"].(string)
	return code
}

// Request is one GraphQL operation over HTTP POST.
type Request struct {
	Token      string
	Query      string
	Variables  map[string]any
	Extensions map[string]any
	// IdempotencyKey, when set, is sent as the Idempotency-Key header.
	IdempotencyKey string
}

// Post sends req to base's /graphql with client and decodes the answer.
func Post(ctx context.Context, client *http.Client, base string, req Request) (*Response, error) {
	body := map[string]any{"variables": req.Variables}
	if req.Query != "" {
		body["query"] = req.Query
	}
	if req.Extensions != nil {
		body["extensions"] = req.Extensions
	}
	raw, _ := json.Marshal(body)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/graphql", bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if req.IdempotencyKey != "" {
		hr.Header.Set("Idempotency-Key", `"`+req.IdempotencyKey+`"`)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(b, out); err != nil {
		return out, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, b, err)
	}
	return out, nil
}

// GQL posts one operation to base with the default client.
func GQL(base, token, query string, vars map[string]any, ext map[string]any) (*Response, error) {
	return Post(context.Background(), http.DefaultClient, base, Request{Token: token, Query: query, Variables: vars, Extensions: ext})
}

// MustGQL posts one operation, fails tb on any error, and decodes the
// data into into (when not nil).
func MustGQL(tb testing.TB, base, token, query string, vars map[string]any, into any) {
	tb.Helper()
	resp, err := GQL(base, token, query, vars, nil)
	require.NoError(tb, err)
	require.Empty(tb, resp.Errors, "%s", query)
	if into != nil {
		raw, _ := json.Marshal(resp.Data)
		require.NoError(tb, json.Unmarshal(raw, into))
	}
}

// Fixture is a signed-up user owning an organization with one project.
type Fixture struct {
	Token, ProjectID string
	ProjectDBID      int64
}

// NewFixture signs up slug@example.com and creates organization slug with
// a project keyed key.
func NewFixture(tb testing.TB, base, slug, key string) Fixture {
	tb.Helper()
	var up struct {
		SignUp struct{ Tokens struct{ AccessToken string } }
	}
	MustGQL(tb, base, "", `mutation($e:String!){ signUp(input:{email:$e,password:"correct horse battery",name:"Fleet"}){ tokens{accessToken} } }`,
		map[string]any{"e": slug + "@example.com"}, &up)
	token := up.SignUp.Tokens.AccessToken
	require.NotEmpty(tb, token)
	var org struct {
		CreateOrganization struct{ Organization struct{ ID string } }
	}
	MustGQL(tb, base, token, `mutation($s:String!){ createOrganization(input:{slug:$s,name:"Org"}){ organization{id} } }`, map[string]any{"s": slug}, &org)
	var proj struct {
		CreateProject struct{ Project struct{ ID string } }
	}
	MustGQL(tb, base, token, `mutation($o:ID!,$k:String!){ createProject(input:{organizationId:$o,key:$k,name:"P"}){ project{id} } }`,
		map[string]any{"o": org.CreateOrganization.Organization.ID, "k": key}, &proj)
	f := Fixture{Token: token, ProjectID: proj.CreateProject.Project.ID}
	f.ProjectDBID = DBID(tb, f.ProjectID)
	return f
}

// DBID is the database id inside a global ID ("Type:id", base64url).
func DBID(tb testing.TB, globalID string) int64 {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(globalID, "="))
	require.NoError(tb, err)
	_, id, ok := strings.Cut(string(raw), ":")
	require.True(tb, ok, "global ID %q", globalID)
	var n int64
	_, err = fmt.Sscan(id, &n)
	require.NoError(tb, err)
	return n
}

// CreateIssueMutation creates an issue in project $p titled $t.
const CreateIssueMutation = `mutation($p:ID!,$t:String!){ createIssue(input:{projectId:$p,title:$t}){ issue{id} userErrors{message} } }`

// CreateIssue creates an issue titled title in the fixture's project
// through base; any error in the answer is an error.
func (f Fixture) CreateIssue(base, title string) error {
	resp, err := GQL(base, f.Token, CreateIssueMutation, map[string]any{"p": f.ProjectID, "t": title}, nil)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK || len(resp.Errors) > 0 {
		return fmt.Errorf("createIssue: status %d, errors %v", resp.Status, resp.Errors)
	}
	return nil
}
