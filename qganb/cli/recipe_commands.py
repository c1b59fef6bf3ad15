"""`qganb recipe ...`: apply, validate, preview and verify recipes on a QEMU tree or a built RPM."""

from __future__ import annotations

import argparse
from typing import Any

from qganb.cli.common import stderr_line


def _recipe_apply(args: argparse.Namespace) -> int:
    from qganb.recipes.model import load_recipes
    from qganb.recipes.plan import apply_recipes

    plan = apply_recipes(args.source, load_recipes(args.recipes))
    changed = plan.changed
    if not changed:
        print(f"{plan.tree.root}: already applied, nothing changed")
    for rel in changed:
        print(f"updated {rel}")
    for applied in plan.applied:
        print(f"{applied.recipe.command}: {applied.prototype.declaration}")
    return 0


def _recipe_validate(args: argparse.Namespace) -> int:
    from qganb.recipes.tree_mirror import TreeListing

    # Listing the tree's ~19 000 files runs while the recipe models are imported and parsed.
    listing = TreeListing(args.source)
    from qganb.recipes.model import load_recipes
    from qganb.recipes.validate import validate_recipes

    recipes = load_recipes(args.recipes)
    report = validate_recipes(args.source, recipes, on_line=stderr_line if args.verbose else None,
                              listing=listing, sandbox=not args.no_sandbox)
    print(report.summary())
    return 0 if report.passed else 1


def _recipe_verify_rpm(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qganb.agent.sandbox import DESCRIPTION, UNSANDBOXED
    from qganb.recipes.model import load_recipes
    from qganb.recipes.validate import verify_rpm

    results = verify_rpm(Path(args.rpm), load_recipes(args.recipes), sandbox=not args.no_sandbox)
    print(f"agent: {UNSANDBOXED if args.no_sandbox else DESCRIPTION}")
    for result in results:
        print(result.line())
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _recipe_preview(args: argparse.Namespace) -> int:
    from qganb.recipes.model import load_recipes
    from qganb.recipes.preview import preview_recipes

    print(preview_recipes(args.source, load_recipes(args.recipes)).as_text())
    return 0


def _sandbox_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the agent built from recipe C unconfined, as this user (default: in a bubblewrap "
                        "sandbox with the host read-only, no network and its own PID namespace)")


def add_commands(commands: Any) -> None:
    recipe = commands.add_parser("recipe", help="apply, validate and preview recipes on a QEMU source tree",
                                 description="Recipes (recipes/*.yaml) declare new QGA commands once; these "
                                 "commands write them into a prepped QEMU tree the way its version needs.")
    recipe_commands = recipe.add_subparsers(dest="recipe_command", metavar="RECIPE_COMMAND", required=True)
    for name, handler, text in (
        ("apply", _recipe_apply, "edit the tree in place (applying again changes nothing)"),
        ("validate", _recipe_validate, "apply in a scratch copy, run the tree's QAPI generator, build qemu-ga "
         "and run every verify case against it over a unix socket"),
        ("preview", _recipe_preview, "show the schema entry, the C prototype and the diff, without writing"),
    ):
        sub = recipe_commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        sub.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML file(s)")
        sub.add_argument("--source", required=True, metavar="DIR", help="the prepped QEMU source tree")
        if name == "validate":
            sub.add_argument("-v", "--verbose", action="store_true", help="stream configure/build output")
            _sandbox_argument(sub)
        sub.set_defaults(handler=handler)
    verify_rpm = recipe_commands.add_parser(
        "verify-rpm", help="run the recipes' verify cases against the qemu-ga inside a built binary RPM",
        description="Unpack a built qemu-guest-agent RPM with rpm2cpio, start its qemu-ga on a unix socket and "
        "run every verify case of the recipes against it: a check before the RPM goes to any guest.")
    verify_rpm.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe YAML file(s)")
    verify_rpm.add_argument("--rpm", required=True, metavar="RPM", help="the binary RPM")
    _sandbox_argument(verify_rpm)
    verify_rpm.set_defaults(handler=_recipe_verify_rpm)
