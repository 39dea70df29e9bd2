package puppet

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// Environment is a Puppet environment as GET /puppet/environments/:environment shows it.
type Environment struct {
	Name  string   `json:"name"`
	Paths []string `json:"paths"`
}

// parseEnvironments reads GET /puppet/v3/environments. Environments without a
// modulepath are left out, as the Ruby proxy does; names are sorted for a stable reply.
func parseEnvironments(body []byte) ([]Environment, error) {
	var reply struct {
		Environments map[string]*struct {
			Settings *struct {
				ModulePath []string `json:"modulepath"`
			} `json:"settings"`
		} `json:"environments"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return nil, fmt.Errorf("invalid environments reply from Puppet: %w", err)
	}
	if reply.Environments == nil {
		return nil, errors.New("No environments list in Puppet API response")
	}
	out := []Environment{}
	for name, env := range reply.Environments {
		if env == nil || env.Settings == nil || env.Settings.ModulePath == nil {
			continue
		}
		out = append(out, Environment{Name: name, Paths: env.Settings.ModulePath})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
