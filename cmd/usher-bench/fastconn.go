package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// fastConn is one worker's keep-alive HTTP/1.1 connection to one URL,
// used synchronously: write the request, read the answer, on the worker's
// own goroutine. It costs the load generator about half of what
// http.Transport does per request (no connection pool, no reader and
// writer goroutines), so the side under test runs out of CPU first.
type fastConn struct {
	u    *url.URL
	addr string // host:port to dial
	head string // request line and fixed headers
	get  bool
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	stop func() bool // unregisters the context hook of the connection
}

// newFastConn prepares requests of method to rawURL; with id, they
// authenticate as that client with client_secret_basic.
func newFastConn(tr *http.Transport, method, rawURL, id, secret string) (*fastConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if err := checkLoopbackURL(rawURL); err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	f := &fastConn{u: u, addr: net.JoinHostPort(u.Hostname(), port), get: method == http.MethodGet, dial: tr.DialContext}
	f.head = method + " " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: usher-bench\r\n"
	if id != "" {
		cred := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
		f.head += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(cred)) + "\r\n"
	}
	if !f.get {
		f.head += "Content-Type: application/x-www-form-urlencoded\r\n"
	}
	return f, nil
}

func (f *fastConn) connect(ctx context.Context) error {
	conn, err := f.dial(ctx, "tcp", f.addr)
	if err != nil {
		return err
	}
	if f.u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: f.u.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	f.conn, f.br, f.bw = conn, bufio.NewReaderSize(conn, 16<<10), bufio.NewWriterSize(conn, 4<<10)
	// An interrupt ends a request in flight at once.
	f.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (f *fastConn) close() {
	if f.conn != nil {
		f.stop()
		f.conn.Close()
		f.conn = nil
	}
}

// do sends one request with body (a form; empty for GET) and returns the
// status and the body of the answer. After an error the connection is
// closed; the next request dials again.
func (f *fastConn) do(ctx context.Context, body string) (int, []byte, error) {
	if f.conn == nil {
		if err := f.connect(ctx); err != nil {
			return 0, nil, err
		}
	}
	status, respBody, keep, err := f.roundTrip(body)
	if err != nil || !keep {
		f.close()
	}
	return status, respBody, err
}

func (f *fastConn) roundTrip(body string) (status int, respBody []byte, keep bool, err error) {
	if err := f.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, nil, false, err
	}
	f.bw.WriteString(f.head)
	if !f.get {
		f.bw.WriteString("Content-Length: ")
		f.bw.WriteString(strconv.Itoa(len(body)))
		f.bw.WriteString("\r\n")
	}
	f.bw.WriteString("\r\n")
	f.bw.WriteString(body)
	if err := f.bw.Flush(); err != nil {
		return 0, nil, false, fmt.Errorf("sending the request: %w", err)
	}
	resp, err := http.ReadResponse(f.br, nil)
	if err != nil {
		return 0, nil, false, fmt.Errorf("reading the answer: %w", err)
	}
	respBody, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil {
		return 0, nil, false, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, respBody, !resp.Close, nil
}
