#!/bin/bash
# TLS: SIGHUP reload with bad files; what is logged.
source "$(dirname "$0")/env.sh"
T=/tmp/r12l/tls; rm -rf $T; mkdir -p $T; cd $T
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k1.pem -out c1.pem -days 1 -subj /CN=one 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k2.pem -out c2.pem -days 1 -subj /CN=two 2>/dev/null
cp c1.pem cert.pem; cp k1.pem key.pem
PORTCULLIS_BIND=127.0.0.1:18584 PORTCULLIS_ISSUER=https://127.0.0.1:18584 PORTCULLIS_DATABASE_URL=sqlite://$T/p.db PORTCULLIS_DATA_DIR=$T \
  PORTCULLIS_TLS__CERT_FILE=$T/cert.pem PORTCULLIS_TLS__KEY_FILE=$T/key.pem nohup /tmp/r12l/portcullis serve > $T/serve.log 2>&1 &
PID=$!; echo $PID > /tmp/r12l/tls.pid; sleep 3
cn() { echo | timeout 5 openssl s_client -connect 127.0.0.1:18584 2>/dev/null | openssl x509 -noout -subject 2>/dev/null; }
hup() { kill -HUP $PID; sleep 1; echo "[$1] served: $(cn) alive: $(kill -0 $PID && echo yes)"; }
echo "start: $(cn)"
cp c2.pem cert.pem; cp k2.pem key.pem; hup "new pair"
cp c1.pem cert.pem; hup "cert one, key two (mismatch)"
printf -- '-----BEGIN PRIVATE KEY-----\nS3cr3tKEYMATERIALxyz\n-----END PRIVATE KEY-----\n' > key.pem; hup "garbage key PEM"
printf 'S3cr3tPLAINTEXT line\n' > key.pem; hup "plain text key"
cp k1.pem key.pem; rm cert.pem; hup "cert missing"
ln -s /proc/self/environ cert.pem; hup "cert -> /proc/self/environ"
rm cert.pem; head -c 2000000 /dev/urandom > cert.pem; hup "2 MB random cert"
rm cert.pem; mkfifo cert.pem; kill -HUP $PID; sleep 2; echo "[cert is a FIFO] served: $(cn) alive: $(kill -0 $PID && echo yes)"; 
rm cert.pem; cp c1.pem cert.pem; hup "back to pair one"
echo "== log lines about TLS:"; grep -iE 'certif|tls|reload|sighup' serve.log | cut -c1-260
echo "== secrets in the log: $(grep -c 'S3cr3t\|PORTCULLIS_MASTER' serve.log)"
kill $PID
