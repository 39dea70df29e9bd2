package proxies

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Version is GET /version: {"version":…,"modules":{…}} as the proxy sent it.
func (c *Client) Version(ctx context.Context, proxyURL string) (map[string]any, error) {
	body, err := c.Do(ctx, http.MethodGet, proxyURL, "/version", nil)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("invalid answer to GET /version of proxy %s: %w", proxyURL, err)
	}
	return v, nil
}

// Logs is GET /logs/?from_timestamp=N (the path Foreman uses, trailing slash included):
// the proxy's log buffer, passed on unchanged.
func (c *Client) Logs(ctx context.Context, proxyURL string, fromTimestamp int64) (json.RawMessage, error) {
	body, err := c.Do(ctx, http.MethodGet, proxyURL, "/logs/?from_timestamp="+strconv.FormatInt(fromTimestamp, 10), nil)
	if err != nil {
		return nil, err
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("invalid answer to GET /logs of proxy %s: not JSON", proxyURL)
	}
	return json.RawMessage(body), nil
}

// DHCPSubnet is a subnet of a proxy's DHCP server, in the terms of Foreman's subnet
// import. Fields the proxy did not report are empty.
type DHCPSubnet struct {
	Network, Netmask         string
	Gateway                  string
	DNSPrimary, DNSSecondary string
	From, To                 string
}

// DHCPSubnets is GET /dhcp mapped as Foreman's import does (spec §6.2): routers[0] is
// the gateway, domain_name_servers[0] and [1] the DNS servers, range the from/to pair
// (taken only when both ends are there).
func (c *Client) DHCPSubnets(ctx context.Context, proxyURL string) ([]DHCPSubnet, error) {
	body, err := c.Do(ctx, http.MethodGet, proxyURL, "/dhcp", nil)
	if err != nil {
		return nil, err
	}
	var reply []struct {
		Network string `json:"network"`
		Netmask string `json:"netmask"`
		Options struct {
			Routers           []any `json:"routers"`
			DomainNameServers []any `json:"domain_name_servers"`
			Range             []any `json:"range"`
		} `json:"options"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("invalid answer to GET /dhcp of proxy %s: %w", proxyURL, err)
	}
	out := make([]DHCPSubnet, 0, len(reply))
	for _, s := range reply {
		o := s.Options
		sub := DHCPSubnet{
			Network:      s.Network,
			Netmask:      s.Netmask,
			Gateway:      nth(o.Routers, 0),
			DNSPrimary:   nth(o.DomainNameServers, 0),
			DNSSecondary: nth(o.DomainNameServers, 1),
		}
		if from, to := nth(o.Range, 0), nth(o.Range, 1); from != "" && to != "" {
			sub.From, sub.To = from, to
		}
		out = append(out, sub)
	}
	return out, nil
}

// nth is list[i] if it is a string, else "".
func nth(list []any, i int) string {
	if i < len(list) {
		if s, ok := list[i].(string); ok {
			return s
		}
	}
	return ""
}
