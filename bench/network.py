"""A synthetic national network of stores, the same for every section that needs one.

Stores are spread over real Chinese cities (bigger cities get more stores), each a few
kilometres from its city centre; bays, daily capacity, opening date, tier and segment vary
as a real brand's would. Everything is drawn from a seeded generator, so a run is repeatable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

# (city, region, latitude, longitude, weight): weight ~ how many stores the city gets.
CITIES: tuple[tuple[str, str, float, float, int], ...] = (
    ("Shenzhen", "South China", 22.5431, 114.0579, 9),
    ("Guangzhou", "South China", 23.1291, 113.2644, 9),
    ("Dongguan", "South China", 23.0205, 113.7518, 5),
    ("Foshan", "South China", 23.0215, 113.1214, 5),
    ("Zhuhai", "South China", 22.2710, 113.5767, 2),
    ("Shantou", "South China", 23.3541, 116.6820, 2),
    ("Nanning", "South China", 22.8170, 108.3665, 3),
    ("Haikou", "South China", 20.0440, 110.1999, 2),
    ("Xiamen", "South China", 24.4798, 118.0894, 3),
    ("Fuzhou", "South China", 26.0745, 119.2965, 3),
    ("Shanghai", "East China", 31.2304, 121.4737, 10),
    ("Hangzhou", "East China", 30.2741, 120.1551, 6),
    ("Nanjing", "East China", 32.0603, 118.7969, 5),
    ("Suzhou", "East China", 31.2990, 120.5853, 5),
    ("Ningbo", "East China", 29.8683, 121.5440, 3),
    ("Hefei", "East China", 31.8206, 117.2272, 3),
    ("Jinan", "East China", 36.6512, 117.1201, 3),
    ("Qingdao", "East China", 36.0671, 120.3826, 3),
    ("Beijing", "North China", 39.9042, 116.4074, 10),
    ("Tianjin", "North China", 39.3434, 117.3616, 5),
    ("Shijiazhuang", "North China", 38.0428, 114.5149, 3),
    ("Taiyuan", "North China", 37.8706, 112.5489, 2),
    ("Hohhot", "North China", 40.8424, 111.7490, 1),
    ("Wuhan", "Central China", 30.5928, 114.3055, 5),
    ("Changsha", "Central China", 28.2282, 112.9388, 4),
    ("Zhengzhou", "Central China", 34.7466, 113.6254, 4),
    ("Nanchang", "Central China", 28.6820, 115.8579, 2),
    ("Chengdu", "Southwest", 30.5728, 104.0668, 7),
    ("Chongqing", "Southwest", 29.5630, 106.5516, 6),
    ("Kunming", "Southwest", 25.0389, 102.7183, 3),
    ("Guiyang", "Southwest", 26.6470, 106.6302, 2),
    ("Xi'an", "Northwest", 34.3416, 108.9398, 4),
    ("Lanzhou", "Northwest", 36.0611, 103.8343, 2),
    ("Urumqi", "Northwest", 43.8256, 87.6168, 1),
    ("Yinchuan", "Northwest", 38.4872, 106.2309, 1),
    ("Shenyang", "Northeast", 41.8057, 123.4315, 3),
    ("Dalian", "Northeast", 38.9140, 121.6147, 2),
    ("Changchun", "Northeast", 43.8171, 125.3235, 2),
    ("Harbin", "Northeast", 45.8038, 126.5349, 2),
)

JITTER_DEGREES = 0.12  # about 13 km: stores lie around their city, not on one point


@dataclass(frozen=True)
class NetworkStore:
    code: str
    name: str
    city: str
    region: str
    latitude: float
    longitude: float
    bays: int
    daily_capacity: int
    opened_on: date
    tier: int  # 1 city centre, 2 suburb, 3 outskirts
    segment: int  # 1 premium, 2 mid, 3 mass
    open_sundays: bool


def store_code(k: int) -> str:
    return f"N{k:04d}"


def network(count: int, seed: int, today: date) -> list[NetworkStore]:
    """`count` stores, codes N0000, N0001, …"""
    rng = random.Random(seed)
    weights = [c[4] for c in CITIES]
    stores = []
    for k in range(count):
        city, region, lat, lon, _ = rng.choices(CITIES, weights)[0]
        bays = max(4, min(24, round(rng.gauss(10, 3.5))))
        stores.append(
            NetworkStore(
                code=store_code(k),
                name=f"{city} store {k}",
                city=city,
                region=region,
                latitude=round(lat + rng.uniform(-JITTER_DEGREES, JITTER_DEGREES), 5),
                longitude=round(lon + rng.uniform(-JITTER_DEGREES, JITTER_DEGREES), 5),
                bays=bays,
                daily_capacity=max(6, round(bays * rng.uniform(1.6, 2.4))),
                opened_on=today - timedelta(days=rng.randint(60, 12 * 365)),
                tier=rng.choices((1, 2, 3), (3, 4, 3))[0],
                segment=rng.choices((1, 2, 3), (2, 5, 3))[0],
                open_sundays=rng.random() < 0.3,
            )
        )
    return stores
