package clients

import (
	"encoding/json"
	"testing"
)

func TestJSONAccessTokenTemplate(t *testing.T) {
	c := goodClient()
	view := func() map[string]any {
		t.Helper()
		b, err := json.Marshal(JSON(c))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if v, ok := view()["access_token_template"]; ok {
		t.Errorf("a client without a template shows access_token_template %v", v)
	}
	c.AccessTokenTemplate = "hasura"
	if v := view()["access_token_template"]; v != "hasura" {
		t.Errorf("access_token_template = %v, want hasura", v)
	}
}
