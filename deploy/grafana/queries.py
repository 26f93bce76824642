#!/usr/bin/env python3
"""List the PromQL of a Grafana dashboard, with its template variables substituted, and check its structure.

    python3 deploy/grafana/queries.py [DASHBOARD.json] [--project ID]... [--cluster NAME]... [--job JOB]...
                                      [--var NAME=VALUE]... [--format json|tsv] [--no-variables] [--check]

Prints one query per line, so that a test can run each one against a Prometheus that scrapes the exporter
and check that it returns data:

  json (default): {"kind": "panel", "panel_id": 8, "row": "Overview", "title": "Clusters", "ref_id": "A",
                   "instant": true, "expr": "..."}
                  Variable queries come as kind "variable", panel_id null, title "$project", and their
                  Grafana functions are turned into PromQL: label_values(SELECTOR, LABEL) becomes
                  count by (LABEL) (SELECTOR), query_result(EXPR) becomes EXPR.
  tsv:            TITLE<TAB>REF_ID<TAB>EXPR, newlines and runs of spaces in EXPR folded to one space.

"instant" says how the panel runs the query: true for an instant query, false for a range query.

Substitution follows Grafana's Prometheus data source: a variable that is unset is its "All" value (the
variable's allValue, or ".*"), inserted as it is; given values are escaped for a regex and several values
become (a|b). $__rate_interval and $__interval become 1m, $__range 1h; --var overrides any of them, and
--var NAME=VALUE may repeat for several values. $datasource never occurs in an expression; if it did it
would be replaced by nothing. The forms $var, ${var}, ${var:format} and [[var]] are understood, with the
formats raw, regex, pipe, csv, text, singlequote, doublequote, glob, json, queryparam and percentencode.

Before printing, the dashboard's structure is checked: panel ids are unique, every panel (rows included)
has a datasource and it is the ${datasource} variable, every query has an expr and a refId unique in its
panel, every panel has a gridPos that fits the 24-column grid without overlapping its neighbours, repeats
and expressions name variables that exist, and the datasource variable and the DS_PROMETHEUS import input
are there. Every problem is printed to stderr and the exit status is 1; a usage error exits 2.
"""

import argparse
import json
import os
import re
import sys

DEFAULT_DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "atlas-snapshot-exporter.json")

# Grafana's variable syntax (public/app/features/templating/template_srv): $var, [[var:fmt]], ${var.path:fmt}.
VARIABLE_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}")

BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
# Built-ins that may appear elsewhere in a dashboard (links, titles) but that this script never substitutes.
OTHER_BUILTINS = {"__from", "__to", "__dashboard", "__org", "__user", "__name", "__url_time_range", "__all",
                  "__data", "__value", "__field", "__series", "__cell", "timeFilter", "__timeFilter"}

GRID_COLUMNS = 24
DATASOURCE_VARIABLE_REFS = {"${datasource}", "$datasource", "[[datasource]]"}


class Problems:
    def __init__(self):
        self.messages = []

    def add(self, where, message):
        self.messages.append(f"{where}: {message}")


def panel_label(panel):
    return f"panel {panel.get('id')!r} ({panel.get('title', '')!r})"


def walk_panels(dashboard):
    """Yield (panel, row_title, section) for every panel, rows included, nested panels of collapsed rows too.

    section identifies the group of panels that share the grid: the top level, or one collapsed row's panels.
    """
    row_title = None
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            row_title = panel.get("title")
            yield panel, row_title, "top"
            for child in panel.get("panels") or []:
                yield child, row_title, f"row {panel.get('id')}"
        else:
            yield panel, row_title, "top"


def variables_by_name(dashboard):
    return {v.get("name"): v for v in dashboard.get("templating", {}).get("list", []) if isinstance(v, dict)}


def referenced_variables(text):
    for m in VARIABLE_RE.finditer(text):
        yield m.group(1) or m.group(2) or m.group(4)


def datasource_is_variable(ds):
    if isinstance(ds, str):
        return ds in DATASOURCE_VARIABLE_REFS
    if isinstance(ds, dict):
        return ds.get("uid") in DATASOURCE_VARIABLE_REFS
    return False


