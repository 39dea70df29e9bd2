// Package puppetpeer holds the tests that run the puppet and puppetca features against
// a real Puppet Server and Puppet agent (Debian's puppetserver and puppet-agent
// packages): one server per test binary, everything under a temporary folder, all
// traffic on 127.0.0.1. The tests skip only when those programs are not installed.
//
// The server classifies every node through foreman-core (an in-process core/api +
// core/puppet on 127.0.0.1, core_test.go): node_terminus = exec runs the repository's
// ENC script (core/puppet/clients/node.rb) over mTLS, and reports = store,http posts
// each run's report to the core. Agents unknown to the core get an empty
// classification once their facts have created them (create_new_host_when_facts_are_uploaded).
package puppetpeer
