"""``sparsegnn tune``: measure this machine and write the policy file ``backend="auto"`` reads;
``--show`` prints it."""

from __future__ import annotations

import argparse
import sys
import time

import torch

from .args import UsageError, comma_list, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    tune = sub.add_parser(
        "tune", help="measure this machine and write the policy file backend='auto' reads"
    )
    tune.add_argument("--show", action="store_true", help="print the policy file and exit")
    tune.add_argument(
        "--out",
        metavar="PATH",
        help="policy file (default $SPARSEGNN_POLICY or ~/.cache/sparsegnn/policy.json)",
    )
    tune.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    tune.add_argument(
        "--feat", type=comma_list("positive integers"), default=None, help="F values (default 16,64,256)"
    )
    tune.add_argument(
        "--degrees",
        type=comma_list("positive integers"),
        default=None,
        help="average degrees (default 4,16,64)",
    )
    tune.add_argument(
        "--nnz", type=positive_int, default=None, help="nonzeros per tuning graph (default 400000)"
    )
    tune.add_argument(
        "--repeat", type=positive_int, default=None, help="timed repeats (default 5)"
    )
    tune.add_argument("--threads", type=positive_int, default=None)
    tune.add_argument(
        "--quick", action="store_true", help="a tiny sweep (seconds), for smoke tests"
    )
    tune.add_argument(
        "--include-reference", action="store_true", help="also time the slow plain-torch reference"
    )
    tune.add_argument("--quiet", action="store_true")
    tune.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..profile import tune as tuning

    if args.show:
        try:
            print(tuning.show(args.out))
        except ValueError as error:
            print(f"sparsegnn tune: error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but torch sees no CUDA device")
    if args.threads:
        from ..profile.runner import set_threads

        set_threads(args.threads)
    config = (
        tuning.TuneConfig.quick(args.device)
        if args.quick
        else tuning.TuneConfig(device=args.device)
    )
    config.include_reference = args.include_reference
    for name in ("feat", "degrees", "nnz", "repeat"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, "feats" if name == "feat" else name, value)
    start = time.perf_counter()
    policy = tuning.tune(config, progress=None if args.quiet else print)
    path = tuning.write_policy(policy, args.out)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    if not args.quiet:
        print(tuning.show(path))
    return 0