def check(dashboard, problems):
    if not isinstance(dashboard, dict):
        problems.add("dashboard", "the top level is not a JSON object")
        return
    for key, kind in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list)):
        if not isinstance(dashboard.get(key), kind):
            problems.add("dashboard", f"{key!r} is missing or not a {kind.__name__}")
    if not isinstance(dashboard.get("templating", {}).get("list"), list):
        problems.add("dashboard", "templating.list is missing or not a list")

    inputs = dashboard.get("__inputs") or []
    if not any(i.get("name") == "DS_PROMETHEUS" and i.get("type") == "datasource" for i in inputs):
        problems.add("__inputs", "no datasource input named DS_PROMETHEUS, so importing cannot ask for one")

    variables = variables_by_name(dashboard)
    ds_var = variables.get("datasource")
    if not ds_var or ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        problems.add("templating", "no variable 'datasource' of type datasource for prometheus")
    for name, var in variables.items():
        if var.get("type") == "query":
            if not datasource_is_variable(var.get("datasource")):
                problems.add(f"variable {name!r}", "its datasource is not ${datasource}")
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if not isinstance(query, str) or not query.strip():
                problems.add(f"variable {name!r}", "has no query")
            else:
                for ref in referenced_variables(query):
                    if ref not in variables and ref not in BUILTINS and not ref.isdigit():
                        problems.add(f"variable {name!r}", f"its query uses ${ref}, which is not a variable")

    seen_ids = {}
    boxes = {}
    for panel, _row, section in walk_panels(dashboard):
        where = panel_label(panel)
        pid = panel.get("id")
        if not isinstance(pid, int):
            problems.add(where, "has no integer id")
        elif pid in seen_ids:
            problems.add(where, f"id {pid} is already used by {seen_ids[pid]}")
        else:
            seen_ids[pid] = where
        if not panel.get("type"):
            problems.add(where, "has no type")
        if not panel.get("title"):
            problems.add(where, "has no title")

        pos = panel.get("gridPos")
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in ("h", "w", "x", "y")):
            problems.add(where, "has no gridPos with integer h, w, x and y")
        else:
            if pos["w"] < 1 or pos["h"] < 1 or pos["x"] < 0 or pos["y"] < 0 or pos["x"] + pos["w"] > GRID_COLUMNS:
                problems.add(where, f"gridPos {pos} does not fit the {GRID_COLUMNS}-column grid")
            box = (pos["x"], pos["y"], pos["x"] + pos["w"], pos["y"] + pos["h"])
            for other_where, other in boxes.get(section, []):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    problems.add(where, f"gridPos overlaps {other_where}")
            boxes.setdefault(section, []).append((where, box))

        if "datasource" not in panel or panel.get("datasource") is None:
            problems.add(where, "has no datasource")
        elif not datasource_is_variable(panel["datasource"]):
            problems.add(where, f"datasource {panel['datasource']!r} is not the ${{datasource}} variable")

        repeat = panel.get("repeat")
        if repeat:
            var = variables.get(repeat)
            if var is None:
                problems.add(where, f"repeats for ${repeat}, which is not a variable")
            elif not (var.get("multi") or var.get("includeAll")):
                problems.add(where, f"repeats for ${repeat}, which is neither multi-value nor has an All option")

        if panel.get("type") == "row":
            if panel.get("targets"):
                problems.add(where, "is a row with queries")
            if not panel.get("collapsed") and panel.get("panels"):
                problems.add(where, "is an expanded row that holds panels (Grafana drops them)")
            continue
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.add(where, "has no queries")
            continue
        ref_ids = set()
        for i, t in enumerate(targets):
            twhere = f"{where} query {i}"
            ref = t.get("refId")
            if not isinstance(ref, str) or not ref:
                problems.add(twhere, "has no refId")
            elif ref in ref_ids:
                problems.add(twhere, f"refId {ref!r} is used twice in the panel")
            else:
                ref_ids.add(ref)
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.add(twhere, "has no expr")
            else:
                for name in referenced_variables(expr):
                    if name not in variables and name not in BUILTINS and not name.isdigit():
                        problems.add(twhere, f"expr uses ${name}, which is neither a variable nor a built-in")
            if "datasource" in t and not datasource_is_variable(t["datasource"]):
                problems.add(twhere, f"datasource {t['datasource']!r} is not the ${{datasource}} variable")


def regex_escape_prometheus(value):
    # prometheusSpecialRegexEscape: the backslashes are doubled again because the regex sits in a PromQL string.
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def regex_escape_plain(value):
    return re.sub(r"[\\^$*+?.()|{}\[\]/-]", lambda m: "\\" + m.group(0), value)


