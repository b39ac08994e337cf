"""Reduces the generated deploy files to a few functions, for
scripts/deploy-check.sh: the platforms' own builders then build only those.

    reduce.py sam TEMPLATE OUT ROOT ARCH BINARY...
        template.yaml with only the functions of BINARY..., its code at
        ROOT, built for ARCH (x86_64 or arm64).
    reduce.py vercel FUNCTIONS_DIR BINARY...
        In a copy of the project: functions/api, functions/Cargo.toml's
        [[bin]] tables and functions/vercel.json keep only BINARY... (and
        the tools under src/bin), as if the project had only those routes.

Run with the Python that has aws-sam-cli (its YAML helper keeps the
template's !Ref/!Sub tags).
"""

import json
import os
import re
import sys


def sam(template, out, root, arch, binaries):
    from samcli.yamlhelper import yaml_dump, yaml_parse

    t = yaml_parse(open(template).read())
    kept, found = {}, set()
    for name, res in t["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            kept[name] = res
            continue
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        if binary in binaries:
            kept[name] = res
            found.add(binary)
    missing = set(binaries) - found
    if missing:
        sys.exit(f"template.yaml has no function for {sorted(missing)}")
    t["Resources"] = kept
    t["Globals"]["Function"]["Architectures"] = [arch]
    t["Globals"]["Function"]["CodeUri"] = root
    with open(out, "w") as f:
        f.write(yaml_dump(t))


def vercel(functions, binaries):
    manifest = os.path.join(functions, "Cargo.toml")
    text = open(manifest).read()
    tables = re.split(r"(?m)^(?=\[)", text)
    paths, out = [], []
    for table in tables:
        if table.startswith("[[bin]]"):
            name = re.search(r'(?m)^name = "([^"]+)"', table).group(1)
            path = re.search(r'(?m)^path = "([^"]+)"', table).group(1)
            if path.startswith("api/") and name not in binaries:
                os.remove(os.path.join(functions, path))
                continue
            if path.startswith("api/"):
                paths.append(path)
        out.append(table)
    if len(paths) != len(binaries):
        sys.exit(f"functions/Cargo.toml lacks some of {binaries}: kept {paths}")
    with open(manifest, "w") as f:
        f.write("".join(out))
    config_path = os.path.join(functions, "vercel.json")
    config = json.load(open(config_path))
    config["functions"] = {k: v for k, v in config["functions"].items() if k in paths}
    served = {"/" + p[: -len(".rs")] for p in paths}
    config["rewrites"] = [
        r for r in config.get("rewrites", []) if r["destination"].split("?")[0] in served
    ]
    config["crons"] = [c for c in config.get("crons", []) if c["path"] in served]
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
    for p in paths:
        print(p)


if __name__ == "__main__":
    if sys.argv[1] == "sam":
        sam(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    elif sys.argv[1] == "vercel":
        vercel(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
