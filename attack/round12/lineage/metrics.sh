#!/bin/bash
# /metrics: auth, path variants, label cardinality from hostile requests, secrets in labels.
S=http://127.0.0.1:18581; T=metrics-throwaway-token-1234; M=http://127.0.0.1:18691
c() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
echo "main listener with bearer_token:"
echo " no token $(c $S/metrics)  right $(c -H "authorization: Bearer $T" $S/metrics)  lowercase scheme $(c -H "authorization: bearer $T" $S/metrics)  padded $(c -H "authorization: Bearer   $T  " $S/metrics)  wrong $(c -H "authorization: Bearer ${T}x" $S/metrics)  basic $(c -u x:$T $S/metrics)  token in query $(c "$S/metrics?access_token=$T")"
echo " HEAD $(c -I -H "authorization: Bearer $T" $S/metrics) /metrics/ $(c $S/metrics/) //metrics $(c $S//metrics) /METRICS $(c $S/METRICS) /v1/../metrics $(c --path-as-is $S/v1/../metrics) /metrics%00 $(c $S/metrics%00) POST $(c -X POST $S/metrics)"
echo "metrics listener (bind, no token): $(c $M/metrics) other path $(c $M/v1/api-keys) /healthz $(c $M/healthz)"
echo "main listener of a bind-only instance: $(c http://127.0.0.1:18681/metrics)"
series() { curl -s -H "authorization: Bearer $T" $S/metrics | grep -v '^#' | wc -l; }
b=$(series)
for i in $(seq 1 150); do
  r=$RANDOM$RANDOM
  curl -s -o /dev/null $S/x$r/secret_sk_live_$r
  curl -s -o /dev/null -X "M$r" $S/v1/api-keys
  curl -s -o /dev/null "$S/v1/api-keys/key_$r"
  curl -s -o /dev/null "$S/invitations/tok$r"
  curl -s -o /dev/null "$S/v1/nothing$r"
  curl -s -o /dev/null "$S/static/x$r.css"
  curl -s -o /dev/null -X PATCH "$S/oauth/token$r"
  curl -s -o /dev/null -H "x-request-id: r$r" -H "host: h$r.example" "$S/.well-known/x$r"
done
a=$(series); echo "series before $b after 1200 hostile requests: $a"
curl -s -H "authorization: Bearer $T" $S/metrics | grep -E 'secret_sk|tok[0-9]|key_[0-9]|nothing[0-9]|M[0-9]{4}|h[0-9]+\.example|x[0-9]{5}' | head -5
curl -s -H "authorization: Bearer $T" $S/metrics | grep -o 'route="[^"]*"' | sort | uniq -c | sort -rn | head -40
curl -s -H "authorization: Bearer $T" $S/metrics | grep -o 'method="[^"]*"' | sort -u | tr '\n' ' '; echo
