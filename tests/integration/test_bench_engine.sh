#!/bin/bash
# duet-bench-engine runs end to end in its quick mode: its JSON has every
# figure of the "15M" shape with a positive speed, a limit of the kind that
# holds it and a share of that limit, and the ratios the targets compare; the roofline SVG is well-formed XML
# with its measured points and ridge. Not a timing test: the figures
# themselves are not judged (speed is the benchmark's business).
set -u
BIN="${DUET_BIN:?}/duet-bench-engine"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

if timeout 300 "$BIN" --shapes 15M --quick --json "$T/b.json" --roofline "$T/r.svg" >"$T/out" 2>&1; then ok
else bad "bench failed: $(tail -5 "$T/out")"; fi
grep -q "limits:  sgemm" "$T/out" && ok || bad "no limits line: $(cat "$T/out")"
grep -q "^15M: decode batch 32 / batch 1 = " "$T/out" && ok || bad "no ratios line: $(cat "$T/out")"

/usr/bin/python3 - "$T/b.json" "$T/r.svg" <<'EOF' && ok || bad "JSON or SVG check"
import json, sys, xml.etree.ElementTree as ET
d = json.load(open(sys.argv[1]))
m = d["machine"]
assert m["sgemm_gflops"] > 0 and m["read_gbps"] > 0, m
rows = d["results"]
want = {(dt, ph, n) for dt in ("F32", "BF16") for ph, n in
        [("prefill", 128), ("prefill", 512), ("decode", 1), ("decode", 8), ("decode", 32)]}
got = {(r["dtype"], r["phase"], r["n"]) for r in rows}
assert got == want, got ^ want
for r in rows:
    assert r["shape"] == "15M" and r["tokens_per_s"] > 0 and r["flops_per_token"] > 0, r
    assert r["limit"] in ("sgemm peak", "bandwidth / weights"), r
    assert abs(r["share"] - r["tokens_per_s"] / r["limit_tokens_per_s"]) < 1e-9, r
    if r["phase"] == "prefill":
        assert r["limit"] == "sgemm peak", r
    else:
        assert r["bytes_per_step"] > 0 and r["median_tokens_per_s"] <= r["tokens_per_s"] + 1e-9, r
        bw = m["read_gbps"] * 1e9 / r["bytes_per_step"] * r["n"]
        fl = m["sgemm_gflops"] * 1e9 / r["flops_per_token"]
        assert abs(r["limit_tokens_per_s"] - min(bw, fl)) < 1e-6 * min(bw, fl), r
rate = {(r["dtype"], r["n"]): r["tokens_per_s"] for r in rows if r["phase"] == "decode"}
q = d["ratios"]["15M"]
assert abs(q["f32_batch32_over_batch1"] - rate["F32", 32] / rate["F32", 1]) < 1e-9, q
assert abs(q["bf16_over_f32_batch1"] - rate["BF16", 1] / rate["F32", 1]) < 1e-9, q
pts = d["roofline"]
assert {p["kind"] for p in pts} == {"mlp", "attention_decode", "attention_prefill"}, {p["kind"] for p in pts}
assert all(p["gflops"] > 0 and p["intensity"] > 0 for p in pts), pts
svg = ET.parse(sys.argv[2]).getroot()
circles = svg.findall(".//{http://www.w3.org/2000/svg}circle")
assert len(circles) >= len(pts), (len(circles), len(pts))
assert "ridge" in ET.tostring(svg, encoding="unicode"), "no ridge label"
EOF

out=$(timeout 30 "$BIN" --shapes 7B 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"unknown shape '7B'"* ]] && ok || bad "--shapes 7B -> rc $rc: $out"

echo "bench_engine: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
