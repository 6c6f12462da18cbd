"""``fastcheck cache``: where the compiled-cost cache is, how big, how many
entries; ``fastcheck cache clear`` removes them (see ``fastcheck.compiler.store``)."""

from fastcheck.compiler import cache, store
from fastcheck.runtime.memory import format_bytes


def add_parser(sub):
    parser = sub.add_parser(
        "cache", help="show the compiled-cost cache, or clear it",
        description="Show where fastcheck keeps compiled costs, how much space they take and "
                    "how many there are, or remove them all (clear). The cache is pruned to "
                    "FASTCHECK_CACHE_MAX (default "
                    f"{format_bytes(store.DEFAULT_MAX)}), least recently used first; "
                    "FASTCHECK_CACHE_DIR moves it.")
    parser.add_argument("action", nargs="?", choices=["show", "clear"], default="show",
                        help="show (the default) or clear")
    parser.set_defaults(run=run)


def _entries(count):
    return f"{count} {'entry' if count == 1 else 'entries'}"


def run(args):
    where = cache.cache_dir()
    if args.action == "clear":
        count, size = store.clear(where)
        print(f"removed {_entries(count)} ({format_bytes(size)}) from {where}")
        return 0
    found = store.entries(where)
    size = sum(entry[1] for entry in found)
    print(f"{where}: {_entries(len(found))}, {format_bytes(size)} "
          f"(limit {format_bytes(store.max_bytes())}, FASTCHECK_CACHE_MAX)")
    return 0
