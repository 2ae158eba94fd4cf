"""The one registry of diagnostic codes.

HS01xx syntax, HS02xx structure, HS03xx semantics and capacity, HS04xx target
limits, HS09xx input/output.  A code is never reused: retire it instead.
"""
from __future__ import annotations

from typing import Iterable, Optional

from hostspec import records
from hostspec.diagnostics import Diagnostic, Label, Severity
from hostspec.diagnostics.source import Span

E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE


@records.frozen
class Code:
    id: str
    name: str
    severity: Severity
    summary: str


_TABLE = [
    # syntax
    ("HS0101", "invalid-encoding", E, "the file is not valid UTF-8 text"),
    ("HS0102", "unexpected-token", E, "the parser met a token it did not expect"),
    ("HS0103", "unexpected-character", E, "a character that no token can start with"),
    ("HS0104", "unclosed-block", E, "a block's `{` has no matching `}`"),
    ("HS0105", "nesting-too-deep", E, "blocks nest deeper than the language allows"),
    ("HS0106", "invalid-string", E, "a string with a bad escape or a line break"),
    # structure
    ("HS0201", "unknown-key", E, "a key the block does not have"),
    ("HS0202", "unknown-value", E, "a value outside the key's choices"),
    ("HS0203", "wrong-value-kind", E, "a value of the wrong kind (size, count, switch, ...)"),
    ("HS0204", "value-out-of-range", E, "a number outside the range the key allows"),
    ("HS0205", "missing-required-key", E, "a block lacks a key it must have"),
    ("HS0206", "repeated-key", E, "a key is set twice in one block"),
    ("HS0207", "decimal-size-unit", E, "a size written with a decimal unit (GB, MB, ...)"),
    ("HS0208", "size-without-unit", E, "a bare number where a size is expected"),
    ("HS0209", "invalid-size", E, "a value that is not a size"),
    ("HS0210", "number-too-large", E, "a number that does not fit its field"),
    ("HS0211", "invalid-duration", E, "a value that is not a duration the key accepts"),
    ("HS0212", "invalid-node-set", E, "a NUMA node set that cannot be read"),
    ("HS0213", "invalid-name", E, "a host, template or guest name outside the name rule"),
    ("HS0214", "missing-version", E, "the file does not start with `hostspec 1`"),
    ("HS0215", "unsupported-version", E, "a language version this build does not know"),
    ("HS0216", "missing-host", E, "no `host` block in the compiled file"),
    ("HS0217", "multiple-hosts", E, "more than one `host` block in the compiled file"),
    ("HS0218", "duplicate-guest", E, "two guests with the same name"),
    ("HS0219", "duplicate-template", E, "two templates with the same name"),
    ("HS0220", "unknown-template", E, "`from` names a template that does not exist"),
    ("HS0221", "template-cycle", E, "templates inherit from each other in a cycle"),
    ("HS0222", "include-not-found", E, "an included file cannot be read"),
    ("HS0223", "include-cycle", E, "files include each other in a cycle"),
    ("HS0224", "include-outside-tree", E, "an `include` or `base` path leaves the spec's directory tree"),
    ("HS0225", "include-too-deep", E, "includes nest deeper than 32 files"),
    ("HS0226", "include-content", E, "an included file holds something other than `include` and `template`"),
    ("HS0227", "range-too-large", E, "a guest range declares more than 4096 guests"),
    ("HS0228", "too-many-guests", E, "the host declares more than 65536 guests"),
    ("HS0229", "invalid-range", E, "a guest range whose bounds cannot be read or run backwards"),
    ("HS0230", "wrong-value-count", E, "a statement with too many or too few values"),
    ("HS0231", "misplaced-statement", E, "a statement or block where it is not allowed"),
    ("HS0232", "guest-names-differ-in-case", W, "two guest names differ only in case"),
    ("HS0233", "repeated-node", W, "a NUMA node set names a node more than once"),
    # semantics and capacity
    ("HS0301", "hugepage-demand-exceeds-pool", E, "hugepage-backed guests need more pages than the pools hold"),
    ("HS0302", "vendor-key-mismatch", E, "a kvm key of the other CPU vendor"),
    ("HS0303", "ept-disabled", W, "`ept off` makes every guest use shadow paging"),
    ("HS0304", "page-size-invalid-for-arch", E, "a huge page size the architecture does not have"),
    ("HS0305", "pool-node-out-of-range", E, "a pool on a NUMA node the host does not have"),
    ("HS0306", "duplicate-pool", E, "two pools claim the same size and node, or mix per-node and spread forms"),
    ("HS0307", "default-size-without-pool", E, "`default-size` names a size no pool has"),
    ("HS0308", "per-node-pools-need-5.16", E, "per-node boot pools need kernel 5.16 or newer"),
    ("HS0309", "swappiness-needs-5.8", E, "swappiness above 100 needs kernel 5.8 or newer"),
    ("HS0310", "pools-exceed-memory", E, "the reserved pools do not fit in memory minus reserve"),
    ("HS0311", "backing-size-without-pool", E, "a guest is backed by a page size no pool provides"),
    ("HS0312", "memory-not-page-multiple", E, "guest memory is not a whole number of its pages"),
    ("HS0313", "ambiguous-backing-size", E, "`backing hugepages` without a size, and the host has no single default"),
    ("HS0314", "current-memory-above-memory", E, "`current-memory` is larger than `memory`"),
    ("HS0315", "balloon-none-below-memory", E, "`current-memory` below `memory` but no balloon to hold the rest"),
    ("HS0316", "balloon-ineffective", W, "a balloon on a hugepage-backed or locked guest returns nothing useful"),
    ("HS0317", "share-pages-without-ksm", N, "`share-pages off` while KSM does not run has no effect yet"),
    ("HS0318", "overcommit-without-reclaim", E, "ordinary memory is overcommitted with no way to reclaim it"),
    ("HS0319", "overcommit-above-max-ratio", E, "the overcommit ratio of ordinary memory is above `max-ratio`"),
    ("HS0320", "overcommit-ratio-ignored", W, "`ratio` only matters with `policy never`"),
    ("HS0321", "gigantic-pool-at-runtime", W, "gigantic pages (1GiB, 32MiB) reserved at runtime are rarely found contiguous"),
    ("HS0322", "overcommit-summary", N, "ordinary memory is overcommitted within the limits"),
    ("HS0323", "no-ordinary-memory", E, "pools, reserve and guest overhead leave no ordinary memory"),
    ("HS0324", "kvm-key-not-on-arch", E, "a kvm key that does not exist on the architecture"),
    ("HS0325", "guest-node-out-of-range", E, "a guest bound to a NUMA node the host does not have"),
    ("HS0326", "reserve-exceeds-memory", E, "`reserve` is not smaller than `memory`"),
    ("HS0327", "commit-limit-exceeded", E, "with `policy never` the guests commit more than the kernel's commit limit"),
    # target limits
    ("HS0401", "unsafe-kernel-argument", E, "a kernel argument outside the safe token pattern"),
    ("HS0402", "base-unreadable", E, "the `base` domain XML cannot be read"),
    ("HS0403", "base-malformed", E, "the `base` domain XML is not well-formed or not safe to parse"),
    ("HS0404", "base-not-a-domain", E, "the `base` file's root element is not `<domain>`"),
    ("HS0405", "base-name-mismatch", E, "the `base` domain's `<name>` differs from the guest's"),
    ("HS0406", "base-too-large", E, "the `base` file is larger than hostspec reads"),
    ("HS0407", "domain-cannot-express", E, "a guest setting the domain XML cannot express"),
    ("HS0408", "duplicate-host", E, "two files in one call name the same host"),
    ("HS0409", "repeated-kernel-argument", E, "a boot target or image layout whose tool keeps one copy of a repeated kernel argument"),
    ("HS0410", "kernel-cmdline-too-long", E, "hostspec's kernel arguments exceed `cmdline-budget` bytes"),
    ("HS0411", "bootc-unordered-update", W, "boot pools of several sizes, whose order `bootc upgrade` does not keep"),
    # input and output
    ("HS0901", "source-too-large", E, "an input file is larger than 16 MiB"),
    ("HS0902", "unreadable-input", E, "an input file cannot be read"),
]

