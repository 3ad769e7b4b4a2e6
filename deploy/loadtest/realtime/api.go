package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// mutate creates one issue, the event the subscribers wait for.
func mutate(base, token, projectID, title string) (time.Duration, error) {
	start := time.Now()
	err := gql(base, token, `mutation($p:ID!,$t:String!){ createIssue(input:{projectId:$p,title:$t}){ userErrors{message} } }`, map[string]any{"p": projectID, "t": title}, nil)
	return time.Since(start), err
}

// signUp creates a user and returns its access token.
func signUp(base, email string) (string, error) {
	var out struct {
		SignUp struct{ Tokens struct{ AccessToken string } }
	}
	err := gql(base, "", `mutation($e:String!){ signUp(input:{email:$e,password:"correct horse battery",name:"Bench"}){ tokens{accessToken} } }`, map[string]any{"e": email}, &out)
	return out.SignUp.Tokens.AccessToken, err
}

// gql posts one operation and decodes its data into out (nil: ignored).
func gql(base, token, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if len(r.Errors) > 0 {
		return errors.New(r.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}
