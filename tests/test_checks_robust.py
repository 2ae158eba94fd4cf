"""Any schema-valid model: checks, capacity and every form of `explain` work, and the
JSON form always meets its schema."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from hostspec.language import schema
from hostspec.checks.demand import analyse
from hostspec.checks import run_checks
from hostspec.commands.explain import explanation, to_markdown, to_text
from hostspec.commands.explain.data import explain_json
from hostspec.language.index import SpanIndex
from hostspec.model import from_document
from test_checks_support import GiB, MiB, document

KiB = 1024
SIZES = st.sampled_from([64 * KiB, 2 * MiB, 32 * MiB, GiB, 3 * MiB])
NODES = st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True)
SWITCH = st.booleans()


def _optional(**fields):
    """A dict strategy whose keys each may be missing."""
    return st.fixed_dictionaries({}, optional=fields)


POOL = st.fixed_dictionaries({"size": SIZES, "count": st.integers(0, 5000)},
                             optional={"nodes": NODES, "at": st.sampled_from(["boot", "runtime"])})
BACKING = st.one_of(
    st.just({"type": "normal"}),
    st.fixed_dictionaries({"type": st.just("hugepages")}, optional={"size": SIZES, "nodes": NODES}))
BALLOON = st.one_of(st.just({"model": "none"}),
                    st.fixed_dictionaries({"model": st.just("virtio")},
                                          optional={"autodeflate": SWITCH}))
MEMORY = st.integers(1, 64).map(lambda n: n * 512 * MiB)


@st.composite
def guests(draw):
    made = []
    for i in range(draw(st.integers(0, 6))):
        guest = {"name": f"g{i}", "memory": draw(MEMORY)}
        guest.update(draw(_optional(**{"current-memory": MEMORY, "backing": BACKING,
                                       "share-pages": SWITCH, "locked": SWITCH,
                                       "balloon": BALLOON})))
        made.append(guest)
    return made


@st.composite
def documents(draw):
    host = draw(_optional(
        cpu=st.sampled_from(["intel", "amd"]), arch=st.sampled_from(["x86_64", "aarch64"]),
        memory=st.integers(1, 512).map(lambda n: n * GiB), reserve=st.integers(0, 8).map(lambda n: n * GiB),
        numa_nodes=st.integers(1, 3), kernel=st.sampled_from(["4.19", "5.4", "5.15", "6.1"]),
        guest_overhead=st.sampled_from([0, 256 * MiB]),
        kvm=_optional(ept=SWITCH, vpid=SWITCH, npt=SWITCH, nested=SWITCH),
        hugepages=_optional(**{"default-size": SIZES, "pools": st.lists(POOL, max_size=4)}),
        ksm=_optional(run=st.sampled_from(["on", "off", "unmerge"])),
        swap=_optional(size=st.sampled_from([0, 4 * GiB]), swappiness=st.integers(0, 200)),
        overcommit=_optional(policy=st.sampled_from(["heuristic", "always", "never"]),
                             ratio=st.integers(0, 200),
                             **{"max-ratio": st.sampled_from([0.5, 1.0, 1.5, 3.0])}),
    ))
    return document(draw(guests()), **host)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(documents())
def test_every_model_is_checked_and_explained(doc):
    spec = from_document(doc)
    found = run_checks(spec, SpanIndex())
    assert all(d.message and not d.message[0].isupper() and not d.message.endswith(".") for d in found)
    capacity = analyse(spec)
    sections = explanation(spec, capacity, [])
    assert to_text(sections).startswith("Host h")
    assert "| page size | node |" in to_markdown(sections) or not capacity.sizes
    data = explain_json(spec, capacity, None, "0")
    assert list(schema.validator("explain-v1.schema.json").iter_errors(data)) == []