CODES: dict[str, Code] = {row[0]: Code(*row) for row in _TABLE}


def diag(code: str, message: str, span: Optional[Span], hint: Optional[str] = None,
         labels: Iterable[Label | tuple[Span, str]] = (), file_name: str = "",
         severity: Optional[Severity] = None) -> Diagnostic:
    """Make a diagnostic of a registered code (its severity unless overridden)."""
    entry = CODES[code]
    made = tuple(lab if isinstance(lab, Label) else Label(*lab) for lab in labels)
    return Diagnostic(code, severity if severity is not None else entry.severity,
                      message, span, hint, made, file_name)


def names_differ_in_case(name: str, other: str, span: Optional[Span], first: Optional[Span]) -> Diagnostic:
    """HS0232, the same for `.mem` and JSON input: `name` at `span`, `other` first at `first`."""
    return diag("HS0232", f"guest `{name}` differs from guest `{other}` only in case", span,
                "rename one of them: their domain files collide when the tree is copied to a "
                "case-insensitive file system", [(first, f"`{other}` declared here")])


def duplicate_guest(name: str, span: Optional[Span], first: Optional[Span]) -> Diagnostic:
    """HS0218, the same for `.mem` and JSON input: `name` again at `span`, first at `first`."""
    return diag("HS0218", f"guest `{name}` is declared twice", span, "rename one of them",
                [(first, "first declared here")])
