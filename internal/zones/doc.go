// Package zones holds the zones end-to-end test (issue 13): foreman-core, a DMZ relay
// and a PFS proxy as real processes in three network namespaces, CORE, DMZ and PFS,
// linked CORE–DMZ and DMZ–PFS only, with certificates from `smart-proxy ca`. It has no
// code of its own; see README.md.
package zones
