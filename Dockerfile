# syntax=docker/dockerfile:1

# Build: a static binary, so the runtime image needs no libc of ours.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/opsflow ./cmd/opsflow

# Runtime: alpine rather than distroless because busybox wget serves the
# compose healthcheck on /healthz without relying on a subcommand. The
# worker prints the monthly report to PDF with headless Chromium, which
# needs fonts to print text.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata chromium font-liberation \
 && addgroup -S -g 10001 opsflow \
 && adduser -S -u 10001 -G opsflow -H -h /nonexistent opsflow
COPY --from=build /out/opsflow /usr/local/bin/opsflow
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/opsflow"]
CMD ["api"]
