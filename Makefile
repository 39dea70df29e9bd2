GO ?= go
BIN := bin/smart-proxy

.PHONY: build run run-ha run-proxy test vet fmt bench clean

build:
	$(GO) build -o $(BIN) ./cmd/smart-proxy

# The all-in-one default: foreman-core on SQLite and the proxy on its embedded defaults,
# both on loopback over https with a CA made on the first run under var/allinone, the
# proxy registered with the core. No external service; Ctrl-C stops both.
run: build
	mkdir -p var/tftpboot
	$(GO) build -o bin/foreman-core ./cmd/foreman-core
	$(GO) build -o bin/allinone ./contrib/allinone
	./bin/allinone --state var --settings-dir settings.d --bin bin

# High availability on one machine: a 3-member etcd cluster (Debian's etcd-server) and
# two proxies on loopback sharing DNS, TFTP and DHCP state on it, with a CA made on the
# first run under var/ha (contrib/hademo). Ctrl-C stops everything.
run-ha: build
	$(GO) build -o bin/hademo ./contrib/hademo
	./bin/hademo --state var --bin bin

# The proxy alone on its embedded default: http on 127.0.0.1:8000, no external service.
run-proxy: build
	mkdir -p var/tftpboot
	./$(BIN) --settings config/settings.yml

# The test command of README.md; .ci/run calls it.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
