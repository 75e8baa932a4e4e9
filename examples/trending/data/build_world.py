"""Builds ``static/world.svg`` (the map's land outline) from world-atlas's ``land-110m.json``.

Run once, by hand; the result is committed so the page needs no network and no npm:

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python examples/trending/data/build_world.py package/land-110m.json

world-atlas is ISC-licensed (Copyright 2013-2019 Michael Bostock); its shapes come from
Natural Earth, which is in the public domain. The projection is equirectangular: x is the
longitude + 180 and y is 90 - the latitude, so the page places cities with the same formula.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "static" / "world.svg"


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """The arcs of a quantized TopoJSON topology as lists of (longitude, latitude)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring_points(ring: list[int], arcs: list[list[tuple[float, float]]]) -> list:
    points: list[tuple[float, float]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def ring_path(points: list[tuple[float, float]]) -> str:
    """SVG path data of one ring; a ring crossing the antimeridian is cut there, not drawn
    across the whole map."""
    segments: list[list[str]] = [[]]
    previous = None
    for lon, lat in points:
        if previous is not None and abs(lon - previous) > 180:
            segments.append([])
        segments[-1].append(f"{lon + 180:.1f},{90 - lat:.1f}")
        previous = lon
    if len(segments) == 1:
        return f"M{' '.join(segments[0])}Z"
    return "".join(f"M{' '.join(segment)}" for segment in segments if len(segment) > 1)


def path_data(topology: dict) -> str:
    arcs = decode_arcs(topology)
    parts = []
    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for ring in polygon:
                parts.append(ring_path(ring_points(ring, arcs)))
    return "".join(parts)


def main() -> None:
    topology = json.loads(Path(sys.argv[1]).read_text())
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 180">'
        f'<path id="land" d="{path_data(topology)}"/></svg>\n'
    )
    OUT.write_text(svg)
    print(f"wrote {OUT} ({len(svg)} bytes)")


if __name__ == "__main__":
    main()
