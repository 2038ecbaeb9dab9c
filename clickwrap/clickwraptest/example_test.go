package clickwraptest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
)

// A client mints a token with the OAuth 2.0 client-credentials grant and
// uses it on the REST API.
func Example() {
	s := clickwraptest.NewServer()
	defer s.Close()
	s.AddClient("my-client", "my-secret")

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.Client())
	cfg := &clientcredentials.Config{ClientID: "my-client", ClientSecret: "my-secret", TokenURL: s.TokenURL()}
	tok, err := cfg.Token(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", s.APIURL()+"/sites?per_page=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := s.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	fmt.Printf("%+v\n", s.Stats())
	// Output:
	// 200 {"count":1,"has_more":false,"page":1,"per_page":1,"total_count":1,"data":[{"id":1,"name":"Sandbox Site"}]}
	// {TokenRequests:1 Minted:1 APIRequests:1 APIRejected:0 Handshakes:1 Intercepted:0}
}