def format_values(values, fmt, name):
    if fmt in (None, ""):
        return None
    if fmt == "raw":
        return ",".join(values)
    if fmt == "regex":
        escaped = [regex_escape_plain(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "text":
        return " + ".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt == "json":
        return json.dumps(values if len(values) > 1 else values[0])
    if fmt == "queryparam":
        from urllib.parse import quote
        return "&".join(f"var-{name}={quote(v, safe='')}" for v in values)
    if fmt == "percentencode":
        from urllib.parse import quote
        return quote(values[0] if len(values) == 1 else "{" + ",".join(values) + "}", safe="")
    raise ValueError(f"unknown variable format {fmt!r}")


class Substituter:
    def __init__(self, dashboard, given):
        self.variables = variables_by_name(dashboard)
        self.given = given  # name -> list of values

    def value_for(self, name, fmt):
        if name in self.given:
            values = self.given[name]
            if name in BUILTINS or name.startswith("__"):
                return values[-1]
        elif name in BUILTINS:
            return BUILTINS[name]
        elif name == "datasource":
            return ""
        elif name in self.variables:
            var = self.variables[name]
            all_value = var.get("allValue") or ".*"
            # A custom All value goes in as it is, whatever the format, except text and percentencode.
            if fmt in ("text", "percentencode"):
                return format_values([all_value], fmt, name)
            return all_value
        else:
            return None

        formatted = format_values(values, fmt, name)
        if formatted is not None:
            return formatted
        var = self.variables.get(name, {})
        if not var.get("multi") and not var.get("includeAll") and len(values) == 1:
            # prometheusRegularEscape: a single-value variable keeps its regex characters.
            return values[0].replace("\\", "\\\\").replace("'", "\\\\'")
        escaped = [regex_escape_prometheus(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    def __call__(self, text):
        def replace(m):
            name = m.group(1) or m.group(2) or m.group(4)
            fmt = m.group(3) or m.group(6)
            value = self.value_for(name, fmt)
            return m.group(0) if value is None else value

        return VARIABLE_RE.sub(replace, text)


LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>[a-zA-Z_]\w*)\s*\)\s*$", re.S)
QUERY_RESULT_RE = re.compile(r"^\s*query_result\(\s*(?P<expr>.+)\s*\)\s*$", re.S)


def variable_query_as_promql(query):
    """Turn a Prometheus variable query into PromQL that returns data exactly when the variable has values."""
    m = LABEL_VALUES_RE.match(query)
    if m:
        return f"count by ({m.group('label')}) ({m.group('selector')})"
    m = QUERY_RESULT_RE.match(query)
    if m:
        return m.group("expr")
    return None


def collect(dashboard, substitute, include_variables, problems):
    records = []
    if include_variables:
        for name, var in variables_by_name(dashboard).items():
            if var.get("type") != "query":
                continue
            query = var.get("query")
            if isinstance(query, dict):
                query = query.get("query")
            if not isinstance(query, str):
                continue
            expr = variable_query_as_promql(query)
            if expr is None:
                problems.add(f"variable {name!r}", f"query {query!r} is neither label_values(SELECTOR, LABEL) "
                                                   "nor query_result(EXPR)")
                continue
            records.append({"kind": "variable", "panel_id": None, "row": None, "title": f"${name}",
                            "ref_id": name, "instant": True, "expr": substitute(expr)})
    for panel, row_title, _section in walk_panels(dashboard):
        if panel.get("type") == "row":
            continue
        for t in panel.get("targets") or []:
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip() or t.get("hide"):
                continue
            instant = bool(t.get("instant")) and not t.get("range", False)
            records.append({"kind": "panel", "panel_id": panel.get("id"), "row": row_title,
                            "title": panel.get("title"), "ref_id": t.get("refId"), "instant": instant,
                            "expr": substitute(expr)})
    return records


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Print the PromQL of a Grafana dashboard with its variables substituted; check its structure.")
    parser.add_argument("dashboard", nargs="?", default=DEFAULT_DASHBOARD,
                        help="dashboard JSON (default: atlas-snapshot-exporter.json next to this script)")
    parser.add_argument("--project", action="append", default=[], metavar="ID",
                        help="a project id for $project (repeat for several; default: all, as .*)")
    parser.add_argument("--cluster", action="append", default=[], metavar="NAME",
                        help="a cluster name for $cluster (repeat for several; default: all, as .*)")
    parser.add_argument("--job", action="append", default=[], metavar="JOB",
                        help="a Prometheus job for $job (repeat for several; default: all, as .*)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a value for any variable or built-in, e.g. __range=6h (repeat for several values)")
    parser.add_argument("--format", choices=("json", "tsv"), default="json", help="output format (default: json)")
    parser.add_argument("--no-variables", action="store_true", help="leave out the template variables' queries")
    parser.add_argument("--check", action="store_true", help="only check the structure; print nothing on success")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    given = {}
    for name, values in (("project", args.project), ("cluster", args.cluster), ("job", args.job)):
        if values:
            given[name] = list(values)
    for item in args.var:
        name, sep, value = item.partition("=")
        name = name.strip().lstrip("$")
        if not sep or not name:
            print(f"queries.py: --var {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        given.setdefault(name, []).append(value)

    try:
        with open(args.dashboard, encoding="utf-8") as f:
            dashboard = json.load(f)
    except OSError as e:
        print(f"{args.dashboard}: cannot read: {e.strerror}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as e:
        print(f"{args.dashboard}: not valid JSON: {e}", file=sys.stderr)
        return 1

    problems = Problems()
    check(dashboard, problems)
    if problems.messages:
        for message in problems.messages:
            print(f"{args.dashboard}: {message}", file=sys.stderr)
        return 1

    known = set(variables_by_name(dashboard)) | set(BUILTINS)
    for name in given:
        if name not in known:
            print(f"queries.py: no variable {name!r} in {args.dashboard}; known: {', '.join(sorted(known))}",
                  file=sys.stderr)
            return 2

    try:
        records = collect(dashboard, Substituter(dashboard, given), not args.no_variables, problems)
    except ValueError as e:
        problems.add("dashboard", str(e))
        records = []
    if problems.messages:
        for message in problems.messages:
            print(f"{args.dashboard}: {message}", file=sys.stderr)
        return 1
    if args.check:
        return 0

    out = sys.stdout
    for r in records:
        if args.format == "json":
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            expr = " ".join(r["expr"].split())
            title = " ".join(str(r["title"]).split())
            out.write(f"{title}\t{r['ref_id']}\t{expr}\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The reader (head, say) stopped early; keep Python from complaining again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
