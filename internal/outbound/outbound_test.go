package outbound

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, bad := range []string{"http://x.com", "a b", "host:0", "host:http", "*", "10.0.0.0/33", "user@host"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	p, err := Parse(" hooks.example.com, *.corp.example:8443 ,10.20.0.0/16, 127.0.0.1:9000, [::1]:9001, 203.0.113.7 ")
	if err != nil || len(p.names) != 2 || len(p.nets) != 4 {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
	if !(*Policy)(nil).Empty() || p.Empty() {
		t.Fatal("Empty")
	}
}

func TestCheck(t *testing.T) {
	p := MustParse("hooks.example.com, *.corp.example:8443, localhost, 10.20.0.0/16, 127.0.0.1:9000, [::1]:9001")
	public := netip.MustParseAddr("93.184.216.34")
	cases := []struct {
		host string
		ip   string
		port int
		ok   bool
	}{
		{"hooks.example.com", "93.184.216.34", 443, true},
		{"HOOKS.example.com.", "93.184.216.34", 80, true},
		{"evil.example.com", "93.184.216.34", 443, false},        // not listed
		{"a.corp.example", "93.184.216.34", 8443, true},          // wildcard, its port
		{"a.corp.example", "93.184.216.34", 443, false},          // wildcard, another port
		{"corp.example", "93.184.216.34", 8443, false},           // the wildcard is for subdomains
		{"hooks.example.com", "127.0.0.1", 443, false},           // an allowed name rebound to loopback
		{"hooks.example.com", "169.254.169.254", 80, false},      // … or to the metadata service
		{"hooks.example.com", "10.0.0.5", 443, false},            // … or to a private address
		{"hooks.example.com", "::ffff:127.0.0.1", 443, false},    // … also written as IPv6
		{"localhost", "127.0.0.1", 8080, false},                  // a name never unlocks loopback
		{"127.0.0.1", "127.0.0.1", 9000, true},                   // listed address and port
		{"127.0.0.1", "127.0.0.1", 9001, false},                  // another port
		{"::1", "::1", 9001, true},                               //
		{"hr.internal", "10.20.3.4", 443, true},                  // a listed network, whatever the name
		{"93.184.216.34", "93.184.216.34", 443, false},           // an unlisted address literal
		{"0.0.0.0", "0.0.0.0", 80, false},                        //
		{"hooks.example.com", "100.64.1.1", 443, false},          // shared address space
		{"hooks.example.com", public.String(), 443, true},        //
		{"hooks.example.com", "fd12:3456::1", 443, false},        // unique local
		{"hooks.example.com", "64:ff9b::7f00:1", 443, false},     // NAT64 of 127.0.0.1
		{"hooks.example.com", "2606:2800:220:1::248", 443, true}, // public IPv6
	}
	for _, c := range cases {
		err := p.Check(c.host, netip.MustParseAddr(c.ip), c.port)
		if (err == nil) != c.ok {
			t.Errorf("Check(%s, %s, %d) = %v, want ok=%v", c.host, c.ip, c.port, err, c.ok)
		}
		var re *RefusedError
		if err != nil && !errors.As(err, &re) {
			t.Errorf("Check(%s, %s): %T, want *RefusedError", c.host, c.ip, err)
		}
	}
	if err := (*Policy)(nil).Check("x", public, 443); err == nil {
		t.Error("a nil policy let a call out")
	}
}

// The client against real local servers: refused unless the loopback
// address is listed, refused for a name that resolves to loopback at
// connect time, and not led to another host by a redirect.
func TestClient(t *testing.T) {
	var hits int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; fmt.Fprint(w, "ok") }))
	defer target.Close()
	u, _ := url.Parse(target.URL)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		if r.URL.Path == "/final" {
			fmt.Fprint(w, "final")
			return
		}
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	}))
	defer other.Close()
	o, _ := url.Parse(other.URL)

	get := func(p *Policy, url string) (string, error) {
		res, err := p.Client(5 * time.Second).Get(url)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b := make([]byte, 10)
		n, _ := res.Body.Read(b)
		return string(b[:n]), nil
	}
	refused := func(err error, want string) bool {
		var re *RefusedError
		return errors.As(err, &re) && strings.Contains(err.Error(), want)
	}
	if _, err := get(nil, target.URL); !refused(err, "loopback") {
		t.Errorf("nothing allowed: %v", err)
	}
	if _, err := get(MustParse("localhost"), "http://localhost:"+u.Port()); !refused(err, "127.0.0.1 is a loopback address") {
		t.Errorf("a listed name resolving to loopback: %v", err)
	}
	if body, err := get(MustParse(u.Host), target.URL); err != nil || body != "ok" {
		t.Errorf("listed address: %q %v", body, err)
	}
	if _, err := get(MustParse(u.Host+","+o.Host), other.URL+"/away"); !refused(err, "redirect") {
		t.Errorf("redirect to another host: %v", err)
	}
	if body, err := get(MustParse(o.Host), other.URL+"/same"); err != nil || body != "final" {
		t.Errorf("redirect on the same host: %q %v", body, err)
	}
	if _, err := get(MustParse("127.0.0.0/8"), "ftp://127.0.0.1/x"); !refused(err, "only http and https") {
		t.Errorf("ftp: %v", err)
	}
	if hits != 1 {
		t.Errorf("target reached %d times, want once", hits)
	}
}
