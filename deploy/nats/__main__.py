"""Writes or checks deploy/nats/accounts.conf from partners.yaml; makes partner NKeys.

python -m deploy.nats            regenerate accounts.conf, and its copy under deploy/k8s
                                 (make nats-config)
python -m deploy.nats --check    exit 1 if the committed file is stale (make lint)
python -m deploy.nats keygen     print a new user NKey: the public key for
                                 partners.yaml, the seed for the partner alone
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy.asyncapi.__main__ import PROTO_ROOT
from deploy.asyncapi.descriptors import EVENTS_FILE, ProtoFile, compile_descriptors
from deploy.nats.access import Catalogue, load_partners, load_service_keys, new_user_nkey, render

HERE = Path(__file__).resolve().parent
PARTNERS = HERE / "partners.yaml"
OUTPUT = HERE / "accounts.conf"
# The same file where kustomize can read it (it reads only under its own root).
K8S_OUTPUT = HERE.parent / "k8s" / "base" / "nats" / "accounts.conf"
OUTPUTS = (OUTPUT, K8S_OUTPUT)


def catalogue(proto_root: Path = PROTO_ROOT) -> Catalogue:
    files = [ProtoFile.of(f) for f in compile_descriptors(proto_root).file]
    return Catalogue(
        {
            f.context: tuple(m.name for _, m in f.event_messages())
            for f in files
            if EVENTS_FILE.match(f.name)
        }
    )


def generate(partners_file: Path = PARTNERS, proto_root: Path = PROTO_ROOT) -> str:
    known = catalogue(proto_root)
    source = "deploy/nats/partners.yaml" if partners_file == PARTNERS else str(partners_file)
    return render(
        load_partners(partners_file, known),
        known,
        source,
        load_service_keys(partners_file, known),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.nats")
    parser.add_argument("command", nargs="?", choices=["generate", "keygen"], default="generate")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        public, seed = new_user_nkey()
        print(f"public key (partners.yaml): {public}\nseed (give to the partner only): {seed}")
        return 0
    wanted = generate()
    if args.check:
        stale = [o for o in OUTPUTS if not o.exists() or o.read_text() != wanted]
        for output in stale:
            print(
                f"{output.relative_to(HERE.parents[1])} is stale: run `make nats-config`",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for output in OUTPUTS:
        output.write_text(wanted)
        print(f"wrote {output.relative_to(HERE.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
