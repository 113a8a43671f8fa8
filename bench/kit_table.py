"""Renders bench/kit.sh's results (a TSV: scenario, backend, req/s, p50, p99,
non-2xx, peak RSS MiB) as one Markdown table, each portcullis row with its
ratio to the ceiling measured in the same run and the target of issue 10."""

import csv
import sys


def number(value):
    try:
        return float(value)
    except ValueError:
        return None


def main(path, cores, strict):
    rows = list(csv.reader(open(path, encoding="utf-8"), delimiter="\t"))
    rate = {}
    for scenario, backend, rps, *_ in rows:
        if backend == "-":
            rate[scenario] = number(rps)
    hello = rate.get("ceiling: actix-web hello")
    peer = rate.get("peer: node-oidc-provider client credentials RS256")
    rsa = rate.get("ceiling: openssl RSA-2048 sign")

    def share(value, ceiling, name):
        if value is None or not ceiling:
            return "-"
        return f"{100 * value / ceiling:.0f}% of {name}"

    def ratio(scenario, value):
        """What the row is compared with, and the target it is held to."""
        if scenario == "client credentials ES256":
            parts = [f"{value / peer:.1f}× peer" if value and peer else "-", share(value, hello, "hello")]
            return ", ".join(parts), "≥ 12× peer, ≥ 35% of hello"
        if scenario == "client credentials EdDSA":
            return share(value, hello, "hello"), "≥ 45% of hello"
        if scenario == "client credentials RS256":
            return share(value, rsa, "openssl RSA"), "≥ 75% of openssl RSA"
        if scenario.startswith("introspection, ES256"):
            return share(value, hello, "hello"), "≥ 25% of hello"
        if scenario.startswith("/v1/auth/validate"):
            return share(value, hello, "hello"), "≥ 35% of hello, p99 ≤ 5 ms"
        if scenario.startswith("peer:"):
            return share(value, rsa, "openssl RSA"), "-"
        if scenario.startswith(("ceiling", "start to ready")):
            return "-", "-"
        return share(value, hello, "hello"), "-"

    print(f"{cores} cores. Peak RSS is the server's VmHWM during that run (reset before it).")
    print()
    print("| scenario | backend | req/s | p50 | p99 | non-2xx | peak RSS (MiB) | of the ceiling | target |")
    print("|---|---|---|---|---|---|---|---|---|")
    broken = []
    for scenario, backend, rps, p50, p99, bad, rss in rows:
        value = number(rps)
        shown = f"{value:,.0f}" if value is not None else rps
        of, target = ratio(scenario, value)
        print(f"| {scenario} | {backend} | {shown} | {p50} | {p99} | {bad} | {rss} | {of} | {target} |")
        if backend != "-" and (not value or (number(bad) or 0) > 0):
            broken.append(f"{scenario} ({backend}): {rps} req/s, {bad} failed")
    if broken:
        print("\nRows where nothing succeeded or something failed:\n  " + "\n  ".join(broken), file=sys.stderr)
        if strict:
            sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--strict" in sys.argv[3:])
