#!/usr/bin/env python3
"""Render the idstore chart offline and validate what it renders.

    render.py CHART_DIR [VALUES_JSON]

Renders CHART_DIR with the values given as a JSON object (merged over the
chart's values.yaml, as `helm install --values` does), with Helm 4's own
engine (the helm-python-sdk package embeds it as a library: no helm binary,
no cluster, no network). Then:

- checks the merged values against the chart's values.schema.json, as
  `helm install` does;
- validates every rendered object of a built-in kind against the Kubernetes
  JSON schemas bundled in the kubernetes-validate package, strictly (an
  unknown field is an error), for the oldest Kubernetes the chart supports
  and the newest the package knows; custom resources (a ServiceMonitor) have
  no bundled schema and are listed as skipped, for the caller to check.

Prints one JSON object to stdout:
    {"documents": [{"template": PATH, "object": {...}}, ...],
     "validated": ["Deployment/idstore", ...], "skipped": ["ServiceMonitor/idstore"],
     "kubernetes_versions": ["1.30", "1.37"]}
Exits 1 with the problems on stderr when rendering or any validation fails,
and 3 when the packages are missing (see deploy/helm/requirements.txt).
"""

import json
import sys

try:
    import helm_python as helm
    import kubernetes_validate
    import yaml
except ImportError as missing:  # pragma: no cover - the message is the point
    sys.stderr.write(
        f"missing Python package ({missing}): install the chart tools with "
        "`bash scripts/chart-tools` (a venv in /var/tmp/idstore-ci-tools, as .ci/run does) "
        "or `python3 -m pip install -r deploy/helm/requirements.txt`\n"
    )
    sys.exit(3)

RELEASE = "idstore"
NAMESPACE = "idstore"
OLDEST_KUBERNETES = "1.30"


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    chart_dir = argv[1]
    values = json.loads(argv[2]) if len(argv) == 3 else {}
    problems = []
    with helm.Chart.load(chart_dir) as chart:
        merged = chart.merge_values(values)
        try:
            chart.validate_schema(merged)
        except helm.HelmError as e:
            problems.append(f"values.schema.json refuses the values: {e}")
        try:
            rendered = chart.render(
                values, name=RELEASE, namespace=NAMESPACE, is_install=True
            )
        except helm.HelmError as e:
            sys.stderr.write(f"the chart does not render: {e}\n")
            return 1

    documents = []
    for template in sorted(rendered):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for obj in yaml.safe_load_all(rendered[template]):
            if obj:
                documents.append({"template": template, "object": obj})

    versions = [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]
    validated, skipped = [], []
    for doc in documents:
        obj = doc["object"]
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            for version in versions:
                kubernetes_validate.validate(obj, version, strict=True)
            validated.append(name)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.append(name)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(
                f"{doc['template']}: {name} is invalid for Kubernetes {e.version}: {path}: {e.message}"
            )

    if problems:
        sys.stderr.write("\n".join(problems) + "\n")
        return 1
    json.dump(
        {
            "documents": documents,
            "validated": validated,
            "skipped": skipped,
            "kubernetes_versions": [v if v.count(".") == 1 else ".".join(v.split(".")[:2]) for v in versions],
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
