#!/bin/sh
# Starts the Temporal server the way its official image does (the logic of
# docker/scripts/sh/entrypoint.sh in go.temporal.io/server v1.32.1, MIT),
# in plain POSIX sh: the image's busybox ash and the test machine's dash
# both run it. `temporal-server start` without flags reads its embedded
# configuration template, filled from the environment (DB, POSTGRES_SEEDS,
# NUM_HISTORY_SHARDS, BIND_ON_IP, ...). TestProduction starts the server
# through this script too.
set -eu

# Bind to this host's address unless told otherwise.
if [ -z "${BIND_ON_IP:-}" ]; then
	BIND_ON_IP=$(getent hosts "$(hostname)" | awk '{print $1; exit}')
	[ -n "$BIND_ON_IP" ] || { echo "entrypoint: cannot resolve $(hostname); set BIND_ON_IP" >&2; exit 1; }
fi
export BIND_ON_IP

# Bound to every interface, the cluster still needs one address its
# members reach each other on.
if [ "$BIND_ON_IP" = "0.0.0.0" ] || [ "$BIND_ON_IP" = "::0" ]; then
	if [ -z "${TEMPORAL_BROADCAST_ADDRESS:-}" ]; then
		TEMPORAL_BROADCAST_ADDRESS=$(getent hosts "$(hostname)" | awk '{print $1; exit}')
		[ -n "$TEMPORAL_BROADCAST_ADDRESS" ] || { echo "entrypoint: cannot resolve $(hostname); set TEMPORAL_BROADCAST_ADDRESS" >&2; exit 1; }
	fi
	export TEMPORAL_BROADCAST_ADDRESS
fi

exec temporal-server start
