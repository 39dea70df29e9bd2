// Package puppetpeer holds the tests that run the puppet and puppetca features against
// a real Puppet Server and Puppet agent (Debian's puppetserver and puppet-agent
// packages): one server per test binary, everything under a temporary folder, all
// traffic on 127.0.0.1. The tests skip only when those programs are not installed.
package puppetpeer
