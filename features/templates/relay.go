package templates

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/foremanclient"
)

// excludedParams are path parts and Sinatra internals the Ruby proxy never copies into
// the query it sends Foreman.
var excludedParams = []string{"path", "template", "kind", "hostgroup", "splat", "captures"}

// errorBodyLimit bounds what is read of a failed answer; drainLimit is what is read
// beyond it so the connection can be reused.
const (
	errorBodyLimit = 4 << 10
	drainLimit     = 64 << 10
)

// relayCall is one relayed route.
type relayCall struct {
	segments        []string // path below foreman_url, unescaped
	failure         string   // how the message of a failure starts, worded as the Ruby proxy does
	connErrorStatus int      // status when Foreman gave no answer at all
}

// relay forwards the host's request to Foreman (spec §5.4): params minus the excluded
// ones plus url=<template_url>, the host's headers and address, the body of a POST as
// text/plain. Foreman's 200 or 201 becomes 200 with its body; any other status is
// passed on with a message saying what failed.
func (f *Feature) relay(w http.ResponseWriter, r *http.Request, call relayCall) {
	params := httpapi.Params(r)
	failure := fmt.Sprintf("%s for %s", call.failure, inspect(params))
	path, err := relayPath(call.segments)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, fmt.Sprintf("%s: %v", failure, err))
		return
	}
	query := url.Values{}
	for k, v := range params {
		query[k] = v
	}
	for _, k := range excludedParams {
		query.Del(k)
	}
	// Foreman renders every foreman_url() in the template with this base, so the
	// host keeps talking to the proxy.
	query.Set("url", f.templateURL)

	req := foremanclient.Request{Method: r.Method, Path: path, Query: query, Header: foremanclient.RelayHeaders(r)}
	if r.Method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain")
		req.Body, req.ContentLength = foremanclient.Body(r)
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	log := httpapi.Logger(r)
	log.Debugf("Template: relaying %s %s with %s to %s", r.Method, path, inspect(query), f.foreman.Host())

	resp, err := f.foreman.Do(r.Context(), req)
	if err != nil {
		httpapi.Error(w, r, call.connErrorStatus, fmt.Sprintf("%s: %v", failure, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		log.Infof("Template: request for %s using %s at %s", path, inspect(query), f.foreman.Host())
		passBody(w, r, resp)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	reason := describe(resp.StatusCode, resp.Header.Get("Content-Type"), body)
	msg := fmt.Sprintf("%s: Error retrieving %s for %s from %s: %s", failure, path, inspect(query), f.foreman.Host(), reason)
	httpapi.Error(w, r, relayStatus(resp.StatusCode), msg)
}

// passBody answers 200 with Foreman's body and content type, streamed.
func passBody(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	contentType := resp.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "text/plain"
	}
	w.Header().Set("Content-Type", contentType)
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", fmt.Sprint(resp.ContentLength))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, resp.Body); err != nil {
		httpapi.Logger(r).Warnf("Template: relaying Foreman's answer to %s: %v", httpapi.ClientIP(r), err)
	}
}

// relayStatus is the status to answer for Foreman's failed status: the same, unless it
// is not a final status a client could act on.
func relayStatus(status int) int {
	if status < 200 || status > 599 {
		return http.StatusBadGateway
	}
	return status
}
