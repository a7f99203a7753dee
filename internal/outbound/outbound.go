// Package outbound is how opsflow calls URLs that people configure —
// provisioning webhooks in onboarding templates, and notification webhooks
// — without becoming a way into the network it runs in (server-side
// request forgery). An HR user who may edit a template must not be able to
// make the worker POST to the cloud's metadata service, to a database's
// HTTP port or to an admin console on localhost.
//
// A call goes out only to a destination on the allowlist an administrator
// sets (OPSFLOW_OUTBOUND_ALLOW):
//
//   - "hooks.example.com", "hooks.example.com:8443", "*.example.com": a host
//     name (any port, or the one given; "*." allows the subdomains). The
//     addresses the name resolves to must be public: a name never unlocks
//     a private, loopback, link-local or otherwise special address;
//   - "203.0.113.7", "127.0.0.1:9000", "[::1]:9000", "10.20.0.0/16": an
//     address or network. Listing one is the only way to allow a private,
//     loopback or link-local address, and it allows any name that resolves
//     into it.
//
// The check happens when the connection is made, on the address actually
// dialled (net.Dialer.Control), so a name that resolves to a public
// address when a template is saved and to 127.0.0.1 when the worker calls
// it (DNS rebinding) is refused. Redirects to another host are not
// followed; environment proxies are not used (a proxy would connect where
// the check cannot see).
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Policy is a parsed allowlist. The zero Policy (and a nil one) allows
// nothing.
type Policy struct {
	names []nameRule
	nets  []netRule
	text  string
}

type nameRule struct {
	name     string // lower case, no trailing dot; "*.x" matches subdomains of x
	port     int    // 0: any
	wildcard bool
}

type netRule struct {
	prefix netip.Prefix
	port   int // 0: any
}

// Parse reads a comma-separated allowlist (see the package documentation).
func Parse(s string) (*Policy, error) {
	p := &Policy{text: strings.TrimSpace(s)}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if err := p.add(item); err != nil {
			return nil, fmt.Errorf("outbound allowlist: %q: %w", item, err)
		}
	}
	return p, nil
}

// MustParse is Parse for allowlists written in code (tests).
func MustParse(s string) *Policy {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func (p *Policy) add(item string) error {
	if pre, err := netip.ParsePrefix(item); err == nil {
		p.nets = append(p.nets, netRule{prefix: pre.Masked()})
		return nil
	}
	if ip, err := netip.ParseAddr(item); err == nil {
		p.nets = append(p.nets, netRule{prefix: netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())})
		return nil
	}
	if ap, err := netip.ParseAddrPort(item); err == nil {
		ip := ap.Addr().Unmap()
		p.nets = append(p.nets, netRule{prefix: netip.PrefixFrom(ip, ip.BitLen()), port: int(ap.Port())})
		return nil
	}
	host, port := item, 0
	if h, ps, err := net.SplitHostPort(item); err == nil {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return errors.New("the port is not a number from 1 to 65535")
		}
		host, port = h, n
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	r := nameRule{name: host, port: port}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		r.name, r.wildcard = rest, true
	}
	if r.name == "" || strings.ContainsAny(r.name, "*/ @[]") {
		return errors.New("want a host name, host:port, *.domain, an IP address (with a port) or a CIDR network")
	}
	p.names = append(p.names, r)
	return nil
}

// String is the allowlist as given.
func (p *Policy) String() string {
	if p == nil || p.text == "" {
		return "(nothing)"
	}
	return p.text
}

// Empty reports whether the policy allows nothing.
func (p *Policy) Empty() bool { return p == nil || (len(p.names) == 0 && len(p.nets) == 0) }

func (p *Policy) nameAllowed(host string, port int) bool {
	if p == nil {
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, r := range p.names {
		if r.port != 0 && r.port != port {
			continue
		}
		if host == r.name && !r.wildcard || r.wildcard && strings.HasSuffix(host, "."+r.name) {
			return true
		}
	}
	return false
}

func (p *Policy) addrListed(ip netip.Addr, port int) bool {
	if p == nil {
		return false
	}
	for _, r := range p.nets {
		if (r.port == 0 || r.port == port) && r.prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// RefusedError is a call the policy did not let out. Callers tell it from
// a network failure: retrying it cannot help.
type RefusedError struct {
	Host   string // as in the URL
	Addr   string // the address dialled, when the refusal came at connect time
	Reason string
}

func (e *RefusedError) Error() string {
	where := e.Host
	if e.Addr != "" && e.Addr != e.Host {
		where += " (" + e.Addr + ")"
	}
	return fmt.Sprintf("outbound call to %s refused: %s", where, e.Reason)
}

// Check decides one connection: to ip:port, for a URL whose host was host.
func (p *Policy) Check(host string, ip netip.Addr, port int) error {
	ip = ip.Unmap()
	if p.addrListed(ip, port) {
		return nil
	}
	refuse := func(reason string) error {
		return &RefusedError{Host: host, Addr: netip.AddrPortFrom(ip, uint16(port)).String(), Reason: reason}
	}
	if kind := special(ip); kind != "" {
		return refuse(fmt.Sprintf("%s is %s address; such addresses are allowed only when listed as an IP or CIDR in OPSFLOW_OUTBOUND_ALLOW", ip, kind))
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil && p.nameAllowed(host, port) {
		return nil
	}
	return refuse(fmt.Sprintf("not on the outbound allowlist (OPSFLOW_OUTBOUND_ALLOW = %s)", p))
}

// special names the kind of address that must not be reached through a
// name alone: everything but the public unicast internet.
func special(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "a loopback"
	case ip.IsPrivate():
		return "a private"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local" // 169.254.169.254, the cloud metadata service, is one
	case ip.IsUnspecified():
		return "an unspecified"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		return "a multicast"
	}
	for _, r := range reserved {
		if r.Contains(ip) {
			return "a reserved or shared"
		}
	}
	return ""
}

var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Client returns an HTTP client that lets calls out only as p allows,
// with timeout bounding each call. Its transport checks every connection
// on the address dialled; its redirects stay on the first host.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	t := &http.Transport{
		Proxy:                 nil, // a proxy would connect where Check cannot see
		DialContext:           p.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: schemeGuard{t},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0].URL
			if req.URL.Scheme != first.Scheme || !strings.EqualFold(req.URL.Host, first.Host) {
				return &RefusedError{Host: req.URL.Host, Reason: fmt.Sprintf("a redirect from %s to another host is not followed", first.Host)}
			}
			if len(via) >= 5 {
				return errors.New("outbound: stopped after 5 redirects")
			}
			return nil
		},
	}
}

// dial connects as net.Dialer does, but checks each address it is about
// to connect to, after name resolution, in Control.
func (p *Policy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &RefusedError{Host: host, Addr: address, Reason: "not an IP address and port"}
			}
			return p.Check(host, ap.Addr(), int(ap.Port()))
		}}
	return d.DialContext(ctx, network, addr)
}

// schemeGuard lets only http and https out: no file://, ftp:// or
// anything a transport might learn later.
type schemeGuard struct{ next http.RoundTripper }

func (g schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return nil, &RefusedError{Host: req.URL.Host, Reason: "only http and https URLs are called"}
	}
	return g.next.RoundTrip(req)
}
