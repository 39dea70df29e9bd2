package puppet

import (
	"errors"
	"net/http"

	"github.com/smartproxy/smartproxy/httpapi"
)

// run answers the removed puppetrun endpoint (spec §8).
func (*Feature) run(w http.ResponseWriter, r *http.Request) {
	httpapi.Error(w, r, http.StatusNotImplemented, "Puppetrun support has been removed in version 2.3")
}

// listEnvironments is GET /puppet/environments: the environment names.
func (f *Feature) listEnvironments(w http.ResponseWriter, r *http.Request) {
	envs, err := f.backend.Environments(r.Context())
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to list puppet environments: "+err.Error())
		return
	}
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = e.Name
	}
	httpapi.JSON(w, http.StatusOK, names)
}

// showEnvironment is GET /puppet/environments/:environment: its name and module paths.
func (f *Feature) showEnvironment(w http.ResponseWriter, r *http.Request) {
	name := httpapi.PathParam(r, "environment")
	envs, err := f.backend.Environments(r.Context())
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to show puppet environment: "+err.Error())
		return
	}
	for _, e := range envs {
		if e.Name == name {
			httpapi.JSON(w, http.StatusOK, e)
			return
		}
	}
	httpapi.Error(w, r, http.StatusNotFound, notFoundMessage(name))
}

// classes is GET /puppet/environments/:environment/classes in the legacy shape
// Foreman's class importer reads.
func (f *Feature) classes(w http.ResponseWriter, r *http.Request) {
	name := httpapi.PathParam(r, "environment")
	listing, ok := f.fetchClasses(w, r, name)
	if ok {
		httpapi.JSON(w, http.StatusOK, listing.Legacy())
	}
}

// classesAndErrors is GET /puppet/environments/:environment/classes_and_errors:
// one entry per manifest file, with the parser's error for files that do not parse.
func (f *Feature) classesAndErrors(w http.ResponseWriter, r *http.Request) {
	name := httpapi.PathParam(r, "environment")
	listing, ok := f.fetchClasses(w, r, name)
	if ok {
		httpapi.JSON(w, http.StatusOK, listing.WithErrors())
	}
}

// fetchClasses answers the failure itself and reports whether the listing can be used.
func (f *Feature) fetchClasses(w http.ResponseWriter, r *http.Request, environment string) (*ClassListing, bool) {
	listing, err := f.backend.Classes(r.Context(), environment)
	switch {
	case err == nil:
		return listing, true
	case errors.Is(err, errEnvironmentNotFound):
		httpapi.Error(w, r, http.StatusNotFound, notFoundMessage(environment))
	case errors.Is(err, errTooSlow):
		httpapi.Error(w, r, http.StatusServiceUnavailable, errTooSlow.Error())
	default:
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to show puppet classes: "+err.Error())
	}
	return nil, false
}
