"""A small exact max-flow (Dinic) for the huge page placement problem.

Graphs here have a few vertices per NUMA node and per distinct guest node set,
so clarity matters more than speed.  Capacities are integers; `None` is
unbounded.
"""
from __future__ import annotations

from collections import deque
from typing import Optional

UNBOUNDED = 1 << 62


class Network:
    """A directed graph with integer capacities and a residual edge per edge."""

    def __init__(self, vertices: int) -> None:
        self._adj: list[list[int]] = [[] for _ in range(vertices)]
        self._to: list[int] = []
        self._cap: list[int] = []
        self._initial: list[int] = []

    def add(self, tail: int, head: int, capacity: Optional[int]) -> None:
        """An edge tail -> head (and its empty reverse edge)."""
        capacity = UNBOUNDED if capacity is None else capacity
        for a, b, c in ((tail, head, capacity), (head, tail, 0)):
            self._adj[a].append(len(self._to))
            self._to.append(b)
            self._cap.append(c)
            self._initial.append(c)

    def max_flow(self, source: int, sink: int) -> int:
        """Push as much as fits from source to sink; the total pushed."""
        total = 0
        while (level := self._levels(source, sink)) is not None:
            cursor = [0] * len(self._adj)
            while pushed := self._augment(source, sink, level, cursor):
                total += pushed
        return total

    def flow(self, tail: int, head: int) -> int:
        """The flow on the edges tail -> head after `max_flow`."""
        return sum(self._initial[e] - self._cap[e] for e in self._adj[tail]
                   if self._to[e] == head and e % 2 == 0)

    def reachable(self, source: int) -> set[int]:
        """Vertices reachable through edges with room left: the source side of a min cut."""
        seen, todo = {source}, [source]
        while todo:
            vertex = todo.pop()
            for e in self._adj[vertex]:
                if self._cap[e] > 0 and self._to[e] not in seen:
                    seen.add(self._to[e])
                    todo.append(self._to[e])
        return seen

    def _levels(self, source: int, sink: int) -> Optional[list[int]]:
        level = [-1] * len(self._adj)
        level[source] = 0
        queue = deque([source])
        while queue:
            vertex = queue.popleft()
            for e in self._adj[vertex]:
                if self._cap[e] > 0 and level[self._to[e]] < 0:
                    level[self._to[e]] = level[vertex] + 1
                    queue.append(self._to[e])
        return level if level[sink] >= 0 else None

    def _augment(self, source: int, sink: int, level, cursor) -> int:
        """One augmenting path in the level graph, walked without recursion."""
        path: list[int] = []
        vertex = source
        while vertex != sink:
            edge = self._next_edge(vertex, level, cursor)
            if edge is not None:
                path.append(edge)
                vertex = self._to[edge]
            elif not path:
                return 0
            else:  # dead end: retreat and skip the edge that led here
                vertex = self._to[path.pop() ^ 1]
                cursor[vertex] += 1
        pushed = min(self._cap[e] for e in path)
        for e in path:
            self._cap[e] -= pushed
            self._cap[e ^ 1] += pushed
        return pushed

    def _next_edge(self, vertex: int, level, cursor) -> Optional[int]:
        while cursor[vertex] < len(self._adj[vertex]):
            e = self._adj[vertex][cursor[vertex]]
            if self._cap[e] > 0 and level[self._to[e]] == level[vertex] + 1:
                return e
            cursor[vertex] += 1
        return None
