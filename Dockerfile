# syntax=docker/dockerfile:1

# Base images are pinned by tag; their digests are not stated because they
# could not be checked from the machine this was tested on (no registry
# access): pin them with `docker buildx imagetools inspect IMAGE:TAG` when
# you deploy. Go is the version go.mod names.

# Build: a static binary, so the runtime image needs no libc of ours.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Dependencies first: this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/opsflow ./cmd/opsflow

# Runtime: Alpine, the same base as the Temporal image
# (tools/temporal-server). The compose health checks run
# `opsflow healthcheck`, which this image has. The worker prints the
# monthly report to PDF with headless Chromium, which needs fonts to print
# text.
FROM alpine:3.24.1
RUN apk add --no-cache ca-certificates tzdata chromium font-liberation \
 && addgroup -S -g 10001 opsflow \
 && adduser -S -u 10001 -G opsflow -H -h /nonexistent opsflow
COPY --from=build /out/opsflow /usr/local/bin/opsflow
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/opsflow"]
CMD ["api"]
