GO ?= go
BIN := bin/smart-proxy

.PHONY: build run test vet fmt bench clean

build:
	$(GO) build -o $(BIN) ./cmd/smart-proxy

# Runs the proxy on its embedded default: http on 127.0.0.1:8000, no external service.
run: build
	./$(BIN) --settings config/settings.yml

# The test command of README.md; .ci/run calls it.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
