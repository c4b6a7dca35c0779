package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestServer_FormOfANoReferrerPage: a browser sends a form of these
// pages, whose Referrer-Policy is no-referrer, with "Origin: null" and no
// Referer. Its Sec-Fetch-Site header, which no page can set, then decides:
// same-origin is this page; a page of another port of 127.0.0.1
// (same-site) or of another site is refused.
func TestServer_FormOfANoReferrerPage(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	for _, tc := range []struct {
		site string
		want int
	}{
		{"same-site", http.StatusForbidden},
		{"cross-site", http.StatusForbidden},
		{"none", http.StatusForbidden},
		{"same-origin", http.StatusSeeOther},
	} {
		t.Run(tc.site, func(t *testing.T) {
			body := url.Values{"csrf": {c.csrf}, "text": {"I say so when I need a pause (" + tc.site + ")"}}.Encode()
			req, err := http.NewRequest("POST", c.base+"/boundaries/propose", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "null")
			req.Header.Set("Sec-Fetch-Site", tc.site)
			resp, err := c.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("Origin null, Sec-Fetch-Site %s: %s, want %d", tc.site, resp.Status, tc.want)
			}
		})
	}
	_, page := c.get("/boundaries")
	for _, site := range []string{"same-site", "cross-site", "none"} {
		if strings.Contains(page, "("+site+")") {
			t.Errorf("the boundary posted with Sec-Fetch-Site %s was saved", site)
		}
	}
	if !strings.Contains(page, "(same-origin)") {
		t.Errorf("the boundary posted from this page is not listed")
	}
}
