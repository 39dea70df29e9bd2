#!/usr/bin/ruby
# frozen_string_literal: true

# External node classifier for Puppet Server that asks foreman-core. Written for the
# smartproxy project to behave as Foreman's enc.rb on the wire (foreman-clients.md §1):
#   node.rb [--no-environment] CERTNAME
# 1. uploads the node's facts (POST /api/hosts/facts) when the server saved newer ones,
# 2. asks for the classification (GET /node/CERTNAME?format=yml), caches it, prints it.
# On a timeout, a connection error or any answer but 200 it prints the cached answer
# instead ("Serving cached ENC: ..." on stderr); with no cache it exits 1.
# Settings: the foreman.yaml enc.rb reads (:url:, :ssl_ca:, :ssl_cert:, :ssl_key:,
# :puppetdir:, :facts:, :timeout:), from $FOREMAN_ENC_SETTINGS or the usual paths.
# TLS authenticates with the client certificate only, as enc.rb does.

require 'fileutils'
require 'json'
require 'net/http'
require 'openssl'
require 'socket'
require 'timeout'
require 'uri'
require 'yaml'

class NodeRetrievalError < StandardError; end
class FactUploadError < StandardError; end

SETTINGS_PATH = ENV['FOREMAN_ENC_SETTINGS'] ||
                ['/etc/puppetlabs/puppet/foreman.yaml', '/etc/puppet/foreman.yaml'].find { |f| File.exist?(f) } ||
                '/etc/puppet/foreman.yaml'
SETTINGS = YAML.safe_load(File.read(SETTINGS_PATH), permitted_classes: [Symbol]) || {}

def setting(key, default = nil)
  value = SETTINGS.fetch(key.to_sym) { SETTINGS[key.to_s] }
  value.nil? ? default : value
end

def connection(uri)
  http = Net::HTTP.new(uri.host, uri.port)
  http.open_timeout = http.read_timeout = setting(:timeout, 10).to_i
  return http unless uri.scheme == 'https'

  http.use_ssl = true
  ca = setting(:ssl_ca).to_s
  if ca.empty?
    http.verify_mode = OpenSSL::SSL::VERIFY_NONE
  else
    http.ca_file = ca
    http.verify_mode = OpenSSL::SSL::VERIFY_PEER
  end
  cert = setting(:ssl_cert).to_s
  key = setting(:ssl_key).to_s
  unless cert.empty? || key.empty?
    http.cert = OpenSSL::X509::Certificate.new(File.read(cert))
    http.key = OpenSSL::PKey::RSA.new(File.read(key))
  end
  http
end

def state_file(name)
  File.join(setting(:puppetdir), 'yaml', 'foreman', name)
end

def facts_file(certname)
  if setting(:fact_extension, 'json') == 'json'
    File.join(setting(:puppetdir), 'server_data', 'facts', "#{certname}.json")
  else
    File.join(setting(:puppetdir), 'yaml', 'facts', "#{certname}.yaml")
  end
end

# printable keeps what enc.rb keeps of string facts: printable characters.
def printable(value)
  case value
  when String then value.gsub(/[^[:print:]]/, '')
  when Hash then value.transform_values { |v| printable(v) }
  when Array then value.map { |v| printable(v) }
  else value
  end
end

def upload_facts(certname)
  file = facts_file(certname)
  return unless File.exist?(file)

  stat = state_file("#{certname}-push-facts.yaml")
  pushed = File.exist?(stat) ? File.mtime(stat) : Time.now - (365 * 24 * 3600)
  return unless File.mtime(file) > pushed

  data = file.end_with?('.json') ? JSON.parse(File.read(file)) : YAML.safe_load(File.read(file), permitted_classes: [Symbol, Time], aliases: true)
  facts = printable(data['values'] || {})
  facts['puppetmaster_fqdn'] = Socket.gethostname
  body = { 'facts' => facts, 'name' => facts['fqdn'] || certname, 'certname' => certname }
  uri = URI.parse("#{setting(:url)}/api/hosts/facts")
  request = Net::HTTP::Post.new(uri.request_uri)
  request.add_field('Accept', 'application/json,version=2')
  request.content_type = 'application/json'
  request.body = body.to_json
  response = connection(uri).request(request)
  if response.code.start_with?('2')
    FileUtils.mkdir_p(File.dirname(stat))
    File.write(stat, { 'pushed_at' => Time.now.utc.to_s }.to_yaml)
  else
    warn "#{certname}: During the fact upload the server responded with: #{response.code} #{response.message}. " \
         'Error is ignored and the execution continues.'
    warn response.body
  end
rescue SocketError, SystemCallError, OpenSSL::SSL::SSLError => e
  raise FactUploadError, "Could not send facts to Foreman: #{e}"
end

def classification(certname)
  uri = URI.parse("#{setting(:url)}/node/#{certname}?format=yml")
  response = connection(uri).request(Net::HTTP::Get.new(uri.request_uri))
  raise NodeRetrievalError, "Error retrieving node #{certname}: #{response.class} #{response.body}" unless response.code == '200'

  response.body
end

certname = ARGV.reject { |a| a.start_with?('--') }.first or abort 'usage: node.rb [--no-environment] CERTNAME'
cache = state_file("#{certname}.yaml")
begin
  result = Timeout.timeout(setting(:timeout, 10).to_i) do
    upload_facts(certname) if setting(:facts, true)
    classification(certname)
  end
  FileUtils.mkdir_p(File.dirname(cache))
  File.write(cache, result)
rescue Timeout::Error, SocketError, SystemCallError, OpenSSL::SSL::SSLError, NodeRetrievalError, FactUploadError => e
  warn "Serving cached ENC: #{e}"
  begin
    result = File.read(cache)
  rescue StandardError => e
    warn "Unable to read from Cache file: #{cache}: #{e}"
    exit 1
  end
rescue StandardError => e
  warn e.message
  exit 1
end
if ARGV.include?('--no-environment')
  answer = YAML.safe_load(result, permitted_classes: [Symbol])
  answer.delete('environment')
  result = answer.to_yaml
end
puts result
