#!/bin/bash
# The container's health check: GET /readyz on the port of PORTCULLIS_BIND,
# healthy on 200. Plain HTTP over bash's /dev/tcp, so the image needs no
# curl. With [tls] served by portcullis itself, set your own check instead
# (`docker run --health-cmd ...` or `healthcheck:` in compose).
set -eu
port="${PORTCULLIS_BIND##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}"
printf 'GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
read -r -t 4 _ status _ <&3
[ "$status" = "200" ]
